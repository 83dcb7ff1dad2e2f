"""Loading a trained run: config + tokenizer + weights, executing no code from the files.

The model is rebuilt from the run's YAML config (parsed with `yaml.safe_load`) by
our own constructors; the checkpoint supplies only arrays (HDF5 weights, an
`.npz` read with `allow_pickle=False`). No class named in a file is ever
instantiated, so a crafted run directory cannot run code.
"""

from __future__ import annotations

from pathlib import Path

from textvae import checkpoints
from textvae.config import ConfigError, load_config
from textvae.model import SentenceVAE
from textvae.semisupervised import read_labels_file
from textvae.tokenizer import load_tokenizer
from textvae.train import CONFIG_FILE, build_model, compile_model


def load(workdir: str | Path, checkpoint: str = "best") -> SentenceVAE:  # or an M2VAE
    """Loads the model of a run directory with its tokenizer attached.

    Args:
      workdir: a directory written by `textvae train`.
      checkpoint: "best" (best validation ELBO, else latest), "latest", or a
        checkpoint directory name such as "ckpt-000001000".
    Returns:
      A `SentenceVAE` ready for encode / decode / sample / reconstruct / interpolate.
    """
    workdir = Path(workdir)
    if not (workdir / CONFIG_FILE).is_file():
        raise ConfigError(f"{workdir}: not a textvae run directory (no {CONFIG_FILE})")
    config = load_config(workdir / CONFIG_FILE)
    tokenizer = load_tokenizer(workdir)
    labels = read_labels_file(workdir) if config.m2.enabled else None
    model = build_model(config, tokenizer.vocab_size, labels)
    compile_model(model, config)
    root = workdir / "checkpoints"
    if checkpoint == "best":
        path = checkpoints.best_checkpoint(root) or checkpoints.latest_checkpoint(root)
    elif checkpoint == "latest":
        path = checkpoints.latest_checkpoint(root)
    else:
        path = root / checkpoint
    if path is None or not path.is_dir():
        raise checkpoints.CheckpointError(f"{root}: no usable checkpoint ({checkpoint!r})")
    checkpoints.restore_checkpoint(model, path)
    model.tokenizer = tokenizer
    return model
