"""Loading a trained run: config + tokenizer + weights, executing no code from the files.

The model is rebuilt from the run's YAML config (parsed with `yaml.safe_load`) by
our own constructors; the checkpoint supplies only arrays (HDF5 weights, an
`.npz` read with `allow_pickle=False`). No class named in a file is ever
instantiated, so a crafted run directory cannot run code. No optimizer is built:
a checkpoint's optimizer state is left unread.
"""

from __future__ import annotations

from pathlib import Path

from textvae import checkpoints
from textvae.building import build_model
from textvae.rundir import RunDir
from textvae.tokenizer import load_tokenizer


def load(workdir: str | Path, checkpoint: str = "best"):
    """Loads the model of a run directory with its tokenizer attached.

    Args:
      workdir: a directory written by `textvae train`.
      checkpoint: "best" (best validation ELBO, else latest), "latest", or a
        checkpoint directory name such as "ckpt-000001000".
    Returns:
      A `SentenceVAE` (or an `M2VAE` for an M2 run), ready for encode / decode /
      sample / reconstruct / interpolate (classify / transfer). `model.checkpoint`
      is the directory its weights came from.
    """
    run = RunDir(workdir)
    return load_run(run, run.read_config(), checkpoint)


def load_run(run: RunDir, config, checkpoint: str = "best"):
    """`load` for a RunDir whose config the caller has already read."""
    labels = run.require_labels() if config.m2.enabled else None
    model = build_model(config, load_tokenizer(run.path), labels)
    for attempt in range(3):
        path = run.checkpoint(checkpoint)
        try:
            checkpoints.restore_checkpoint(model, path)
            break
        except checkpoints.CheckpointError:
            # A live trainer prunes old checkpoints only after writing a newer one, so a
            # "latest" or "best" that vanished while it was read now names another: read that.
            if attempt == 2 or run.checkpoint(checkpoint) == path:
                raise
    model.checkpoint = path
    return model
