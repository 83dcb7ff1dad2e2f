"""KL-weight schedules: pure functions of the optimizer step.

Because the weight depends on nothing but the step, a resumed run continues the
schedule exactly where it stopped. Every function accepts a Python number or a
scalar tensor and returns a float32 tensor.
"""

from __future__ import annotations

import tensorflow as tf

from textvae.config import KLConfig


def kl_weight(step, config: KLConfig, total_steps: int) -> tf.Tensor:
    """KL weight at optimizer step `step` (0-based).

    Args:
      step: scalar, the number of optimizer updates done so far.
      config: the `kl` section.
      total_steps: train.max_steps, over which `cyclical` spreads its cycles.
    Returns:
      Scalar float32 tensor in [0, config.weight].
    """
    step = tf.cast(step, tf.float32)
    if config.schedule == "constant":
        fraction = tf.ones_like(step)
    elif config.schedule == "linear":
        fraction = tf.minimum(1.0, step / float(max(config.warmup_steps, 1)))
    elif config.schedule == "logistic":
        fraction = tf.sigmoid(config.steepness * (step - float(config.midpoint)))
    elif config.schedule == "cyclical":
        period = max(total_steps / config.cycles, 1.0)
        phase = tf.math.floormod(step, period) / period
        fraction = tf.minimum(1.0, phase / config.ratio) if config.ratio > 0 else tf.ones_like(step)
    else:
        raise ValueError(f"kl.schedule={config.schedule!r}; choose constant, linear, logistic, cyclical")
    return config.weight * fraction
