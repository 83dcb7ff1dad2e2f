"""Sentence embeddings out of a trained VAE: posterior means (and scales) to files,
and a TensorBoard projector log of them.

Files written:
  .npy    the (n, latent_dim) float32 means; with scales, also <stem>.scales.npy
  .jsonl  one {"text", "mean": [...], ("scale": [...])} object per sentence
  projector DIR  embedding checkpoint + metadata.tsv + projector_config.pbtxt, for
          `tensorboard --logdir DIR` (Projector tab: 3-D PCA / t-SNE, search by sentence)
All in input order.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from textvae.config import ConfigError
from textvae.files import atomic_write

FORMATS = (".npy", ".jsonl")


def encode_sentences(model, sentences: Sequence[str], batch_size: int = 256,
                     progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means and scales of q(z|x), each (n, latent_dim) float32, in input order.

    Encodes `batch_size` sentences at a time; with `progress`, one stderr line per
    tenth of the input.
    """
    if model.latent_dim == 0:
        raise ConfigError("this run is a language model (model.latent_dim: 0): it has no encoder")
    from textvae.m2 import M2VAE

    if isinstance(model, M2VAE):
        raise ConfigError("encode needs a SentenceVAE run; an M2 run's q(z|x, y) depends on the label")
    means, scales = [], []
    n = len(sentences)
    report_every = max(1, (n // batch_size) // 10)
    for b, start in enumerate(range(0, n, batch_size)):
        posterior = model.encode(list(sentences[start:start + batch_size]))
        means.append(np.asarray(posterior.mean(), np.float32))
        scales.append(np.asarray(posterior.stddev(), np.float32))
        if progress and (b + 1) % report_every == 0:
            print(f"encoded {min(start + batch_size, n):,}/{n:,} sentences", file=sys.stderr, flush=True)
    width = model.latent_dim
    return (np.concatenate(means) if means else np.zeros((0, width), np.float32),
            np.concatenate(scales) if scales else np.zeros((0, width), np.float32))


def check_codes_path(path: str | Path) -> Path:
    """`path` as a Path if its extension names a codes format; a ConfigError naming it if not."""
    path = Path(path)
    if path.suffix not in FORMATS:
        raise ConfigError(f"{path}: --out must end in {' or '.join(FORMATS)}")
    return path


def write_codes(path: str | Path, sentences: Sequence[str], means: np.ndarray,
                scales: np.ndarray | None = None) -> list[Path]:
    """Writes the codes to `path` (.npy or .jsonl, atomically); returns the files written."""
    path = check_codes_path(path)
    if path.suffix == ".jsonl":
        lines = []
        for i, text in enumerate(sentences):
            row = {"text": text, "mean": means[i].tolist()}
            if scales is not None:
                row["scale"] = scales[i].tolist()
            lines.append(json.dumps(row))
        atomic_write(path, "".join(line + "\n" for line in lines))
        return [path]
    written = [(path, means)]
    if scales is not None:
        written.append((path.with_name(path.stem + ".scales.npy"), scales))
    for target, array in written:
        atomic_write(target, _npy_bytes(array))
    return [target for target, _ in written]


def _npy_bytes(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _tsv_cell(value: str) -> str:
    return " ".join(str(value).replace("\t", " ").split())


def write_projector(directory: str | Path, sentences: Sequence[str], means: np.ndarray,
                    labels: Sequence[str] | None = None) -> Path:
    """Writes a TensorBoard projector log of `means` (n, latent_dim) with the sentences
    (and labels) as metadata; returns the directory."""
    import tensorflow as tf
    from tensorboard.plugins import projector

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if labels is None:
        metadata = "".join(_tsv_cell(s) + "\n" for s in sentences)  # one column: no header
    else:
        metadata = "sentence\tlabel\n" + "".join(f"{_tsv_cell(s)}\t{_tsv_cell(y)}\n"
                                                 for s, y in zip(sentences, labels))
    atomic_write(directory / "metadata.tsv", metadata)
    checkpoint = tf.train.Checkpoint(embedding=tf.Variable(means, dtype=tf.float32))
    checkpoint.save(str(directory / "embedding.ckpt"))
    config = projector.ProjectorConfig()
    embedding = config.embeddings.add()
    embedding.tensor_name = "embedding/.ATTRIBUTES/VARIABLE_VALUE"
    embedding.metadata_path = "metadata.tsv"
    projector.visualize_embeddings(str(directory), config)
    return directory
