"""Generation quality of a VAE beside an autoencoder and a collapsed VAE, on PTB and Yelp.

  python scripts/prepare_yelp.py                                # once
  python scripts/architecture_benchmark.py --runs ptb_lstm yelp_lstm   # the VAEs scored here
  python scripts/generation_benchmark.py [--steps 2000] [--corpora ptb yelp]

Per corpus, at the VAE's budget (--steps, KL warm-up over the first quarter):
  vae          runs/arch_<corpus>_lstm: the corpus config (linear annealing,
               word dropout 0.25, free bits 0.25), trained by the architecture benchmark;
  autoencoder  the same model with KL weight 0 (no free bits): z is free to carry everything;
  collapsed    no remedy (KL weight 1 from step 0, no word dropout, no free bits);
  lm           the decoder alone (latent_dim 0), whose perplexity scores the
               others' prior samples (forward PPL). PTB reuses runs/ptb_lm
               (the PTB smoke benchmark's LM: same size and budget) when present.
Each run is scored on the corpus' test file by `textvae evaluate --generation`:
reconstruction BLEU (greedy, posterior mean), distinct-1/2 and self-BLEU of 500
greedy prior samples, their forward PPL under the LM; then the same diversity and
forward PPL for 500 ancestral samples (temperature 1) under "ancestral". Results
are merged into results/generation_quality.json after every run; runs resume
from checkpoints.
"""

import argparse
import json
import sys
from pathlib import Path

from textvae import load, load_config, train
from textvae.evaluation import evaluate_run
from textvae.evaluation.generation import prior_sample_quality

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = {"ptb": "ptb.yaml", "yelp": "yelp.yaml"}
PLAIN = ["kl.free_bits=0", "train.word_dropout=0"]
VARIANTS = {
    "autoencoder": ["kl.schedule=constant", "kl.weight=0", "kl.free_bits=0"],
    "collapsed": ["kl.schedule=constant", *PLAIN],
    "lm": ["model.latent_dim=0", *PLAIN],
}


def train_variant(corpus: str, name: str, steps: int) -> Path:
    if name == "vae":
        workdir = ROOT / "runs" / f"arch_{corpus}_lstm"
        if not (workdir / "checkpoints").is_dir():
            raise SystemExit(f"{workdir} missing: run scripts/architecture_benchmark.py --runs {corpus}_lstm")
        return workdir
    if name == "lm" and corpus == "ptb" and (ROOT / "runs" / "ptb_lm" / "checkpoints").is_dir():
        return ROOT / "runs" / "ptb_lm"
    overrides = VARIANTS[name] + [f"train.max_steps={steps}", f"kl.warmup_steps={steps // 4}",
                                  "train.progress_bar=false", f"train.eval_every={steps // 4}",
                                  f"train.checkpoint_every={steps // 4}"]
    workdir = ROOT / "runs" / f"gen_{corpus}_{name}"
    train(load_config(ROOT / "configs" / CONFIGS[corpus], overrides), workdir)
    return workdir


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--corpora", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--num-samples", type=int, default=500)
    parser.add_argument("--iw-samples", type=int, default=10)
    parser.add_argument("--out", default=str(ROOT / "results" / "generation_quality.json"))
    args = parser.parse_args()
    out = Path(args.out)
    for corpus in args.corpora:
        lm = train_variant(corpus, "lm", args.steps)
        for name in ("vae", "autoencoder", "collapsed"):
            results = json.loads(out.read_text()) if out.is_file() else {}
            if name in results.get(corpus, {}):
                continue
            workdir = train_variant(corpus, name, args.steps)
            config = load_config(workdir / "config.yaml")
            result = evaluate_run(workdir, config.data.test, iw_samples=args.iw_samples, split_name="test",
                                  generation=True, lm_workdir=lm, num_samples=args.num_samples)
            results = json.loads(out.read_text()) if out.is_file() else {}
            results.setdefault(corpus, {})[name] = {"workdir": str(workdir.relative_to(ROOT)),
                                                    "lm_workdir": str(lm.relative_to(ROOT)), "test": result}
            out.parent.mkdir(exist_ok=True)
            out.write_text(json.dumps(results, indent=1))
            print(json.dumps({corpus: {name: result["generation"]}}), file=sys.stderr)
        language_model = None
        for name in ("vae", "autoencoder", "collapsed"):
            results = json.loads(out.read_text())
            entry = results[corpus][name]
            if "ancestral" in entry:
                continue
            language_model = language_model or load(lm)
            config = load_config(ROOT / entry["workdir"] / "config.yaml")
            entry["ancestral"] = prior_sample_quality(
                load(ROOT / entry["workdir"]), args.num_samples, seed=0, language_model=language_model,
                max_length=config.data.max_length + 1, strategy="sample", temperature=1.0)
            out.write_text(json.dumps(results, indent=1))
            print(json.dumps({corpus: {name: {"ancestral": entry["ancestral"]}}}), file=sys.stderr)


if __name__ == "__main__":
    main()
