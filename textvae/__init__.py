"""textvae: sentence-level Variational Autoencoders on TensorFlow 2 / Keras 3 and TFP."""

from textvae import environment

environment.configure()

# The public API, imported on first use so that `import textvae.config` (and the CLI's
# --help) does not load TensorFlow.
_API = {
    "Config": "textvae.config", "ConfigError": "textvae.config", "load_config": "textvae.config",
    "DataError": "textvae.data", "read_corpus": "textvae.data",
    "M2VAE": "textvae.m2", "SentenceVAE": "textvae.model",
    "encode_sentences": "textvae.embeddings", "evaluate_run": "textvae.evaluation", "load": "textvae.loading", "RunDir": "textvae.rundir",
    "kl_weight": "textvae.schedules", "ModelSpec": "textvae.spec",
    "TokenizerError": "textvae.tokenizer", "load_tokenizer": "textvae.tokenizer",
    "train_tokenizer": "textvae.tokenizer",
    "TrainingDiverged": "textvae.training", "train": "textvae.training",
}


def __getattr__(name: str):
    if name in _API:
        import importlib

        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'textvae' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_API])


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
    "encode_sentences",
    "evaluate_run",
    "kl_weight",
    "load",
    "load_config",
    "load_tokenizer",
    "read_corpus",
    "train",
    "train_tokenizer",
]
