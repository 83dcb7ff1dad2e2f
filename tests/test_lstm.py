"""ProjectedLSTM against keras.layers.LSTM with the same weights: outputs, states and
gradients, with and without masks, forwards and backwards, inside Bidirectional."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from textvae.lstm import ProjectedLSTM, projected_lstm_loop


def pair(units=5, **kwargs):
    reference = keras.layers.LSTM(units, return_sequences=True, return_state=True, **kwargs)
    projected = ProjectedLSTM(units, return_sequences=True, return_state=True, **kwargs)
    x = tf.random.stateless_normal([3, 6, 4], [0, 1])
    reference(x)
    projected(x)
    projected.set_weights([w * 1.5 for w in reference.get_weights()])
    reference.set_weights(projected.get_weights())
    return reference, projected, x


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_outputs_states_and_gradients_equal_keras_lstm(go_backwards, masked):
    reference, projected, x = pair(go_backwards=go_backwards)
    mask = tf.constant([[True] * 6, [True] * 3 + [False] * 3, [True] + [False] * 5]) if masked else None
    h0 = [tf.random.stateless_normal([3, 5], [2, 0]), tf.random.stateless_normal([3, 5], [3, 0])]
    results = []
    for layer in (reference, projected):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out, h, c = layer(x, initial_state=h0, mask=mask)
            loss = tf.reduce_sum(out * tf.range(1.0, 6.0)) + tf.reduce_sum(h) + 2 * tf.reduce_sum(c)
        grads = tape.gradient(loss, [x, *layer.trainable_variables])
        results.append([out, h, c, *grads])
    for expected, got in zip(*results, strict=True):
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)


def test_the_loop_projects_the_inputs_once_and_is_the_cell_step_by_step():
    cell = keras.layers.LSTMCell(4)
    x = tf.random.stateless_normal([2, 3, 3], [5, 0])
    state = [tf.zeros([2, 4]), tf.zeros([2, 4])]
    cell(x[:, 0], state)
    last, outputs, (h, c) = projected_lstm_loop(cell, x, state)
    for t in range(3):
        expected, state = cell(x[:, t], state)
        np.testing.assert_allclose(outputs[:, t].numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(last.numpy(), state[0].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c.numpy(), state[1].numpy(), rtol=1e-5, atol=1e-6)


def test_bidirectional_projected_lstm_equals_keras():
    x = tf.random.stateless_normal([2, 5, 3], [4, 0])
    mask = tf.constant([[True] * 5, [True] * 2 + [False] * 3])
    reference = keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True))
    projected = keras.layers.Bidirectional(ProjectedLSTM(4, return_sequences=True))
    reference(x, mask=mask)
    projected(x, mask=mask)
    projected.set_weights(reference.get_weights())
    assert isinstance(projected.backward_layer, ProjectedLSTM)
    np.testing.assert_allclose(projected(x, mask=mask).numpy(), reference(x, mask=mask).numpy(),
                               rtol=1e-5, atol=1e-6)


def test_in_layer_dropout_is_refused():
    with pytest.raises(ValueError, match="dropout"):
        ProjectedLSTM(3, dropout=0.1)
