"""How far the importance-weighted NLL has converged in K, on one seeded subset.

  python scripts/iw_convergence.py --workdir runs/quality_yelp_recipe [--k 1 10 100 1000]
                                   [--sentences 500] [--lm runs/quality_yelp_lm]
                                   [--out results/quality/NAME_iw_k.json]

log p(x) >= E[log mean_k p(x, z_k) / q(z_k|x)] for every K, and the bound tightens as K
grows (Burda et al. 2016). How fast depends on how far q(z|x) is from p(z|x): with a code
of tens of nats the K = 100 figure of the tables can still be well above -log p(x). When
the estimate is still falling from K = 100 to 1000, that fall is part of the gap to the
LM (whose NLL is exact) that the estimator, not the model, leaves. Every K is scored on
the same `--sentences` seeded sentences of the run's test file, and so is the language
model given with --lm (its NLL is exact). Rows already in the output file are kept, so
an interrupted sweep resumes.
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
    parser.add_argument("--lm", help="a language model run to score on the same subset")
    parser.add_argument("--out")
    args = parser.parse_args()
    workdir = Path(args.workdir)
    config = RunDir(workdir).read_config()
    texts = read_corpus(config.data.test, config.data).texts
    chosen = sorted(np.random.default_rng(args.seed).choice(len(texts), args.sentences, replace=False))
    subset = workdir / "iw_subset.txt"
    subset.write_text("\n".join(texts[i] for i in chosen) + "\n", encoding="utf-8")
    out = Path(args.out) if args.out else ROOT / "results" / "quality" / f"{workdir.name}_iw_k.json"
    previous = json.loads(out.read_text()) if out.is_file() else {}
    if previous and previous.get("sentences") != len(chosen):
        previous = {}
    rows = [r for r in previous.get("rows", []) if r["k"] in args.k]
    for k in sorted(set(args.k) - {r["k"] for r in rows}):
        started = time.perf_counter()
        row = evaluate_run(workdir, subset, iw_samples=k, split_name=f"iw_subset_k{k}")
        rows.append({"k": k, "seconds": time.perf_counter() - started,
                     **{key: row[key] for key in ("nll", "ppl", "elbo", "kl") if key in row}})
        print(json.dumps(rows[-1]), file=sys.stderr)
    result = {"workdir": str(workdir), "sentences": len(chosen), "seed": args.seed, "cpu": cpu_name(),
              "rows": sorted(rows, key=lambda r: r["k"])}
    if args.lm:
        lm = evaluate_run(args.lm, subset, iw_samples=1, split_name="iw_subset_lm")
        result["language_model"] = {"workdir": args.lm, "nll": lm["nll"], "ppl": lm["ppl"]}
    elif "language_model" in previous:
        result["language_model"] = previous["language_model"]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
