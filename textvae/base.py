"""LatentTextModel: what SentenceVAE and M2VAE share.

The shared shape: a `ModelSpec` passed whole, an encoder and an autoregressive
decoder conditioned on a latent code, a seed generator for the posterior noise,
the Keras config, `compile` with the KL schedule and free bits, the gradient
step, the prior draw of z, strings in (the tokenizer) and generation out. Each
model adds only its own objective and what it does with strings.
"""

from __future__ import annotations

import logging
from typing import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from textvae import distributions
from textvae.config import CHOICES
from textvae.cross_entropy import token_nll
from textvae.data import pad_batch
from textvae.decoding import DecodeOptions, generate_ids, strip_special
from textvae.replicas import SkipSymbolicBuild, replica_scale, step_logs
from textvae.spec import ModelSpec
from textvae.tokenizer import BOS_ID, EOS_ID


def split_batch(batch):
    """Splits `[BOS, w_1..w_n, EOS]` batches into encoder, decoder and target views.

    Args:
      batch: {"token_ids", "padding_mask"}, each (batch, time + 1).
    Returns:
      dict of `encoder` and `decoder` inputs ({"token_ids", "padding_mask"}, each
      (batch, time)), `targets` (batch, time) int32 and `target_mask` (batch, time) float32.
    """
    ids, mask = batch["token_ids"], batch["padding_mask"]
    return {
        "encoder": {"token_ids": ids[:, 1:], "padding_mask": mask[:, 1:]},
        "decoder": {"token_ids": ids[:, :-1], "padding_mask": mask[:, :-1]},
        "targets": ids[:, 1:],
        "target_mask": tf.cast(mask[:, 1:], tf.float32),
    }


def sequence_nll(logits, targets, mask):
    """-log p of each sequence: (batch, time, vocab) logits, (batch, time) targets and mask -> (batch,)."""
    return tf.reduce_sum(token_nll(logits, targets) * mask, axis=1)


def bag_of_words_nll(head, code, views):
    """-sum_t log softmax(head(code))[x_t] over the words (EOS excluded): (batch,) nats.

    Args:
      head: the bag-of-words layer (`decoders.bag_of_words_head`), code (batch, d) -> (batch, vocab).
      code: what the words are predicted from (SentenceVAE: z; M2: [z, onehot(y)]).
      views: `split_batch` of the batch (its "targets" and "target_mask").
    """
    log_p = tf.nn.log_softmax(tf.cast(head(code), tf.float32))
    words = views["target_mask"] * tf.cast(views["targets"] != EOS_ID, tf.float32)
    return -tf.reduce_sum(tf.gather(log_p, views["targets"], batch_dims=1) * words, axis=1)


class _RetracingByDesign(logging.Filter):
    """Drops TensorFlow's "N out of the last N calls ... triggered tf.function retracing"
    warning for `_generate` only: each decoding strategy and length (the demo uses beam,
    nucleus and greedy) is its own program and must trace once; the warning would read
    like a bug to a user. Retracing warnings about any other function still show."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("triggered tf.function retracing" in message and "LatentTextModel._generate" in message)


tf.get_logger().addFilter(_RetracingByDesign())


class LatentTextModel(SkipSymbolicBuild, keras.Model):
    """Base of the package's models. Subclasses build `self.encoder` and `self.decoder`
    and implement `objective(batch, training, beta, noise)`."""

    def __init__(self, spec: ModelSpec, tokenizer=None, **kwargs):
        super().__init__(**kwargs)
        self.spec = spec
        self.noise_seed = keras.random.SeedGenerator(spec.seed)
        self.tokenizer = tokenizer  # strings in and out; not part of the Keras config
        self.kl_weight_fn: Callable = lambda step: tf.constant(1.0)
        self.free_bits = 0.0
        self.free_bits_per = "batch"
        self.target_rate = 0.0

    @property
    def vocab_size(self) -> int:
        return self.spec.vocab_size

    @property
    def latent_dim(self) -> int:
        return self.spec.latent_dim

    @property
    def max_positions(self) -> int:
        return self.spec.max_positions

    def get_config(self):
        config = super().get_config()
        config["spec"] = self.spec.to_dict()
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(ModelSpec(**config.pop("spec")), **config)

    # -- training -----------------------------------------------------------

    def compile(self, optimizer="adam", kl_weight_fn: Callable | None = None, free_bits: float = 0.0,
                target_rate: float = 0.0, free_bits_per: str = "batch", **kwargs):
        """Keras compile plus the KL schedule (a function of the optimizer step) and the
        rate control: free bits per dimension (on the batch mean, or with `free_bits_per`
        "sentence" on each sentence), or a target rate in nats (`distributions.kl_penalty`)."""
        super().compile(optimizer=optimizer, **kwargs)
        if kl_weight_fn is not None:
            self.kl_weight_fn = kl_weight_fn
        if free_bits_per not in CHOICES["kl.free_bits_per"]:
            raise ValueError(f"free_bits_per must be one of {CHOICES['kl.free_bits_per']}, got {free_bits_per!r}")
        self.free_bits = float(free_bits)
        self.target_rate = float(target_rate)
        self.free_bits_per = free_bits_per

    def kl_penalty(self, kl_rows, weights=None, count=None):
        """The KL term of the loss for (rows, latent) KLs (optionally weighted rows averaged
        over `count` sentences), under this model's rate control."""
        return distributions.kl_penalty(kl_rows, self.free_bits, self.target_rate,
                                        per_sentence=self.free_bits_per == "sentence", weights=weights, count=count)

    def objective(self, batch, training: bool = False, beta=1.0, noise=None) -> dict:
        """{"loss": scalar to minimise, "logs": {name: scalar}, ...} for one batch; `noise`
        optionally fixes the posterior's standard-normal draws. Abstract: each model defines its bound."""
        raise NotImplementedError(f"{type(self).__name__} must define objective()")

    def train_step(self, data):
        beta = self.kl_weight_fn(self.optimizer.iterations)
        with tf.GradientTape() as tape:
            out = self.objective(data, training=True, beta=beta)
            # scale_loss: dynamic loss scaling under mixed_float16 (identity otherwise)
            scaled = self.optimizer.scale_loss(out["loss"] * replica_scale())
        gradients = tape.gradient(scaled, self.trainable_variables)
        self.optimizer.apply(gradients, self.trainable_variables)
        tokens = tf.reduce_sum(tf.cast(data["padding_mask"][:, 1:], tf.float32))
        return step_logs({
            "loss": out["loss"], **out["logs"], "kl_weight": beta,
            # replicas' values are averaged: scaled up, the counts are global totals
            "tokens": tokens / replica_scale(),
            "sentences": tf.cast(tf.shape(data["token_ids"])[0], tf.float32) / replica_scale(),
        })

    def posterior_noise(self, loc):
        """Standard-normal draws shaped like `loc`, from the model's checkpointed seed generator."""
        return keras.random.normal(tf.shape(loc), seed=self.noise_seed)

    # -- strings in -----------------------------------------------------------

    def _require_tokenizer(self):
        if self.tokenizer is None:
            raise ValueError("this model has no tokenizer attached; load it with textvae.load(workdir)")
        return self.tokenizer

    def _batch(self, sentences: Sequence[str]):
        """Sentences -> {"token_ids", "padding_mask"}, each (n, longest + 2), `[BOS .. EOS]`."""
        tokenizer = self._require_tokenizer()
        if isinstance(sentences, str):
            raise TypeError("pass a list of sentences, not a single string")
        return pad_batch([np.asarray([BOS_ID, *tokenizer.encode(s), EOS_ID], np.int32) for s in sentences])

    # -- generation -----------------------------------------------------------

    def prior_distribution(self):
        """p(z) = N(0, I) as a distribution, event shape (latent_dim,)."""
        return distributions.prior(self.latent_dim)

    def sample_prior(self, n: int, seed: int = 0) -> np.ndarray:
        """(n, latent_dim) draws from p(z) = N(0, I), seeded."""
        return np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype(np.float32)

    def _as_latent(self, z) -> tf.Tensor:
        return tf.convert_to_tensor(np.asarray(z, np.float32).reshape(-1, self.latent_dim))

    @tf.function(reduce_retracing=True)  # one trace per DecodeOptions (see _RetracingByDesign)
    def _generate(self, code, options, seed):
        return generate_ids(self.decoder, code, options, seed)

    def _generate_from_code(self, code, seed: int, options: dict) -> list[dict]:
        """Decodes the decoder's latent codes (n, code_dim): n dicts {"text", "score", "length"}."""
        tokenizer = self._require_tokenizer()
        out = self._generate(code, DecodeOptions(**options), tf.constant([seed, 0]))
        rows = strip_special(out["ids"].numpy())
        return [{"text": tokenizer.decode(row), "score": float(score), "length": len(row)}
                for row, score in zip(rows, out["scores"].numpy())]
