"""ProjectedLSTM: `keras.layers.LSTM` with every step's input projected in one matmul.

Keras runs an LSTM off cuDNN one cell call per step, each with its own
(batch, input) x (input, 4 hidden) matmul. The input half of those matmuls does not
depend on the recurrence, so here it is done once for the whole sequence,
(batch * time, input) x (input, 4 hidden), and the loop keeps only h x U: the same
weights (the layer's own cell), the same outputs within float rounding, fewer and
larger matmuls. Where cuDNN can run (a GPU), the Keras path is used unchanged.
"""

from __future__ import annotations

import functools

import keras
import tensorflow as tf


@functools.cache
def _has_gpu() -> bool:
    return bool(tf.config.list_physical_devices("GPU"))


@keras.saving.register_keras_serializable(package="textvae")
class ProjectedLSTM(keras.layers.LSTM):
    """A `keras.layers.LSTM` (same arguments, weights and checkpoints) whose CPU path
    projects the inputs once per sequence. Dropout inside the layer is not supported
    (the package applies dropout around it)."""

    # False runs Keras' own loop everywhere (scripts/benchmark_lstm_loop.py compares the two)
    hoist_inputs = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.dropout or self.recurrent_dropout:
            raise ValueError("ProjectedLSTM has no in-layer dropout; apply dropout around it")

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if _has_gpu() or self.unroll or not self.hoist_inputs:
            return super().inner_loop(sequences, initial_state, mask, training=training)
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        return projected_lstm_loop(self.cell, sequences, initial_state, mask, self.go_backwards,
                                   self.zero_output_for_mask)


def projected_lstm_loop(cell, sequences, initial_state, mask=None, go_backwards: bool = False,
                        zero_output_for_mask: bool = False):
    """The recurrence of a Keras `LSTMCell` with the input projection hoisted out of the loop.

    Masked steps keep the previous state and repeat the previous output (zeros with
    `zero_output_for_mask`, as Bidirectional sets), as Keras' RNN loop does; with `go_backwards` the sequence is read from its end and the outputs are
    returned in reading order (as Keras returns them).

    Args:
      cell: a built `keras.layers.LSTMCell` (kernel, recurrent_kernel, bias).
      sequences: (batch, time, input).
      initial_state: [h0, c0], each (batch, units).
      mask: optional (batch, time) bool.
    Returns:
      (last output (batch, units), outputs (batch, time, units), [h, c]).
    """
    x = tf.matmul(sequences, tf.cast(cell.kernel, sequences.dtype))
    if cell.use_bias:
        x = x + tf.cast(cell.bias, x.dtype)
    x = tf.transpose(x, [1, 0, 2])  # (time, batch, 4 units)
    steps_mask = None if mask is None else tf.transpose(tf.cast(mask, tf.bool), [1, 0])[..., None]
    if go_backwards:
        x = tf.reverse(x, [0])
        steps_mask = None if steps_mask is None else tf.reverse(steps_mask, [0])
    recurrent = tf.cast(cell.recurrent_kernel, x.dtype)
    h0, c0 = (tf.cast(s, x.dtype) for s in initial_state)
    time = tf.shape(x)[0]
    # read through TensorArrays: a slice x[t] in the loop would give a dense (time, batch,
    # 4 units) gradient per step
    inputs = tf.TensorArray(x.dtype, size=time).unstack(x)
    masks = None if steps_mask is None else tf.TensorArray(tf.bool, size=time).unstack(steps_mask)
    outputs = tf.TensorArray(x.dtype, size=time)

    def body(t, h, c, previous, outputs):
        i, f, g, o = tf.split(inputs.read(t) + tf.matmul(h, recurrent), 4, axis=1)
        c_new = cell.recurrent_activation(f) * c + cell.recurrent_activation(i) * cell.activation(g)
        h_new = cell.recurrent_activation(o) * cell.activation(c_new)
        output = h_new
        if masks is not None:
            keep = masks.read(t)
            masked_output = tf.zeros_like(h_new) if zero_output_for_mask else previous
            h_new, c_new = tf.where(keep, h_new, h), tf.where(keep, c_new, c)
            output = tf.where(keep, output, masked_output)
        return t + 1, h_new, c_new, output, outputs.write(t, output)

    _, h, c, last, outputs = tf.while_loop(
        lambda t, *_: t < time, body, (tf.constant(0), h0, c0, tf.zeros_like(h0), outputs))
    outputs = tf.transpose(outputs.stack(), [1, 0, 2])
    return last, outputs, [h, c]
