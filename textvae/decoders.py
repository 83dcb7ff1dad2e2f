"""Autoregressive decoders p(x|z) and word dropout."""

from __future__ import annotations

import keras
import tensorflow as tf

from textvae.tokenizer import BOS_ID, PAD_ID, UNK_ID


@keras.saving.register_keras_serializable(package="textvae")
class WordDropout(keras.layers.Layer):
    """Replaces decoder input tokens by UNK with probability `rate` while training.

    BOS and PAD are never replaced (Bowman et al. 2016 weaken the decoder this way
    so that it must rely on z).
    """

    def __init__(self, rate: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.rate = rate
        self.seed = seed

    def call(self, token_ids, training=False):
        """token_ids: (batch, time) int32 -> same shape, some tokens replaced by UNK."""
        if not training or self.rate <= 0:
            return token_ids
        u = keras.random.uniform(tf.shape(token_ids), seed=self.seed_generator)
        is_special = (token_ids == BOS_ID) | (token_ids == PAD_ID)
        keep = is_special | (u >= self.rate)
        return tf.where(keep, token_ids, tf.cast(UNK_ID, token_ids.dtype))

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, seed=self.seed)
        return config


@keras.saving.register_keras_serializable(package="textvae")
class LSTMDecoder(keras.layers.Layer):
    """LSTM language model conditioned on z (Bowman et al. 2016).

    z enters twice: through the initial state (h0, c0) = (tanh(W_h z), W_c z), and
    concatenated to every input embedding.
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        hidden_dim: int,
        latent_dim: int,
        dropout: float = 0.0,
        word_dropout: float = 0.0,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.word_dropout = WordDropout(word_dropout, seed=_offset(seed, 0), name="word_dropout")
        self.embedding = keras.layers.Embedding(vocab_size, embedding_dim, name="embedding")
        self.input_dropout = keras.layers.Dropout(dropout, seed=_offset(seed, 1), name="input_dropout")
        self.to_state = keras.layers.Dense(2 * hidden_dim, name="to_state") if latent_dim > 0 else None
        self.lstm = keras.layers.LSTM(hidden_dim, return_sequences=True, name="lstm")
        self.output_dropout = keras.layers.Dropout(dropout, seed=_offset(seed, 2), name="output_dropout")
        self.to_logits = keras.layers.Dense(vocab_size, name="to_logits")

        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.hidden_dim = hidden_dim
        self.latent_dim = latent_dim
        self.dropout = dropout
        self.word_dropout_rate = word_dropout
        self.seed = seed

    def initial_state(self, z):
        """z: (batch, latent) -> [h0, c0], each (batch, hidden); zeros when latent is 0."""
        if self.latent_dim == 0:  # a matmul over an empty axis is not reliably zero in graphs
            zeros = tf.zeros([tf.shape(z)[0], self.hidden_dim])
            return [zeros, zeros]
        h, c = tf.split(self.to_state(z), 2, axis=-1)
        return [tf.tanh(h), c]

    def _inputs(self, token_ids, z):
        """(batch, time) ids and (batch, latent) z -> (batch, time, embedding + latent)."""
        embedded = self.embedding(token_ids)
        z_tiled = tf.repeat(z[:, None, :], tf.shape(embedded)[1], axis=1)
        return tf.concat([embedded, z_tiled], axis=-1)

    def call(self, inputs, z, training=False):
        """Teacher-forced logits.

        Args:
          inputs: {"token_ids": (batch, time) int32, "padding_mask": (batch, time) bool},
            BOS then the words, right-padded.
          z: (batch, latent) float32.
        Returns:
          (batch, time, vocab) logits of the next token at every position.
        """
        token_ids = self.word_dropout(inputs["token_ids"], training=training)
        x = self.input_dropout(self._inputs(token_ids, z), training=training)
        h = self.lstm(x, initial_state=self.initial_state(z), training=training)
        return self.to_logits(self.output_dropout(h, training=training))

    def step(self, token_ids, state, z):
        """One generation step without dropout.

        Args:
          token_ids: (batch,) int32, the previous token.
          state: [h, c], each (batch, hidden).
          z: (batch, latent).
        Returns:
          (logits (batch, vocab), new state).
        """
        x = tf.concat([self.embedding(token_ids), z], axis=-1)
        h, state = self.lstm.cell(x, state, training=False)
        return self.to_logits(h), list(state)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocab_size=self.vocab_size,
            embedding_dim=self.embedding_dim,
            hidden_dim=self.hidden_dim,
            latent_dim=self.latent_dim,
            dropout=self.dropout,
            word_dropout=self.word_dropout_rate,
            seed=self.seed,
        )
        return config


def _offset(seed: int | None, k: int) -> int | None:
    """Distinct seeds for the decoder's stochastic layers, derived from one."""
    return None if seed is None else seed * 7 + k


DECODERS = {"lstm": LSTMDecoder}
