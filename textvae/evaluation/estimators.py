"""Estimators the literature reports: ELBO, importance-weighted NLL, perplexity per
word, KL (total and per dimension), mutual information and active units.

Perplexity is per word: exp(total NLL / num_words), where num_words counts the
whitespace words of the original text plus one end-of-sentence per sentence,
whatever the tokenizer's units (so PTB test has 82,430 words).
"""

from __future__ import annotations

import math
import time

import numpy as np
import tensorflow as tf

from textvae import distributions
from textvae.data import EncodedCorpus, evaluation_batches

# Bytes of decoder logits one importance-sampling chunk may hold.
LOGITS_BUDGET_BYTES = 256 * 2**20
# Active-unit threshold on the variance of posterior means (Burda et al. 2016).
ACTIVE_UNIT_THRESHOLD = 0.01


def importance_weighted_log_likelihood(log_likelihood, q, p, num_samples: int, chunk_size: int, seed):
    """log p(x) ~ logsumexp_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)] - log K (Burda et al. 2016).

    Samples are drawn and scored `chunk_size` at a time, so memory is bounded
    whatever K is; the running logsumexp is exact.

    Args:
      log_likelihood: z (k, batch, latent) -> log p(x|z) (k, batch).
      q: posterior, batch shape (batch,), event shape (latent,).
      p: prior, event shape (latent,).
      num_samples: K.
      chunk_size: samples drawn per chunk.
      seed: shape (2,) int, stateless seed.
    Returns:
      (batch,) estimates of log p(x); a lower bound in expectation that tightens as K grows.
    """
    seed = tf.cast(seed, tf.int32)
    total = None
    for start in range(0, num_samples, chunk_size):
        k = min(chunk_size, num_samples - start)
        z = q.sample(k, seed=tf.stack([seed[0], seed[1] + start]))
        log_w = log_likelihood(z) + p.log_prob(z) - q.log_prob(z)
        chunk = tf.reduce_logsumexp(log_w, axis=0)
        total = chunk if total is None else tf.reduce_logsumexp(tf.stack([total, chunk]), axis=0)
    return total - math.log(num_samples)


def mutual_information(loc: np.ndarray, scale: np.ndarray, seed: int = 0, block: int = 256) -> float:
    """I(x; z) under q (Hoffman & Johnson 2016) with the aggregate posterior of the given set.

    I = E_x E_{q(z|x)} [log q(z|x) - log q(z)], q(z) = (1/N) sum_n q(z|x_n): one z_i
    per sentence, log q(z_i) by a logsumexp over all N posteriors (in blocks of rows).
    Both terms are scored at the same z_i (He et al. 2019 use the analytic entropy
    for the first): the same expectation, lower variance, and exactly 0 for an
    encoder that ignores x. Passing one minibatch at a time gives He et al.'s
    per-batch estimate.

    Args:
      loc, scale: (num_sentences, latent) posterior parameters.
    Returns:
      MI in nats (at most log N).
    """
    loc, scale = np.asarray(loc, np.float64), np.asarray(scale, np.float64)
    n, dim = loc.shape
    if dim == 0:
        return 0.0
    z = loc + scale * np.random.default_rng(seed).standard_normal(loc.shape)
    log_q_own = np.empty(n)  # log q(z_i | x_i)
    log_q_aggregate = np.empty(n)  # log q(z_i) = logsumexp_j log q(z_i | x_j) - log N
    for start in range(0, n, block):
        rows = slice(start, start + block)
        log_density = _diagonal_normal_log_density(z[rows, None, :], loc[None], scale[None])
        log_q_aggregate[rows] = _logsumexp(log_density, axis=1) - np.log(n)
        log_q_own[rows] = _diagonal_normal_log_density(z[rows], loc[rows], scale[rows])
    return float(np.mean(log_q_own - log_q_aggregate))


def _diagonal_normal_log_density(z, loc, scale):
    return (-0.5 * (((z - loc) / scale) ** 2) - np.log(scale) - 0.5 * np.log(2 * np.pi)).sum(-1)


def active_units(loc: np.ndarray, threshold: float = ACTIVE_UNIT_THRESHOLD) -> int:
    """Dimensions whose posterior mean varies across the set: Var_x E_q[z_d] > threshold."""
    loc = np.asarray(loc)
    return int((loc.var(axis=0) > threshold).sum()) if loc.size else 0


def _logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    top = a.max(axis=axis, keepdims=True)
    return (top + np.log(np.exp(a - top).sum(axis=axis, keepdims=True))).squeeze(axis)


def evaluate_elbo(model, encoded: EncodedCorpus, batch_size: int = 64, seed: int = 0) -> dict:
    """ELBO on a corpus with one posterior sample per sentence (fixed seed, so repeatable).

    Returns:
      {"elbo": mean ELBO per sentence (nats), "reconstruction": mean -log p(x|z),
       "kl": mean KL(q||p), "elbo_ppl": exp(total -ELBO / num_words),
       "num_sentences", "num_words"}.
    """
    step = compiled_function(model, "_eval_loss_terms",
                            lambda batch, noise: model.loss_terms(batch, training=False, noise=noise))
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


def evaluate(model, encoded: EncodedCorpus, iw_samples: int = 500, batch_size: int = 32, seed: int = 0,
             jit_compile: bool = False) -> dict:
    """Every estimator on one corpus (`jit_compile`: importance samples scored under XLA,
    batch widths rounded up to 8 so at most a dozen shapes compile; padding changes nothing).

    Returns:
      {"nll": mean IW-NLL per sentence, "ppl": exp(sum IW-NLL / num_words),
       "elbo", "elbo_ppl", "reconstruction", "kl", "kl_per_dim": list (latent,) (empty
       under a learnt prior),
       "mi": aggregate-posterior MI, "mi_batch": He et al.'s per-minibatch MI,
       "active_units", "variance_of_means": the variance of the posterior means across
       sentences averaged over dimensions, "mean_posterior_variance": the posterior
       variance averaged over sentences and dimensions (a latent that carries the
       sentence has the first well above the second; a constant offset has both small
       and large KL), "num_sentences", "num_words", "num_tokens", "iw_samples", "seconds"}.
    """
    started = time.perf_counter()
    result = evaluate_elbo(model, encoded, batch_size, seed)
    nll_sum, locs, scales, mi_batches = 0.0, [], [], []
    # never wider than a Transformer's position table
    widths = dict(multiple=8 if jit_compile else 1, max_width=model.max_positions)
    for index, batch in enumerate(evaluation_batches(encoded, batch_size, **widths)):
        loc, scale = model.posterior_params(batch)
        locs.append(loc.numpy())
        scales.append(scale.numpy())
        mi_batches.append((len(loc), mutual_information(locs[-1], scales[-1], seed=index)))
        nll_sum -= float(tf.reduce_sum(
            iw_log_likelihood_batch(model, batch, iw_samples, seed=(seed, index), jit_compile=jit_compile)))
    loc, scale = np.concatenate(locs), np.concatenate(scales)
    # per dimension only in closed form under N(0, I); a learnt mixture has no such split
    kl_per_dim = ([] if getattr(model, "learnt_prior", None) is not None
                  else distributions.kl_per_dimension(loc, scale).numpy().mean(axis=0))
    n = len(encoded.sequences)
    result.update(
        nll=nll_sum / n,
        ppl=math.exp(nll_sum / encoded.num_words),
        kl_per_dim=[float(v) for v in kl_per_dim],
        mi=mutual_information(loc, scale, seed=seed),
        mi_batch=sum(size * mi for size, mi in mi_batches) / n,
        active_units=active_units(loc),
        variance_of_means=float(loc.var(axis=0).mean()) if loc.shape[1] else 0.0,
        mean_posterior_variance=float((scale**2).mean()) if loc.shape[1] else 0.0,
        num_tokens=encoded.num_tokens,
        iw_samples=iw_samples,
        seconds=time.perf_counter() - started,
    )
    return result


def iw_log_likelihood_batch(model, batch, num_samples: int, seed=(0, 0), jit_compile: bool = False):
    """Importance-weighted log p(x) for one batch of `[BOS .. EOS]` sequences: (batch,).

    With `jit_compile`, log p(x|z) of each chunk runs under XLA (compiled once
    per batch shape and chunk size: round widths with `pad_batch(multiple=...)`)."""
    if model.latent_dim == 0:  # a language model: log p(x) is exact
        return -model.loss_terms(batch, training=False)["reconstruction"]
    ids = tf.constant(batch["token_ids"])
    width, vocab = int(ids.shape[1]), model.vocab_size
    chunk = max(1, LOGITS_BUDGET_BYTES // (4 * len(batch["token_ids"]) * width * vocab))
    loc, scale = model.posterior_params(batch)
    score = compiled_function(model, "_log_likelihood_given_z" + ("_xla" if jit_compile else ""),
                             model.log_likelihood_given_z, jit_compile)
    return importance_weighted_log_likelihood(
        lambda z: score(batch, z), distributions.posterior(loc, scale),
        model.prior_distribution(), num_samples, min(chunk, num_samples), seed,
    )


def compiled_function(model, name: str, fn, jit_compile: bool = False):
    """A `tf.function` of `fn`, stored on the model so each traces once per shape family."""
    compiled = getattr(model, name + "_compiled", None)
    if compiled is None:
        compiled = tf.function(fn, reduce_retracing=not jit_compile, jit_compile=jit_compile)
        object.__setattr__(model, name + "_compiled", compiled)
    return compiled
