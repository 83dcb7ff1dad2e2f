"""How far the importance-weighted NLL has converged in K, on one seeded subset.

  python scripts/iw_convergence.py --workdir runs/quality_yelp_recipe [--k 1 10 100 1000]
                                   [--sentences 500] [--out results/quality/NAME_iw_k.json]

log p(x) >= E[log mean_k p(x, z_k) / q(z_k|x)] for every K, and the bound tightens as K
grows (Burda et al. 2016). How fast depends on how far q(z|x) is from p(z|x): with a code
of tens of nats the K = 100 figure of the tables can still be well above -log p(x). When
the estimate is still falling from K = 100 to 1000, that fall is part of the gap to the
LM (whose NLL is exact) that the estimator, not the model, leaves. Every K is scored on
the same `--sentences` seeded sentences of the run's test file.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from hardware import cpu_name  # noqa: E402
from textvae.data import read_corpus  # noqa: E402
from textvae.evaluation import evaluate_run  # noqa: E402
from textvae.rundir import RunDir  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--k", nargs="+", type=int, default=[1, 10, 100, 1000])
    parser.add_argument("--sentences", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out")
    args = parser.parse_args()
    workdir = Path(args.workdir)
    config = RunDir(workdir).read_config()
    texts = read_corpus(config.data.test, config.data).texts
    chosen = sorted(np.random.default_rng(args.seed).choice(len(texts), args.sentences, replace=False))
    subset = workdir / "iw_subset.txt"
    subset.write_text("\n".join(texts[i] for i in chosen) + "\n", encoding="utf-8")
    rows = []
    for k in args.k:
        started = time.perf_counter()
        row = evaluate_run(workdir, subset, iw_samples=k, split_name=f"iw_subset_k{k}")
        rows.append({"k": k, "seconds": time.perf_counter() - started,
                     **{key: row[key] for key in ("nll", "ppl", "elbo", "kl") if key in row}})
        print(json.dumps(rows[-1]), file=sys.stderr)
    out = Path(args.out) if args.out else ROOT / "results" / "quality" / f"{workdir.name}_iw_k.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"workdir": str(workdir), "sentences": len(chosen), "seed": args.seed,
                               "cpu": cpu_name(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
