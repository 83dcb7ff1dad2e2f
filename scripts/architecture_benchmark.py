"""LSTM vs Transformer VAEs on PTB and Yelp at one budget: IW-NLL, PPL, KL, MI, AU, tokens/s.

  python scripts/prepare_yelp.py            # once: the Yelp splits under runs/data/yelp
  python scripts/architecture_benchmark.py [--steps 2000] [--iw-samples 50] [--runs ptb_lstm ...]

Each run trains its config with the overrides below in runs/arch_<run>
(resumable: rerun the same command), then scores its best checkpoint on the
config's test split. Results are merged into --out after every run.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from textvae import load_config, train
from textvae.evaluation import evaluate_run
from textvae.loading import load

ROOT = Path(__file__).resolve().parent.parent
RUNS = {
    "ptb_lstm": "ptb.yaml",
    "ptb_transformer": "ptb_transformer.yaml",
    "yelp_lstm": "yelp.yaml",
    "yelp_transformer": "yelp_transformer.yaml",
}


def training_speed(workdir: Path) -> float:
    """Median real tokens per second over the logged intervals of metrics.jsonl."""
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    speeds = [row["tokens_per_second"] for row in rows if "tokens_per_second" in row]
    return float(np.median(speeds))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--iw-samples", type=int, default=50)
    parser.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS))
    parser.add_argument("--out", default=str(ROOT / "results" / "architectures.json"))
    args = parser.parse_args()
    out = Path(args.out)
    for name in args.runs:
        overrides = [f"train.max_steps={args.steps}", f"kl.warmup_steps={args.steps // 4}",
                     "train.progress_bar=false", f"train.eval_every={max(args.steps // 4, 1)}",
                     f"train.checkpoint_every={max(args.steps // 4, 1)}"]
        config = load_config(ROOT / "configs" / RUNS[name], overrides)
        workdir = ROOT / "runs" / f"arch_{name}"
        started = time.perf_counter()
        summary = train(config, workdir)
        train_seconds = time.perf_counter() - started
        result = evaluate_run(workdir, config.data.test, iw_samples=args.iw_samples, split_name="test")
        parameters = int(sum(np.prod(w.shape) for w in load(workdir).trainable_weights))
        results = json.loads(out.read_text()) if out.is_file() else {}
        results[name] = {"config": RUNS[name], "overrides": overrides, "steps": summary["step"],
                         "parameters": parameters, "train_tokens_per_second": training_speed(workdir),
                         "train_seconds_this_invocation": train_seconds, "test": result}
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(results, indent=1))
        print(json.dumps({name: {k: result[k] for k in ("nll", "ppl", "kl", "mi", "active_units")}}),
              file=sys.stderr)


if __name__ == "__main__":
    main()
