"""M1 + M2 (Kingma et al. 2014, section 3.2): an M2 whose observations are a trained VAE's codes.

The sentence VAE (M1) gives every sentence x a posterior q(z1|x) = N(mu(x), sigma(x)).
A small M2 then models the codes z1 instead of the words:

  generative:  y ~ p(y) (uniform),  z2 ~ N(0, I),  z1 ~ N(f(y, z2), diag exp(s))
  inference:   q(y|z1) = Cat(softmax(g(z1))),  q(z2|z1, y) = N(h(z1, y))

and is trained on the objective of textvae.m2 written over z1 (minimised, per example):

  labelled (z1, y):  -L(z1, y) + alpha * CE(q(y|z1), y)
  unlabelled z1:     sum_y q(y|z1) (-L(z1, y)) - H(q(y|z1))
  -L(z1, y) = -log p(z1|y, z2) + KL(q(z2|z1, y) || p(z2)) - log p(y),  z2 ~ q(z2|z1, y)

Every step draws z1 ~ q(z1|x) afresh (Kingma et al. train on samples of M1's posterior);
sentences are classified by argmax_y q(y|mu(x)). The codes are standardised first (per
dimension, over every sentence), so the sizes below do not depend on the VAE's scale.
"""

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions


@dataclass(frozen=True)
class StackedM2Config:
    # Size of z2, the M2's own latent (Kingma et al.: 50 over 50-unit M1 codes).
    latent_dim: int = 16
    # Width of the one hidden layer of each network.
    hidden_dim: int = 256
    # Weight of the cross-entropy per labelled example, next to its -L(z1, y).
    alpha: float = 10.0
    steps: int = 4000
    # Examples per step: half labelled, half unlabelled.
    batch_size: int = 256
    learning_rate: float = 1e-3
    seed: int = 0


def _mlp(hidden: int, out: int, name: str) -> keras.Sequential:
    return keras.Sequential([keras.layers.Dense(hidden, activation="softplus"), keras.layers.Dense(out)], name=name)


class StackedM2(keras.Model):
    """M2 over codes z1 (features,): the three networks and the objective."""

    def __init__(self, features: int, num_classes: int, config: StackedM2Config, shift, scale, **kwargs):
        super().__init__(**kwargs)
        self.features, self.num_classes, self.config = features, num_classes, config
        self.shift = tf.constant(shift, tf.float32)  # (features,) standardisation of z1
        self.scale = tf.constant(scale, tf.float32)
        self.classifier = _mlp(config.hidden_dim, num_classes, "q_y")
        self.posterior = _mlp(config.hidden_dim, 2 * config.latent_dim, "q_z2")
        self.decoder_loc = _mlp(config.hidden_dim, features, "p_z1")
        self.decoder_log_scale = self.add_weight(shape=(features,), initializer="zeros", name="p_z1_log_scale")
        self.build_networks()

    def build_networks(self):
        self.classifier.build((None, self.features))
        self.posterior.build((None, self.features + self.num_classes))
        self.decoder_loc.build((None, self.config.latent_dim + self.num_classes))

    def standardise(self, z1):
        return (z1 - self.shift) / self.scale

    def class_logits(self, z1):
        """z1 (n, features) standardised -> (n, C) logits of q(y|z1)."""
        return self.classifier(z1)

    def negative_bound(self, z1, labels, noise):
        """-L(z1, y) for pairs (n, features), (n,) int, noise (n, latent_dim): (n,) nats."""
        y = tf.one_hot(labels, self.num_classes)
        loc, raw_scale = tf.split(self.posterior(tf.concat([z1, y], axis=1)), 2, axis=1)
        q = tfd.Independent(tfd.Normal(loc, tf.nn.softplus(raw_scale) + 1e-4), 1)
        z2 = loc + q.distribution.scale * noise
        p_z2 = tfd.Independent(tfd.Normal(tf.zeros_like(loc), tf.ones_like(loc)), 1)
        p_z1 = tfd.Independent(tfd.Normal(self.decoder_loc(tf.concat([z2, y], axis=1)),
                                          tf.exp(self.decoder_log_scale)), 1)
        return -p_z1.log_prob(z1) + tfd.kl_divergence(q, p_z2) + np.log(self.num_classes)

    def objective(self, labelled, labels, unlabelled, noise_labelled, noise_unlabelled) -> dict:
        """The loss of a batch, averaged over its examples.

        Args:
          labelled: (n_l, features) standardised codes with `labels` (n_l,) int32.
          unlabelled: (n_u, features) standardised codes.
          noise_labelled: (n_l, latent_dim); noise_unlabelled: (C, n_u, latent_dim) normal draws.
        Returns:
          {"loss", "bound" (mean -L on labelled rows), "classification" (mean CE), "entropy"}.
        """
        log_q_lab = tf.nn.log_softmax(self.class_logits(labelled))
        cross_entropy = -tf.gather(log_q_lab, labels, batch_dims=1)
        bound_lab = self.negative_bound(labelled, labels, noise_labelled)
        n_u = tf.shape(unlabelled)[0]
        per_class = tf.stack([self.negative_bound(unlabelled, tf.fill([n_u], c), noise_unlabelled[c])
                              for c in range(self.num_classes)], axis=1)  # (n_u, C)
        log_q_unl = tf.nn.log_softmax(self.class_logits(unlabelled))
        q_unl = tf.exp(log_q_unl)
        entropy = -tf.reduce_sum(q_unl * log_q_unl, axis=1)
        unlabelled_loss = tf.reduce_sum(q_unl * per_class, axis=1) - entropy
        total = (tf.reduce_sum(bound_lab + self.config.alpha * cross_entropy) + tf.reduce_sum(unlabelled_loss))
        n = tf.cast(tf.shape(labelled)[0] + n_u, tf.float32)
        return {"loss": total / n, "bound": tf.reduce_mean(bound_lab),
                "classification": tf.reduce_mean(cross_entropy), "entropy": tf.reduce_mean(entropy)}

    def predict_classes(self, z1) -> np.ndarray:
        """Raw codes (n, features) -> (n,) argmax_y q(y|z1)."""
        logits = [self.class_logits(self.standardise(tf.constant(z1[i:i + 4096], tf.float32)))
                  for i in range(0, len(z1), 4096)]
        return np.argmax(np.concatenate([t.numpy() for t in logits]), axis=1)


def fit_stacked_m2(labelled_loc, labelled_scale, labels, unlabelled_loc, unlabelled_scale, num_classes: int,
                   config: StackedM2Config = StackedM2Config(), log=None) -> StackedM2:
    """Trains the M2 over codes; returns it (classify with `.predict_classes(means)`).

    Args:
      labelled_loc, labelled_scale: (n_l, features) posterior means and sds of the labelled sentences.
      labels: (n_l,) class ids in [0, num_classes).
      unlabelled_loc, unlabelled_scale: (n_u, features) of the unlabelled sentences.
      log: optional callable(dict) given the mean losses every 500 steps.
    """
    labels = np.asarray(labels, np.int32)
    if labelled_loc.shape[0] != labels.shape[0] or labelled_loc.shape[1] != unlabelled_loc.shape[1]:
        raise ValueError(f"codes and labels disagree: labelled {labelled_loc.shape}, labels {labels.shape}, "
                         f"unlabelled {unlabelled_loc.shape}")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels must lie in [0, {num_classes}); got {labels.min()}..{labels.max()}")
    every = np.concatenate([labelled_loc, unlabelled_loc])
    keras.utils.set_random_seed(config.seed)
    model = StackedM2(every.shape[1], num_classes, config, every.mean(0), every.std(0) + 1e-6)
    optimizer = keras.optimizers.Adam(config.learning_rate)
    data = [tf.constant(a, tf.float32) for a in (labelled_loc, labelled_scale, unlabelled_loc, unlabelled_scale)]
    labels_t = tf.constant(labels)
    half = config.batch_size // 2
    seed = tf.constant([config.seed, 0], tf.int64)

    @tf.function
    def step(t):
        seeds = tf.random.experimental.stateless_split(tf.stack([seed[0], seed[1] + t]), 6)
        lab = tf.random.stateless_uniform([half], seeds[0], 0, len(labels), tf.int32)
        unl = tf.random.stateless_uniform([half], seeds[1], 0, unlabelled_loc.shape[0], tf.int32)

        def draw(loc, scale, rows, s):
            loc, scale = tf.gather(loc, rows), tf.gather(scale, rows)
            return model.standardise(loc + scale * tf.random.stateless_normal(tf.shape(loc), s))

        z_lab, z_unl = draw(data[0], data[1], lab, seeds[2]), draw(data[2], data[3], unl, seeds[3])
        latent = config.latent_dim
        with tf.GradientTape() as tape:
            out = model.objective(z_lab, tf.gather(labels_t, lab), z_unl,
                                  tf.random.stateless_normal([half, latent], seeds[4]),
                                  tf.random.stateless_normal([num_classes, half, latent], seeds[5]))
        optimizer.apply(tape.gradient(out["loss"], model.trainable_variables), model.trainable_variables)
        return out

    totals = {}
    for t in range(config.steps):
        out = step(tf.constant(t, tf.int64))
        for k, v in out.items():
            totals[k] = totals.get(k, 0.0) + float(v)
        if log and (t + 1) % 500 == 0:
            log({"step": t + 1, **{k: v / 500 for k, v in totals.items()}})
            totals = {}
    return model
