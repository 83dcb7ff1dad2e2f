"""evaluate_run: score a trained run on a corpus file and record the result."""

from __future__ import annotations

from pathlib import Path

from textvae.config import ConfigError
from textvae.data import encode_corpus, read_corpus
from textvae.evaluation.estimators import evaluate
from textvae.loading import load, load_run
from textvae.rundir import RunDir


def evaluate_run(
    workdir: str | Path,
    data: str | Path | None = None,
    iw_samples: int = 500,
    split_name: str | None = None,
    batch_size: int = 32,
    seed: int = 0,
    checkpoint: str = "best",
    generation: bool = False,
    lm_workdir: str | Path | None = None,
    num_samples: int = 500,
    jit_compile: bool = False,
) -> dict:
    """Evaluates the run in `workdir` on `data` (default: the config's data.test).

    The corpus is read with the run's data settings (format, fields, lower-casing,
    max_length). The result (see `metrics.evaluate`, plus `split`, `data`,
    `checkpoint`) is appended as one JSON line to the run's eval.jsonl. With
    `generation`, a "generation" entry adds reconstruction BLEU on the corpus,
    distinct-1/2 and self-BLEU of `num_samples` prior samples (greedy) and, given
    `lm_workdir` (a `model.latent_dim: 0` run), their forward perplexity under it.
    `jit_compile` scores the importance samples under XLA.
    """
    run = RunDir(workdir)
    config = run.read_config()
    path = data or config.data.test
    if not path:
        raise ConfigError("no evaluation data: pass --data FILE or set data.test in the run's config")
    if iw_samples < 1:
        raise ConfigError(f"--iw-samples must be at least 1, got {iw_samples}")
    model = load_run(run, config, checkpoint)
    if config.m2.enabled:
        result = _evaluate_m2_run(model, config, path, batch_size, seed)
        result = {"split": split_name or Path(path).name, "data": str(path), "checkpoint": checkpoint, **result}
        run.append_eval(result)
        return result
    corpus = read_corpus(path, config.data)
    texts = corpus.texts
    encoded = encode_corpus(texts, model.tokenizer, config.data.max_length)
    result = {
        "split": split_name or Path(path).name, "data": str(path), "checkpoint": checkpoint,
        **evaluate(model, encoded, iw_samples=iw_samples, batch_size=batch_size, seed=seed,
                   jit_compile=jit_compile),
        "truncated": encoded.truncated, "jit_compile": jit_compile,
    }
    if generation:
        from textvae.evaluation.generation import evaluate_generation

        language_model = load(lm_workdir) if lm_workdir else None
        result["generation"] = evaluate_generation(
            model, texts, num_samples=num_samples, seed=seed, language_model=language_model,
            max_length=config.data.max_length + 1)
    run.append_eval(result)
    return result


def _evaluate_m2_run(model, config, path, batch_size: int, seed: int) -> dict:
    """An M2 run on a labelled corpus: accuracy, macro-F1, confusion matrix, label-free bound."""
    import time

    from textvae.evaluation.classification import evaluate_m2
    from textvae.semisupervised import LabelledCorpus, label_ids

    started = time.perf_counter()
    corpus = read_corpus(path, config.data)
    labelled = LabelledCorpus(encode_corpus(corpus.texts, model.tokenizer, config.data.max_length),
                              label_ids(corpus.labels, model.classes, str(path)))
    result = evaluate_m2(model, labelled, batch_size=batch_size, seed=seed)
    return {**result, "classes": model.classes, "seconds": time.perf_counter() - started}
