"""TrainingMonitor: the Keras callback that logs, validates, checkpoints and stops on NaN."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from textvae import checkpoints
from textvae.config import TrainConfig
from textvae.files import StorageError
from textvae.data import EncodedCorpus
from textvae.replicas import as_float
from textvae.rundir import RunDir

# logged values that are counts, summed over an interval rather than averaged
COUNTED = ("tokens", "sentences")


class TrainingMonitor(keras.callbacks.Callback):
    """After every step: NaN check; every `log_every`: a metrics.jsonl record and
    TensorBoard scalars; every `eval_every`: validation ELBO, best checkpoint;
    every `checkpoint_every` and at the end: a checkpoint.
    """

    def __init__(self, config: TrainConfig, run: RunDir, valid: EncodedCorpus, start_step: int, chief: bool = True,
                 log_lines: bool = False):
        super().__init__()
        # one plain stderr line per logged step (format_log_line) where no progress bar is drawn
        self.log_lines = log_lines
        # only the chief of a multi-worker run logs, validates and checkpoints
        self.chief = chief
        self.config = config
        self.run = run
        self.metrics_path = run.metrics_path
        self.ckpt_root = run.checkpoints_dir
        self.valid = valid
        self.writer = tf.summary.create_file_writer(str(run.tensorboard_dir)) if chief else None
        if chief:
            _drop_partial_last_line(self.metrics_path)
        self.diverged: str | None = None
        self.last_record: dict = {}
        self.last_saved_step = start_step
        self._reset_interval()

    def _reset_interval(self):
        self.sums: dict[str, float] = {}
        self.batches = self.tokens = self.sentences = 0
        self.started = time.perf_counter()

    def on_train_batch_begin(self, batch, logs=None):
        pretrain = self.config.pretrain_steps
        if pretrain and int(self.model.optimizer.iterations.numpy()) == pretrain:
            self.model.reinitialize_decoder(self.config.seed + pretrain)
            print(f"step {pretrain}: autoencoder pretraining done, decoder re-initialised", file=sys.stderr)

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        if not math.isfinite(as_float(logs["loss"])):
            self.diverged = (
                f"non-finite loss ({as_float(logs['loss'])}) at step {step}; training stopped. "
                f"The last good checkpoint (step {self.last_saved_step}) in {self.ckpt_root} is kept."
            )
            print(self.diverged, file=sys.stderr)
            self.model.stop_training = True
            return
        for key, value in logs.items():
            if key not in COUNTED:
                self.sums[key] = self.sums.get(key, 0.0) + as_float(value)
        self.batches += 1
        self.tokens += as_float(logs["tokens"])
        self.sentences += as_float(logs["sentences"])
        final = step >= self.config.max_steps
        if not self.chief:
            return
        if step % self.config.log_every == 0 or final:
            self._log_training(step)
        if step % self.config.eval_every == 0 or final:
            self._validate(step)
        if step % self.config.checkpoint_every == 0 or final:
            self.save_now()

    def _log_training(self, step: int):
        seconds = max(time.perf_counter() - self.started, 1e-9)
        record = {"step": step, **{k: v / self.batches for k, v in self.sums.items()},
                  "tokens_per_second": self.tokens / seconds,
                  "sentences_per_second": self.sentences / seconds}
        self._write(record, "train")
        if self.log_lines:
            steps_per_second = self.batches / seconds
            print(format_log_line(record, self.config.max_steps, steps_per_second), file=sys.stderr, flush=True)
        self.last_record = record
        self._reset_interval()

    def _validate(self, step: int):
        result = self.model.validation_metrics(self.valid, self.config.batch_size)
        record = {"step": step, **{f"valid_{k}": v for k, v in result.items()}}
        self._write(record, "valid")
        best = checkpoints.best_metrics(self.ckpt_root)
        if best is None or record["valid_elbo"] > best["valid_elbo"]:
            path = self.save_now()
            if path is not None:
                checkpoints.mark_best(self.ckpt_root, path, record)

    def _write(self, record: dict, split: str):
        self.run.append_metrics(record)
        try:
            with self.writer.as_default(step=record["step"]):
                for key, value in record.items():
                    if key != "step":
                        tf.summary.scalar(f"{split}/{key}", value)
            self._flush_tensorboard()
        except (tf.errors.OpError, OSError) as e:
            raise StorageError(f"cannot write the TensorBoard log in {self.run.tensorboard_dir}: "
                               f"{getattr(e, 'message', e)}") from None

    def _flush_tensorboard(self):
        self.writer.flush()

    def save_now(self) -> Path | None:
        """Checkpoints the current step unless a weight is non-finite (or this
        process is not the chief); returns the path."""
        if not self.chief:
            return None
        if not all(np.isfinite(v.numpy()).all() for v in self.model.trainable_variables):
            return None
        step = int(self.model.optimizer.iterations.numpy())
        existing = checkpoints.checkpoint_path(self.ckpt_root, step)
        if step == self.last_saved_step and existing.is_dir():
            return existing
        path = checkpoints.save_checkpoint(self.model, self.ckpt_root, step)
        checkpoints.prune_checkpoints(self.ckpt_root, self.config.keep_checkpoints)
        self.last_saved_step = step
        return path


def format_log_line(record: dict, max_steps: int, steps_per_second: float) -> str:
    """`step 200/2400  loss 85.21  rec 80.13  kl 12.30  kl_weight 0.333  4,100 tok/s  left 3m20s`:
    the running means of the interval since the last line, not the last batch."""
    parts = [f"step {record['step']}/{max_steps}"]
    names = {"loss": "loss", "reconstruction": "rec", "kl": "kl", "kl_weight": "kl_weight"}
    for key, value in record.items():
        if key in ("step", "tokens_per_second", "sentences_per_second"):
            continue
        digits = 3 if key == "kl_weight" else 2
        parts.append(f"{names.get(key, key)} {value:.{digits}f}")
    parts.append(f"{record['tokens_per_second']:,.0f} tok/s")
    left = (max_steps - record["step"]) / steps_per_second if steps_per_second > 0 else 0.0
    minutes, seconds = divmod(int(round(left)), 60)
    parts.append(f"left {minutes}m{seconds:02d}s")
    return "  ".join(parts)


def _drop_partial_last_line(path: Path) -> None:
    """A run killed while appending leaves half a JSON line: cut it before appending more."""
    if not path.is_file():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        keep = data.rfind(b"\n") + 1
        with open(path, "r+b") as f:
            f.truncate(keep)
