"""PTB benchmark: the LSTM-LM baseline and VAE variants at one budget, scored on test.

  python scripts/ptb_benchmark.py [--steps 20000] [--iw-samples 500] [--variants lm bn_vae ...]
                                  [--set model.bn_gamma=0.8 ...] [--run-prefix ptb_]

Each variant trains configs/ptb.yaml (CPU size) with the overrides below in
runs/<run-prefix><variant> (resumable: rerun the same command after an interruption),
then `evaluate_run` scores its best checkpoint on ptb.test.txt. Results are
merged into --out (default results/ptb_benchmark.json) after every variant.
"""

import argparse
import json
import sys
import time
from pathlib import Path

from textvae import load_config, train
from textvae.evaluation import evaluate_run

ROOT = Path(__file__).resolve().parent.parent
PLAIN = ["kl.free_bits=0", "train.word_dropout=0"]
VARIANTS = {
    "lm": ["model.latent_dim=0", *PLAIN],
    "monotonic": ["kl.schedule=linear", *PLAIN],
    "cyclical": ["kl.schedule=cyclical", *PLAIN],
    "word_dropout": ["kl.schedule=linear", "kl.free_bits=0"],
    "free_bits": ["kl.schedule=linear", "train.word_dropout=0"],
    "pretrain_free_bits": ["train.pretrain_steps={pretrain}", "kl.free_bits=0.5", "train.word_dropout=0"],
    "bn_vae": ["model.bn_gamma=0.6", *PLAIN],
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--iw-samples", type=int, default=500)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--out", default=str(ROOT / "results" / "ptb_benchmark.json"))
    parser.add_argument("--run-prefix", default="ptb_",
                        help="run directories are runs/<prefix><variant> (keep budgets apart)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="config overrides applied after each variant's own (e.g. model.bn_gamma=0.8)")
    args = parser.parse_args()
    out = Path(args.out)
    for name in args.variants:
        overrides = [o.format(pretrain=args.steps // 4) for o in VARIANTS[name]]
        overrides += [f"train.max_steps={args.steps}", f"kl.warmup_steps={args.steps // 4}",
                      "train.progress_bar=false", *args.set]
        config = load_config(ROOT / "configs" / "ptb.yaml", overrides)
        workdir = ROOT / "runs" / f"{args.run_prefix}{name}"
        started = time.perf_counter()
        summary = train(config, workdir)
        train_seconds = time.perf_counter() - started
        result = evaluate_run(workdir, config.data.test, iw_samples=args.iw_samples, split_name="test")
        results = json.loads(out.read_text()) if out.is_file() else {}
        results[name] = {"overrides": overrides, "steps": summary["step"],
                         "train_seconds_this_invocation": train_seconds, "test": result}
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(results, indent=1))
        print(json.dumps({name: {k: result[k] for k in ("nll", "ppl", "kl", "mi", "active_units")}}), file=sys.stderr)


if __name__ == "__main__":
    main()
