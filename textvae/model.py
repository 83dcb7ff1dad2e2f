"""SentenceVAE: the Bowman et al. (2016) sentence VAE as a Keras model."""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from textvae import distributions, latent
from textvae.base import LatentTextModel, bag_of_words_nll, sequence_nll, split_batch
from textvae.cross_entropy import token_nll
from textvae.decoders import bag_of_words_head, build_decoder, linear_parts, shared_word_vectors
from textvae.encoders import build_encoder
from textvae.priors import CodeGaussian, MixturePrior
from textvae.sampled_softmax import sampled_sequence_nll
from textvae.spec import ModelSpec
from textvae.tokenizer import BOS_ID


@keras.saving.register_keras_serializable(package="textvae")
class SentenceVAE(LatentTextModel):
    """Sentence VAE with a Normal posterior and an autoregressive decoder.

    Generative story: z ~ p(z) (N(0, I) or a learnt mixture); x_t ~ p(x_t | x_<t, z) for t = 1..n+1,
    ending with EOS. Inference: q(z|x) = N(loc(x), diag(scale(x)^2)).

    Training maximises, per sentence, the (annealed) ELBO
        E_q[log p(x|z)] - beta(step) * KL(q(z|x) || p(z)),
    with one reparameterised sample of z; with free bits lambda > 0 the KL term is
    sum_d max(lambda, mean_batch KL_d). Logged `kl` is always the true KL.
    `spec.latent_dim` 0 makes the model its decoder alone: a language model.
    With a target rate C the KL term is |mean KL - C| instead. With
    `spec.bag_of_words` w > 0, w * BoW(x, z) is added to the loss, where
    BoW(x, z) = -sum_t log softmax(W_bow z + b_bow)[x_t] over the sentence's words
    (Zhao et al. 2017): an auxiliary term, not part of the ELBO.
    With `spec.prior_components` K > 0, p(z) is a learnt mixture of K diagonal
    Gaussians (`textvae.priors`) and the KL is estimated at the training sample:
    -H(q(z|x)) - log p(z), the entropy in closed form.
    """

    def __init__(self, spec: ModelSpec, **kwargs):
        super().__init__(spec, **kwargs)
        shared = shared_word_vectors(spec)
        self.encoder = build_encoder(spec, spec.latent_dim, embedding=shared) if spec.latent_dim > 0 else None
        self.decoder = build_decoder(spec, spec.latent_dim, embedding=shared)
        self.bag_of_words = bag_of_words_head(spec, shared)
        self.learnt_prior = None
        if spec.prior_components and spec.latent_dim:
            self.learnt_prior = MixturePrior(spec.prior_components, spec.latent_dim, name="prior")
            self.learnt_prior.build()
        self.sampled_softmax = 0

    def prior_distribution(self):
        """p(z): the learnt mixture, or N(0, I); event shape (latent_dim,)."""
        if self.learnt_prior is None:
            return super().prior_distribution()
        return self.learnt_prior.distribution()

    def sample_prior(self, n: int, seed: int = 0) -> np.ndarray:
        """(n, latent_dim) seeded draws from p(z)."""
        if self.learnt_prior is None:
            return super().sample_prior(n, seed)
        return self.learnt_prior.sample_numpy(n, seed)

    # -- training -----------------------------------------------------------

    def compile(self, optimizer="adam", sampled_softmax: int = 0, **kwargs):
        """`LatentTextModel.compile` plus the number of sampled-softmax candidates for
        training (0: exact softmax)."""
        super().compile(optimizer, **kwargs)
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
        out = {"logits": logits, "loc": loc, "scale": scale, "z": z}
        if self.bag_of_words is not None:
            out["bag_of_words"] = self.bag_of_words_nll(z, views)
        return out

    def bag_of_words_nll(self, z, views):
        """-sum_t log softmax(W_bow z + b)[x_t] over the words (EOS excluded): (batch,) nats."""
        return bag_of_words_nll(self.bag_of_words, z, views)

    def _posterior_sample(self, inputs, training, noise):
        """(loc, scale, z), each (batch, latent): z = loc + scale * noise."""
        loc, scale = self.posterior_params(inputs, training=training)
        if noise is None:
            noise = self.posterior_noise(loc)
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
        log_p = -tf.reduce_sum(token_nll(logits, targets) * tf.tile(views["target_mask"], [k, 1]), axis=1)
        return tf.reshape(log_p, [k, batch])

    def loss_terms(self, inputs, training=False, noise=None):
        """Per-sentence loss terms.

        With `training` and `sampled_softmax` > 0 the reconstruction is the
        sampled-softmax loss (textvae.sampled_softmax); otherwise the exact -log p(x|z).

        Returns:
          {"reconstruction": (batch,) -log p(x|z) in nats, "kl": (batch,), "tokens": scalar
           count of predicted tokens; under N(0, I) "kl_per_dim": (batch, latent) in closed
           form; under a learnt prior "kl" is the one-sample estimate and "prior_fit":
           (batch,) -log p(z) at the codes held fixed (the prior's own loss); with the
           bag-of-words head "bag_of_words": (batch,) its NLL}.
        """
        views = split_batch(inputs)
        extra = {}
        if training and self.sampled_softmax:
            loc, scale, z = self._posterior_sample(inputs, training, noise)
            features = self.decoder.features(views["decoder"], z, training=True)
            reconstruction = sampled_sequence_nll(*linear_parts(self.decoder.to_logits, features), views["targets"],
                                                  views["target_mask"], self.sampled_softmax, self.noise_seed)
            if self.bag_of_words is not None:
                extra["bag_of_words"] = self.bag_of_words_nll(z, views)
        else:
            out = self(inputs, training=training, noise=noise)
            loc, scale, z = out["loc"], out["scale"], out["z"]
            reconstruction = sequence_nll(out["logits"], views["targets"], views["target_mask"])
            if "bag_of_words" in out:
                extra["bag_of_words"] = out["bag_of_words"]
        return {**extra, **self._kl_terms(loc, scale, z), "reconstruction": reconstruction,
                "tokens": tf.reduce_sum(views["target_mask"])}

    def _kl_terms(self, loc, scale, z):
        """The KL terms of `loss_terms` for posterior parameters and the sample z, each (batch, latent)."""
        if self.learnt_prior is None:
            kl_per_dim = distributions.kl_per_dimension(loc, scale)
            return {"kl_per_dim": kl_per_dim, "kl": tf.reduce_sum(kl_per_dim, axis=1)}
        entropy = distributions.posterior(loc, scale).entropy()
        # the encoder's KL sees the prior fixed; the prior fits the codes as they are
        return {"kl": -entropy - self.learnt_prior.distribution(stop_gradient=True).log_prob(z),
                "prior_fit": -self.learnt_prior.distribution().log_prob(tf.stop_gradient(z))}

    def objective(self, batch, training: bool = False, beta=1.0, noise=None) -> dict:
        """The annealed negative ELBO of a batch under the rate control; a learnt prior adds
        its own fit to the codes, E[-log p(z)], at weight 1 (it does not move z)."""
        terms = self.loss_terms(batch, training=training, noise=noise)
        reconstruction = tf.reduce_mean(terms["reconstruction"])
        logs = {"reconstruction": reconstruction, "kl": tf.reduce_mean(terms["kl"])}
        if "kl_per_dim" in terms:
            loss = reconstruction + beta * self.kl_penalty(terms["kl_per_dim"])
        else:  # no per-dimension KL under a mixture: the rate control sees the total
            loss = reconstruction + beta * self.kl_penalty(terms["kl"][:, None]) + tf.reduce_mean(terms["prior_fit"])
        if "bag_of_words" in terms:
            logs["bag_of_words"] = tf.reduce_mean(terms["bag_of_words"])
            loss += self.spec.bag_of_words * logs["bag_of_words"]
        return {"loss": loss, "logs": logs}

    def validation_metrics(self, valid, batch_size: int) -> dict:
        """The validation record (ELBO terms) on an EncodedCorpus; `elbo` picks the best checkpoint."""
        from textvae.evaluation.estimators import evaluate_elbo

        return evaluate_elbo(self, valid, batch_size)

    def reinitialize_decoder(self, seed: int) -> None:
        """Fresh decoder weights (Li et al. 2019), drawn from the layer's initializers with `seed`.
        A word table shared with the encoder (`tie_embeddings`) keeps its pretrained vectors."""
        keras.utils.set_random_seed(seed)
        fresh = type(self.decoder).from_config(self.decoder.get_config())
        z = tf.zeros([1, self.latent_dim])
        fresh({"token_ids": tf.constant([[BOS_ID]]), "padding_mask": tf.constant([[True]])}, z)
        shared = self.decoder.embedding.embeddings if self.spec.tie_embeddings else None
        for old, new in zip(self.decoder.weights, fresh.weights, strict=True):
            if old is not shared:
                old.assign(new)

    # -- public API on strings ----------------------------------------------

    def encode(self, sentences: Sequence[str]):
        """Posterior q(z|x): a `tfd.Independent(Normal)`, batch (n,), event (latent_dim,)."""
        loc, scale = self.posterior_params(self._batch(sentences))
        return distributions.posterior(loc, scale)

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
        return self._generate_from_code(self._as_latent(z), seed, options)

    def decode(self, z, seed: int = 0, **options) -> list[str]:
        """Decodes latent codes (n, latent_dim) to n sentences; options as in `generate`."""
        return [item["text"] for item in self.generate(z, seed=seed, **options)]

    def reconstruct(self, sentences: Sequence[str], sample: bool = False, seed: int = 0, **options) -> list[str]:
        """Encodes and decodes; z is the posterior mean, or a posterior sample with `sample=True`."""
        q = self.encode(sentences)
        z = q.sample(seed=tf.constant([seed, 1])) if sample else q.mean()
        return self.decode(z, seed=seed, **options)

    def sample(self, n: int, seed: int = 0, **options) -> list[str]:
        """Decodes n draws of z from the prior (seeded)."""
        return self.decode(self.sample_prior(n, seed), seed=seed, **options)

    def fit_code_gaussian(self, sentences: Sequence[str], limit: int | None = None, seed: int = 0,
                          batch_size: int = 512) -> CodeGaussian:
        """A Gaussian fitted to one draw z ~ q(z|x) per sentence (`priors.CodeGaussian`):
        the aggregate posterior's mean and covariance. With `limit`, of that many evenly
        spaced sentences. Needs more sentences than latent_dim."""
        if limit is not None:
            sentences = sentences[:: max(1, len(sentences) // limit)][:limit]
        rng = np.random.default_rng(seed)
        codes = []
        for start in range(0, len(sentences), batch_size):
            loc, scale = self.posterior_params(self._batch(sentences[start:start + batch_size]))
            codes.append(loc.numpy() + scale.numpy() * rng.standard_normal(loc.shape))
        return CodeGaussian.fit(np.concatenate(codes) if codes else np.zeros((0, self.latent_dim)))

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
