"""Generation quality: reconstruction BLEU, diversity (distinct-n, self-BLEU) and the
forward perplexity of prior samples under a language model.

BLEU is sacrebleu's corpus BLEU (`tokenize="none"` when the text is already
tokenised, as PTB is); sacrebleu is imported only here.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Sequence

import numpy as np

from textvae.data import encode_corpus
from textvae.evaluation.estimators import evaluate_elbo


def distinct_n(sentences: Sequence[str], n: int) -> float:
    """Distinct n-grams over all n-grams in the set (Li et al. 2016); 0 for no n-grams."""
    grams = Counter()
    for sentence in sentences:
        words = sentence.split()
        grams.update(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
    total = sum(grams.values())
    return len(grams) / total if total else 0.0


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str], tokenize: str = "none") -> float:
    """Corpus BLEU (0-100) of hypotheses against one reference each; `tokenize` is sacrebleu's
    ("none" for text already split into words, as PTB and Yelp; "13a" for raw text)."""
    import sacrebleu

    return float(sacrebleu.corpus_bleu(list(hypotheses), [list(references)], tokenize=tokenize).score)


def self_bleu(sentences: Sequence[str], max_sentences: int = 500) -> float:
    """Mean BLEU (0-100) of each sentence against all the others (Zhu et al. 2018); high means repetitive."""
    import sacrebleu

    sentences = list(sentences)[:max_sentences]
    if len(sentences) < 2:
        return 0.0
    scores = []
    for i, sentence in enumerate(sentences):
        others = sentences[:i] + sentences[i + 1 :]
        scores.append(sacrebleu.sentence_bleu(sentence, others, tokenize="none").score)
    return float(np.mean(scores))


def forward_perplexity(language_model, sentences: Sequence[str], max_length: int) -> float:
    """Per-word perplexity of `sentences` under a language model run (`model.latent_dim: 0`)."""
    sentences = [s for s in sentences if s.strip()]
    if not sentences:
        return math.inf
    encoded = encode_corpus(sentences, language_model.tokenizer, max_length)
    return evaluate_elbo(language_model, encoded)["elbo_ppl"]  # exact for a language model


def evaluate_generation(
    model, held_out: Sequence[str], num_samples: int = 500, seed: int = 0, language_model=None,
    max_length: int = 50, **options,
) -> dict:
    """Reconstruction BLEU on `held_out`, diversity of prior samples, their forward PPL.

    Returns:
      {"reconstruction_bleu", "distinct_1", "distinct_2", "self_bleu", "forward_ppl" (when a
       language model is given), "num_samples", "num_reconstructed", "empty_samples"}.
    """
    reconstructions = model.reconstruct(list(held_out), max_length=max_length, **options)
    return {
        "reconstruction_bleu": corpus_bleu(reconstructions, held_out),
        "num_reconstructed": len(held_out),
        **prior_sample_quality(model, num_samples, seed, language_model, max_length, **options),
    }


def prior_sample_quality(model, num_samples: int = 500, seed: int = 0, language_model=None,
                         max_length: int = 50, **options) -> dict:
    """Diversity of `num_samples` prior samples decoded with `options` (greedy by default), and
    their forward PPL under `language_model` when given.

    Returns:
      {"distinct_1", "distinct_2", "self_bleu", "num_samples", "empty_samples", "forward_ppl"?}.
    """
    samples = model.sample(num_samples, seed=seed, max_length=max_length, **options)
    result = {
        "distinct_1": distinct_n(samples, 1),
        "distinct_2": distinct_n(samples, 2),
        "self_bleu": self_bleu(samples),
        "num_samples": num_samples,
        "empty_samples": sum(1 for s in samples if not s.strip()),
    }
    if language_model is not None:
        result["forward_ppl"] = forward_perplexity(language_model, samples, max_length)
    return result
