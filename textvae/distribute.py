"""tf.distribute strategies for training: choice, chief election and sharded input.

`train.strategy`:
  - single: the default strategy (one device);
  - mirrored: MirroredStrategy over the local GPUs (or the CPU when none);
  - multi_worker: MultiWorkerMirroredStrategy configured by the TF_CONFIG
    environment variable (a cluster of workers, each with its local devices);
  - auto: mirrored when several GPUs are visible, else single.

Every replica computes the same global batch (batches are a pure function of
(seed, step)) and keeps its own contiguous slice of rows, so the global batch
is `train.batch_size` whatever the number of replicas, and no worker has to
read the others' data.
"""

from __future__ import annotations

import json
import os
from typing import Callable, Iterator

import numpy as np
import tensorflow as tf

from textvae.config import ConfigError

STRATEGIES = ("auto", "single", "mirrored", "multi_worker")


def make_strategy(kind: str) -> tf.distribute.Strategy:
    """The strategy named by `train.strategy`."""
    if kind == "auto":
        kind = "mirrored" if len(tf.config.list_logical_devices("GPU")) > 1 else "single"
    if kind == "single":
        return tf.distribute.get_strategy()
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    if kind == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise ConfigError("train.strategy=multi_worker needs the TF_CONFIG environment variable "
                              "(cluster and task); see docs/distributed.md")
        try:
            json.loads(os.environ["TF_CONFIG"])
        except json.JSONDecodeError as e:
            raise ConfigError(f"TF_CONFIG is not valid JSON: {e}") from None
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ConfigError(f"train.strategy={kind!r}; choose one of {list(STRATEGIES)}")


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True on the one process that writes checkpoints, logs and run files."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def replica_slice(batch: dict[str, np.ndarray], index: int, count: int) -> dict[str, np.ndarray]:
    """Rows [index * B / count, (index + 1) * B / count) of a global batch, trailing padding trimmed."""
    rows = len(batch["token_ids"])
    start, stop = index * rows // count, (index + 1) * rows // count
    part = {k: v[start:stop] for k, v in batch.items()}
    width = int(part["padding_mask"].sum(axis=1).max())
    part["token_ids"], part["padding_mask"] = part["token_ids"][:, :width], part["padding_mask"][:, :width]
    return part


def distributed_dataset(strategy: tf.distribute.Strategy, make_batches: Callable[[], Iterator[dict]],
                        global_batch_size: int, labelled: bool = False):
    """The input for `model.fit`: a plain dataset on one replica, else each replica's slice of every
    global batch (`make_batches()` yields global batches)."""
    from textvae.data import to_dataset

    replicas = strategy.num_replicas_in_sync
    if replicas == 1:
        return to_dataset(make_batches(), labelled=labelled)
    if global_batch_size % replicas:
        raise ConfigError(f"train.batch_size={global_batch_size} must be divisible by the "
                          f"{replicas} replicas of the {type(strategy).__name__}")

    def per_pipeline(context: tf.distribute.InputContext):
        local = replicas // context.num_input_pipelines
        first = context.input_pipeline_id * local

        def slices():
            for batch in make_batches():
                for r in range(first, first + local):
                    yield replica_slice(batch, r, replicas)

        return to_dataset(slices(), labelled=labelled)

    return strategy.distribute_datasets_from_function(per_pipeline)
