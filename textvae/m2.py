"""M2: semi-supervised text classification with a deep generative model (Kingma et al. 2014)."""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from textvae import distributions
from textvae.base import LatentTextModel, bag_of_words_nll, sequence_nll, split_batch
from textvae.data import DataError
from textvae.decoders import bag_of_words_head, build_decoder, shared_word_vectors
from textvae.encoders import build_encoder, posterior_head
from textvae.semisupervised import UNLABELLED
from textvae.spec import ModelSpec


@keras.saving.register_keras_serializable(package="textvae")
class M2VAE(LatentTextModel):
    """The M2 model: the class label is a latent variable, observed for some sentences.

    Generative story: y ~ p(y) (uniform, or the labelled class frequencies);
    z ~ N(0, I); x_t ~ p(x_t | x_<t, z, y), an autoregressive decoder (LSTM or
    Transformer) conditioned on [z, onehot(y)].

    Inference: a sentence encoder gives features h(x); q(y|x) = softmax(MLP(h))
    is the classifier; q(z|x, y) = N(loc, diag(scale^2)) from [h, onehot(y)].

    Objective per sentence, minimised (beta is the annealed KL weight):
      L(x, y) = -E_q(z|x,y)[log p(x|y, z)] + beta * KL(q(z|x,y) || p(z)) - log p(y)
      labelled (x, y):  L(x, y) + alpha * CE(q(y|x), y)
      unlabelled x:     sum_y q(y|x) L(x, y) - H(q(y|x))
    The unlabelled sum enumerates every class in one batched pass, so the
    classifier learns from unlabelled text through the weights q(y|x). With free
    bits lambda, the KL term is sum_d max(lambda, mean KL_d), the mean taken with
    the same weights (1 for labelled rows, q(y|x) for enumerated ones).

    With `spec.bag_of_words` w > 0, L(x, y) also holds w * BoW(x | z, y), the words
    predicted all at once from [z, onehot(y)] (Zhao et al. 2017's auxiliary loss, here
    conditioned on y as well): the decoder's context cannot stand in for y there, so the
    term weighs the classes by their words, as naive Bayes does, in the labelled loss,
    in the weights of the unlabelled sum and in `class_bounds`.

    With an adversary (`adversary` lambda > 0), a classifier a(y|z) reads every row's z.
    With the same row weights, the loss adds its cross-entropy against the sentence's
    class (the label, or q(y|x) held fixed on unlabelled rows) with z held fixed, which
    trains a alone, and -lambda * H(a(y|z)) with a's weights and the encoder's features
    held fixed, which trains q(z|x, y)'s head to leave a uncertain (John et al. 2019;
    the features also feed q(y|x), which needs the class; maximising a's cross-entropy
    instead, as gradient reversal does, lets the encoder invert the class in z rather
    than remove it). So z is pushed to carry no class, and the decoder must read y.
    """

    def __init__(self, spec: ModelSpec, classes: Sequence[str], class_log_prior: Sequence[float] | None = None,
                 adversary: float = 0.0, **kwargs):
        super().__init__(spec, **kwargs)
        num_classes = len(classes)
        if num_classes < 2:
            raise ValueError(f"M2 needs at least 2 classes, got {num_classes}")
        if spec.latent_dim < 1:
            raise ValueError("M2 needs model.latent_dim >= 1")
        shared = shared_word_vectors(spec)
        self.encoder = build_encoder(spec, 0, embedding=shared)  # features only: q(y|x) and q(z|x, y) read them
        features = self.encoder.feature_dim
        self.classifier_hidden = keras.layers.Dense(features, activation="tanh", name="classifier_hidden")
        self.classifier_dropout = keras.layers.Dropout(spec.dropout, seed=spec.seed, name="classifier_dropout")
        self.classifier_logits = keras.layers.Dense(num_classes, name="classifier_logits")
        self.to_posterior = keras.layers.Dense(2 * spec.latent_dim, name="to_posterior")
        # the decoder sees [z, onehot(y)] as its latent code
        self.decoder = build_decoder(spec, spec.latent_dim + num_classes, embedding=shared)
        self.bag_of_words = bag_of_words_head(spec, shared)  # reads [z, onehot(y)] too
        if adversary < 0:
            raise ValueError(f"adversary weight must be >= 0, got {adversary}")
        self.adversary = float(adversary)
        if self.adversary > 0:  # built only when used, so runs without one keep their weights
            self.adversary_hidden = keras.layers.Dense(features, activation="tanh", name="adversary_hidden")
            self.adversary_logits = keras.layers.Dense(num_classes, name="adversary_logits")

        if class_log_prior is None:
            class_log_prior = [-float(np.log(num_classes))] * num_classes
        if len(class_log_prior) != num_classes:
            raise ValueError(f"class_log_prior has {len(class_log_prior)} entries for {num_classes} classes")
        self.classes = [str(c) for c in classes]
        self.num_classes = num_classes
        self.class_log_prior = [float(v) for v in class_log_prior]
        self.alpha = 1.0

    def get_config(self):
        config = super().get_config()
        config.update(classes=self.classes, class_log_prior=self.class_log_prior, adversary=self.adversary)
        return config

    def compile(self, optimizer="adam", alpha: float = 1.0, **kwargs):
        """`LatentTextModel.compile` plus the classification weight alpha."""
        super().compile(optimizer, **kwargs)
        self.alpha = float(alpha)

    def initialise_from(self, vae) -> dict:
        """Copies a trained SentenceVAE's weights into this model (see `m2.init_from`):
        encoder and decoder variable by variable (same construction order), and the VAE's
        q(z|x) head as q(z|x, y). A variable that has more input rows here (the decoder's
        code [z, onehot(y)] against the VAE's z) gets the VAE's rows first and keeps its
        own initial rows for y. Returns {"copied", "extended"} counts; a ValueError names
        the first variable whose shape does not fit."""
        if vae.latent_dim != self.latent_dim:
            raise ValueError(f"latent_dim {vae.latent_dim} does not fit this run's {self.latent_dim}")
        pairs = list(zip(vae.encoder.weights, self.encoder.weights))  # the VAE's posterior head comes after
        pairs += list(zip(vae.decoder.weights, self.decoder.weights, strict=True))
        pairs += list(zip(vae.encoder.to_posterior.weights, self.to_posterior.weights, strict=True))
        if vae.bag_of_words is not None and self.bag_of_words is not None:
            pairs += list(zip(vae.bag_of_words.weights, self.bag_of_words.weights, strict=True))
        counts = {"copied": 0, "extended": 0}
        for source, target in pairs:
            value = source.numpy()
            if tuple(value.shape) == tuple(target.shape):
                target.assign(value)
                counts["copied"] += 1
            elif value.ndim == 2 and value.shape[1] == target.shape[1] and value.shape[0] < target.shape[0]:
                target.assign(np.concatenate([value, target.numpy()[value.shape[0]:]], axis=0))
                counts["extended"] += 1
            else:
                raise ValueError(f"{source.path} {tuple(value.shape)} does not fit {target.path} "
                                 f"{tuple(target.shape)}: the VAE's model settings differ from this run's")
        return counts

    # -- the pieces ---------------------------------------------------------

    def classifier(self, features, training=False):
        """features (batch, d) -> (batch, num_classes) logits of q(y|x)."""
        hidden = self.classifier_dropout(self.classifier_hidden(features), training=training)
        return tf.cast(self.classifier_logits(hidden), tf.float32)

    def class_logits(self, inputs, training=False):
        """{"token_ids", "padding_mask"} (batch, time + 1) -> (batch, num_classes) logits of q(y|x)."""
        return self.classifier(self.encoder(split_batch(inputs)["encoder"], training=training),
                               training=training)

    def adversary_class_logits(self, z, frozen: bool = False):
        """a(y|z): z (n, latent) -> (n, num_classes) logits; `frozen` passes no gradient
        to a's own weights (the encoder's view of the adversary)."""
        if not frozen:
            return tf.cast(self.adversary_logits(self.adversary_hidden(z)), tf.float32)
        weights = [tf.stop_gradient(tf.cast(w, z.dtype)) for w in
                   (self.adversary_hidden.kernel, self.adversary_hidden.bias,
                    self.adversary_logits.kernel, self.adversary_logits.bias)]
        hidden = self.adversary_hidden.activation(tf.matmul(z, weights[0]) + weights[1])
        return tf.cast(tf.matmul(hidden, weights[2]) + weights[3], tf.float32)

    def posterior_params(self, features, labels):
        """q(z|x, y): features (n, d), labels (n,) int -> (loc, scale), each (n, latent)."""
        onehot = tf.one_hot(labels, self.num_classes, dtype=features.dtype)
        return posterior_head(self.to_posterior, tf.concat([features, onehot], axis=-1))

    def decoder_code(self, z, labels):
        """The decoder's latent code [z, onehot(y)]: (n, latent + num_classes)."""
        return tf.concat([z, tf.one_hot(labels, self.num_classes)], axis=-1)

    def call(self, inputs, training=False):
        """Class logits of q(y|x) and, for every class, the decoder's logits
        (builds every weight): {"class_logits": (batch, C), "logits": (C * batch, time, vocab)}."""
        views = split_batch(inputs)
        features = self.encoder(views["encoder"], training=training)
        batch = tf.shape(features)[0]
        rows = tf.tile(tf.range(batch), [self.num_classes])
        labels = tf.repeat(tf.range(self.num_classes), batch)
        terms = self._labelled_terms(views, features, rows, labels, training, None)
        outputs = {"class_logits": self.classifier(features, training=training), "logits": terms["logits"]}
        if self.adversary > 0:
            outputs["adversary_logits"] = self.adversary_class_logits(terms["z"])
        return outputs

    def _labelled_terms(self, views, features, rows, labels, training, noise):
        """-log p(x|y,z), KL per dimension, logits, z, its noise and (with the head) the
        bag-of-words NLL for the (row, label) pairs given."""
        loc, scale = self.posterior_params(tf.gather(features, rows), labels)
        if noise is None:
            noise = self.posterior_noise(loc)
        z = loc + scale * noise
        decoder_inputs = {k: tf.gather(v, rows) for k, v in views["decoder"].items()}
        code = self.decoder_code(z, labels)
        logits = self.decoder(decoder_inputs, code, training=training)
        targets = {k: tf.gather(views[k], rows) for k in ("targets", "target_mask")}
        terms = {
            "reconstruction": sequence_nll(logits, targets["targets"], targets["target_mask"]),
            "kl_per_dim": distributions.kl_per_dimension(loc, scale),
            "logits": logits,
            "z": z,
            "noise": noise,
        }
        if self.bag_of_words is not None:
            terms["bag_of_words"] = bag_of_words_nll(self.bag_of_words, code, targets)
        return terms

    def objective(self, inputs, training: bool = False, beta=1.0, noise=None) -> dict:
        """The M2 loss of a mixed batch (labels -1 mark unlabelled sentences).

        Args:
          inputs: {"token_ids", "padding_mask"} (batch, time + 1), "labels" (batch,) int32.
          beta: KL weight.
          noise: optional (n_labelled + C * n_unlabelled, latent) normal draws, labelled rows first.
        Returns:
          dict of scalars: "loss" (the objective per sentence), "reconstruction" and "kl"
          (weighted means), "classification" (mean CE on labelled rows, 0 if none),
          "entropy" (mean H(q(y|x)) on unlabelled rows), "adversary" and
          "adversary_entropy" (a(y|z)'s weighted mean cross-entropy and entropy, 0
          without one; "loss" holds adversary - lambda * adversary_entropy), "labelled" (count),
          "per_sentence" (batch,): each sentence's bound (-ELBO, un-annealed, no
          bag-of-words term), and
          "class_bounds" (n_unlabelled, C): -ELBO(x, y) - log p(y) (+ w * BoW(x | z, y)
          with the head) of every unlabelled row and class, un-annealed, so that argmin
          over y is the generative model's own classification (Bayes' rule on the bound),
          the classification the unlabelled sum pulls q(y|x) towards.
        """
        labels = tf.cast(inputs["labels"], tf.int32)
        views = split_batch(inputs)
        features = self.encoder(views["encoder"], training=training)
        class_logits = self.classifier(features, training=training)
        log_q = tf.nn.log_softmax(class_logits)
        batch = tf.shape(labels)[0]
        is_labelled = labels != UNLABELLED
        lab_rows = tf.boolean_mask(tf.range(batch), is_labelled)
        unl_rows = tf.boolean_mask(tf.range(batch), ~is_labelled)
        n_lab, n_unl = tf.shape(lab_rows)[0], tf.shape(unl_rows)[0]
        # labelled rows once with their label; unlabelled rows once per class
        rows = tf.concat([lab_rows, tf.tile(unl_rows, [self.num_classes])], axis=0)
        ys = tf.concat([tf.gather(labels, lab_rows), tf.repeat(tf.range(self.num_classes), n_unl)], axis=0)
        log_q_unl = tf.gather(log_q, unl_rows)  # (n_unl, C)
        q_unl = tf.exp(log_q_unl)
        weights = tf.concat([tf.ones([n_lab]), tf.reshape(tf.transpose(q_unl), [-1])], axis=0)

        terms = self._labelled_terms(views, features, rows, ys, training, noise)
        log_prior = tf.gather(tf.constant(self.class_log_prior), ys)
        n = tf.cast(batch, tf.float32)
        kl_term = self.kl_penalty(terms["kl_per_dim"], weights=weights, count=n)
        kl_rows = tf.reduce_sum(terms["kl_per_dim"], axis=1)
        row_bound = terms["reconstruction"] - log_prior
        row_loss = row_bound
        if self.bag_of_words is not None:
            row_loss = row_bound + self.spec.bag_of_words * terms["bag_of_words"]
        entropy = -tf.reduce_sum(q_unl * log_q_unl, axis=1)  # (n_unl,)
        cross_entropy = -tf.gather(tf.gather(log_q, lab_rows), tf.gather(labels, lab_rows), batch_dims=1)
        loss = (tf.reduce_sum(weights * row_loss) - tf.reduce_sum(entropy)
                + self.alpha * tf.reduce_sum(cross_entropy)) / n + beta * kl_term
        adversary = adversary_entropy = tf.constant(0.0)
        if self.adversary > 0:  # the sentence's class: its label, or q(y|x) held fixed
            targets = tf.stop_gradient(tf.concat([tf.one_hot(tf.gather(labels, lab_rows), self.num_classes),
                                                  tf.tile(q_unl, [self.num_classes, 1])], axis=0))
            fixed_weights = tf.stop_gradient(weights)
            adversary = tf.reduce_sum(fixed_weights * tf.nn.softmax_cross_entropy_with_logits(
                targets, self.adversary_class_logits(tf.stop_gradient(terms["z"])))) / n
            # through q(z|x, y)'s head only: the features are q(y|x)'s too, and must keep the class
            loc, scale = self.posterior_params(tf.stop_gradient(tf.gather(features, rows)), ys)
            z = loc + scale * tf.stop_gradient(terms["noise"])
            encoder_view = tf.nn.log_softmax(self.adversary_class_logits(z, frozen=True))
            adversary_entropy = tf.reduce_sum(
                fixed_weights * -tf.reduce_sum(tf.exp(encoder_view) * encoder_view, axis=-1)) / n
            loss += adversary - self.adversary * adversary_entropy

        # each sentence's own (un-annealed) bound, for reporting (without the bag of words)
        per_row = weights * (row_bound + kl_rows)
        per_sentence = tf.math.unsorted_segment_sum(per_row, rows, batch)
        per_sentence -= tf.scatter_nd(unl_rows[:, None], entropy, [batch])
        class_bounds = tf.transpose(tf.reshape((row_loss + kl_rows)[n_lab:], [self.num_classes, n_unl]))
        predicted = tf.argmax(class_logits, axis=-1, output_type=tf.int32)
        correct = tf.reduce_sum(tf.cast(is_labelled & (predicted == labels), tf.float32))
        reconstruction = tf.reduce_sum(weights * terms["reconstruction"]) / n
        classification = tf.reduce_sum(cross_entropy) / tf.maximum(tf.cast(n_lab, tf.float32), 1.0)
        mean_entropy = tf.reduce_sum(entropy) / tf.maximum(tf.cast(n_unl, tf.float32), 1.0)
        mean_kl = tf.reduce_sum(weights * kl_rows) / n
        return {
            "loss": loss,
            "reconstruction": reconstruction,
            "kl": mean_kl,
            "classification": classification,
            "entropy": mean_entropy,
            "adversary": adversary,
            "adversary_entropy": adversary_entropy,
            "labelled": tf.cast(n_lab, tf.float32),
            "per_sentence": per_sentence,
            "class_logits": class_logits,
            "class_bounds": class_bounds,
            "logs": {"reconstruction": reconstruction, "kl": mean_kl, "classification": classification,
                     "entropy": mean_entropy, "labelled_accuracy": correct / tf.maximum(tf.cast(n_lab, tf.float32), 1.0),
                     **({"adversary": adversary, "adversary_entropy": adversary_entropy}
                        if self.adversary > 0 else {})},
        }

    def validation_metrics(self, valid, batch_size: int) -> dict:
        """Label-free bound (as `elbo`, for model selection) and accuracy on a LabelledCorpus."""
        from textvae.evaluation.classification import evaluate_m2

        result = evaluate_m2(self, valid, batch_size)
        return {key: result[key] for key in ("elbo", "accuracy", "macro_f1", "generative_accuracy")}

    # -- public API on strings ----------------------------------------------

    def label_id(self, label: str) -> int:
        """A class name -> its id; an unknown name is a DataError listing the classes."""
        if str(label) not in self.classes:
            raise DataError(f"unknown label {label!r}; this model's classes are {self.classes}")
        return self.classes.index(str(label))

    def classify(self, sentences: Sequence[str]) -> np.ndarray:
        """q(y|x): (n, num_classes) class probabilities, columns in `self.classes` order."""
        return tf.nn.softmax(self.class_logits(self._batch(sentences))).numpy()

    def generate(self, z, labels, seed: int = 0, **options) -> list[dict]:
        """Decodes z (n, latent) with class ids (n,): n dicts {"text", "score", "length"}."""
        code = self.decoder_code(self._as_latent(z), tf.constant(np.asarray(labels, np.int32)))
        return self._generate_from_code(code, seed, options)

    def sample(self, n: int, label: str, seed: int = 0, **options) -> list[str]:
        """n sentences of class `label`: z from the prior (seeded), decoded given y."""
        z = self.sample_prior(n, seed)
        return [g["text"] for g in self.generate(z, [self.label_id(label)] * n, seed=seed, **options)]

    def transfer(self, sentences: Sequence[str], to_label: str, **options) -> list[dict]:
        """Style transfer: y = argmax q(y|x), z = mean of q(z|x, y), decoded with `to_label`.

        Returns:
          one dict per sentence: {"text", "from": inferred label, "to", "score"}.
        """
        batch = self._batch(sentences)
        features = self.encoder(split_batch(batch)["encoder"])
        inferred = tf.argmax(self.classifier(features), axis=-1, output_type=tf.int32)
        loc, _ = self.posterior_params(features, inferred)
        target = [self.label_id(to_label)] * len(sentences)
        outputs = self.generate(loc.numpy(), target, **options)
        return [{"text": o["text"], "from": self.classes[int(i)], "to": str(to_label), "score": o["score"]}
                for o, i in zip(outputs, inferred.numpy())]
