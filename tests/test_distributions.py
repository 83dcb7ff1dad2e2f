import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from textvae import distributions

tfd = tfp.distributions


def test_kl_matches_closed_form_and_tfp():
    rng = np.random.default_rng(0)
    loc = rng.normal(size=(2, 3)).astype(np.float32)
    scale = rng.uniform(0.2, 2.0, size=(2, 3)).astype(np.float32)
    closed_form = 0.5 * (loc**2 + scale**2 - 1.0) - np.log(scale)
    per_dim = distributions.kl_per_dimension(loc, scale).numpy()
    np.testing.assert_allclose(per_dim, closed_form, rtol=1e-5, atol=1e-6)
    full = tfd.kl_divergence(distributions.posterior(loc, scale), distributions.prior(3)).numpy()
    np.testing.assert_allclose(per_dim.sum(axis=1), full, rtol=1e-5)


def test_posterior_shapes():
    q = distributions.posterior(tf.zeros((2, 3)), tf.ones((2, 3)))
    assert q.batch_shape == (2,) and q.event_shape == (3,)
    assert distributions.prior(3).event_shape == (3,)


def test_free_bits_clamp_per_dimension_and_block_gradients():
    kl = tf.Variable([[0.05, 1.0, 0.3], [0.15, 3.0, 0.1]])  # batch means: 0.1, 2.0, 0.2
    with tf.GradientTape() as tape:
        clamped = distributions.free_bits_kl(kl, free_bits=0.5)
    # dims 0 and 2 are below the floor and count 0.5 each; dim 1 counts its mean
    assert float(clamped) == np.float32(0.5 + 2.0 + 0.5)
    grad = tape.gradient(clamped, kl).numpy()
    np.testing.assert_allclose(grad, [[0, 0.5, 0], [0, 0.5, 0]])
    assert float(distributions.free_bits_kl(kl, 0.0)) == np.float32(0.1 + 2.0 + 0.2)


def test_free_bits_per_sentence_clamp_each_sentence_against_a_hand_computation():
    kl = tf.Variable([[0.05, 1.0, 0.3], [0.15, 3.0, 0.1]])  # batch means: 0.1, 2.0, 0.2
    with tf.GradientTape(persistent=True) as tape:
        per_sentence = distributions.kl_penalty(kl, free_bits=0.25, per_sentence=True)
        per_batch = distributions.kl_penalty(kl, free_bits=0.25)
        weighted = distributions.kl_penalty(kl, free_bits=0.25, per_sentence=True,
                                            weights=tf.constant([1.0, 0.5]), count=2.0)
    # sentence 0: 0.25 + 1.0 + 0.3 = 1.55; sentence 1: 0.25 + 3.0 + 0.25 = 3.5
    assert float(per_sentence) == pytest.approx((1.55 + 3.5) / 2, rel=1e-6)
    assert float(per_batch) == pytest.approx(0.25 + 2.0 + 0.25, rel=1e-6)
    assert float(weighted) == pytest.approx((1.55 + 0.5 * 3.5) / 2, rel=1e-6)
    # sentence 0's third unit (0.3) is above the floor on its own, though the batch mean (0.2) is not
    np.testing.assert_allclose(tape.gradient(per_sentence, kl), [[0, 0.5, 0.5], [0, 0.5, 0]])
    np.testing.assert_allclose(tape.gradient(per_batch, kl), [[0, 0.5, 0], [0, 0.5, 0]])
    np.testing.assert_allclose(tape.gradient(weighted, kl), [[0, 0.5, 0.5], [0, 0.25, 0]])
    # a target rate is the rate control then; the floor's mode does not apply
    rate = distributions.kl_penalty(kl, free_bits=0.25, target_rate=3.0, per_sentence=True)
    assert float(rate) == pytest.approx(abs(0.1 + 2.0 + 0.2 - 3.0), rel=1e-6)
