"""Autoregressive decoders p(x|z) and word dropout."""

from __future__ import annotations

import keras
import tensorflow as tf

from textvae.tokenizer import BOS_ID, PAD_ID, UNK_ID
from textvae.transformer import TransformerBlock, causal_mask


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

    z enters through the initial state (h0, c0) = (tanh(W_h z), W_c z) and
    concatenated to every input embedding (dropout applies to the embedding, never
    to z); with `latent_to_output`, also concatenated to every output state before
    the softmax (Dieng et al. 2019's skip connection).
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
        latent_to_output: bool = False,
        tie_embeddings: bool = False,
        embedding=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.word_dropout = WordDropout(word_dropout, seed=_offset(seed, 0), name="word_dropout")
        self.embedding = embedding or keras.layers.Embedding(vocab_size, embedding_dim, name="embedding")
        self.input_dropout = keras.layers.Dropout(dropout, seed=_offset(seed, 1), name="input_dropout")
        self.to_state = keras.layers.Dense(2 * hidden_dim, name="to_state") if latent_dim > 0 else None
        self.lstm = keras.layers.LSTM(hidden_dim, return_sequences=True, name="lstm")
        self.output_dropout = keras.layers.Dropout(dropout, seed=_offset(seed, 2), name="output_dropout")
        self.to_logits = output_layer(vocab_size, self.embedding if tie_embeddings else None)

        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.hidden_dim = hidden_dim
        self.latent_dim = latent_dim
        self.dropout = dropout
        self.word_dropout_rate = word_dropout
        self.seed = seed
        self.latent_to_output = latent_to_output and latent_dim > 0
        self.tie_embeddings = tie_embeddings

    def initial_state(self, z):
        """z: (batch, latent) -> [h0, c0], each (batch, hidden); zeros when latent is 0."""
        if self.latent_dim == 0:  # a matmul over an empty axis is not reliably zero in graphs
            zeros = tf.zeros([tf.shape(z)[0], self.hidden_dim])
            return [zeros, zeros]
        h, c = tf.split(self.to_state(z), 2, axis=-1)
        return [tf.tanh(h), c]

    def _inputs(self, token_ids, z, training=False):
        """(batch, time) ids and (batch, latent) z -> (batch, time, embedding + latent)."""
        embedded = self.input_dropout(self.embedding(token_ids), training=training)
        return with_code(embedded, z)

    def call(self, inputs, z, training=False):
        """Teacher-forced logits.

        Args:
          inputs: {"token_ids": (batch, time) int32, "padding_mask": (batch, time) bool},
            BOS then the words, right-padded.
          z: (batch, latent) float32.
        Returns:
          (batch, time, vocab) logits of the next token at every position.
        """
        return logits_of(self, self.features(inputs, z, training=training))

    def features(self, inputs, z, training=False):
        """The (batch, time, hidden) vectors `to_logits` maps to logits (inputs and z as in `call`)."""
        token_ids = self.word_dropout(inputs["token_ids"], training=training)
        x = self._inputs(token_ids, z, training=training)
        h = self.output_dropout(self.lstm(x, initial_state=self.initial_state(z), training=training),
                                training=training)
        return with_code(h, z) if self.latent_to_output else h

    def step(self, token_ids, state, z):
        """One generation step without dropout.

        Args:
          token_ids: (batch,) int32, the previous token.
          state: [h, c], each (batch, hidden).
          z: (batch, latent).
        Returns:
          (logits (batch, vocab), new state).
        """
        x = with_code(self.embedding(token_ids), z)
        h, state = self.lstm.cell(x, state, training=False)
        return logits_of(self, with_code(h, z) if self.latent_to_output else h), list(state)

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
            latent_to_output=self.latent_to_output,
            tie_embeddings=self.tie_embeddings,
        )
        return config


@keras.saving.register_keras_serializable(package="textvae")
class TransformerDecoder(keras.layers.Layer):
    """Causal pre-norm Transformer language model conditioned on z.

    `latent_injection` says how z enters:
      - `add`: a projection of z is added to every input position's embedding;
      - `memory`: a projection of z per layer is one extra key/value slot that
        every position attends to (Optimus, Li et al. 2020);
      - `both`: the two together.
    With `latent_to_output`, z is also concatenated to every final state before
    the softmax. Generation uses a key/value cache (`initial_state` / `step`): one token costs
    one position's work through each layer, never a re-run of the prefix.
    """

    def __init__(
        self,
        vocab_size: int,
        width: int,
        latent_dim: int,
        num_layers: int = 2,
        num_heads: int = 4,
        feedforward_dim: int = 1024,
        max_positions: int = 128,
        latent_injection: str = "both",
        dropout: float = 0.0,
        word_dropout: float = 0.0,
        seed: int | None = None,
        latent_to_output: bool = False,
        tie_embeddings: bool = False,
        embedding=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if latent_injection not in ("add", "memory", "both"):
            raise ValueError(f"latent_injection must be add, memory or both, got {latent_injection!r}")
        self.uses_add = latent_dim > 0 and latent_injection in ("add", "both")
        self.uses_memory = latent_dim > 0 and latent_injection in ("memory", "both")
        self.word_dropout = WordDropout(word_dropout, seed=_offset(seed, 0), name="word_dropout")
        self.embedding = embedding or keras.layers.Embedding(vocab_size, width, name="embedding")
        self.position_embedding = keras.layers.Embedding(max_positions, width, name="position_embedding")
        self.latent_to_input = keras.layers.Dense(width, name="latent_to_input") if self.uses_add else None
        self.latent_to_memory = (
            keras.layers.Dense(num_layers * width, name="latent_to_memory") if self.uses_memory else None)
        self.input_dropout = keras.layers.Dropout(dropout, seed=_offset(seed, 1), name="input_dropout")
        self.blocks = [TransformerBlock(width, num_heads, feedforward_dim, dropout, name=f"block_{i}")
                       for i in range(num_layers)]
        self.final_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="final_norm")
        self.to_logits = output_layer(vocab_size, self.embedding if tie_embeddings else None)
        self.tie_embeddings = tie_embeddings

        self.vocab_size = vocab_size
        self.width = width
        self.latent_dim = latent_dim
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.feedforward_dim = feedforward_dim
        self.max_positions = max_positions
        self.latent_injection = latent_injection
        self.dropout = dropout
        self.word_dropout_rate = word_dropout
        self.seed = seed
        self.latent_to_output = latent_to_output and latent_dim > 0

    @property
    def memory_slots(self) -> int:
        return 1 if self.uses_memory else 0

    def _memories(self, z):
        """z (batch, latent) -> one (batch, 1, width) memory per layer, or Nones."""
        if not self.uses_memory:
            return [None] * self.num_layers
        return [m[:, None, :] for m in tf.split(self.latent_to_memory(z), self.num_layers, axis=-1)]

    def _embed(self, token_ids, positions, z):
        """(batch, time) ids and positions -> (batch, time, width) inputs with z added if configured."""
        x = self.embedding(token_ids) + self.position_embedding(positions)
        if self.uses_add:
            x = x + self.latent_to_input(z)[:, None, :]
        return x

    def call(self, inputs, z, training=False):
        """Teacher-forced logits.

        Args:
          inputs: {"token_ids": (batch, time) int32, "padding_mask": (batch, time) bool},
            BOS then the words, right-padded; time <= max_positions.
          z: (batch, latent) float32.
        Returns:
          (batch, time, vocab) logits of the next token at every position.
        """
        return logits_of(self, self.features(inputs, z, training=training))

    def features(self, inputs, z, training=False):
        """The (batch, time, width) vectors `to_logits` maps to logits (inputs and z as in `call`)."""
        token_ids = self.word_dropout(inputs["token_ids"], training=training)
        batch, time = tf.shape(token_ids)[0], tf.shape(token_ids)[1]
        x = self.input_dropout(self._embed(token_ids, tf.range(time)[None], z), training=training)
        # right padding: the causal mask alone keeps real positions from seeing pads
        mask = causal_mask(time, self.memory_slots)
        mask = tf.broadcast_to(mask[None], [batch, time, time + self.memory_slots])
        for block, memory in zip(self.blocks, self._memories(z)):
            x = block(x, mask, memory=memory, training=training)
        x = self.final_norm(x)
        return with_code(x, z) if self.latent_to_output else x

    def initial_state(self, z):
        """The generation state before BOS: [next position (batch,), then keys and values per layer].

        Each cache is (batch, memory_slots + max_positions, heads, head_dim); with
        memory injection, slot 0 already holds the projection of z.
        """
        batch = tf.shape(z)[0]
        state = [tf.zeros([batch], tf.int32)]
        for block, memory in zip(self.blocks, self._memories(z)):
            keys, values = block.empty_cache(batch, self.memory_slots + self.max_positions)
            if memory is not None:
                mem_keys, mem_values = block.project_memory(memory)
                keys = tf.concat([mem_keys, keys[:, 1:]], axis=1)
                values = tf.concat([mem_values, values[:, 1:]], axis=1)
            state += [keys, values]
        return state

    def step(self, token_ids, state, z):
        """One generation step without dropout.

        Args:
          token_ids: (batch,) int32, the previous token.
          state: as from `initial_state` or the previous step.
          z: (batch, latent).
        Returns:
          (logits (batch, vocab), new state).
        """
        position = state[0]
        x = self._embed(token_ids[:, None], position[:, None], z)
        slot = position + self.memory_slots
        capacity = self.memory_slots + self.max_positions
        visible = tf.range(capacity)[None, :] <= slot[:, None]
        new_state = [position + 1]
        for i, block in enumerate(self.blocks):
            x, keys, values = block.step(x, state[1 + 2 * i], state[2 + 2 * i], slot, visible)
            new_state += [keys, values]
        x = self.final_norm(x)[:, 0]
        return logits_of(self, with_code(x, z) if self.latent_to_output else x), new_state

    def get_config(self):
        config = super().get_config()
        config.update(
            vocab_size=self.vocab_size, width=self.width, latent_dim=self.latent_dim,
            num_layers=self.num_layers, num_heads=self.num_heads, feedforward_dim=self.feedforward_dim,
            max_positions=self.max_positions, latent_injection=self.latent_injection,
            dropout=self.dropout, word_dropout=self.word_dropout_rate, seed=self.seed,
            latent_to_output=self.latent_to_output, tie_embeddings=self.tie_embeddings,
        )
        return config


@keras.saving.register_keras_serializable(package="textvae")
class TiedOutput(keras.layers.Layer):
    """Logits through a shared word-vector table: logits = (P h) E^T + b.

    Args of `call`: features (..., d) -> (..., vocab) logits, where E is
    `embedding.embeddings` (vocab, e) and P a learnt (d, e) projection.
    """

    def __init__(self, embedding, **kwargs):
        super().__init__(**kwargs)
        self.embedding = embedding
        self.project = keras.layers.Dense(embedding.output_dim, use_bias=False, name="project")

    def build(self, input_shape):
        self.project.build(input_shape)
        self.bias = self.add_weight(shape=(self.embedding.input_dim,), initializer="zeros", name="bias")

    def call(self, features):
        projected = self.project(features)
        table = tf.cast(self.embedding.embeddings, projected.dtype)
        return tf.tensordot(projected, table, [[len(projected.shape) - 1], [1]]) + tf.cast(self.bias, projected.dtype)

    def linear_parts(self, features):
        """(inputs (..., e), kernel (e, vocab), bias (vocab,)) with logits = inputs @ kernel + bias."""
        return self.project(features), tf.transpose(self.embedding.embeddings), self.bias


def bag_of_words_head(spec, embedding=None):
    """The bag-of-words head (Zhao et al. 2017) when `spec.bag_of_words` > 0 and there is a
    latent, else None: a Dense to the vocabulary, or tied to `embedding`'s table."""
    if spec.bag_of_words <= 0 or spec.latent_dim <= 0:
        return None
    if embedding is None:
        return keras.layers.Dense(spec.vocab_size, name="bag_of_words")
    return TiedOutput(embedding, name="bag_of_words")


def output_layer(vocab_size: int, embedding=None):
    """The decoder's softmax layer: a Dense to `vocab_size`, or tied to `embedding`'s table."""
    if embedding is None:
        return keras.layers.Dense(vocab_size, name="to_logits")
    return TiedOutput(embedding, name="to_logits")


def linear_parts(layer, features):
    """(inputs, kernel (d, vocab), bias (vocab,)) of an output layer (Dense or TiedOutput)."""
    if isinstance(layer, TiedOutput):
        return layer.linear_parts(features)
    return features, layer.kernel, layer.bias


def with_code(x, z):
    """[x; z]: z (batch, code) concatenated to x (batch, d) or to every step of x (batch, time, d)."""
    z = tf.cast(z, x.dtype)
    if len(x.shape) == 3:
        z = tf.repeat(z[:, None, :], tf.shape(x)[1], axis=1)
    return tf.concat([x, z], axis=-1)


def logits_of(decoder, features):
    """`decoder.to_logits(features)` in float32, whatever the compute dtype (softmax stays float32)."""
    return tf.cast(decoder.to_logits(features), tf.float32)


def shared_word_vectors(spec):
    """With `spec.tie_embeddings`, the one (vocab, embedding_dim) table an encoder, a decoder
    and their output layers share; None otherwise (each builds its own)."""
    if not spec.tie_embeddings:
        return None
    return keras.layers.Embedding(spec.vocab_size, spec.embedding_dim, name="embedding")


def build_decoder(spec, code_dim: int, name: str = "decoder", embedding=None):
    """The decoder named by `spec.decoder` (lstm or transformer), conditioned on a latent code
    of `code_dim` (z, or M2's [z, onehot(y)]); a Transformer's width is embedding_dim.
    `embedding`: a word-vector layer to use (shared_word_vectors); with `spec.tie_embeddings`
    the output layer reads the decoder's input table."""
    if spec.decoder == "lstm":
        return LSTMDecoder(spec.vocab_size, spec.embedding_dim, spec.hidden_dim, code_dim, dropout=spec.dropout,
                           word_dropout=spec.word_dropout, seed=spec.seed, latent_to_output=spec.latent_to_output,
                           tie_embeddings=spec.tie_embeddings, embedding=embedding, name=name)
    if spec.decoder == "transformer":
        return TransformerDecoder(
            spec.vocab_size, spec.embedding_dim, code_dim, num_layers=spec.num_layers, num_heads=spec.num_heads,
            feedforward_dim=spec.feedforward_dim, max_positions=spec.max_positions,
            latent_injection=spec.latent_injection, dropout=spec.dropout, word_dropout=spec.word_dropout,
            seed=spec.seed, latent_to_output=spec.latent_to_output, tie_embeddings=spec.tie_embeddings,
            embedding=embedding, name=name)
    raise ValueError(f"unknown decoder {spec.decoder!r}; choose lstm or transformer")


def _offset(seed: int | None, k: int) -> int | None:
    """Distinct seeds for the decoder's stochastic layers, derived from one."""
    return None if seed is None else seed * 7 + k


