"""The PTB table at one budget, from the JSON rows the jobs wrote, beside the published one.

  python scripts/ptb_table.py [--steps 10000] [--family _tied_cosine]

Reads results/ptb/<steps>/<row><family>_seed<seed>.json (scripts/ptb_job.py) and the
quality benchmark's PTB rows at the same budget (results/quality/ptb_*.json: its LM and the
issue-16 recipe, the same model, word table and schedule), and prints a markdown table:
IW-NLL (K = 100, whole test set), PPL, PPL against the mean of the LM seeds, KL, MI, AU,
PPL with K = 500 on the seeded 500-sentence subset, greedy reconstruction BLEU, minutes of
training, and whether the row meets issue 18's target (PPL at least 3% below the LM with
KL >= 5, MI >= 5, AU >= 30). Then Li et al. (2020, table 8), the literature's size, converged.
The docs paste its output; nothing is typed in by hand.
"""

import argparse
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Li et al. 2020 ("A surprisingly effective fix for deep latent variable modeling of text"), table 8:
# PTB, LSTM 1024, trained to convergence. (row, PPL, KL, MI, AU); None where the table has none.
PUBLISHED = [("LSTM-LM", 100.47, None, None, None), ("monotonic", 101.40, 0.0, None, 0),
             ("cyclical", 108.81, 1.37, 1.27, 5), ("aggressive", 99.83, 0.93, 0.83, 4),
             ("pretraining + free bits", 96.86, 6.54, 5.31, 32)]
NAMES = {"lm": "LSTM-LM", "monotonic": "monotonic annealing", "cyclical": "cyclical annealing",
         "free_bits": "free bits 0.25", "pretrain_free_bits": "pretraining + free bits 0.5",
         "pretrain_free_bits_0.2": "pretraining + free bits 0.2",
         "pretrain_free_bits_sentence_0.2": "pretraining + free bits 0.2 per sentence",
         "bn_vae": "BN-VAE (gamma 0.6)", "recipe_mixture_prior": "issue-16 recipe, rate 30 (quality benchmark)",
         "recipe_mixture_prior_rate_60": "issue-16 recipe, rate 60 (quality benchmark)",
         "recipe_mixture_prior_rate_100": "issue-16 recipe, rate 100 (quality benchmark)",
         "recipe_mixture_prior_rate_100_latent_64": "issue-16 recipe, rate 100, 64 units (quality benchmark)"}
TARGET = {"below_lm": 0.03, "kl": 5.0, "mi": 5.0, "au": 30}


def rows(steps: int, family: str) -> list[dict]:
    """One dict per JSON row: name, seed, test figures, subset figures (or None), BLEU, minutes."""
    found = []
    pattern = re.compile(rf"(.+){re.escape(family)}_seed(\d+)\.json$")
    for path in sorted((ROOT / "results" / "ptb" / str(steps)).glob("*.json")):
        match = pattern.match(path.name)
        if match:
            found.append(_row(match.group(1), int(match.group(2)), json.loads(path.read_text())))
    for path in sorted((ROOT / "results" / "quality").glob("ptb_*.json")):
        data = json.loads(path.read_text())
        if data.get("steps") == steps:
            name = data["variant"]
            seed = next((int(o.split("=")[1]) for o in data["overrides"] if o.startswith("train.seed=")), 0)
            if not any(r["name"] == name and r["seed"] == seed for r in found):
                found.append(_row(name, seed, data, source="quality"))
    return found


def _row(name: str, seed: int, data: dict, source: str = "ptb_job") -> dict:
    return {"name": name, "seed": seed, "test": data["test"], "subset": data.get("test_subset_k500"),
            "bleu": data.get("reconstruction_bleu_greedy"), "minutes": data["train_seconds_this_invocation"] / 60,
            "source": source}


def meets_target(row: dict, lm_ppl: float) -> bool:
    test = row["test"]
    return (test["ppl"] <= (1 - TARGET["below_lm"]) * lm_ppl and test["kl"] >= TARGET["kl"]
            and test["mi"] >= TARGET["mi"] and test["active_units"] >= TARGET["au"])


def table(found: list[dict]) -> str:
    lm = [r["test"]["ppl"] for r in found if r["name"] == "lm"]
    if not lm:
        raise SystemExit("no LM row at this budget: run scripts/ptb_job.py lm... first")
    lm_ppl = sum(lm) / len(lm)
    order = list(NAMES)
    found = sorted(found, key=lambda r: (order.index(r["name"]) if r["name"] in order else len(order), r["seed"]))
    lines = [f"LM perplexity to compare with: {lm_ppl:.1f} (mean of {len(lm)} seed(s))", "",
             "| row | seed | IW-NLL (K=100) | PPL | vs LM | KL | MI | AU | K = 500 subset PPL | BLEU greedy "
             "| train min | target |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in found:
        t, is_lm = r["test"], r["name"] == "lm"
        cells = [NAMES.get(r["name"], r["name"]), str(r["seed"]), f"{t['nll']:.2f}", f"{t['ppl']:.1f}",
                 f"{100 * (t['ppl'] / lm_ppl - 1):+.1f}%",
                 *(["—"] * 3 if is_lm else [f"{t['kl']:.2f}", f"{t['mi']:.2f}", str(t["active_units"])]),
                 f"{r['subset']['ppl']:.1f}" if r["subset"] else "—",
                 f"{r['bleu']:.2f}" if r["bleu"] is not None else "—", f"{r['minutes']:.0f}",
                 "—" if is_lm else ("met" if meets_target(r, lm_ppl) else "missed")]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Li et al. 2020, table 8 (LSTM 1024, converged):", "",
              "| row | PPL | vs LM | KL | MI | AU |", "|---|---|---|---|---|---|"]
    published_lm = PUBLISHED[0][1]
    for name, ppl, kl, mi, au in PUBLISHED:
        cells = [name, f"{ppl:.2f}", f"{100 * (ppl / published_lm - 1):+.1f}%",
                 *("—" if v is None else f"{v}" for v in (kl, mi, au))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=10000)
    parser.add_argument("--family", default="_tied_cosine",
                        help="the suffix shared by the rows to tabulate (one word table, cosine schedule)")
    args = parser.parse_args()
    print(table(rows(args.steps, args.family)))


if __name__ == "__main__":
    main()
