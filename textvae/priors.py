"""A learnt prior p(z): a mixture of diagonal Gaussians fitted to the aggregate posterior.

The ELBO's best prior is the aggregate posterior q(z) = E_x q(z|x) (Hoffman & Johnson
2016): KL(q(z|x) || p(z)) averaged over x is I(x; z) + KL(q(z) || p(z)), and with
N(0, I) the second part is a pure cost, paid in likelihood and in prior samples
that land where no sentence's posterior is (Tomczak & Welling 2018; Dai & Wipf 2019).
A mixture of K learnt Gaussians can follow q(z) and shrink that part.

How it is trained (`SentenceVAE.objective`): the mixture's parameters maximise
E_q[log p(z)] at the posterior samples (the prior is a density model of the codes);
the encoder sees the KL with the prior held fixed, under the run's rate control. A
target rate C would otherwise teach the prior to move *away* from the codes whenever
the KL is below C.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from textvae.distributions import tfd

# Smallest component scale: keeps log p(z) finite if a component chases one code.
MIN_SCALE = 1e-3


@keras.saving.register_keras_serializable(package="textvae")
class MixturePrior(keras.layers.Layer):
    """p(z) = sum_k softmax(logits)_k N(z; loc_k, diag(scale_k^2)), k = 1..K.

    Starts as K unit-scale components at N(0, I) draws with equal weights. Variables:
    logits (K,), loc (K, latent), raw_scale (K, latent) with scale = softplus(raw) + MIN_SCALE.
    """

    def __init__(self, components: int, latent_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.components = int(components)
        self.latent_dim = int(latent_dim)

    def build(self, input_shape=None):
        k, d = self.components, self.latent_dim
        self.logits = self.add_weight(shape=(k,), initializer="zeros", name="logits", dtype="float32")
        self.loc = self.add_weight(shape=(k, d), initializer=keras.initializers.RandomNormal(stddev=1.0, seed=0),
                                   name="loc", dtype="float32")
        # softplus(0.5413) = 1: unit scales at the start
        self.raw_scale = self.add_weight(shape=(k, d), initializer=keras.initializers.Constant(0.5413),
                                         name="raw_scale", dtype="float32")
        super().build(input_shape)

    def parameters(self, stop_gradient: bool = False):
        """(logits (K,), loc (K, latent), scale (K, latent)) as float32 tensors."""
        logits, loc, raw = (tf.convert_to_tensor(v) for v in (self.logits, self.loc, self.raw_scale))
        if stop_gradient:
            logits, loc, raw = (tf.stop_gradient(v) for v in (logits, loc, raw))
        return logits, loc, tf.nn.softplus(raw) + MIN_SCALE

    def distribution(self, stop_gradient: bool = False) -> tfd.Distribution:
        """The mixture: batch shape (), event shape (latent,)."""
        logits, loc, scale = self.parameters(stop_gradient)
        return tfd.MixtureSameFamily(
            tfd.Categorical(logits=logits),
            tfd.Independent(tfd.Normal(loc, scale), reinterpreted_batch_ndims=1))

    def sample_numpy(self, n: int, seed: int) -> np.ndarray:
        """(n, latent) seeded draws: a component by its weight, then its Gaussian."""
        logits, loc, scale = (t.numpy().astype(np.float64) for t in self.parameters())
        weights = np.exp(logits - logits.max())
        rng = np.random.default_rng(seed)
        chosen = rng.choice(self.components, size=n, p=weights / weights.sum())
        return (loc[chosen] + scale[chosen] * rng.standard_normal((n, self.latent_dim))).astype(np.float32)

    def get_config(self):
        return {**super().get_config(), "components": self.components, "latent_dim": self.latent_dim}


class CodeGaussian:
    """A full-covariance Gaussian fitted after training to codes of the training text:
    Ghosh et al. (2020)'s ex-post density estimation.

    A VAE trained at a high rate leaves most of N(0, I) where no sentence's posterior
    is (the demo's codes vary by about 0.35 per dimension, not 1), so decoding prior
    draws gives text unlike any sentence. Drawing z from a Gaussian with the codes'
    mean and covariance keeps samples where the sentences are; the model and its ELBO
    are unchanged.
    """

    def __init__(self, mean: np.ndarray, cholesky: np.ndarray):
        self.mean = np.asarray(mean, np.float64)  # (latent,)
        self.cholesky = np.asarray(cholesky, np.float64)  # (latent, latent), lower triangular

    @classmethod
    def fit(cls, codes) -> "CodeGaussian":
        """codes: (n, latent) with n > latent -> their mean and (jittered) covariance."""
        codes = np.asarray(codes, np.float64)
        if codes.ndim != 2 or len(codes) <= codes.shape[1]:
            raise ValueError(f"need more codes than latent dimensions to fit a covariance, got shape {codes.shape}")
        covariance = np.cov(codes, rowvar=False) + 1e-6 * np.eye(codes.shape[1])
        return cls(codes.mean(axis=0), np.linalg.cholesky(covariance))

    @property
    def covariance(self) -> np.ndarray:
        return self.cholesky @ self.cholesky.T

    def sample(self, n: int, seed: int = 0, temperature: float = 1.0) -> np.ndarray:
        """(n, latent) float32 seeded draws, mean + temperature * L @ noise: a temperature below 1
        keeps them nearer the codes' mean (Kingma & Dhariwal 2018's reduced-temperature
        sampling), trading some diversity for fluency; the same seed gives the same draws
        scaled."""
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        noise = np.random.default_rng(seed).standard_normal((n, len(self.mean)))
        return (self.mean + temperature * (noise @ self.cholesky.T)).astype(np.float32)
