"""Encoders: token ids -> parameters (loc, scale) of the diagonal Normal q(z|x)."""

from __future__ import annotations

import keras
import tensorflow as tf

# log-variance is clipped so that exp() can neither overflow nor underflow.
LOGVAR_RANGE = (-20.0, 10.0)
# BN-VAE's KL floor holds when the raw means' variance dwarfs epsilon; Keras'
# default 1e-3 is large next to an untrained encoder's output variance.
BN_EPSILON = 1e-6


@keras.saving.register_keras_serializable(package="textvae")
class LSTMEncoder(keras.layers.Layer):
    """Embedding -> LSTM -> last real position's state -> (loc, scale).

    The LSTM runs without a mask (so it stays eligible for cuDNN and XLA); since
    sequences are right-padded and the LSTM is causal, the output at the last
    real token is exactly the masked LSTM's final state.
    """

    def __init__(self, vocab_size: int, embedding_dim: int, hidden_dim: int, latent_dim: int,
                 bn_gamma: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.embedding = keras.layers.Embedding(vocab_size, embedding_dim, name="embedding")
        self.lstm = keras.layers.LSTM(hidden_dim, return_sequences=True, name="lstm")
        self.to_posterior = keras.layers.Dense(2 * latent_dim, name="to_posterior")
        # BN-VAE: learned shift, fixed scale gamma (so the means cannot all shrink to 0)
        self.loc_norm = (
            keras.layers.BatchNormalization(
                center=True, scale=False, epsilon=BN_EPSILON, name="loc_norm") if bn_gamma > 0 else None
        )

        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.hidden_dim = hidden_dim
        self.latent_dim = latent_dim
        self.bn_gamma = bn_gamma

    def call(self, inputs, training=False):
        """Encodes a batch.

        Args:
          inputs: {"token_ids": (batch, time) int32, "padding_mask": (batch, time) bool},
            the sentence without BOS (words then EOS), right-padded.
        Returns:
          (loc, scale), each (batch, latent_dim) float32; scale > 0.
        """
        outputs = self.lstm(self.embedding(inputs["token_ids"]), training=training)
        last = tf.reduce_sum(tf.cast(inputs["padding_mask"], tf.int32), axis=1) - 1
        features = tf.gather(outputs, tf.maximum(last, 0), axis=1, batch_dims=1)
        loc, logvar = tf.split(self.to_posterior(features), 2, axis=-1)
        if self.loc_norm is not None:
            loc = self.bn_gamma * self.loc_norm(loc, training=training)
        scale = tf.exp(0.5 * tf.clip_by_value(logvar, *LOGVAR_RANGE))
        return loc, scale

    def get_config(self):
        config = super().get_config()
        config.update(
            vocab_size=self.vocab_size,
            embedding_dim=self.embedding_dim,
            hidden_dim=self.hidden_dim,
            latent_dim=self.latent_dim,
            bn_gamma=self.bn_gamma,
        )
        return config


ENCODERS = {"lstm": LSTMEncoder}
