"""The learnt mixture prior: its density and samples by hand, the KL estimate against the
closed form, which gradients reach which weights, and the estimators that read p(z)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from textvae import distributions
from textvae.config import ConfigError
from textvae.data import encode_corpus, pad_batch
from textvae.evaluation.estimators import evaluate, iw_log_likelihood_batch
from textvae.model import SentenceVAE
from textvae.priors import MixturePrior
from textvae.spec import ModelSpec
from textvae.tokenizer import BOS_ID, EOS_ID, WordTokenizer
from conftest import SENTENCES, tiny_config

LAT = 3
WORDS = WordTokenizer(sorted({w for s in SENTENCES for w in s.split()}))


def vae(components=4):
    model = SentenceVAE(ModelSpec(WORDS.vocab_size, latent_dim=LAT, embedding_dim=4, hidden_dim=5, seed=1,
                                  prior_components=components), tokenizer=WORDS)
    ids = np.array([[BOS_ID, 4, EOS_ID]], np.int32)
    model({"token_ids": ids, "padding_mask": np.ones(ids.shape, bool)})
    return model


def batch(sentences=SENTENCES[:3]):
    return pad_batch([np.asarray([BOS_ID, *WORDS.encode(s), EOS_ID], np.int32) for s in sentences])


def set_prior(prior, logits, loc, scale):
    prior.logits.assign(np.asarray(logits, np.float32))
    prior.loc.assign(np.asarray(loc, np.float32))
    # raw = softplus^-1(scale - MIN_SCALE)
    from textvae.priors import MIN_SCALE
    prior.raw_scale.assign(np.log(np.expm1(np.asarray(scale, np.float64) - MIN_SCALE)).astype(np.float32))


def normal_log_density(z, loc, scale):
    return (-0.5 * ((z - loc) / scale) ** 2 - np.log(scale) - 0.5 * np.log(2 * np.pi)).sum(-1)


def test_mixture_log_prob_is_a_manual_logsumexp_over_components():
    prior = MixturePrior(2, LAT)
    prior.build()
    logits, loc, scale = [0.3, -1.0], [[0.0, 1.0, -1.0], [2.0, 0.0, 0.5]], [[1.0, 0.5, 2.0], [0.3, 1.0, 1.0]]
    set_prior(prior, logits, loc, scale)
    z = np.array([[0.1, 0.2, 0.3], [1.9, -0.1, 0.4]], np.float32)
    log_w = np.array(logits) - np.log(np.exp(logits).sum())
    by_hand = np.log(sum(np.exp(log_w[k] + normal_log_density(z, np.array(loc[k]), np.array(scale[k])))
                         for k in range(2)))
    np.testing.assert_allclose(prior.distribution().log_prob(z).numpy(), by_hand, rtol=1e-5)


def test_samples_follow_the_weights_and_components():
    prior = MixturePrior(2, LAT)
    prior.build()
    set_prior(prior, [np.log(0.9), np.log(0.1)], [[-5.0] * LAT, [5.0] * LAT], [[0.1] * LAT, [0.1] * LAT])
    z = prior.sample_numpy(4000, seed=3)
    assert z.shape == (4000, LAT)
    assert np.mean(z[:, 0] > 0) == pytest.approx(0.1, abs=0.02)
    np.testing.assert_allclose(z[z[:, 0] < 0].std(axis=0), 0.1, rtol=0.1)
    np.testing.assert_array_equal(z, prior.sample_numpy(4000, seed=3))


def test_one_component_at_the_standard_normal_gives_the_closed_form_kl_on_average():
    model = vae(components=1)
    set_prior(model.learnt_prior, [0.0], [[0.0] * LAT], [[1.0] * LAT])
    x = batch()
    loc, scale = model.posterior_params(x)
    closed = distributions.kl_per_dimension(loc, scale).numpy().sum(axis=1)
    # each estimate has a standard deviation of about 1.2 nats here (-log p(z) at one draw), so
    # 20,000 draws per sentence (sd of the mean 0.009), in one batch of the repeated sentences
    draws = 20000
    repeated = {key: np.tile(value, (draws, 1)) for key, value in x.items()}
    noise = tf.random.stateless_normal([draws * loc.shape[0], LAT], [0, 0])
    estimates = model.loss_terms(repeated, noise=noise)["kl"].numpy().reshape(draws, -1)
    np.testing.assert_allclose(estimates.mean(axis=0), closed, atol=0.05 + 0.05 * closed.max())
    # each estimate is -H(q) - log p(z) at the sample, computed by hand
    noise = tf.random.stateless_normal(loc.shape, [7, 0])
    z = (loc + scale * noise).numpy()
    entropy = (np.log(scale.numpy()) + 0.5 * np.log(2 * np.pi * np.e)).sum(axis=1)
    by_hand = -entropy - normal_log_density(z, 0.0, 1.0)
    np.testing.assert_allclose(model.loss_terms(x, noise=noise)["kl"].numpy(), by_hand, rtol=1e-4, atol=1e-4)


def test_the_kl_moves_the_encoder_and_the_fit_moves_the_prior_only():
    model = vae()
    x = batch()
    noise = tf.random.stateless_normal([3, LAT], [1, 0])
    with tf.GradientTape(persistent=True) as tape:
        terms = model.loss_terms(x, training=True, noise=noise)
        kl, fit = tf.reduce_mean(terms["kl"]), tf.reduce_mean(terms["prior_fit"])
    prior_vars = model.learnt_prior.trainable_variables
    encoder_vars = model.encoder.trainable_variables
    assert len(prior_vars) == 3
    assert all(g is None for g in tape.gradient(kl, prior_vars))
    assert all(g is None for g in tape.gradient(fit, encoder_vars))
    assert all(g is not None and np.abs(g.numpy()).sum() > 0 for g in tape.gradient(fit, prior_vars))
    assert any(g is not None and np.abs(tf.convert_to_tensor(g).numpy()).sum() > 0
               for g in tape.gradient(kl, encoder_vars))
    # the objective is the rate term plus the fit: below the target rate the prior is not pushed away
    model.compile(target_rate=1000.0)
    with tf.GradientTape() as tape:
        loss = model.objective(x, training=True, noise=noise)["loss"]
    with tf.GradientTape() as fit_tape:
        fit_only = tf.reduce_mean(model.loss_terms(x, training=True, noise=noise)["prior_fit"])
    for g, expected in zip(tape.gradient(loss, prior_vars), fit_tape.gradient(fit_only, prior_vars)):
        np.testing.assert_allclose(g.numpy(), expected.numpy(), rtol=1e-5, atol=1e-7)


def test_iw_nll_and_sampling_read_the_learnt_prior():
    model = vae()
    set_prior(model.learnt_prior, [0.0, 0.0, 0.0, 0.0], np.full((4, LAT), 3.0), np.full((4, LAT), 0.5))
    x = batch()
    loc, scale = model.posterior_params(x)
    z = distributions.posterior(loc, scale).sample(5, seed=tf.constant([0, 1]))
    log_w = (model.log_likelihood_given_z(x, z) + model.prior_distribution().log_prob(z)
             - distributions.posterior(loc, scale).log_prob(z))
    by_hand = tf.reduce_logsumexp(log_w, axis=0) - np.log(5)
    np.testing.assert_allclose(iw_log_likelihood_batch(model, x, 5, seed=(0, 1)).numpy(), by_hand.numpy(), rtol=1e-5)
    assert np.all(np.abs(model.sample_prior(200, seed=0).mean(axis=0) - 3.0) < 0.15)
    result = evaluate(model, encode_corpus(SENTENCES, WORDS, 9), iw_samples=3)
    assert result["kl_per_dim"] == [] and np.isfinite(result["nll"]) and result["kl"] > 0


@pytest.mark.parametrize("clash", [{"kl": {"free_bits": 0.5}}, {"model": {"bn_gamma": 0.5}},
                                   {"model": {"latent_dim": 0}}])
def test_mixture_prior_refuses_what_needs_n01_or_a_per_dimension_kl(tmp_path, clash):
    sections = {"model": {"prior_components": 8}, "kl": {"free_bits": 0.0}}
    for section, values in clash.items():
        sections[section] = {**sections[section], **values}
    with pytest.raises(ConfigError, match="prior_components"):
        tiny_config(tmp_path, **sections)


def test_a_run_with_a_mixture_prior_reloads_the_same_prior(tmp_path):
    from textvae import load
    from textvae.training import train

    config = tiny_config(tmp_path, model={"prior_components": 3}, kl={"free_bits": 0.0, "target_rate": 2.0})
    train(config, tmp_path / "run")
    model = load(tmp_path / "run")
    again = load(tmp_path / "run")
    np.testing.assert_array_equal(model.sample_prior(5, seed=2), again.sample_prior(5, seed=2))
    assert not np.allclose(model.learnt_prior.loc.numpy(),
                           keras.initializers.RandomNormal(stddev=1.0, seed=0)((3, model.latent_dim)).numpy())


def test_code_gaussian_recovers_a_known_gaussian_and_samples_it_seeded():
    from textvae.priors import CodeGaussian

    rng = np.random.default_rng(0)
    mean, mix = np.array([1.0, -2.0, 0.5]), np.array([[1.0, 0.0, 0.0], [0.8, 0.5, 0.0], [-0.3, 0.2, 0.2]])
    fitted = CodeGaussian.fit(mean + rng.standard_normal((50_000, 3)) @ mix.T)
    np.testing.assert_allclose(fitted.mean, mean, atol=0.02)
    np.testing.assert_allclose(fitted.covariance, mix @ mix.T, atol=0.02)
    draws = fitted.sample(50_000, seed=4)
    assert draws.dtype == np.float32 and draws.shape == (50_000, 3)
    np.testing.assert_allclose(np.cov(draws, rowvar=False), mix @ mix.T, atol=0.03)
    np.testing.assert_array_equal(fitted.sample(7, seed=4), draws[:7])
    assert not np.array_equal(fitted.sample(7, seed=5), draws[:7])
    with pytest.raises(ValueError, match="more codes than latent dimensions"):
        CodeGaussian.fit(np.zeros((3, 3)))


def test_code_gaussian_temperature_scales_the_draws_about_the_mean():
    """mean + t * (draw - mean) for the same seed, so the covariance is t^2 times the fitted one."""
    from textvae.priors import CodeGaussian

    mean, cholesky = np.array([1.0, -2.0]), np.array([[1.0, 0.0], [0.6, 0.5]])
    gaussian = CodeGaussian(mean, cholesky)
    hot, cool = gaussian.sample(40_000, seed=3), gaussian.sample(40_000, seed=3, temperature=0.8)
    np.testing.assert_allclose(cool, mean + 0.8 * (hot - mean), atol=1e-5)
    np.testing.assert_allclose(np.cov(cool, rowvar=False), 0.64 * cholesky @ cholesky.T, atol=0.02)
    np.testing.assert_array_equal(gaussian.sample(5, seed=3, temperature=1.0), hot[:5])
    with pytest.raises(ValueError, match="temperature must be > 0"):
        gaussian.sample(5, temperature=0.0)


def test_fit_code_gaussian_fits_one_posterior_draw_per_sentence():
    """Against a manual draw loc + scale * eps with the same generator, across batches."""
    from textvae.priors import CodeGaussian

    model = vae(components=0)
    sentences = SENTENCES * 3
    q = model.encode(sentences)
    loc, scale = q.mean().numpy(), q.stddev().numpy()
    manual = CodeGaussian.fit(loc + scale * np.random.default_rng(2).standard_normal(loc.shape))
    fitted = model.fit_code_gaussian(sentences, seed=2, batch_size=4)
    np.testing.assert_allclose(fitted.mean, manual.mean, atol=1e-5)
    np.testing.assert_allclose(fitted.cholesky, manual.cholesky, atol=1e-4)
    evenly = model.fit_code_gaussian(sentences[::3][:8], seed=2)  # a limit takes evenly spaced sentences
    np.testing.assert_array_equal(model.fit_code_gaussian(sentences, limit=8, seed=2).mean, evenly.mean)
