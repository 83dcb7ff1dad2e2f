"""Short PTB runs with and without the collapse remedies; writes results/ptb_collapse.json.

  python scripts/ptb_collapse.py [--steps 3000] [--hidden 256]

`remedies`: linear KL annealing + word dropout + free bits (configs/ptb.yaml).
`plain`: KL weight 1 from step 0, no word dropout, no free bits.
Both resume from their run directories if interrupted.
"""

import argparse
import json
import sys
from pathlib import Path

from textvae import load_config, train

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = {
    "remedies": [],
    "plain": ["kl.schedule=constant", "kl.free_bits=0", "train.word_dropout=0"],
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--out", default=str(ROOT / "results" / "ptb_collapse.json"))
    args = parser.parse_args()
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.is_file() else {}
    for name in args.variants:
        overrides = [f"train.max_steps={args.steps}", f"model.hidden_dim={args.hidden}",
                     "kl.warmup_steps=1000", "train.eval_every=500", "train.checkpoint_every=500",
                     "train.progress_bar=false", *VARIANTS[name]]
        config = load_config(ROOT / "configs" / "ptb.yaml", overrides)
        summary = train(config, ROOT / "runs" / f"ptb_collapse_{name}")
        results[name] = {"overrides": overrides, **summary}
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(results, indent=1))
        print(json.dumps({name: summary["best"]}), file=sys.stderr)


if __name__ == "__main__":
    main()
