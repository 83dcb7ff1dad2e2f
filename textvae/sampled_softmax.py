"""Sampled softmax (Jean et al. 2015) for training with a large vocabulary.

The exact softmax normalises over every word at every position: at the PTB CPU
size that output layer is about 70% of a training step's arithmetic. The
sampled softmax scores the target against `num_sampled` candidate words shared
by the whole batch, drawn with replacement from the log-uniform (Zipf)
distribution

    Q(k) = log((k + 2) / (k + 1)) / log(V + 1),

which suits ids ordered by frequency (the word tokenizer and sentencepiece both
number frequent units first). Every logit is corrected by -log(expected count
of its word among the candidates), and a candidate equal to the target is
masked out ("accidental hit"), as in `tf.nn.sampled_softmax_loss`. Its gradient
approximates the exact one; its value is a smaller number than the exact loss,
so it is used for training only: validation, evaluation and generation always
use the exact softmax.

The candidates come from a Keras `SeedGenerator`, whose state is checkpointed,
so a resumed run draws the same candidates as an uninterrupted one.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf


def log_uniform_log_probability(ids, vocab_size: int):
    """log Q(k) for int ids (any shape) -> float32, same shape."""
    ids = tf.cast(ids, tf.float32)
    return tf.math.log(tf.math.log1p(1.0 / (ids + 1.0)) / math.log(vocab_size + 1.0))


def log_expected_count(ids, num_sampled: int, vocab_size: int):
    """log(num_sampled * Q(k)): the logit correction of each word drawn with replacement."""
    return math.log(num_sampled) + log_uniform_log_probability(ids, vocab_size)


def log_uniform_candidates(num_sampled: int, vocab_size: int, seed_generator):
    """(num_sampled,) int32 ids drawn with replacement from Q."""
    u = keras.random.uniform([num_sampled], seed=seed_generator)
    ids = tf.cast(tf.floor(tf.exp(u * math.log(vocab_size + 1.0))), tf.int32) - 1
    return tf.clip_by_value(ids, 0, vocab_size - 1)


def sampled_sequence_nll(features, kernel, bias, targets, mask, num_sampled: int, seed_generator):
    """Sampled-softmax -log p of each sequence.

    Args:
      features: (batch, time, hidden) inputs of the output layer's linear map.
      kernel, bias: (hidden, vocab) and (vocab,), logits = features @ kernel + bias
        (`textvae.decoders.linear_parts` of a Dense or tied output layer).
      targets: (batch, time) int ids; mask: (batch, time) float, 1 on real targets.
      num_sampled: candidate words per batch.
      seed_generator: a `keras.random.SeedGenerator` for the candidates.
    Returns:
      (batch,) float32 sums of the per-token sampled losses over real targets.
    """
    vocab_size = int(kernel.shape[-1])
    batch, time = tf.shape(targets)[0], tf.shape(targets)[1]
    h = tf.reshape(features, [-1, tf.shape(features)[-1]])  # (batch * time, hidden)
    y = tf.reshape(tf.cast(targets, tf.int32), [-1])
    candidates = log_uniform_candidates(num_sampled, vocab_size, seed_generator)

    kernel = tf.cast(kernel, h.dtype)
    bias = tf.cast(bias, tf.float32)
    true_weights = tf.gather(kernel, y, axis=1)  # (hidden, batch * time)
    true_logits = tf.cast(tf.reduce_sum(h * tf.transpose(true_weights), axis=-1), tf.float32)
    true_logits += tf.gather(bias, y) - log_expected_count(y, num_sampled, vocab_size)
    sampled_logits = tf.cast(tf.matmul(h, tf.gather(kernel, candidates, axis=1)), tf.float32)
    sampled_logits += tf.gather(bias, candidates) - log_expected_count(candidates, num_sampled, vocab_size)
    hits = tf.equal(y[:, None], candidates[None, :])
    sampled_logits = tf.where(hits, tf.float32.min, sampled_logits)

    logits = tf.concat([true_logits[:, None], sampled_logits], axis=1)
    token_nll = tf.reduce_logsumexp(logits, axis=1) - true_logits
    return tf.reduce_sum(tf.reshape(token_nll, [batch, time]) * tf.cast(mask, tf.float32), axis=1)
