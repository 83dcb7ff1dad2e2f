"""Sentiment transfer with a plain VAE: move the posterior mean along a direction learnt from
100 labelled sentences per class, decode (greedy, or beam search with --beam-size), score as
scripts/transfer_benchmark.py does.

  python scripts/latent_shift_transfer.py --workdir runs/quality_yelp_recipe_mixture_prior_rate_45_30k \
      --mode mean --strengths 0.75 1 1.25 1.5 2 3          # results/transfer/latent_shift_mean.json
  python scripts/latent_shift_transfer.py --workdir ... --mode normal --strengths 2 4 6 8
  python scripts/latent_shift_transfer.py --workdir ... --mode adaptive --strengths 1 2 3 4 6 8 --accept 2

The labelled sentences: 100 per class drawn (seed 0) from the pool, the same budget as the M2
rows. Modes (z = posterior mean of the input, s = +1 towards the second class, -1 towards the first):
  mean      z + s * lambda * (mean code of class 1 - mean code of class 0)
  normal    logistic regression on the labelled codes (M1); z moved along its normal w until its
            logit is s * m (never away from the target)
  adaptive  as normal, per sentence the smallest m of --strengths whose output, re-encoded, the
            same regression puts at least --accept logits on the target side (the last m otherwise)
Only the VAE and the 200 labelled sentences choose the outputs; the scoring classifier (TF-IDF +
LR on the whole pool with its labels) never does.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from m2_benchmark import tfidf_classifier  # noqa: E402
from transfer_benchmark import score  # noqa: E402
from textvae import load, load_config  # noqa: E402
from textvae.data import read_corpus  # noqa: E402

CHUNK = 250


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", required=True, help="a VAE run (m2 off) trained on the pool's text")
    parser.add_argument("--config", default=str(ROOT / "configs" / "yelp_m2.yaml"),
                        help="names the labelled pool (data.train) and the test file (data.test)")
    parser.add_argument("--mode", choices=["mean", "normal", "adaptive"], required=True)
    parser.add_argument("--strengths", nargs="+", type=float, required=True, help="lambdas or target logits m")
    parser.add_argument("--accept", type=float, default=2.0, help="adaptive: logit margin the output must reach")
    parser.add_argument("--labels", type=int, default=100, help="labelled sentences per class")
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--lm", help="a language-model run for the outputs' forward PPL")
    parser.add_argument("--beam-size", type=int, default=0, help="decode by beam search of this width (0: greedy)")
    parser.add_argument("--out")
    args = parser.parse_args()

    from sklearn.linear_model import LogisticRegression

    config = load_config(args.config)
    pool, test = read_corpus(config.data.train, config.data), read_corpus(config.data.test, config.data)
    chosen = sorted(np.random.default_rng(0).choice(len(test.texts), args.sentences, replace=False))
    inputs, sources = [test.texts[i] for i in chosen], [test.labels[i] for i in chosen]
    classes = sorted(set(pool.labels))
    if len(classes) != 2:
        raise SystemExit(f"{config.data.train}: transfer to the other label needs two classes, found {classes}")
    targets = [classes[1 - classes.index(s)] for s in sources]
    classifier = tfidf_classifier(pool.texts, pool.labels)
    model = load(args.workdir)
    language_model = load(args.lm) if args.lm else None
    max_length = config.data.max_length

    def encode(texts):
        return np.concatenate([model.encode(texts[i:i + CHUNK]).mean().numpy() for i in range(0, len(texts), CHUNK)])

    options = {"strategy": "beam", "beam_size": args.beam_size} if args.beam_size else {}

    def decode(codes):
        return [t for i in range(0, len(codes), CHUNK)
                for t in model.decode(codes[i:i + CHUNK], max_length=max_length, **options)]

    pool_labels = np.asarray(pool.labels)
    rng = np.random.default_rng(0)
    labelled = np.concatenate([rng.choice(np.flatnonzero(pool_labels == c), args.labels, replace=False)
                               for c in classes])
    codes = encode([pool.texts[i] for i in labelled])
    z = encode(inputs)
    sign = np.asarray([1.0 if s == classes[0] else -1.0 for s in sources])
    regression = LogisticRegression(max_iter=5000).fit(codes, pool_labels[labelled])
    w, b = regression.coef_[0], regression.intercept_[0]

    def along_normal(rows, m):
        shift = (sign[rows] * m - (z[rows] @ w + b)) / (w @ w)
        return z[rows] + np.where(shift * sign[rows] > 0, shift, 0.0)[:, None] * w

    rows_out = []
    if args.mode in ("mean", "normal"):
        direction = codes[pool_labels[labelled] == classes[1]].mean(0) - codes[pool_labels[labelled] == classes[0]].mean(0)
        for strength in args.strengths:
            moved = (z + strength * sign[:, None] * direction if args.mode == "mean"
                     else along_normal(np.arange(len(z)), strength))
            outputs = decode(moved)
            rows_out.append({"strength": strength, **score(outputs, inputs, targets, classifier, language_model,
                                                           max_length),
                             "examples": [{"in": a, "out": o} for a, o in zip(inputs[:6], outputs[:6])]})
            print(json.dumps({k: rows_out[-1][k] for k in ("strength", "transfer_accuracy", "bleu_against_input")}),
                  file=sys.stderr)
    else:
        final = [None] * len(z)
        for strength in args.strengths:
            todo = np.asarray([i for i, f in enumerate(final) if f is None])
            if not len(todo):
                break
            outputs = decode(along_normal(todo, strength))
            margins = (encode(outputs) @ w + b) * sign[todo]
            for j, i in enumerate(todo):
                if margins[j] >= args.accept or strength == args.strengths[-1]:
                    final[i] = (outputs[j], strength)
        outputs = [f[0] for f in final]
        rows_out.append({"accept": args.accept, **score(outputs, inputs, targets, classifier, language_model,
                                                        max_length),
                         "chosen_strengths": {str(s): sum(f[1] == s for f in final) for s in args.strengths},
                         "examples": [{"in": a, "out": o} for a, o in zip(inputs[:6], outputs[:6])]})
        print(json.dumps({k: rows_out[-1][k] for k in ("transfer_accuracy", "bleu_against_input")}), file=sys.stderr)
    out = Path(args.out or ROOT / "results" / "transfer" / f"latent_shift_{args.mode}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"workdir": args.workdir, "mode": args.mode, "labels_per_class": args.labels,
                               "sentences": args.sentences, "beam_size": args.beam_size, "rows": rows_out}, indent=1))


if __name__ == "__main__":
    main()
