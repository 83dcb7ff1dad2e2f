"""Generation from a decoder inside a compiled TensorFlow loop."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from textvae.tokenizer import BOS_ID, EOS_ID, PAD_ID


def generate_ids(decoder, z, max_length, temperature: float = 0.0, seed=(0, 0)):
    """Decodes token ids from z, greedily (temperature 0) or by ancestral sampling.

    Call inside `tf.function`: the loop is a `tf.while_loop` with one decoder step
    per token and stops early once every row has produced EOS.

    Args:
      decoder: a layer with `initial_state(z)` and `step(token_ids, state, z)`.
      z: (batch, latent) float32.
      max_length: scalar int, tokens to produce at most (EOS included).
      temperature: 0 for greedy; otherwise logits are divided by it and sampled.
      seed: shape (2,) int, the stateless seed for sampling.
    Returns:
      (batch, length) int32, length <= max_length; PAD after each row's EOS.
    """
    batch = tf.shape(z)[0]
    state = decoder.initial_state(z)
    tokens = tf.fill([batch], BOS_ID)
    finished = tf.zeros([batch], tf.bool)
    outputs = tf.TensorArray(tf.int32, size=0, dynamic_size=True)
    seed = tf.cast(seed, tf.int32)
    for t in tf.range(max_length):
        logits, state = decoder.step(tokens, state, z)
        if temperature > 0:
            step_seed = tf.stack([seed[0], seed[1] + t])
            tokens = tf.random.stateless_categorical(
                logits / temperature, 1, seed=step_seed, dtype=tf.int32
            )[:, 0]
        else:
            tokens = tf.argmax(logits, axis=-1, output_type=tf.int32)
        tokens = tf.where(finished, PAD_ID, tokens)
        outputs = outputs.write(t, tokens)
        finished = finished | (tokens == EOS_ID)
        if tf.reduce_all(finished):
            break
    return tf.transpose(outputs.stack())


def strip_special(ids: np.ndarray) -> list[list[int]]:
    """Rows of ids cut before the first EOS (or PAD).

    Args:
      ids: (batch, length) int.
    Returns:
      One list of token ids per row.
    """
    rows = []
    for row in np.asarray(ids):
        stop = np.flatnonzero((row == EOS_ID) | (row == PAD_ID))
        rows.append(row[: stop[0] if stop.size else len(row)].tolist())
    return rows
