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


def test_cosine_learning_rate_by_hand():
    from textvae.config import TrainConfig
    from textvae.training import learning_rate

    config = TrainConfig(learning_rate=0.02, max_steps=80, lr_schedule="cosine", final_lr_fraction=0.1)
    schedule = learning_rate(config)
    for step in (0, 20, 40, 80, 120):
        t = min(step, 80) / 80
        expected = 0.02 * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * t)))
        assert float(schedule(step)) == pytest.approx(expected, rel=1e-5)
    assert learning_rate(TrainConfig(learning_rate=0.02)) == 0.02


def test_resume_is_exact_with_a_cosine_learning_rate(tmp_path, monkeypatch):
    from conftest import tiny_config
    from textvae import training
    from textvae.callbacks import TrainingMonitor

    config = tiny_config(tmp_path, train={"lr_schedule": "cosine", "learning_rate": 0.01})
    full = training.train(config, tmp_path / "full")
    # interrupted at step 4 of the same 8-step schedule (Ctrl-C saves a checkpoint), then resumed
    original = TrainingMonitor.on_train_batch_end

    def stop_at_4(self, batch, logs=None):
        original(self, batch, logs)
        if int(self.model.optimizer.iterations.numpy()) == 4:
            raise KeyboardInterrupt

    monkeypatch.setattr(TrainingMonitor, "on_train_batch_end", stop_at_4)
    with pytest.raises(KeyboardInterrupt):
        training.train(config, tmp_path / "part")
    monkeypatch.setattr(TrainingMonitor, "on_train_batch_end", original)
    resumed = training.train(config, tmp_path / "part")
    assert resumed["step"] == full["step"] == 8
    assert resumed["last"]["loss"] == pytest.approx(full["last"]["loss"], rel=1e-6)
