"""Encoders: token ids -> parameters (loc, scale) of the diagonal Normal q(z|x)."""

from __future__ import annotations

import keras
import tensorflow as tf

from textvae.transformer import TransformerBlock

# log-variance is clipped so that exp() can neither overflow nor underflow.
LOGVAR_RANGE = (-20.0, 10.0)
# BN-VAE's KL floor holds when the raw means' variance dwarfs epsilon; Keras'
# default 1e-3 is large next to an untrained encoder's output variance.
BN_EPSILON = 1e-6


@keras.saving.register_keras_serializable(package="textvae")
class LSTMEncoder(keras.layers.Layer):
    """Embedding -> LSTM -> readout -> (loc, scale).

    `pooling` "last": the state at the last real position. The LSTM runs without a
    mask (so it stays eligible for cuDNN and XLA); since sequences are right-padded
    and the LSTM is causal, that output is exactly the masked LSTM's final state.
    `pooling` "max": a bidirectional LSTM (hidden_dim // 2 per direction, masked so
    the backward pass starts at the last real token), max-pooled over real tokens.
    """

    def __init__(self, vocab_size: int, embedding_dim: int, hidden_dim: int, latent_dim: int,
                 bn_gamma: float = 0.0, pooling: str = "last", embedding=None, **kwargs):
        super().__init__(**kwargs)
        if pooling not in ("last", "max"):
            raise ValueError(f"LSTM pooling must be last or max, got {pooling!r}")
        self.embedding = embedding or keras.layers.Embedding(vocab_size, embedding_dim, name="embedding")
        if pooling == "last":
            self.lstm = keras.layers.LSTM(hidden_dim, return_sequences=True, name="lstm")
        else:
            self.lstm = keras.layers.Bidirectional(
                keras.layers.LSTM(hidden_dim // 2, return_sequences=True), name="bilstm")
        self.pooling = pooling
        self.to_posterior, self.loc_norm = posterior_layers(latent_dim, bn_gamma)
        self.feature_dim = hidden_dim if pooling == "last" else 2 * (hidden_dim // 2)

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
          (loc, scale), each (batch, latent_dim) float32; scale > 0. With
          latent_dim 0: the features, (batch, feature_dim).
        """
        features = self.features(inputs, training=training)
        if self.to_posterior is None:  # latent_dim 0: features only
            return features
        return posterior_head(self.to_posterior, features, self.loc_norm, self.bn_gamma, training)

    def features(self, inputs, training=False):
        """The readout: (batch, hidden_dim) (2 * (hidden_dim // 2) with max pooling)."""
        if self.pooling == "max":
            mask = inputs["padding_mask"]
            outputs = self.lstm(self.embedding(inputs["token_ids"]), mask=mask, training=training)
            real = tf.cast(mask, outputs.dtype)[..., None]
            return tf.reduce_max(outputs * real + (real - 1.0) * 1e4, axis=1)
        outputs = self.lstm(self.embedding(inputs["token_ids"]), training=training)
        last = tf.reduce_sum(tf.cast(inputs["padding_mask"], tf.int32), axis=1) - 1
        return tf.gather(outputs, tf.maximum(last, 0), axis=1, batch_dims=1)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocab_size=self.vocab_size,
            embedding_dim=self.embedding_dim,
            hidden_dim=self.hidden_dim,
            latent_dim=self.latent_dim,
            bn_gamma=self.bn_gamma,
            pooling=self.pooling,
        )
        return config


@keras.saving.register_keras_serializable(package="textvae")
class TransformerEncoder(keras.layers.Layer):
    """Token + position embeddings -> pre-norm Transformer layers -> pooling -> (loc, scale).

    Padding positions are masked out of every attention and of the pooling, so
    the encoding of a sentence does not depend on how much padding follows it.
    Pooling: `mean` over the real tokens' final states, or `summary`: a learned
    vector prepended to the sentence whose final state is read out (BERT's [CLS]).
    """

    def __init__(self, vocab_size: int, width: int, latent_dim: int, num_layers: int = 2,
                 num_heads: int = 4, feedforward_dim: int = 1024, max_positions: int = 128,
                 pooling: str = "mean", dropout: float = 0.0, bn_gamma: float = 0.0, embedding=None, **kwargs):
        super().__init__(**kwargs)
        if pooling not in ("mean", "summary"):
            raise ValueError(f"pooling must be mean or summary, got {pooling!r}")
        self.embedding = embedding or keras.layers.Embedding(vocab_size, width, name="embedding")
        self.position_embedding = keras.layers.Embedding(max_positions, width, name="position_embedding")
        self.input_dropout = keras.layers.Dropout(dropout, name="input_dropout")
        self.blocks = [TransformerBlock(width, num_heads, feedforward_dim, dropout, name=f"block_{i}")
                       for i in range(num_layers)]
        self.final_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="final_norm")
        self.to_posterior, self.loc_norm = posterior_layers(latent_dim, bn_gamma)

        self.feature_dim = width
        self.vocab_size = vocab_size
        self.width = width
        self.latent_dim = latent_dim
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.feedforward_dim = feedforward_dim
        self.max_positions = max_positions
        self.pooling = pooling
        self.dropout = dropout
        self.bn_gamma = bn_gamma

    def build(self, input_shape):
        if self.pooling == "summary":
            self.summary = self.add_weight(shape=(self.width,), initializer="random_normal", name="summary")
        super().build(input_shape)

    def call(self, inputs, training=False):
        """Encodes a batch.

        Args:
          inputs: {"token_ids": (batch, time) int32, "padding_mask": (batch, time) bool},
            words then EOS, right-padded; time <= max_positions.
        Returns:
          (loc, scale), each (batch, latent_dim) float32; scale > 0. With
          latent_dim 0: the features, (batch, feature_dim).
        """
        features = self.features(inputs, training=training)
        if self.to_posterior is None:  # latent_dim 0: features only
            return features
        return posterior_head(self.to_posterior, features, self.loc_norm, self.bn_gamma, training)

    def features(self, inputs, training=False):
        """The pooled final states: (batch, width)."""
        ids, mask = inputs["token_ids"], inputs["padding_mask"]
        time = tf.shape(ids)[1]
        x = self.embedding(ids) + self.position_embedding(tf.range(time))[None]
        if self.pooling == "summary":
            batch = tf.shape(ids)[0]
            x = tf.concat([tf.tile(self.summary[None, None], [batch, 1, 1]), x], axis=1)
            mask = tf.concat([tf.fill([batch, 1], True), mask], axis=1)
        x = self.input_dropout(x, training=training)
        # every query sees the real keys only; padded queries' outputs are never read
        attention_mask = tf.broadcast_to(mask[:, None, :], [tf.shape(mask)[0], tf.shape(mask)[1], tf.shape(mask)[1]])
        for block in self.blocks:
            x = block(x, attention_mask, training=training)
        x = self.final_norm(x)
        if self.pooling == "summary":
            return x[:, 0]
        weights = tf.cast(mask, x.dtype)[..., None]
        return tf.reduce_sum(x * weights, axis=1) / tf.maximum(tf.reduce_sum(weights, axis=1), 1.0)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocab_size=self.vocab_size, width=self.width, latent_dim=self.latent_dim,
            num_layers=self.num_layers, num_heads=self.num_heads, feedforward_dim=self.feedforward_dim,
            max_positions=self.max_positions, pooling=self.pooling, dropout=self.dropout,
            bn_gamma=self.bn_gamma,
        )
        return config


def posterior_layers(latent_dim: int, bn_gamma: float):
    """(to_posterior, loc_norm): the Dense layer giving (loc, log-variance), None when
    latent_dim is 0 (features only, as M2 uses the encoder); BN-VAE's normalisation of
    the means (learned shift, fixed scale gamma, so the means cannot all shrink to 0),
    None when bn_gamma is 0."""
    to_posterior = keras.layers.Dense(2 * latent_dim, name="to_posterior") if latent_dim else None
    loc_norm = (keras.layers.BatchNormalization(center=True, scale=False, epsilon=BN_EPSILON, name="loc_norm")
                if bn_gamma > 0 else None)
    return to_posterior, loc_norm


def posterior_head(to_posterior, features, loc_norm=None, bn_gamma: float = 0.0, training=False):
    """features (batch, d) -> (loc, scale), each (batch, latent), through the Dense layer
    `to_posterior` (loc and log-variance) and, for BN-VAE, `loc_norm` scaled by bn_gamma.
    M2's q(z|x, y) uses the same head on [features, onehot(y)]."""
    # q(z|x) is computed in float32 whatever the compute dtype (mixed precision)
    loc, logvar = tf.split(tf.cast(to_posterior(features), tf.float32), 2, axis=-1)
    if loc_norm is not None:
        loc = bn_gamma * tf.cast(loc_norm(loc, training=training), tf.float32)
    scale = tf.exp(0.5 * tf.clip_by_value(logvar, *LOGVAR_RANGE))
    return loc, scale


def build_encoder(spec, latent_dim: int, name: str = "encoder", embedding=None):
    """The encoder named by `spec.encoder` (lstm or transformer) with a posterior head of
    `latent_dim` (0: features only, as M2 uses it); a Transformer's width is embedding_dim.
    `embedding`: a word-vector layer to use (textvae.decoders.shared_word_vectors)."""
    bn_gamma = spec.bn_gamma if latent_dim else 0.0
    if spec.encoder == "lstm":
        return LSTMEncoder(spec.vocab_size, spec.embedding_dim, spec.hidden_dim, latent_dim, bn_gamma=bn_gamma,
                           pooling=spec.lstm_pooling, embedding=embedding, name=name)
    if spec.encoder == "transformer":
        return TransformerEncoder(
            spec.vocab_size, spec.embedding_dim, latent_dim, num_layers=spec.num_layers, num_heads=spec.num_heads,
            feedforward_dim=spec.feedforward_dim, max_positions=spec.max_positions, pooling=spec.pooling,
            dropout=spec.dropout, bn_gamma=bn_gamma, embedding=embedding, name=name)
    raise ValueError(f"unknown encoder {spec.encoder!r}; choose lstm or transformer")
