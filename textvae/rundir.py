"""The run directory: its layout, and reading and writing each file in it.

Nothing else in the package spells a file name of a run directory. The layout:

  config.yaml       the resolved config, written before step 0
  tokenizer.*       the tokenizer (its files are named by `textvae.tokenizer`)
  data_stats.json   corpus sizes, truncation and empty-line counts
  labels.json       M2 runs: {"classes", "class_log_prior"}
  metrics.jsonl     one JSON object per logging interval / validation run
  eval.jsonl        one JSON object per `textvae evaluate`
  tensorboard/      TensorBoard scalars
  plots/            PNGs written by `textvae plot`
  checkpoints/      ckpt-<step>/ and best.json (their insides: `textvae.checkpoints`)
  lock              held by the one process training here (`textvae.locking`)

Reading a run (`textvae.load`, evaluation, plots) goes through `RunDir` and
needs nothing from training.
"""

from __future__ import annotations

import json
from pathlib import Path

from textvae import checkpoints
from textvae.config import Config, ConfigError, load_config, save_config
from textvae.data import DataError
from textvae.files import append_line, atomic_write_json, storage_error
from textvae.locking import RunLock

CONFIG_FILE = "config.yaml"
DATA_STATS_FILE = "data_stats.json"
LABELS_FILE = "labels.json"
METRICS_FILE = "metrics.jsonl"
EVAL_FILE = "eval.jsonl"
TENSORBOARD_DIR = "tensorboard"
PLOTS_DIR = "plots"
CHECKPOINTS_DIR = "checkpoints"
LOCK_FILE = "lock"


class RunDir:
    """A run directory at `path` (which need not exist yet)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    # -- paths ---------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS_FILE

    @property
    def eval_path(self) -> Path:
        return self.path / EVAL_FILE

    @property
    def labels_path(self) -> Path:
        return self.path / LABELS_FILE

    @property
    def tensorboard_dir(self) -> Path:
        return self.path / TENSORBOARD_DIR

    @property
    def plots_dir(self) -> Path:
        return self.path / PLOTS_DIR

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / CHECKPOINTS_DIR

    # -- config ----------------------------------------------------------------
    def has_config(self) -> bool:
        return self.config_path.is_file()

    def read_config(self) -> Config:
        """The saved config; a ConfigError names the directory when there is none."""
        if not self.has_config():
            raise ConfigError(f"{self.path}: not a textvae run directory (no {CONFIG_FILE})")
        return load_config(self.config_path, paths_beside_file=False)

    def write_config(self, config: Config) -> None:
        self.create()
        save_config(config, self.config_path)

    def create(self) -> None:
        """Makes the directory (and its parents); a clear error when that cannot be done."""
        if self.path.exists() and not self.path.is_dir():
            raise ConfigError(f"{self.path}: is a file, not a run directory; choose another --workdir")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise storage_error(e, self.path) from None

    def lock(self, log=None) -> RunLock:
        """The run's writer lock (not yet taken); the directory is created first."""
        self.create()
        return RunLock(self.path / LOCK_FILE, **({"log": log} if log else {}))

    # -- small JSON files ------------------------------------------------------
    def write_data_stats(self, stats: dict) -> None:
        atomic_write_json(self.path / DATA_STATS_FILE, stats)

    def read_data_stats(self) -> dict:
        """data_stats.json (sentence counts, truncation, vocabulary size); {} before training."""
        path = self.path / DATA_STATS_FILE
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    def write_labels(self, classes: list[str], class_log_prior: list[float]) -> None:
        atomic_write_json(self.labels_path, {"classes": classes, "class_log_prior": class_log_prior})

    def read_labels(self) -> dict | None:
        """labels.json of an M2 run, {"classes", "class_log_prior"}; None when absent."""
        if not self.labels_path.is_file():
            return None
        saved = json.loads(self.labels_path.read_text(encoding="utf-8"))
        if not isinstance(saved, dict) or not isinstance(saved.get("classes"), list):
            raise DataError(f"{self.labels_path}: expected an object with a list of classes")
        return saved

    def require_labels(self) -> dict:
        labels = self.read_labels()
        if labels is None:
            raise DataError(f"{self.path}: an M2 run without {LABELS_FILE}")
        return labels

    # -- logs ----------------------------------------------------------------
    def append_eval(self, record: dict) -> None:
        append_line(self.eval_path, json.dumps(record))

    def append_metrics(self, record: dict) -> None:
        append_line(self.metrics_path, json.dumps(record))

    def read_evals(self) -> list[dict]:
        """The records of eval.jsonl, oldest first."""
        if not self.eval_path.is_file():
            return []
        return [json.loads(line) for line in self.eval_path.read_text(encoding="utf-8").splitlines() if line]

    def read_metrics(self) -> list[dict]:
        """The records of metrics.jsonl, oldest first (an empty list before the first one)."""
        if not self.metrics_path.is_file():
            return []
        return [json.loads(line) for line in self.metrics_path.read_text(encoding="utf-8").splitlines() if line]

    # -- checkpoints -----------------------------------------------------------
    def checkpoint(self, which: str = "best") -> Path:
        """The checkpoint directory for "best" (best validation ELBO, else the latest),
        "latest", or a name such as "ckpt-000001000"; CheckpointError when none is usable."""
        root = self.checkpoints_dir
        if which == "best":
            path = checkpoints.best_checkpoint(root) or checkpoints.latest_checkpoint(root)
        elif which == "latest":
            path = checkpoints.latest_checkpoint(root)
        elif which.isdigit():
            path = checkpoints.checkpoint_path(root, int(which))
        else:
            path = root / which
        if path is None or not path.is_dir():
            raise checkpoints.CheckpointError(f"{root}: no usable checkpoint ({which!r})")
        return path

    def describe_checkpoint(self, path: Path) -> str:
        """One line for a user: which checkpoint `path` is, and whether it is the best one."""
        step = int(path.name[len(checkpoints.PREFIX):])
        newest = checkpoints.list_checkpoints(self.checkpoints_dir)
        best = checkpoints.best_metrics(self.checkpoints_dir)
        why = []
        if best is not None and checkpoints.checkpoint_path(self.checkpoints_dir, best["step"]) == path:
            why.append(f"best validation ELBO {best['valid_elbo']:.2f}")
        if newest and newest[-1] == path:
            why.append("latest")
        return f"loaded {path.name} (step {step}{': ' + ', '.join(why) if why else ''})"

