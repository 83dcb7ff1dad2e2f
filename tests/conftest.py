"""Shared fixtures: tiny corpora, tokenizers and configs with distinct sizes.

Sizes are chosen distinct (batch 2, latent 3, embedding 4, hidden 5, ...) so that
a transposed axis cannot pass by accident.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from pathlib import Path

import pytest
import tensorflow as tf
import yaml

from textvae.config import TokenizerConfig, load_config
from textvae.tokenizer import train_tokenizer

# Grappler's graph rewrites cost seconds on the first call of every traced function and buy
# nothing for models of a few hundred weights; the graphs under test are the same ones.
tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})

SENTENCES = [
    "the cat sat on the mat",
    "a dog ran in the park",
    "the bird sang a song",
    "my friend likes green tea",
    "we walked home in the rain",
    "she reads old books at night",
    "the sun rose over the hill",
    "he plays the piano well",
]

TINY = {
    "data": {"max_length": 9, "valid_fraction": 0.25},
    "tokenizer": {"kind": "word", "vocab_size": 60},
    "model": {"latent_dim": 3, "embedding_dim": 4, "hidden_dim": 5},
    "kl": {"schedule": "linear", "warmup_steps": 6, "free_bits": 0.1},
    "train": {"batch_size": 2, "max_steps": 8, "log_every": 2, "eval_every": 4,
              "checkpoint_every": 4, "word_dropout": 0.2, "progress_bar": False, "seed": 3},
}


@pytest.fixture(scope="session")
def sentences() -> list[str]:
    return list(SENTENCES)


@pytest.fixture(scope="session")
def spm_tokenizer():
    """A unigram sentencepiece model trained in memory on the tiny corpus."""
    return train_tokenizer(TokenizerConfig(kind="unigram", vocab_size=40), SENTENCES * 20)


def vocabulary(size: int):
    """A word tokenizer of exactly `size` entries (specials included), for building models."""
    from textvae.tokenizer import SPECIAL_TOKENS, WordTokenizer

    return WordTokenizer([f"w{i}" for i in range(size - len(SPECIAL_TOKENS))])


def write_lines(path: Path, lines) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def tiny_config(tmp_path: Path, overrides=(), corpus=None, **sections):
    """Writes the tiny corpus and a YAML config; returns the loaded Config."""
    corpus = corpus or write_lines(tmp_path / "corpus.txt", SENTENCES * 3)
    tree = {k: dict(v) for k, v in TINY.items()}
    tree["data"]["train"] = str(corpus)
    for section, values in sections.items():
        tree.setdefault(section, {}).update(values)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(tree), encoding="utf-8")
    return load_config(path, overrides)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """A tiny run directory trained once for the loading and CLI tests."""
    from textvae.training import train

    root = tmp_path_factory.mktemp("run")
    config = tiny_config(root, train={"max_steps": 12})
    train(config, root / "run")
    return root / "run"


def subprocess_env() -> dict:
    """The environment for a `textvae` child process that imports this checkout."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "TF_CPP_MIN_LOG_LEVEL": "2"}


def start_training(config_path, workdir) -> subprocess.Popen:
    """`textvae train` in a child process (stderr piped, for the failure message)."""
    return subprocess.Popen(
        [sys.executable, "-m", "textvae.cli", "train", "--config", str(config_path), "--workdir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=subprocess_env())


def wait_for(condition, process, timeout=180.0) -> bool:
    """Polls `condition` every 2 ms (short enough to catch a checkpoint mid-write) until it
    holds, the process ends, or `timeout` seconds pass."""
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None:
        if condition():
            return True
        time.sleep(0.002)
    return False
