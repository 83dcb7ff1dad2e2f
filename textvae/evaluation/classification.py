"""Scores of an M2 model on a labelled corpus: accuracy, macro-F1, confusion matrix, label-free bound."""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from textvae.evaluation.estimators import compiled_function
from textvae.semisupervised import UNLABELLED, LabelledCorpus, labelled_evaluation_batches


def classification_scores(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> dict:
    """Accuracy, macro-F1 and the confusion matrix (rows: true class, columns: predicted).

    Macro-F1 averages the classes that occur in `labels` or `predicted`.
    """
    confusion = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    f1s = []
    for c in range(num_classes):
        tp = confusion[c, c]
        support, predicted_c = confusion[c].sum(), confusion[:, c].sum()
        if support == 0 and predicted_c == 0:
            continue
        f1s.append(2 * tp / (support + predicted_c))
    return {"accuracy": float(np.trace(confusion) / max(len(labels), 1)),
            "macro_f1": float(np.mean(f1s)) if f1s else 0.0,
            "confusion_matrix": confusion.tolist()}


def evaluate_m2(model, corpus: LabelledCorpus, batch_size: int = 64, seed: int = 0) -> dict:
    """Every sentence scored as unlabelled (labels are only compared, never used).

    Returns:
      {"accuracy", "macro_f1", "confusion_matrix" (of q(y|x)), "generative_accuracy"
       (of argmax_y p(y) * exp ELBO(x, y), the decoder's own reading of the label),
       "elbo": mean label-free bound on log p(x) (one posterior sample per class,
       fixed seed), "elbo_ppl", "num_sentences", "num_words"}.
    """
    objective = compiled_function(model, "_eval_objective",
                                 lambda batch, noise: model.objective(batch, training=False, noise=noise))
    rng = np.random.default_rng(seed)
    predicted, generative, truth, bound = [], [], [], 0.0
    for batch in labelled_evaluation_batches(corpus, batch_size):
        truth.append(batch["labels"])
        n = len(batch["labels"])
        batch = dict(batch, labels=np.full(n, UNLABELLED, np.int32))
        noise = rng.standard_normal((model.num_classes * n, model.latent_dim)).astype(np.float32)
        out = objective(batch, tf.constant(noise))
        predicted.append(np.argmax(out["class_logits"].numpy(), axis=-1))
        generative.append(np.argmin(out["class_bounds"].numpy(), axis=-1))
        bound += float(tf.reduce_sum(out["per_sentence"]))
    truth, predicted, generative = np.concatenate(truth), np.concatenate(predicted), np.concatenate(generative)
    n = len(truth)
    return {
        **classification_scores(truth, predicted, model.num_classes),
        "generative_accuracy": float(np.mean(generative == truth)),
        "elbo": -bound / n,
        "elbo_ppl": math.exp(bound / corpus.encoded.num_words),
        "num_sentences": n,
        "num_words": corpus.encoded.num_words,
    }
