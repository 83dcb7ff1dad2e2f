"""M1 + M2 over codes: the objective against a manual sum, gradients, and a toy it must solve."""

import numpy as np
import pytest
import tensorflow as tf

from textvae.stacked import StackedM2, StackedM2Config, fit_stacked_m2


def _log_normal(x, loc, scale):
    return np.sum(-0.5 * ((x - loc) / scale) ** 2 - np.log(scale) - 0.5 * np.log(2 * np.pi), axis=-1)


def _manual_bound(model, z1, labels, noise):
    """-L(z1, y) with numpy densities and the closed-form Gaussian KL."""
    y = np.eye(model.num_classes)[labels]
    loc, raw = np.split(model.posterior(np.concatenate([z1, y], 1).astype(np.float32)).numpy(), 2, axis=1)
    sd = np.log1p(np.exp(raw)) + 1e-4
    z2 = loc + sd * noise
    dec = model.decoder_loc(np.concatenate([z2, y], 1).astype(np.float32)).numpy()
    kl = np.sum(0.5 * (sd ** 2 + loc ** 2 - 1) - np.log(sd), axis=1)
    return -_log_normal(z1, dec, np.exp(model.decoder_log_scale.numpy())) + kl + np.log(model.num_classes)


def test_objective_equals_the_manual_sum():
    rng = np.random.default_rng(0)
    config = StackedM2Config(latent_dim=3, hidden_dim=8, alpha=7.0)
    model = StackedM2(4, 3, config, np.zeros(4), np.ones(4))
    model.decoder_log_scale.assign(rng.normal(size=4).astype(np.float32) * 0.3)
    lab, unl = rng.normal(size=(5, 4)).astype(np.float32), rng.normal(size=(6, 4)).astype(np.float32)
    labels = np.array([0, 2, 1, 1, 0], np.int32)
    n_lab, n_unl = rng.normal(size=(5, 3)).astype(np.float32), rng.normal(size=(3, 6, 3)).astype(np.float32)
    out = model.objective(lab, labels, unl, n_lab, n_unl)

    def log_softmax(a):
        a = a - a.max(1, keepdims=True)
        return a - np.log(np.exp(a).sum(1, keepdims=True))

    log_q_lab = log_softmax(model.classifier(lab).numpy())
    ce = -log_q_lab[np.arange(5), labels]
    labelled = _manual_bound(model, lab, labels, n_lab) + 7.0 * ce
    log_q = log_softmax(model.classifier(unl).numpy())
    q = np.exp(log_q)
    per_class = np.stack([_manual_bound(model, unl, np.full(6, c), n_unl[c]) for c in range(3)], axis=1)
    unlabelled = (q * per_class).sum(1) + (q * log_q).sum(1)
    np.testing.assert_allclose(out["loss"].numpy(), (labelled.sum() + unlabelled.sum()) / 11, rtol=1e-5)
    np.testing.assert_allclose(out["classification"].numpy(), ce.mean(), rtol=1e-5)
    np.testing.assert_allclose(out["entropy"].numpy(), -(q * log_q).sum(1).mean(), rtol=1e-5)


def test_unlabelled_codes_alone_train_the_classifier():
    model = StackedM2(4, 2, StackedM2Config(latent_dim=2, hidden_dim=8), np.zeros(4), np.ones(4))
    unl = np.random.default_rng(1).normal(size=(8, 4)).astype(np.float32)
    with tf.GradientTape() as tape:
        out = model.objective(np.zeros((0, 4), np.float32), np.zeros(0, np.int32), unl,
                              np.zeros((0, 2), np.float32), np.zeros((2, 8, 2), np.float32))
    grads = tape.gradient(out["loss"], model.classifier.trainable_variables)
    assert all(g is not None for g in grads)
    assert max(float(tf.reduce_max(tf.abs(g))) for g in grads) > 1e-4


def _two_clusters(rng, n):
    """Two long, thin clusters side by side: x ~ +-1.5, y ~ N(0, 3)."""
    ids = rng.integers(0, 2, n)
    loc = np.stack([np.where(ids == 0, -1.5, 1.5) + rng.normal(0, 0.25, n), rng.normal(0, 3.0, n)], axis=1)
    return loc.astype(np.float32), ids


def test_one_label_per_class_and_unlabelled_codes_find_the_clusters():
    rng = np.random.default_rng(0)
    labelled = np.array([[-1.5, 5.0], [1.5, -5.0]], np.float32)  # far apart along the clusters' length
    unl, _ = _two_clusters(rng, 2000)
    test, test_ids = _two_clusters(rng, 1000)
    nearest = np.argmin(((test[:, None] - labelled[None]) ** 2).sum(-1), axis=1)
    assert np.mean(nearest == test_ids) < 0.85  # the labels alone mislead
    config = StackedM2Config(latent_dim=2, hidden_dim=32, alpha=10.0, steps=1500, batch_size=128)
    model = fit_stacked_m2(labelled, np.full_like(labelled, 0.05), np.array([0, 1]), unl,
                           np.full_like(unl, 0.05), 2, config)
    assert np.mean(model.predict_classes(test) == test_ids) > 0.95


def test_bad_labels_are_refused():
    codes = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        fit_stacked_m2(codes, codes, np.array([0, 2]), codes, codes, 2)
