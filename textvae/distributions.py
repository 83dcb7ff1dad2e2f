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
    return free_bits_floor(tf.reduce_mean(kl_per_dim, axis=0), free_bits)


def kl_penalty(mean_kl: tf.Tensor, free_bits: float = 0.0, target_rate: float = 0.0) -> tf.Tensor:
    """The KL term of the training loss from (latent,) per-dimension mean KLs.

    With `target_rate` C > 0: |sum_d mean_kl[d] - C| (Burgess et al. 2018): the
    gradient pushes the rate up while it is below C and down above it. Otherwise
    the free-bits floor (`free_bits_floor`).
    """
    if target_rate > 0:
        return tf.abs(tf.reduce_sum(mean_kl) - target_rate)
    return free_bits_floor(mean_kl, free_bits)


def free_bits_floor(mean_kl: tf.Tensor, free_bits: float) -> tf.Tensor:
    """sum_d max(free_bits, mean_kl[d]) for (latent,) per-dimension mean KLs (the plain sum
    when free_bits is 0): the one place the free-bits clamp is written."""
    if free_bits <= 0:
        return tf.reduce_sum(mean_kl)
    return tf.reduce_sum(tf.maximum(mean_kl, free_bits))
