"""train(config, workdir): prepare data, build, fit, checkpoint, resume.

What the run directory holds is `textvae.rundir`'s; the model is built by
`textvae.building` (as loading builds it), and training adds the optimizer,
the KL schedule and the input pipeline.
"""

from __future__ import annotations

import dataclasses
import signal
import sys
from pathlib import Path

import keras
import tensorflow as tf

from textvae import checkpoints
from textvae.building import build_model
from textvae.callbacks import TrainingMonitor
from textvae.config import Config, ConfigError, diff_configs
from textvae.data import EncodedCorpus, encode_corpus, read_corpus, split_holdout, training_batches
from textvae.distribute import distributed_dataset, is_chief, make_strategy
from textvae.optimizer import FusedAdam
from textvae.rundir import RunDir
from textvae.schedules import kl_weight
from textvae.semisupervised import mixed_batches, prepare_semi_supervised_data
from textvae.tokenizer import Tokenizer, load_tokenizer, train_tokenizer

# Sections that fix the model's shape: a run directory cannot change them.
FIXED_SECTIONS = ("model", "tokenizer")


class TrainingDiverged(RuntimeError):
    """The loss became non-finite; the last good checkpoint is kept."""


@dataclasses.dataclass(frozen=True)
class PreparedData:
    tokenizer: Tokenizer
    train: EncodedCorpus
    valid: EncodedCorpus


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def resolve_run_config(config: Config | None, run: RunDir) -> Config:
    """The config of the run in `run`: a new one, or the saved one when resuming.

    Raises ConfigError if `config` changes the model or tokenizer of an existing run.
    """
    workdir = run.path
    if not run.has_config():
        if config is None:
            raise ConfigError(f"{workdir}: no saved config here; pass --config to start a new run")
        return config
    saved = run.read_config()
    if config is None:
        return saved
    conflicts = diff_configs(saved, config, FIXED_SECTIONS)
    if saved.m2.enabled != config.m2.enabled:
        conflicts.append(f"m2.enabled: {saved.m2.enabled} -> {config.m2.enabled}")
    if "transformer" in (saved.model.encoder, saved.model.decoder) and saved.data.max_length != config.data.max_length:
        conflicts.append(f"data.max_length: {saved.data.max_length} -> {config.data.max_length} "
                         "(it sizes the Transformer's position table)")
    if conflicts:
        raise ConfigError(
            f"{workdir} holds a run with a different model/tokenizer config: {'; '.join(conflicts)}. "
            "Use a new --workdir, or resume this run without --config."
        )
    changed = diff_configs(saved, config, ("data", "kl", "train", "m2"))
    if changed:
        log(f"resuming {workdir} with changed settings: {'; '.join(changed)}")
    return config


def prepare_data(config: Config, run: RunDir, write: bool = True) -> PreparedData:
    """Reads the corpora, trains (or reloads) the tokenizer and encodes both splits;
    with `write`, saves the tokenizer and data_stats.json in the run directory."""
    workdir = run.path
    train_corpus = read_corpus(config.data.train, config.data) if config.data.train else None
    if train_corpus is None:
        raise ConfigError("data.train is empty: set it to a corpus file")
    train_texts = train_corpus.texts
    if config.data.valid:
        valid_texts = read_corpus(config.data.valid, config.data).texts
    else:
        train_texts, valid_texts = split_holdout(train_texts, config.data.valid_fraction, config.train.seed)
    try:
        tokenizer = load_tokenizer(workdir)
    except ValueError:
        tokenizer = train_tokenizer(config.tokenizer, train_texts)
        if write:
            tokenizer.save(workdir)
    train = encode_corpus(train_texts, tokenizer, config.data.max_length)
    valid = encode_corpus(valid_texts, tokenizer, config.data.max_length)
    stats = {
        "train_sentences": len(train.sequences), "valid_sentences": len(valid.sequences),
        "train_truncated": train.truncated, "valid_truncated": valid.truncated,
        "train_empty_lines_skipped": train_corpus.skipped_empty,
        "vocab_size": tokenizer.vocab_size, "max_length": config.data.max_length,
    }
    if write:
        run.write_data_stats(stats)
    log(f"data: {stats}")
    if train.truncated or valid.truncated:
        log(f"warning: truncated {train.truncated} train and {valid.truncated} valid sentences "
            f"to data.max_length={config.data.max_length} tokens")
    return PreparedData(tokenizer, train, valid)


def pad_multiple(train_config) -> int:
    """Training batch widths are rounded up to this (train.pad_to_multiple; 0 = 8 under XLA, else 1)."""
    if train_config.pad_to_multiple:
        return train_config.pad_to_multiple
    return 8 if train_config.jit_compile else 1


def learning_rate(train_config):
    """Adam's learning rate: the float, or a schedule of the optimizer step (so a resumed
    run continues it exactly from the restored step)."""
    if train_config.lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            train_config.learning_rate, train_config.max_steps, alpha=train_config.final_lr_fraction)
    return train_config.learning_rate


def compile_model(model, config: Config) -> None:
    """Adam with gradient clipping, the KL schedule and free bits; builds the optimizer."""
    optimizer = FusedAdam(learning_rate(config.train), global_clipnorm=config.train.clip_norm or None)
    pretrain = config.train.pretrain_steps

    def kl_weight_fn(step):  # 0 while pretraining as an autoencoder, then the schedule from 0
        vae_step = tf.cast(step, tf.int64) - pretrain
        weight = kl_weight(tf.maximum(vae_step, 0), config.kl, config.train.max_steps - pretrain)
        return tf.where(vae_step < 0, 0.0, weight)

    if config.train.sampled_softmax >= model.vocab_size:
        raise ConfigError(f"train.sampled_softmax={config.train.sampled_softmax} must be below the "
                          f"vocabulary size {model.vocab_size} (0 = exact softmax)")
    extra = {"alpha": config.m2.alpha} if config.m2.enabled else {"sampled_softmax": config.train.sampled_softmax}
    model.compile(
        optimizer,
        kl_weight_fn=kl_weight_fn,
        free_bits=config.kl.free_bits,
        free_bits_per=config.kl.free_bits_per,
        target_rate=config.kl.target_rate,
        jit_compile=config.train.jit_compile,
        **extra,
    )
    model.optimizer.build(model.trainable_variables)


def train(config: Config | None, workdir: str | Path) -> dict:
    """Trains (or resumes) the run in `workdir`.

    Args:
      config: the run's config; None to resume from `workdir/config.yaml`.
      workdir: run directory (created if missing).
    Returns:
      {"workdir", "step", "last": last logged training metrics, "best": best validation metrics}.
    Raises:
      TrainingDiverged: on a non-finite loss (the last good checkpoint stays).
      RunLocked: another live process is training in `workdir` (textvae.locking).
      StorageError: the disk refused a write (full, read-only); the last checkpoint stays.
    """
    run = RunDir(workdir)
    config = resolve_run_config(config, run)
    use_op_threads(config.train.intra_op_threads)
    # first: MultiWorkerMirroredStrategy must be set up before TensorFlow runs anything
    strategy = make_strategy(config.train.strategy)
    chief = is_chief(strategy)
    run.create()
    if not chief:  # only the chief writes the run directory, so only it holds the lock
        return _train(config, run, strategy, chief)
    with run.lock(log):
        return _train(config, run, strategy, chief)


def use_op_threads(threads: int) -> None:
    """Threads per TensorFlow op (`train.intra_op_threads`); 0 keeps TensorFlow's default.

    TensorFlow fixes the count when its runtime starts. In a process where it has
    already started with another count (a second run in one Python session) the
    count stays as it is and the log says so: a speed setting (the same model up to
    float rounding, which the order of a reduction changes).
    """
    current = tf.config.threading.get_intra_op_parallelism_threads()
    if threads == 0 or threads == current:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    except RuntimeError:
        log(f"train.intra_op_threads={threads}: TensorFlow already started in this process with "
            f"{current or 'its default number of'} threads per op; left as it is")


def initialise_m2(model, vae_workdir: str) -> None:
    """A fresh M2 model starts from the VAE run in `vae_workdir` (`m2.init_from`)."""
    from textvae.loading import load

    vae = load(vae_workdir, checkpoint="best")
    if vae.latent_dim == 0 or hasattr(vae, "classes"):
        raise ConfigError(f"m2.init_from={vae_workdir}: not a VAE run (a language model or an M2 run)")
    try:
        counts = model.initialise_from(vae)
    except ValueError as e:
        raise ConfigError(f"m2.init_from={vae_workdir}: {e}") from None
    log(f"m2.init_from: {counts['copied']} weights copied and {counts['extended']} extended with fresh rows "
        f"for y from {vae_workdir}")


def _train(config: Config, run: RunDir, strategy, chief: bool) -> dict:
    """The training run of `train`, with the run directory's lock held by the chief."""
    workdir = run.path
    if chief:
        run.write_config(config)
    keras.utils.set_random_seed(config.train.seed)

    if config.m2.enabled:
        if config.train.pretrain_steps:
            raise ConfigError("train.pretrain_steps is not supported with m2.enabled")
        data = prepare_semi_supervised_data(config, run, log, write=chief)
        labels = {"classes": data.classes, "class_log_prior": data.class_log_prior}
    else:
        data, labels = prepare_data(config, run, write=chief), None
    with strategy.scope():
        model = build_model(config, data.tokenizer, labels)
        compile_model(model, config)
        ckpt_root = run.checkpoints_dir
        start = 0
        latest = checkpoints.latest_checkpoint(ckpt_root)
        if latest is None and config.m2.enabled and config.m2.init_from:
            initialise_m2(model, config.m2.init_from)
        if latest is not None:
            start = checkpoints.restore_checkpoint(model, latest)
            if config.train.lr_schedule == "constant":
                # the optimizer state holds the learning rate: the config's value wins
                model.optimizer.learning_rate.assign(config.train.learning_rate)
            log(f"resumed from {latest} at step {start}")
    # the Keras bar only on a terminal; anything else (a file, nohup, CI) gets plain lines
    bar = config.train.progress_bar and chief and sys.stderr.isatty()
    monitor = TrainingMonitor(config.train, run, data.valid, start, chief=chief, log_lines=not bar)
    if start < config.train.max_steps:
        batch_size, seed = config.train.batch_size, config.train.seed
        widths = dict(multiple=pad_multiple(config.train), max_width=config.data.max_length + 2)
        if config.m2.enabled:
            fraction = config.m2.labelled_fraction
            make_batches = lambda: mixed_batches(data.labelled, data.unlabelled, batch_size, fraction, seed, start,
                                                 **widths)
        else:
            make_batches = lambda: training_batches(data.train, batch_size, seed, start, **widths)
        dataset = distributed_dataset(strategy, make_batches, batch_size, labelled=config.m2.enabled)
        with _interrupts_save(monitor):
            model.fit(
                dataset, epochs=1, steps_per_epoch=config.train.max_steps - start,
                verbose=1 if bar else 0, callbacks=[monitor], shuffle=False,
            )
        if monitor.diverged:
            raise TrainingDiverged(monitor.diverged)
    return {"workdir": str(workdir), "step": int(model.optimizer.iterations.numpy()),
            "last": monitor.last_record, "best": checkpoints.best_metrics(ckpt_root)}


class _interrupts_save:
    """Ctrl-C or SIGTERM during fit: save a checkpoint at the current step, then re-raise."""

    def __init__(self, monitor: TrainingMonitor):
        self.monitor = monitor

    def __enter__(self):
        self.previous = signal.getsignal(signal.SIGTERM)
        try:
            signal.signal(signal.SIGTERM, self._raise)
        except ValueError:  # not the main thread: leave signals alone
            self.previous = None

    def _raise(self, signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    def __exit__(self, kind, value, traceback):
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)
        if kind is KeyboardInterrupt and getattr(self.monitor, "model", None) is not None:
            path = self.monitor.save_now()
            log(f"interrupted: saved {path}" if path else "interrupted: weights not finite, nothing saved")
        return False
