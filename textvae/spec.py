"""ModelSpec: the one list of a model's construction parameters.

Built from a run's config by `ModelSpec.from_config` and passed whole to the
models and to the encoder and decoder builders (as nanoGPT passes `GPTConfig`).
A model's Keras config is `{"spec": spec.to_dict(), ...}`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class ModelSpec:
    vocab_size: int
    # z's width; 0 makes a SentenceVAE the decoder alone (a language model).
    latent_dim: int = 32
    embedding_dim: int = 256  # also the Transformer width
    hidden_dim: int = 512  # LSTM width
    encoder: str = "lstm"
    decoder: str = "lstm"
    dropout: float = 0.0
    word_dropout: float = 0.0
    bn_gamma: float = 0.0
    seed: int | None = None
    num_layers: int = 2
    num_heads: int = 4
    feedforward_dim: int = 1024
    max_positions: int = 128  # the Transformer's position table: data.max_length + 2
    pooling: str = "mean"
    lstm_pooling: str = "last"
    latent_injection: str = "both"
    bag_of_words: float = 0.0  # weight of the bag-of-words loss; its head exists only when > 0
    latent_to_output: bool = False  # the latent code also enters the decoder's output layer
    tie_embeddings: bool = False  # one word-vector table for encoder input, decoder input and outputs
    prior_components: int = 0  # p(z): 0 for N(0, I), K for a learnt mixture of K Gaussians

    @classmethod
    def from_config(cls, config, vocab_size: int) -> "ModelSpec":
        """From a run's `Config` (the model section, the word dropout rate, the seed, max_length)."""
        m = config.model
        return cls(
            vocab_size=vocab_size, latent_dim=m.latent_dim, embedding_dim=m.embedding_dim,
            hidden_dim=m.hidden_dim, encoder=m.encoder, decoder=m.decoder, dropout=m.dropout,
            word_dropout=config.train.word_dropout, bn_gamma=m.bn_gamma, seed=config.train.seed,
            num_layers=m.num_layers, num_heads=m.num_heads, feedforward_dim=m.feedforward_dim,
            max_positions=config.data.max_length + 2, pooling=m.pooling, latent_injection=m.latent_injection,
            lstm_pooling=m.lstm_pooling, bag_of_words=m.bag_of_words, latent_to_output=m.latent_to_output,
            tie_embeddings=m.tie_embeddings, prior_components=m.prior_components,
        )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
