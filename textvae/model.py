"""SentenceVAE: the Bowman et al. (2016) sentence VAE as a Keras model."""

from __future__ import annotations

from typing import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from textvae import distributions, latent
from textvae.data import pad_batch
from textvae.decoders import build_decoder
from textvae.distribute import SkipSymbolicBuild, replica_scale, step_logs
from textvae.decoding import DecodeOptions, generate_ids, strip_special
from textvae.encoders import build_encoder
from textvae.softmax import sampled_sequence_nll
from textvae.tokenizer import BOS_ID, EOS_ID


def split_batch(batch):
    """Splits `[BOS, w_1..w_n, EOS]` batches into encoder, decoder and target views.

    Args:
      batch: {"token_ids", "padding_mask"}, each (batch, time + 1).
    Returns:
      dict of `encoder` and `decoder` inputs ({"token_ids", "padding_mask"}, each
      (batch, time)), `targets` (batch, time) int32 and `target_mask` (batch, time) float32.
    """
    ids, mask = batch["token_ids"], batch["padding_mask"]
    return {
        "encoder": {"token_ids": ids[:, 1:], "padding_mask": mask[:, 1:]},
        "decoder": {"token_ids": ids[:, :-1], "padding_mask": mask[:, :-1]},
        "targets": ids[:, 1:],
        "target_mask": tf.cast(mask[:, 1:], tf.float32),
    }


def sequence_nll(logits, targets, mask):
    """-log p of each sequence: (batch, time, vocab) logits, (batch, time) targets and mask -> (batch,)."""
    token_nll = tf.nn.sparse_softmax_cross_entropy_with_logits(targets, logits)
    return tf.reduce_sum(token_nll * mask, axis=1)


class TextInput:
    """Strings in: the tokenizer attached by `textvae.load` or training, and padded batches."""

    def _require_tokenizer(self):
        if self.tokenizer is None:
            raise ValueError("this model has no tokenizer attached; load it with textvae.load(workdir)")
        return self.tokenizer

    def _batch(self, sentences: Sequence[str]):
        """Sentences -> {"token_ids", "padding_mask"}, each (n, longest + 2), `[BOS .. EOS]`."""
        tokenizer = self._require_tokenizer()
        if isinstance(sentences, str):
            raise TypeError("pass a list of sentences, not a single string")
        return pad_batch([np.asarray([BOS_ID, *tokenizer.encode(s), EOS_ID], np.int32) for s in sentences])


@keras.saving.register_keras_serializable(package="textvae")
class SentenceVAE(TextInput, SkipSymbolicBuild, keras.Model):
    """Sentence VAE with a Normal posterior and an autoregressive decoder.

    Generative story: z ~ p(z) = N(0, I); x_t ~ p(x_t | x_<t, z) for t = 1..n+1,
    ending with EOS. Inference: q(z|x) = N(loc(x), diag(scale(x)^2)).

    Training maximises, per sentence, the (annealed) ELBO
        E_q[log p(x|z)] - beta(step) * KL(q(z|x) || p(z)),
    with one reparameterised sample of z; with free bits lambda > 0 the KL term is
    sum_d max(lambda, mean_batch KL_d). Logged `kl` is always the true KL.
    """

    def __init__(
        self,
        vocab_size: int,
        latent_dim: int = 32,
        embedding_dim: int = 256,
        hidden_dim: int = 512,
        encoder: str = "lstm",
        decoder: str = "lstm",
        dropout: float = 0.0,
        word_dropout: float = 0.0,
        bn_gamma: float = 0.0,
        seed: int | None = None,
        num_layers: int = 2,
        num_heads: int = 4,
        feedforward_dim: int = 1024,
        max_positions: int = 128,
        pooling: str = "mean",
        latent_injection: str = "both",
        **kwargs,
    ):
        super().__init__(**kwargs)
        shape = dict(embedding_dim=embedding_dim, hidden_dim=hidden_dim, num_layers=num_layers,
                     num_heads=num_heads, feedforward_dim=feedforward_dim, max_positions=max_positions,
                     dropout=dropout)
        # latent_dim 0 makes the model the decoder alone: a language model baseline.
        self.encoder = (
            build_encoder(encoder, vocab_size, latent_dim, pooling=pooling, bn_gamma=bn_gamma, **shape)
            if latent_dim > 0 else None
        )
        self.decoder = build_decoder(decoder, vocab_size, latent_dim, latent_injection=latent_injection,
                                     word_dropout=word_dropout, seed=seed, **shape)
        self.noise_seed = keras.random.SeedGenerator(seed)

        self.vocab_size = vocab_size
        self.latent_dim = latent_dim
        self.embedding_dim = embedding_dim
        self.hidden_dim = hidden_dim
        self.encoder_type = encoder
        self.decoder_type = decoder
        self.dropout = dropout
        self.word_dropout = word_dropout
        self.bn_gamma = bn_gamma
        self.seed = seed
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.feedforward_dim = feedforward_dim
        self.max_positions = max_positions
        self.pooling = pooling
        self.latent_injection = latent_injection
        self.tokenizer = None  # attached by `textvae.load` / training
        self.kl_weight_fn: Callable = lambda step: tf.constant(1.0)
        self.free_bits = 0.0
        self.sampled_softmax = 0

    def get_config(self):
        config = super().get_config()
        config.update(
            vocab_size=self.vocab_size, latent_dim=self.latent_dim,
            embedding_dim=self.embedding_dim, hidden_dim=self.hidden_dim,
            encoder=self.encoder_type, decoder=self.decoder_type,
            dropout=self.dropout, word_dropout=self.word_dropout, bn_gamma=self.bn_gamma, seed=self.seed,
            num_layers=self.num_layers, num_heads=self.num_heads, feedforward_dim=self.feedforward_dim,
            max_positions=self.max_positions, pooling=self.pooling, latent_injection=self.latent_injection,
        )
        return config

    # -- training -----------------------------------------------------------

    def compile(self, optimizer="adam", kl_weight_fn: Callable | None = None, free_bits: float = 0.0,
                sampled_softmax: int = 0, **kwargs):
        """Keras compile plus the KL schedule (a function of the optimizer step), free bits
        and the number of sampled-softmax candidates for training (0: exact softmax)."""
        super().compile(optimizer=optimizer, **kwargs)
        if kl_weight_fn is not None:
            self.kl_weight_fn = kl_weight_fn
        self.free_bits = float(free_bits)
        if not 0 <= sampled_softmax < self.vocab_size:
            raise ValueError(f"sampled_softmax must be in [0, vocab_size={self.vocab_size}), got {sampled_softmax}")
        self.sampled_softmax = int(sampled_softmax)

    def call(self, inputs, training=False, noise=None):
        """Teacher-forced pass.

        Args:
          inputs: {"token_ids", "padding_mask"}, (batch, time + 1), `[BOS .. EOS]`.
          noise: optional (batch, latent) standard-normal draws for z; drawn from
            the model's seed generator when None.
        Returns:
          {"logits": (batch, time, vocab), "loc", "scale", "z": (batch, latent)}.
        """
        views = split_batch(inputs)
        loc, scale, z = self._posterior_sample(inputs, training, noise)
        logits = self.decoder(views["decoder"], z, training=training)
        return {"logits": logits, "loc": loc, "scale": scale, "z": z}

    def _posterior_sample(self, inputs, training, noise):
        """(loc, scale, z), each (batch, latent): z = loc + scale * noise."""
        loc, scale = self.posterior_params(inputs, training=training)
        if noise is None:
            noise = keras.random.normal(tf.shape(loc), seed=self.noise_seed)
        # Keras casts call arguments to the compute dtype; q(z|x) stays float32
        return loc, scale, loc + scale * tf.cast(noise, loc.dtype)

    def posterior_params(self, inputs, training=False):
        """(loc, scale) of q(z|x), each (batch, latent_dim); width 0 for a language model."""
        views = split_batch(inputs)
        if self.encoder is None:
            empty = tf.zeros([tf.shape(views["targets"])[0], 0])
            return empty, empty
        return self.encoder(views["encoder"], training=training)

    def log_likelihood_given_z(self, inputs, z):
        """log p(x|z) for k latent samples per sentence, without dropout.

        Args:
          inputs: {"token_ids", "padding_mask"}, (batch, time + 1).
          z: (k, batch, latent_dim).
        Returns:
          (k, batch) log-likelihoods in nats.
        """
        views = split_batch(inputs)
        k, batch = tf.shape(z)[0], tf.shape(z)[1]
        tiled = {name: tf.tile(value, [k, 1]) for name, value in views["decoder"].items()}
        logits = self.decoder(tiled, tf.reshape(z, [k * batch, self.latent_dim]), training=False)
        targets = tf.tile(views["targets"], [k, 1])
        # log-softmax at the targets without the cross-entropy op's gradient output
        # (no backward pass here): a third less time on the vocabulary-sized logits
        token_log_p = tf.gather(logits, targets, batch_dims=2) - tf.reduce_logsumexp(logits, axis=-1)
        log_p = tf.reduce_sum(token_log_p * tf.tile(views["target_mask"], [k, 1]), axis=1)
        return tf.reshape(log_p, [k, batch])

    def loss_terms(self, inputs, training=False, noise=None):
        """Per-sentence loss terms.

        With `training` and `sampled_softmax` > 0 the reconstruction is the
        sampled-softmax loss (textvae.softmax); otherwise the exact -log p(x|z).

        Returns:
          {"reconstruction": (batch,) -log p(x|z) in nats, "kl_per_dim": (batch, latent),
           "kl": (batch,), "tokens": scalar count of predicted tokens}.
        """
        views = split_batch(inputs)
        if training and self.sampled_softmax:
            loc, scale, z = self._posterior_sample(inputs, training, noise)
            features = self.decoder.features(views["decoder"], z, training=True)
            reconstruction = sampled_sequence_nll(features, self.decoder.to_logits, views["targets"],
                                                  views["target_mask"], self.sampled_softmax, self.noise_seed)
        else:
            out = self(inputs, training=training, noise=noise)
            loc, scale = out["loc"], out["scale"]
            reconstruction = sequence_nll(out["logits"], views["targets"], views["target_mask"])
        kl_per_dim = distributions.kl_per_dimension(loc, scale)
        return {
            "reconstruction": reconstruction,
            "kl_per_dim": kl_per_dim,
            "kl": tf.reduce_sum(kl_per_dim, axis=1),
            "tokens": tf.reduce_sum(views["target_mask"]),
        }

    def validation_metrics(self, valid, batch_size: int) -> dict:
        """The validation record (ELBO terms) on an EncodedCorpus; `elbo` picks the best checkpoint."""
        from textvae.metrics import evaluate_elbo

        return evaluate_elbo(self, valid, batch_size)

    def reinitialize_decoder(self, seed: int) -> None:
        """Fresh decoder weights (Li et al. 2019), drawn from the layer's initializers with `seed`."""
        keras.utils.set_random_seed(seed)
        fresh = type(self.decoder).from_config(self.decoder.get_config())
        z = tf.zeros([1, self.latent_dim])
        fresh({"token_ids": tf.constant([[BOS_ID]]), "padding_mask": tf.constant([[True]])}, z)
        self.decoder.set_weights(fresh.get_weights())

    def train_step(self, data):
        beta = self.kl_weight_fn(self.optimizer.iterations)
        with tf.GradientTape() as tape:
            terms = self.loss_terms(data, training=True)
            reconstruction = tf.reduce_mean(terms["reconstruction"])
            loss = reconstruction + beta * distributions.free_bits_kl(terms["kl_per_dim"], self.free_bits)
            # scale_loss: dynamic loss scaling under mixed_float16 (identity otherwise)
            scaled = self.optimizer.scale_loss(loss * replica_scale())
        gradients = tape.gradient(scaled, self.trainable_variables)
        self.optimizer.apply(gradients, self.trainable_variables)
        return step_logs({
            "loss": loss,
            "reconstruction": reconstruction,
            "kl": tf.reduce_mean(terms["kl"]),
            "kl_weight": beta,
            # replicas' values are averaged: scaled up, the counts are global totals
            "tokens": terms["tokens"] / replica_scale(),
            "sentences": tf.cast(tf.shape(data["token_ids"])[0], tf.float32) / replica_scale(),
        })

    # -- public API on strings ----------------------------------------------

    def encode(self, sentences: Sequence[str]):
        """Posterior q(z|x): a `tfd.Independent(Normal)`, batch (n,), event (latent_dim,)."""
        loc, scale = self.posterior_params(self._batch(sentences))
        return distributions.posterior(loc, scale)

    @tf.function(reduce_retracing=True)
    def _generate(self, z, options, seed):
        return generate_ids(self.decoder, z, options, seed)

    def generate(self, z, seed: int = 0, **options) -> list[dict]:
        """Decodes latent codes, returning text and scores.

        Args:
          z: (n, latent_dim) array-like.
          seed: seeds sampling (same seed, same output).
          **options: `DecodeOptions` fields: strategy (greedy, sample, beam), max_length,
            temperature, top_k, top_p, beam_size, length_penalty.
        Returns:
          n dicts {"text", "score": log p(output | z) in nats, "length": tokens before EOS}.
        """
        tokenizer = self._require_tokenizer()
        opts = DecodeOptions(**options)
        z = tf.convert_to_tensor(np.asarray(z, np.float32).reshape(-1, self.latent_dim))
        out = self._generate(z, opts, tf.constant([seed, 0]))
        rows = strip_special(out["ids"].numpy())
        return [{"text": tokenizer.decode(row), "score": float(score), "length": len(row)}
                for row, score in zip(rows, out["scores"].numpy())]

    def decode(self, z, seed: int = 0, **options) -> list[str]:
        """Decodes latent codes (n, latent_dim) to n sentences; options as in `generate`."""
        return [item["text"] for item in self.generate(z, seed=seed, **options)]

    def reconstruct(self, sentences: Sequence[str], sample: bool = False, seed: int = 0, **options) -> list[str]:
        """Encodes and decodes; z is the posterior mean, or a posterior sample with `sample=True`."""
        q = self.encode(sentences)
        z = q.sample(seed=tf.constant([seed, 1])) if sample else q.mean()
        return self.decode(z, seed=seed, **options)

    def sample_prior(self, n: int, seed: int = 0) -> np.ndarray:
        """(n, latent_dim) draws from p(z), seeded."""
        return np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype(np.float32)

    def sample(self, n: int, seed: int = 0, **options) -> list[str]:
        """Decodes n draws of z from the prior (seeded)."""
        return self.decode(self.sample_prior(n, seed), seed=seed, **options)

    def interpolation_path(self, sentences: Sequence[str], steps: int = 5, method: str = "linear") -> np.ndarray:
        """Latent points from each sentence's posterior mean to the next: ((n-1)(steps+1)+1, latent)."""
        return latent.path(self.encode(list(sentences)).mean().numpy(), steps, method)

    def interpolate(self, a: str, b: str, steps: int = 5, method: str = "linear", **options) -> list[str]:
        """Decodes `steps + 2` points from a's posterior mean to b's (endpoints included)."""
        return self.decode(self.interpolation_path([a, b], steps, method), **options)

    def neighbour_latents(self, sentence: str, n: int = 5, seed: int = 0) -> np.ndarray:
        """(n, latent_dim) samples from the sentence's posterior q(z|x)."""
        return self.encode([sentence]).sample(n, seed=tf.constant([seed, 2]))[:, 0].numpy()

    def arithmetic_latent(self, a: str, b: str, c: str) -> np.ndarray:
        """(1, latent_dim): mean(a) - mean(b) + mean(c), "a is to b as ? is to c"."""
        mu = self.encode([a, b, c]).mean().numpy()
        return (mu[0] - mu[1] + mu[2])[None]

    def neighbours(self, sentence: str, n: int = 5, seed: int = 0, **options) -> list[str]:
        """Decodes n samples of z from the sentence's posterior q(z|x)."""
        return self.decode(self.neighbour_latents(sentence, n, seed), seed=seed, **options)

    def arithmetic(self, a: str, b: str, c: str, **options) -> str:
        """Decodes mean(a) - mean(b) + mean(c)."""
        return self.decode(self.arithmetic_latent(a, b, c), **options)[0]
