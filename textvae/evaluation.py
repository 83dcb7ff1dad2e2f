"""evaluate_run: score a trained run on a corpus file and record the result."""

from __future__ import annotations

import json
from pathlib import Path

from textvae.config import ConfigError, load_config
from textvae.data import encode_corpus, read_corpus
from textvae.metrics import evaluate
from textvae.saving import load
from textvae.train import CONFIG_FILE

EVAL_FILE = "eval.jsonl"


def evaluate_run(
    workdir: str | Path,
    data: str | Path | None = None,
    iw_samples: int = 500,
    split_name: str | None = None,
    batch_size: int = 32,
    seed: int = 0,
    checkpoint: str = "best",
) -> dict:
    """Evaluates the run in `workdir` on `data` (default: the config's data.test).

    The corpus is read with the run's data settings (format, fields, lower-casing,
    max_length). The result (see `metrics.evaluate`, plus `split`, `data`,
    `checkpoint`) is appended as one JSON line to `workdir/eval.jsonl`.
    """
    workdir = Path(workdir)
    model = load(workdir, checkpoint=checkpoint)
    config = load_config(workdir / CONFIG_FILE)
    path = data or config.data.test
    if not path:
        raise ConfigError("no evaluation data: pass --data FILE or set data.test in the run's config")
    if iw_samples < 1:
        raise ConfigError(f"--iw-samples must be at least 1, got {iw_samples}")
    encoded = encode_corpus(read_corpus(path, config.data).texts, model.tokenizer, config.data.max_length)
    result = {
        "split": split_name or Path(path).name, "data": str(path), "checkpoint": checkpoint,
        **evaluate(model, encoded, iw_samples=iw_samples, batch_size=batch_size, seed=seed),
        "truncated": encoded.truncated,
    }
    with open(workdir / EVAL_FILE, "a", encoding="utf-8") as f:
        f.write(json.dumps(result) + "\n")
    return result
