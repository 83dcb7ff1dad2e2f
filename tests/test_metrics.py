"""Estimators against ground truth: a linear-Gaussian model with a closed-form log p(x),
a Gaussian encoder with an analytic mutual information, planted active units."""

import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from textvae import distributions
from textvae.evaluation.estimators import active_units, importance_weighted_log_likelihood, mutual_information

tfd = tfp.distributions

# z ~ N(0, I_2), x | z ~ N(W z + b, sigma^2 I_3). W has orthogonal columns, so the
# exact posterior is a diagonal Normal and q can equal it.
W = np.array([[2.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
B = np.array([0.5, -1.0, 0.3])
SIGMA = 0.7


def linear_gaussian(x):
    """Exact log p(x) and the exact posterior (loc, scale) for a batch x (n, 3)."""
    marginal = tfd.MultivariateNormalFullCovariance(B, W @ W.T + SIGMA**2 * np.eye(3))
    precision = np.eye(2) + W.T @ W / SIGMA**2  # diagonal
    cov = np.linalg.inv(precision)
    loc = (x - B) @ W @ cov / SIGMA**2
    scale = np.broadcast_to(np.sqrt(np.diag(cov)), loc.shape)
    return marginal.log_prob(x).numpy(), loc, scale


def log_likelihood_fn(x):
    def fn(z):  # z: (k, n, 2) -> (k, n)
        mean = tf.einsum("knd,pd->knp", z, tf.constant(W)) + B
        return tf.reduce_sum(tfd.Normal(mean, SIGMA).log_prob(tf.constant(x)), axis=-1)
    return fn


def data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 2))
    return z @ W.T + B + SIGMA * rng.standard_normal((n, 3))


def iw(x, loc, scale, k, chunk=7, seed=(1, 2)):
    q = distributions.posterior(tf.constant(loc), tf.constant(scale))
    p = distributions.prior(2, tf.float64)
    return importance_weighted_log_likelihood(log_likelihood_fn(x), q, p, k, chunk, seed).numpy()


@pytest.mark.parametrize("k", [1, 5, 50])
def test_exact_posterior_gives_exact_log_likelihood_for_any_k(k):
    x = data()
    exact, loc, scale = linear_gaussian(x)
    np.testing.assert_allclose(iw(x, loc, scale, k), exact, rtol=1e-9, atol=1e-9)


def test_worse_posterior_is_a_lower_bound_that_tightens_with_k():
    x = data(n=200)
    exact, loc, scale = linear_gaussian(x)
    worse_loc, worse_scale = loc + 0.4, scale * 1.8
    gaps = [np.mean(exact - iw(x, worse_loc, worse_scale, k)) for k in (1, 10, 100, 1000)]
    assert gaps[0] > gaps[1] > gaps[2] > gaps[3] > -0.01
    assert gaps[0] > 0.3 and gaps[3] < 0.05


def test_one_chunk_equals_the_logsumexp_of_its_weights():
    x = data(n=8)
    _, loc, scale = linear_gaussian(x)
    q = distributions.posterior(tf.constant(loc + 0.3), tf.constant(scale * 1.5))
    p = distributions.prior(2, tf.float64)
    seed = tf.constant([4, 9])
    z = q.sample(12, seed=seed)
    log_w = log_likelihood_fn(x)(z) + p.log_prob(z) - q.log_prob(z)
    manual = tf.reduce_logsumexp(log_w, axis=0) - math.log(12)
    got = importance_weighted_log_likelihood(log_likelihood_fn(x), q, p, 12, 12, seed)
    np.testing.assert_allclose(got, manual, rtol=1e-12)


def test_mutual_information_of_a_gaussian_encoder():
    # x ~ N(0, I_2); q(z|x) = N(a x, s^2): I(x; z) = sum_d 0.5 log(1 + a_d^2 / s^2)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4000, 2))
    a, s = np.array([1.0, 0.5]), 0.6
    loc, scale = x * a, np.full_like(x, s)
    analytic = float(np.sum(0.5 * np.log(1 + a**2 / s**2)))
    assert mutual_information(loc, scale, seed=1) == pytest.approx(analytic, abs=0.03)
    # an encoder that ignores x carries no information
    assert mutual_information(np.zeros_like(loc), scale, seed=1) == pytest.approx(0.0, abs=1e-9)


def test_active_units_count_planted_dimensions():
    rng = np.random.default_rng(0)
    loc = rng.standard_normal((500, 7)) * np.array([1.0, 0.5, 0.2, 0.05, 0.0, 0.3, 0.01])
    # variances 1, 0.25, 0.04, 0.0025, 0, 0.09, 1e-4 -> four above 0.01
    assert active_units(loc) == 4
    assert active_units(np.zeros((10, 0))) == 0


def test_evaluate_run_on_a_trained_model(trained_run, tmp_path):
    from conftest import SENTENCES, write_lines
    from textvae.evaluation import evaluate_run

    path = write_lines(tmp_path / "test.txt", SENTENCES)
    result = evaluate_run(trained_run, path, iw_samples=40, batch_size=3)
    expected = {"nll", "ppl", "elbo", "elbo_ppl", "reconstruction", "kl", "kl_per_dim", "mi", "mi_batch",
                "active_units", "num_sentences", "num_words", "iw_samples", "seconds"}
    assert expected <= set(result)
    assert result["num_sentences"] == 8 and result["num_words"] == sum(len(s.split()) + 1 for s in SENTENCES)
    assert len(result["kl_per_dim"]) == 3 and result["kl"] == pytest.approx(sum(result["kl_per_dim"]), rel=1e-5)
    # IW-NLL (K=40) is a tighter bound than -ELBO, and ppl is its per-word exponent
    assert result["nll"] <= -result["elbo"] + 0.05
    assert result["ppl"] == pytest.approx(math.exp(result["nll"] * 8 / result["num_words"]))
    lines = (trained_run / "eval.jsonl").read_text().splitlines()
    assert len(lines) >= 1 and '"split": "test.txt"' in lines[-1]


def test_xla_evaluation_gives_the_same_estimates(trained_run, tmp_path):
    from conftest import SENTENCES, write_lines
    from textvae.evaluation import evaluate_run

    path = write_lines(tmp_path / "test.txt", SENTENCES)
    plain = evaluate_run(trained_run, path, iw_samples=12, batch_size=3)
    xla = evaluate_run(trained_run, path, iw_samples=12, batch_size=3, jit_compile=True)  # widths rounded to 8
    for key in ("nll", "ppl", "elbo", "kl", "mi", "active_units"):
        assert xla[key] == pytest.approx(plain[key], rel=1e-5), key


def test_language_model_baseline_nll_is_exact(tmp_path):
    from conftest import SENTENCES, tiny_config, write_lines
    from textvae.evaluation import evaluate_run
    from textvae.training import train

    train(tiny_config(tmp_path, ["model.latent_dim=0", "train.max_steps=4"]), tmp_path / "lm")
    path = write_lines(tmp_path / "test.txt", SENTENCES)
    result = evaluate_run(tmp_path / "lm", path, iw_samples=5, batch_size=3)
    assert result["kl"] == 0.0 and result["mi"] == 0.0 and result["active_units"] == 0
    assert result["nll"] == pytest.approx(result["reconstruction"], rel=1e-6)
    assert result["ppl"] == pytest.approx(result["elbo_ppl"], rel=1e-6)
