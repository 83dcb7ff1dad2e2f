"""textvae: sentence-level Variational Autoencoders on TensorFlow 2 / Keras 3 and TFP."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

from textvae.config import Config, ConfigError, load_config  # noqa: E402
from textvae.data import DataError, read_corpus  # noqa: E402
from textvae.m2 import M2VAE  # noqa: E402
from textvae.model import SentenceVAE  # noqa: E402
from textvae.evaluation import evaluate_run  # noqa: E402
from textvae.loading import load  # noqa: E402
from textvae.rundir import RunDir  # noqa: E402
from textvae.schedules import kl_weight  # noqa: E402
from textvae.spec import ModelSpec  # noqa: E402
from textvae.tokenizer import TokenizerError, load_tokenizer, train_tokenizer  # noqa: E402
from textvae.train import TrainingDiverged, train  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "Config",
    "ConfigError",
    "DataError",
    "M2VAE",
    "ModelSpec",
    "RunDir",
    "SentenceVAE",
    "TokenizerError",
    "TrainingDiverged",
    "evaluate_run",
    "kl_weight",
    "load",
    "load_config",
    "load_tokenizer",
    "read_corpus",
    "train",
    "train_tokenizer",
]
