"""Posterior, prior and KL terms, all from `tfp.distributions`.

Layers return tensors (`loc`, `scale`); distributions are built here, where the
loss is computed, never returned from a Keras `call()`.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions


def posterior(loc: tf.Tensor, scale: tf.Tensor) -> tfd.Distribution:
    """Diagonal Normal q(z|x).

    Args:
      loc, scale: (batch, latent).
    Returns:
      Distribution with batch shape (batch,) and event shape (latent,).
    """
    return tfd.Independent(tfd.Normal(loc, scale), reinterpreted_batch_ndims=1)


def prior(latent_dim: int, dtype=tf.float32) -> tfd.Distribution:
    """Standard Normal p(z): batch shape (), event shape (latent_dim,)."""
    zeros = tf.zeros([latent_dim], dtype)
    return tfd.Independent(tfd.Normal(zeros, tf.ones_like(zeros)), reinterpreted_batch_ndims=1)


def kl_per_dimension(loc: tf.Tensor, scale: tf.Tensor) -> tf.Tensor:
    """KL(q(z_d|x) || N(0, 1)) for every dimension.

    Args:
      loc, scale: (batch, latent).
    Returns:
      (batch, latent) nats.
    """
    return tfd.kl_divergence(tfd.Normal(loc, scale), tfd.Normal(tf.zeros_like(loc), tf.ones_like(scale)))


def free_bits_kl(kl_per_dim: tf.Tensor, free_bits: float) -> tf.Tensor:
    """KL term with a per-dimension floor on its batch mean (Kingma et al. 2016).

    sum_d max(free_bits, mean_b KL[b, d]): a dimension whose batch-mean KL is
    below the floor contributes the constant floor and no gradient, so the
    optimizer has no reason to push it further towards the prior.

    Args:
      kl_per_dim: (batch, latent) nats.
    Returns:
      Scalar: the clamped KL per sentence (used in the loss, never reported).
    """
    return kl_penalty(kl_per_dim, free_bits)


def kl_penalty(kl_rows: tf.Tensor, free_bits: float = 0.0, target_rate: float = 0.0,
               per_sentence: bool = False, weights: tf.Tensor | None = None, count=None) -> tf.Tensor:
    """The KL term of the training loss from each row's per-dimension KLs.

    Args:
      kl_rows: (rows, latent) nats; (rows, 1) totals where there is no per-dimension KL.
      weights: (rows,) weight of each row (M2's q(y|x)), 1 by default.
      count: the number of sentences the rows are averaged over (default: rows).
    Returns:
      Scalar. With `target_rate` C > 0: |sum_d mean KL[d] - C| (Burgess et al. 2018):
      the gradient pushes the rate up while it is below C and down above it.
      Otherwise the free-bits floor: on each dimension's mean KL over the batch
      (Kingma et al. 2016), or with `per_sentence` on each sentence's KL of each
      dimension, mean_b sum_d max(free_bits, KL[b, d]) (Li et al. 2019's `fb 2`), so
      that no sentence's code is pushed below the floor and a sentence below it
      cannot be paid for by another above it.
    """
    if per_sentence and free_bits > 0 and target_rate <= 0:
        return _mean_over_rows(free_bits_floor(kl_rows, free_bits), weights, count)
    mean_kl = _mean_over_rows(kl_rows, weights, count)
    if target_rate > 0:
        return tf.abs(tf.reduce_sum(mean_kl) - target_rate)
    return free_bits_floor(mean_kl, free_bits)


def _mean_over_rows(rows: tf.Tensor, weights=None, count=None) -> tf.Tensor:
    """sum_r weights[r] * rows[r] / count over the first axis (the plain mean without either)."""
    if weights is None and count is None:
        return tf.reduce_mean(rows, axis=0)
    if weights is not None:
        rows = tf.reshape(weights, [-1] + [1] * (len(rows.shape) - 1)) * rows
    if count is None:
        count = tf.cast(tf.shape(rows)[0], rows.dtype)
    return tf.reduce_sum(rows, axis=0) / count


def free_bits_floor(kl: tf.Tensor, free_bits: float) -> tf.Tensor:
    """sum over the last axis of max(free_bits, kl) (the plain sum when free_bits is 0):
    (latent,) -> scalar, (rows, latent) -> (rows,). The one place the free-bits clamp is written."""
    if free_bits <= 0:
        return tf.reduce_sum(kl, axis=-1)
    return tf.reduce_sum(tf.maximum(kl, free_bits), axis=-1)
