"""textvae.cross_entropy.token_nll against TensorFlow's sparse softmax cross-entropy and a hand gradient."""

import numpy as np
import pytest
import tensorflow as tf

from textvae.cross_entropy import token_nll


def _case(shape, vocab, scale=3.0, seed=0):
    rng = np.random.default_rng(seed)
    logits = tf.constant(scale * rng.standard_normal((*shape, vocab)), tf.float32)
    targets = tf.constant(rng.integers(0, vocab, shape), tf.int32)
    weights = tf.constant(rng.uniform(0.1, 2.0, shape), tf.float32)  # unequal upstream gradients
    return logits, targets, weights


def _value_and_gradient(fn, logits, targets, weights):
    with tf.GradientTape() as tape:
        tape.watch(logits)
        value = fn(logits, targets)
        total = tf.reduce_sum(value * weights)
    return value.numpy(), tape.gradient(total, logits).numpy()


@pytest.mark.parametrize("shape,vocab,scale", [((3, 5), 7, 3.0), ((11,), 31, 3.0), ((2, 4), 13, 60.0)])
def test_value_and_gradient_equal_tensorflows_cross_entropy_and_the_hand_gradient(shape, vocab, scale):
    logits, targets, weights = _case(shape, vocab, scale)
    value, gradient = _value_and_gradient(token_nll, logits, targets, weights)
    expected, expected_gradient = _value_and_gradient(
        lambda l, t: tf.nn.sparse_softmax_cross_entropy_with_logits(t, l), logits, targets, weights)
    np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gradient, expected_gradient, rtol=1e-5, atol=1e-6)
    # by hand: -log softmax at the target; gradient w * (softmax - onehot)
    x = logits.numpy().astype(np.float64)
    log_softmax = x - x.max(-1, keepdims=True)
    log_softmax -= np.log(np.exp(log_softmax).sum(-1, keepdims=True))
    onehot = np.eye(vocab)[targets.numpy()]
    np.testing.assert_allclose(value, -(log_softmax * onehot).sum(-1), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gradient, weights.numpy()[..., None] * (np.exp(log_softmax) - onehot), atol=1e-6)


def test_shapes_that_change_between_calls_of_one_graph_are_each_right():
    @tf.function(reduce_retracing=True)
    def step(logits, targets, weights):
        with tf.GradientTape() as tape:
            tape.watch(logits)
            total = tf.reduce_sum(token_nll(logits, targets) * weights)
        return total, tape.gradient(total, logits)

    for seed, shape in enumerate([(2, 3), (4, 6), (1, 9), (4, 6)]):
        logits, targets, weights = _case(shape, 17, seed=seed)
        total, gradient = step(logits, targets, weights)
        _, expected_gradient = _value_and_gradient(
            lambda l, t: tf.nn.sparse_softmax_cross_entropy_with_logits(t, l), logits, targets, weights)
        expected = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(targets, logits) * weights)
        assert float(total) == pytest.approx(float(expected), rel=1e-5)
        np.testing.assert_allclose(gradient, expected_gradient, atol=1e-6)


def test_low_precision_logits_give_a_float32_value_and_a_gradient_in_their_dtype():
    logits, targets, weights = _case((2, 3), 11)
    half = tf.cast(logits, tf.bfloat16)
    with tf.GradientTape() as tape:
        tape.watch(half)
        value = token_nll(half, targets)
        total = tf.reduce_sum(value * weights)
    gradient = tape.gradient(total, half)
    assert value.dtype == tf.float32 and gradient.dtype == tf.bfloat16
    expected = tf.nn.sparse_softmax_cross_entropy_with_logits(targets, tf.cast(half, tf.float32))
    np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-5)
