"""What a model's train step needs to behave under tf.distribute (model side).

The strategies and the sharded input live in `textvae.distribute` (training);
these are the pieces the models themselves call, including two Keras 3.15
workarounds that concern any Keras model trained under a strategy.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def replica_scale() -> float:
    """1 / replicas in sync: per-replica mean losses are scaled by it because the
    optimizer sums gradients over replicas."""
    return 1.0 / tf.distribute.get_strategy().num_replicas_in_sync


class SkipSymbolicBuild:
    """Mixin for our Keras models: they are fully built before `fit` (training calls
    them once and builds the optimizer), so Keras' symbolic build is skipped.
    Under tf.distribute it would fail on our dict batches: Keras 3.15 reduces the
    first distributed batch with `strategy.reduce("MEAN", batch)`, which accepts
    tensors, not dicts."""

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if not self.built or self.optimizer is None or not self.optimizer.built:
            super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)


def step_logs(values: dict) -> dict:
    """A train step's logs in the shape Keras can reduce over replicas.

    Under MultiWorkerMirroredStrategy, Keras 3.15 reduces every logged value with
    `strategy.reduce("MEAN", v, axis=0)`, which needs an axis: scalars become (1,).
    """
    if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
        return {k: tf.reshape(v, [1]) for k, v in values.items()}
    return values


def as_float(value) -> float:
    """A logged value (scalar, or (1,) from `step_logs`) as a Python float."""
    return float(np.asarray(value).reshape(-1)[0])
