"""Atomic, checksummed checkpoints of everything a resume needs.

A checkpoint is a directory `ckpt-<step>` holding the model and optimizer
weights (`model.weights.h5`, HDF5 data only), the seed-generator states
(`rng.npz`, loaded without pickle) and `state.json` (step, SHA-256 of the two
files). It is written under a temporary name and renamed into place,
so a run killed at any moment leaves either the old set or the new one. On load,
a checkpoint whose checksum fails is skipped with a warning for the previous one.
A disk that cannot take the checkpoint (checked before HDF5 starts writing, whose
library can crash on a full disk, and on every write) is a StorageError naming
the file; the temporary directory is removed and the previous checkpoints stay.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from pathlib import Path

import numpy as np

from textvae.files import StorageError, atomic_write_json, storage_error

WEIGHTS_FILE = "model.weights.h5"
RNG_FILE = "rng.npz"
STATE_FILE = "state.json"
BEST_POINTER = "best.json"
PREFIX = "ckpt-"


class CheckpointError(RuntimeError):
    """No usable checkpoint, or a checkpoint that does not fit the model."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _seed_states(model):
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


def checkpoint_path(root: str | Path, step: int) -> Path:
    """Where the checkpoint of `step` lives: `root/ckpt-<step, 9 digits>`."""
    return Path(root) / f"{PREFIX}{step:09d}"


def checkpoint_bytes(model) -> int:
    """About what a checkpoint of `model` takes on disk: its weights and optimizer state."""
    variables = list(model.weights)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and getattr(optimizer, "built", False):
        variables += list(optimizer.variables)
    return sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in variables)


def save_checkpoint(model, root: str | Path, step: int) -> Path:
    """Writes `root/ckpt-<step>` atomically and returns its path (StorageError if the disk refuses)."""
    root = Path(root)
    final = checkpoint_path(root, step)
    tmp = root / f".{final.name}.tmp"
    target = tmp / WEIGHTS_FILE
    try:
        root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        needed = int(checkpoint_bytes(model) * 1.1) + (1 << 20)
        free = shutil.disk_usage(root).free
        if free < needed:
            raise StorageError(f"no space left on device writing {target} (needs about {needed / 1e6:.1f} MB, "
                               f"{free / 1e6:.1f} MB free); the previous checkpoints are kept")
        tmp.mkdir()
        model.save_weights(target)
        target = tmp / RNG_FILE
        np.savez(target, *[np.asarray(v.numpy()) for v in _seed_states(model)])
        state = {
            "step": int(step),
            "sha256": {name: _sha256(tmp / name) for name in (WEIGHTS_FILE, RNG_FILE)},
        }
        target = tmp / STATE_FILE
        target.write_text(json.dumps(state, indent=1))
        target = final
        if final.exists():  # the same step saved twice (e.g. best and periodic): replace
            shutil.rmtree(final)
        tmp.rename(final)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise storage_error(e, target) from None
    except StorageError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def verify_checkpoint(path: Path) -> dict:
    """Returns the checkpoint's state, or raises CheckpointError if it is damaged."""
    try:
        state = json.loads((path / STATE_FILE).read_text())
        for name, expected in state["sha256"].items():
            if _sha256(path / name) != expected:
                raise CheckpointError(f"{path / name}: checksum mismatch (file damaged)")
    except (OSError, ValueError, KeyError) as e:
        raise CheckpointError(f"{path}: unreadable checkpoint ({e})") from None
    return state


def list_checkpoints(root: str | Path) -> list[Path]:
    """Completed checkpoints, oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith(PREFIX))


def latest_checkpoint(root: str | Path) -> Path | None:
    """The newest checkpoint that passes verification; damaged ones are skipped with a warning."""
    for path in reversed(list_checkpoints(root)):
        try:
            verify_checkpoint(path)
            return path
        except CheckpointError as e:
            warnings.warn(f"skipping damaged checkpoint: {e}", stacklevel=2)
    return None


def best_checkpoint(root: str | Path) -> Path | None:
    """The checkpoint recorded as best on validation, if it is intact."""
    pointer = Path(root) / BEST_POINTER
    if not pointer.is_file():
        return None
    path = Path(root) / json.loads(pointer.read_text())["checkpoint"]
    try:
        verify_checkpoint(path)
    except CheckpointError as e:
        warnings.warn(f"best checkpoint unusable: {e}", stacklevel=2)
        return None
    return path


def mark_best(root: str | Path, path: Path, metrics: dict) -> None:
    atomic_write_json(Path(root) / BEST_POINTER, {"checkpoint": path.name, "metrics": metrics})


def best_metrics(root: str | Path) -> dict | None:
    pointer = Path(root) / BEST_POINTER
    return json.loads(pointer.read_text())["metrics"] if pointer.is_file() else None


def prune_checkpoints(root: str | Path, keep: int) -> None:
    """Deletes all but the newest `keep` checkpoints, never the best one."""
    best = best_checkpoint(root)
    for path in list_checkpoints(root)[:-keep]:
        if path != best:
            shutil.rmtree(path, ignore_errors=True)


def restore_checkpoint(model, path: Path) -> int:
    """Loads weights, optimizer state and seed-generator states; returns the step.

    The model (and its optimizer, if compiled) must already be built.
    """
    state = verify_checkpoint(path)
    try:
        model.load_weights(path / WEIGHTS_FILE)
    except Exception as e:  # Keras raises ValueError/KeyError on mismatched structures
        raise CheckpointError(f"{path}: does not fit this model ({e})") from None
    try:
        with np.load(path / RNG_FILE, allow_pickle=False) as saved:
            values = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    except (OSError, ValueError, KeyError) as e:  # e.g. a pickled object array: refused, never run
        raise CheckpointError(f"{path / RNG_FILE}: unusable RNG state ({e})") from None
    states = _seed_states(model)
    if len(values) == len(states):
        for variable, value in zip(states, values):
            variable.assign(value)
    return int(state["step"])
