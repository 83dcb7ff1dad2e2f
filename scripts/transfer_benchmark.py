"""Sentiment transfer with an M2 run, scored by a classifier that is not the M2's own.

  python scripts/prepare_yelp.py                       # once
  python scripts/transfer_benchmark.py --workdir runs/m2_yelp_n100_s0 \
      [--lm runs/quality_yelp_lm] [--sentences 1000] [--out results/transfer/NAME.json]

`--sentences` seeded sentences of the M2 config's test file (Yelp: sentiment.dev.*) are
rewritten to the other label (`textvae transfer`: y = argmax q(y|x), z = the mean of
q(z|x, y), decoded greedily with the other y). Scored on three axes (Shen et al. 2017):
  transfer accuracy  the share of outputs an independent classifier (TF-IDF of word 1-2
                     grams + logistic regression, fitted on all of the M2 config's pool
                     with its labels, never the M2's q(y|x)) puts in the target class;
  content kept       corpus BLEU of the outputs against their inputs (sacrebleu);
  fluency            per-word forward perplexity of the outputs under a language model run
                     (--lm; Yelp: `scripts/quality_benchmark.py --corpus yelp --variants lm`).
The same three figures for the unchanged inputs (the copy baseline: BLEU 100, and transfer
accuracy is the classifier's error rate) set the scale.
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
from m2_benchmark import tfidf_classifier  # noqa: E402
from textvae import load  # noqa: E402
from textvae.data import read_corpus  # noqa: E402
from textvae.evaluation.generation import corpus_bleu, forward_perplexity  # noqa: E402
from textvae.rundir import RunDir  # noqa: E402

BATCH = 250
EXAMPLES = 3


def transfer_all(model, texts, labels, classes, max_length: int) -> list[str]:
    """Each text rewritten to the other class of a two-class model, in input order."""
    if len(classes) != 2:
        raise SystemExit(f"transfer to 'the other label' needs two classes; the run has {classes}")
    outputs = [""] * len(texts)
    for source, target in (classes, classes[::-1]):
        rows = [i for i, label in enumerate(labels) if label == source]
        for start in range(0, len(rows), BATCH):
            chunk = rows[start:start + BATCH]
            for i, out in zip(chunk, model.transfer([texts[i] for i in chunk], target, max_length=max_length)):
                outputs[i] = out["text"]
    return outputs


def score(outputs, inputs, targets, classifier, language_model, max_length) -> dict:
    return {"transfer_accuracy": float(np.mean(classifier.predict(outputs) == np.asarray(targets))),
            "bleu_against_input": corpus_bleu(outputs, inputs),
            "forward_ppl": forward_perplexity(language_model, outputs, max_length) if language_model else None}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", required=True, help="an M2 run on a two-class corpus")
    parser.add_argument("--lm", default=str(ROOT / "runs" / "quality_yelp_lm"), help="a language model run")
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="default results/transfer/<run name>.json")
    args = parser.parse_args()
    started = time.perf_counter()
    workdir = Path(args.workdir)
    config = RunDir(workdir).read_config()
    model = load(workdir, checkpoint="latest")
    pool, test = read_corpus(config.data.train, config.data), read_corpus(config.data.test, config.data)
    chosen = sorted(np.random.default_rng(args.seed).choice(len(test.texts), args.sentences, replace=False))
    inputs, sources = [test.texts[i] for i in chosen], [test.labels[i] for i in chosen]
    classes = list(model.classes)
    targets = [classes[1 - classes.index(s)] for s in sources]

    classifier = tfidf_classifier(pool.texts, pool.labels)  # fitted on every labelled pool sentence
    length = config.data.max_length + 1
    outputs = transfer_all(model, inputs, sources, classes, length)
    lm_dir = Path(args.lm)
    language_model = load(lm_dir) if (lm_dir / "config.yaml").is_file() else None
    result = {
        "workdir": str(workdir), "sentences": len(inputs), "seed": args.seed, "cpu": cpu_name(),
        "language_model": str(lm_dir) if language_model else None,
        "classifier_accuracy_on_test": float(np.mean(classifier.predict(test.texts) == np.asarray(test.labels))),
        "transfer": score(outputs, inputs, targets, classifier, language_model, length),
        "copy_baseline": score(inputs, inputs, targets, classifier, language_model, length),
        "examples": {f"{s}->{t}": [{"in": inputs[i], "out": outputs[i]}
                                   for i in [j for j, x in enumerate(sources) if x == s][:EXAMPLES]]
                     for s, t in (classes, classes[::-1])},
    }
    result["seconds"] = time.perf_counter() - started
    out = Path(args.out) if args.out else ROOT / "results" / "transfer" / f"{workdir.name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps({k: result[k] for k in ("transfer", "copy_baseline")}), file=sys.stderr)


if __name__ == "__main__":
    main()
