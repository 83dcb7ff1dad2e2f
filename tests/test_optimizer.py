"""textvae.optimizer.FusedAdam takes the same steps as keras.optimizers.Adam and keeps its state layout."""

import keras
import numpy as np
import tensorflow as tf

from textvae.optimizer import FusedAdam


def _run(optimizer_class, steps=6):
    rng = np.random.default_rng(0)
    shapes = [(5, 3), (3,), (7, 2)]
    variables = [keras.Variable(rng.standard_normal(s).astype(np.float32), name=f"w{i}") for i, s in enumerate(shapes)]
    schedule = keras.optimizers.schedules.CosineDecay(0.05, steps, alpha=0.1)
    # a small global clip norm, so that clipping is active on most steps
    optimizer = optimizer_class(schedule, global_clipnorm=1.5)
    optimizer.build(variables)

    @tf.function
    def apply(gradients):
        optimizer.apply(gradients, variables)

    for _ in range(steps):
        apply([tf.constant(rng.standard_normal(s) * 3, tf.float32) for s in shapes])
    return variables, optimizer


def test_fused_adam_takes_kerass_adam_steps_with_clipping_and_a_schedule():
    fused_variables, fused = _run(FusedAdam)
    plain_variables, plain = _run(keras.optimizers.Adam)
    start = [np.random.default_rng(0).standard_normal(s) for s in [(5, 3), (3,), (7, 2)]]
    for a, b, s in zip(fused_variables, plain_variables, start):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
        assert np.abs(a.numpy() - s).max() > 0.05  # the steps moved the weights
    # the same state (checkpoints hold it by position): names below the optimizer's own
    assert [v.path.split("/", 1)[1] for v in fused.variables] == [v.path.split("/", 1)[1] for v in plain.variables]
    for a, b in zip(fused.variables, plain.variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-7)
