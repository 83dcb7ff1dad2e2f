"""-log softmax(logits)[target] over the vocabulary, the exact softmax's loss, as two XLA kernels.

The reconstruction term's softmax over the whole vocabulary is the widest elementwise
work of a training step (batch x time x vocabulary). TensorFlow's own
`sparse_softmax_cross_entropy_with_logits` kernel takes about a fifth of the PTB
step on CPU; XLA fuses the same arithmetic into one pass forward and one pass
backward, several times faster (docs/benchmarks.md, "The step's softmax and Adam").
The backward pass recomputes the softmax from the logits and the saved logsumexp
instead of keeping a second vocabulary-sized tensor. XLA compiles once per distinct
input shape; the same code runs on CPU and GPU.
"""

import tensorflow as tf


@tf.function(jit_compile=True, reduce_retracing=True)
def _forward(logits, targets):
    """(rows, vocab) float32, (rows,) ids -> ((rows,) -log softmax at the targets, (rows,) logsumexp)."""
    log_normaliser = tf.reduce_logsumexp(logits, axis=-1)
    return log_normaliser - tf.gather(logits, targets, batch_dims=1), log_normaliser


@tf.function(jit_compile=True, reduce_retracing=True)
def _backward(upstream, logits, log_normaliser, targets):
    """(rows,) upstream gradient -> (rows, vocab) upstream * (softmax - onehot(targets))."""
    softmax = tf.exp(logits - log_normaliser[:, None])
    return upstream[:, None] * (softmax - tf.one_hot(targets, tf.shape(logits)[1], dtype=logits.dtype))


def token_nll(logits, targets):
    """-log softmax(logits)[targets]: (..., vocab) float logits, (...) int targets -> (...) float32.

    Equals `tf.nn.sparse_softmax_cross_entropy_with_logits(targets, logits)` in value and
    gradient (softmax - onehot) to float32 rounding; computed in float32 whatever the logits'
    dtype, the gradient returned in the logits' dtype.
    """
    dtype, shape = logits.dtype, tf.shape(logits)
    targets = tf.reshape(targets, [-1])  # the kernels see (rows, vocab), whatever the leading axes

    @tf.custom_gradient
    def nll(logits):
        rows = tf.reshape(tf.cast(logits, tf.float32), [-1, shape[-1]])
        value, log_normaliser = _forward(rows, targets)

        def gradient(upstream):
            grad = _backward(tf.reshape(tf.cast(upstream, tf.float32), [-1]), rows, log_normaliser, targets)
            return tf.reshape(tf.cast(grad, dtype), shape)

        return tf.reshape(value, shape[:-1]), gradient

    return nll(logits)
