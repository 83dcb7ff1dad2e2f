import numpy as np
import pytest

from textvae.config import KLConfig
from textvae.schedules import kl_weight


def values(config, steps, total=100):
    return np.array([float(kl_weight(s, config, total)) for s in steps])


def test_constant():
    np.testing.assert_allclose(values(KLConfig(schedule="constant", weight=0.7), [0, 5, 99]), 0.7)


def test_linear():
    config = KLConfig(schedule="linear", warmup_steps=10, weight=2.0)
    np.testing.assert_allclose(values(config, [0, 5, 10, 50]), [0.0, 1.0, 2.0, 2.0])


def test_logistic_is_bowmans_sigmoid():
    config = KLConfig(schedule="logistic", midpoint=50, steepness=0.1)
    expected = 1 / (1 + np.exp(-0.1 * (np.array([0, 50, 100]) - 50)))
    np.testing.assert_allclose(values(config, [0, 50, 100]), expected, rtol=1e-6)
    assert values(config, [50])[0] == pytest.approx(0.5)


def test_cyclical_fu_et_al():
    # 4 cycles over 100 steps: period 25; rises over the first half (12.5 steps), then holds.
    config = KLConfig(schedule="cyclical", cycles=4, ratio=0.5)
    got = values(config, [0, 5, 12.5, 20, 24, 25, 30, 99], total=100)
    np.testing.assert_allclose(got, [0.0, 0.4, 1.0, 1.0, 1.0, 0.0, 0.4, 1.0], atol=1e-6)


def test_tensor_step_matches_python_step():
    import tensorflow as tf

    config = KLConfig(schedule="linear", warmup_steps=8)
    assert float(kl_weight(tf.constant(3, tf.int64), config, 10)) == float(kl_weight(3, config, 10))
