"""A model from its run config: the model side of training and loading.

No optimizer, no KL schedule: `textvae.load` builds through here and needs
nothing from training; training adds its optimizer on top (`textvae.training`).
"""

from __future__ import annotations

import contextlib

import keras
import numpy as np

from textvae.config import Config, ConfigError
from textvae.spec import ModelSpec
from textvae.tokenizer import BOS_ID, EOS_ID


@contextlib.contextmanager
def dtype_policy(name: str):
    """Layers constructed inside use the Keras dtype policy `name` (float32, mixed_float16, ...)."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def build_model(config: Config, tokenizer, labels: dict | None = None):
    """The run's model with every variable built and `tokenizer` attached: a SentenceVAE,
    or with m2.enabled an M2VAE for `labels` ({"classes", "class_log_prior"} of labels.json).

    Args:
      config: the run's resolved config (the model section, train.word_dropout /
        seed / precision, data.max_length).
      tokenizer: the run's tokenizer (its vocabulary sizes the model).
    """
    spec = ModelSpec.from_config(config, tokenizer.vocab_size)
    with dtype_policy(config.train.precision):
        if config.m2.enabled:
            if labels is None:
                raise ConfigError("an M2 model needs its classes (labels.json)")
            from textvae.m2 import M2VAE

            model = M2VAE(spec, labels["classes"], class_log_prior=labels["class_log_prior"],
                          adversary=config.m2.adversary, tokenizer=tokenizer)
        else:
            from textvae.model import SentenceVAE

            model = SentenceVAE(spec, tokenizer=tokenizer)
        build_variables(model)
    return model


def build_variables(model) -> None:
    """Creates every weight by calling the model once on a three-token batch."""
    ids = np.array([[BOS_ID, 4 % model.vocab_size, EOS_ID]], np.int32)
    model({"token_ids": ids, "padding_mask": np.ones(ids.shape, bool)})
