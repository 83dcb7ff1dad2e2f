"""Evaluation of a trained model: ELBO, reconstruction, KL and perplexity bounds."""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from textvae.data import EncodedCorpus, evaluation_batches


def evaluate_elbo(model, encoded: EncodedCorpus, batch_size: int = 64, seed: int = 0) -> dict:
    """ELBO on a corpus with one posterior sample per sentence (fixed seed, so repeatable).

    Returns:
      {"elbo": mean ELBO per sentence (nats), "reconstruction": mean -log p(x|z),
       "kl": mean KL(q||p), "elbo_ppl": exp(total -ELBO / num_words),
       "num_sentences", "num_words"}.
    """
    step = _loss_terms_fn(model)
    rng = np.random.default_rng(seed)
    reconstruction = kl = 0.0
    for batch in evaluation_batches(encoded, batch_size):
        noise = rng.standard_normal((len(batch["token_ids"]), model.latent_dim)).astype(np.float32)
        terms = step(batch, tf.constant(noise))
        reconstruction += float(tf.reduce_sum(terms["reconstruction"]))
        kl += float(tf.reduce_sum(terms["kl"]))
    n = len(encoded.sequences)
    return {
        "elbo": -(reconstruction + kl) / n,
        "reconstruction": reconstruction / n,
        "kl": kl / n,
        "elbo_ppl": math.exp((reconstruction + kl) / encoded.num_words),
        "num_sentences": n,
        "num_words": encoded.num_words,
    }


def _loss_terms_fn(model):
    """A compiled `loss_terms` at inference, cached on the model."""
    fn = getattr(model, "_eval_loss_terms", None)
    if fn is None:
        fn = tf.function(lambda batch, noise: model.loss_terms(batch, training=False, noise=noise),
                         reduce_retracing=True)
        object.__setattr__(model, "_eval_loss_terms", fn)
    return fn
