"""Evaluation: the estimators the literature reports (`estimators`), M2's classification
scores (`classification`), generation quality (`generation`), and `evaluate_run`, which
scores a run directory on a corpus and records the result (`run`)."""

from textvae.evaluation.run import evaluate_run

__all__ = ["evaluate_run"]
