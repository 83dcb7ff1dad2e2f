"""Pre-norm Transformer layers with a key/value cache for incremental decoding.

Built from Keras 3 parts (`MultiHeadAttention`, `LayerNormalization`, `Dense`).
The cached `step` reuses the attention layer's own projections, so it computes
exactly what the full forward pass computes at one position.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

# Added to the scores of keys a query may not see; large enough to zero them
# after softmax, small enough to stay finite in float16.
MASKED_SCORE = -1e4


@keras.saving.register_keras_serializable(package="textvae")
class TransformerBlock(keras.layers.Layer):
    """One pre-norm layer: x + Attention(LN(x)), then x + FFN(LN(x)).

    Keys and values may be prefixed by `memory` vectors (Optimus-style latent
    injection): the queries are the sequence's positions only.
    """

    def __init__(self, width: int, num_heads: int, feedforward_dim: int, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        if width % num_heads:
            raise ValueError(f"width {width} is not divisible by num_heads {num_heads}")
        self.attention_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="attention_norm")
        self.attention = keras.layers.MultiHeadAttention(
            num_heads, key_dim=width // num_heads, dropout=dropout, name="attention")
        self.attention_dropout = keras.layers.Dropout(dropout, name="attention_dropout")
        self.feedforward_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="feedforward_norm")
        self.feedforward_in = keras.layers.Dense(feedforward_dim, activation="gelu", name="feedforward_in")
        self.feedforward_out = keras.layers.Dense(width, name="feedforward_out")
        self.feedforward_dropout = keras.layers.Dropout(dropout, name="feedforward_dropout")

        self.width = width
        self.num_heads = num_heads
        self.head_dim = width // num_heads
        self.feedforward_dim = feedforward_dim
        self.dropout = dropout

    def build(self, input_shape):
        self.attention_norm.build(input_shape)
        self.attention.build(input_shape, input_shape)
        self.feedforward_norm.build(input_shape)
        self.feedforward_in.build(input_shape)
        self.feedforward_out.build((*input_shape[:-1], self.feedforward_dim))
        super().build(input_shape)

    def call(self, x, attention_mask, memory=None, training=False):
        """Full forward pass.

        Args:
          x: (batch, time, width).
          attention_mask: (batch, time, keys) bool, True where a query may attend;
            keys = memory slots + time.
          memory: optional (batch, slots, width), prepended to the keys and values.
        Returns:
          (batch, time, width).
        """
        h = self.attention_norm(x)
        kv = h if memory is None else tf.concat([memory, h], axis=1)
        attended = self.attention(h, kv, attention_mask=attention_mask, training=training)
        x = x + self.attention_dropout(attended, training=training)
        f = self.feedforward_out(self.feedforward_in(self.feedforward_norm(x)))
        return x + self.feedforward_dropout(f, training=training)

    def empty_cache(self, batch, capacity: int):
        """Zero (keys, values), each (batch, capacity, heads, head_dim)."""
        shape = [batch, capacity, self.num_heads, self.head_dim]
        return tf.zeros(shape, self.compute_dtype), tf.zeros(shape, self.compute_dtype)

    def project_memory(self, memory):
        """memory (batch, slots, width) -> its (keys, values), each (batch, slots, heads, head_dim)."""
        return self.attention.key_dense(memory), self.attention.value_dense(memory)

    def step(self, x, keys, values, slot, visible):
        """One position with a key/value cache (inference: no dropout).

        Args:
          x: (batch, 1, width), the new position's input.
          keys, values: (batch, capacity, heads, head_dim) cache.
          slot: (batch,) int32, where this position's key and value are written.
          visible: (batch, capacity) bool, the cache slots this position attends to
            (itself included).
        Returns:
          (output (batch, 1, width), keys, values) with the cache updated.
        """
        h = self.attention_norm(x)
        write = tf.one_hot(slot, tf.shape(keys)[1], dtype=keys.dtype)[:, :, None, None]  # (batch, capacity, 1, 1)
        keys = keys * (1.0 - write) + write * self.attention.key_dense(h)
        values = values * (1.0 - write) + write * self.attention.value_dense(h)
        query = self.attention.query_dense(h) / math.sqrt(self.head_dim)  # (batch, 1, heads, head_dim)
        scores = tf.einsum("bqnh,bsnh->bnqs", query, keys)
        scores = tf.where(visible[:, None, None, :], scores, tf.cast(MASKED_SCORE, scores.dtype))
        attended = tf.einsum("bnqs,bsnh->bqnh", tf.nn.softmax(scores, axis=-1), values)
        x = x + self.attention.output_dense(attended)
        x = x + self.feedforward_out(self.feedforward_in(self.feedforward_norm(x)))
        return x, keys, values

    def get_config(self):
        config = super().get_config()
        config.update(width=self.width, num_heads=self.num_heads,
                      feedforward_dim=self.feedforward_dim, dropout=self.dropout)
        return config


def causal_mask(time, memory_slots: int = 0):
    """(time, memory_slots + time) bool: every position sees the memory, itself and earlier positions."""
    positions = tf.range(time)
    causal = positions[:, None] >= positions[None, :]
    return tf.concat([tf.fill([time, memory_slots], True), causal], axis=1)
