"""Command line: parse arguments, call the API, print results (stdout) and logs (stderr)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

import numpy as np

from textvae.config import ConfigError


CHECKPOINT_HELP = "best (best validation ELBO, the default), latest, a step (1000) or a ckpt-<step> name"


def _checkpoint_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", default="best", help=CHECKPOINT_HELP)


def _common_decode(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workdir", required=True, help="run directory written by `textvae train`")
    _checkpoint_option(parser)
    parser.add_argument("--strategy", choices=["greedy", "sample", "beam"], default="greedy")
    parser.add_argument("--max-length", type=int, default=50, help="tokens to generate at most")
    parser.add_argument("--temperature", type=float, default=1.0, help="sample: divide logits by this")
    parser.add_argument("--top-k", type=int, default=0, help="sample: keep the k most likely tokens (0: all)")
    parser.add_argument("--top-p", type=float, default=1.0, help="sample: nucleus probability mass (1: all)")
    parser.add_argument("--beam-size", type=int, default=4, help="beam: hypotheses kept")
    parser.add_argument("--length-penalty", type=float, default=1.0, help="beam: rank by log p / length^this")
    parser.add_argument("--seed", type=int, default=0, help="seeds sampling and latent draws")
    parser.add_argument("--json", action="store_true", help="one JSON object per output, with scores")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="textvae", description="Sentence VAEs on TensorFlow / Keras 3.")
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's own log lines (hidden by default; also TEXTVAE_VERBOSE=1)")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("train", help="train a model, or resume the run in --workdir")
    p.add_argument("--config", help="YAML config (omit to resume the run in --workdir)")
    p.add_argument("--workdir", help="run directory (default: runs/<config name>)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set model.latent_dim=16 (repeatable)")

    p = commands.add_parser("sample", help="decode N samples from the prior")
    _common_decode(p)
    p.add_argument("-n", type=int, default=10, help="number of sentences")
    p.add_argument("--label", help="M2 runs: the class to generate")
    p.add_argument("--fit-codes", type=int, default=0, metavar="N",
                   help="draw z from a Gaussian fitted to the codes of N evenly spaced sentences of the run's "
                        "data.train instead of N(0, I) (Ghosh et al. 2020): samples where sentences are")
    p.add_argument("--code-temperature", type=float, default=1.0, metavar="T",
                   help="--fit-codes: draw at this temperature, mean + T * (draw - mean); below 1 "
                        "more fluent, less varied (textvae demo uses 0.8)")

    p = commands.add_parser("classify", help="M2 runs: label and probability of each sentence on stdin")
    p.add_argument("--workdir", required=True)
    _checkpoint_option(p)
    p.add_argument("--json", action="store_true", help="one JSON object per sentence, with every class")

    p = commands.add_parser("transfer", help="M2 runs: rewrite sentences from stdin with another label")
    _common_decode(p)
    p.add_argument("--to", required=True, help="the target class")

    p = commands.add_parser("reconstruct", help="encode and decode sentences read from stdin")
    _common_decode(p)

    p = commands.add_parser("interpolate", help="decode a path through two or more sentences")
    _common_decode(p)
    p.add_argument("sentences", nargs="+", metavar="SENTENCE")
    p.add_argument("--steps", type=int, default=5, help="intermediate points per leg (K+2 lines for two sentences)")
    p.add_argument("--method", choices=["linear", "slerp"], default="linear")
    p.add_argument("--dedupe", action="store_true", help="print consecutive repeats once, with their span")

    p = commands.add_parser("neighbours", help="decode samples from a sentence's posterior")
    _common_decode(p)
    p.add_argument("sentence")
    p.add_argument("-n", type=int, default=5)

    p = commands.add_parser("arithmetic", help="decode mean(A) - mean(B) + mean(C)")
    _common_decode(p)
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("c")

    p = commands.add_parser("encode", help="posterior means of sentences (file or stdin) as .npy or .jsonl")
    p.add_argument("--workdir", required=True)
    _checkpoint_option(p)
    p.add_argument("--data", help="corpus file (one sentence a line, or csv/tsv/jsonl/hf as in data.format); "
                                  "default: stdin")
    p.add_argument("--out", help="output file: .npy (means; --scales adds <stem>.scales.npy) or .jsonl")
    p.add_argument("--scales", action="store_true", help="also write the posterior standard deviations")
    p.add_argument("--label-field", help="--data's label column for the projector (default: the run's data.label_field)")
    p.add_argument("--projector", metavar="DIR",
                   help="also write a TensorBoard projector log (tensorboard --logdir DIR)")
    p.add_argument("--batch-size", type=int, default=256)

    p = commands.add_parser("evaluate", help="IW-NLL, perplexity, ELBO, KL, MI, active units on a corpus")
    p.add_argument("--workdir", required=True)
    p.add_argument("--data", help="corpus file (default: the run's data.test)")
    p.add_argument("--iw-samples", type=int, default=500, help="importance samples K per sentence")
    p.add_argument("--split-name", help="name recorded with the result (default: the file name)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    _checkpoint_option(p)
    p.add_argument("--jit", action="store_true",
                   help="score the importance samples under XLA (widths rounded to 8; the same estimates)")
    p.add_argument("--generation", action="store_true",
                   help="add reconstruction BLEU, distinct-1/2 and self-BLEU of prior samples")
    p.add_argument("--lm-workdir", help="with --generation: a language-model run for forward perplexity")
    p.add_argument("--num-samples", type=int, default=500, help="with --generation: prior samples drawn")

    p = commands.add_parser("plot", help="PNG training curves, KL per dimension, PCA of posterior means")
    p.add_argument("--workdir", required=True)
    p.add_argument("--data", help="corpus for the KL bars and PCA (default: the run's data.valid)")
    p.add_argument("--label-field", help="colour the PCA by this field (default: the run's data.label_field)")

    p = commands.add_parser("info", help="what is in a run: model, steps, best validation figures, evaluation, size")
    p.add_argument("--workdir", required=True)
    p.add_argument("--json", action="store_true", help="one JSON object instead of text")

    p = commands.add_parser("demo", help="train on the IMDB review sentences of the demo corpus and show the results")
    p.add_argument("--workdir", default="runs/demo")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    return parser


def cmd_train(args) -> None:
    from textvae.config import ConfigError, load_config
    from textvae.training import train

    if args.config is None and args.workdir is None:
        raise ConfigError("pass --config to start a run, or --workdir to resume one")
    if args.config is None and args.set:
        raise ConfigError("--set needs --config (a resumed run keeps its saved config)")
    config = load_config(args.config, args.set) if args.config else None
    workdir = args.workdir or str(Path("runs") / Path(args.config).stem)
    with contextlib.redirect_stdout(sys.stderr):  # the Keras progress bar is a log
        summary = train(config, workdir)
    _print_json(summary)


def cmd_sample(args) -> None:
    model = _load(args)
    if _is_m2(model):
        if args.fit_codes:
            raise ConfigError(f"--fit-codes needs a VAE run; {args.workdir} is an M2 run")
        if args.label is None:
            raise ConfigError(f"{args.workdir} is an M2 run: pass --label (one of {model.classes})")
        z = np.random.default_rng(args.seed).standard_normal((args.n, model.latent_dim)).astype(np.float32)
        outputs = model.generate(z, [model.label_id(args.label)] * args.n, seed=args.seed, **_decode_options(args))
        for output in outputs:
            _emit({"label": args.label, **output} if args.json else output["text"], args)
        return
    if args.label is not None:
        raise ConfigError(f"--label needs an M2 run; {args.workdir} is a VAE")
    if args.code_temperature != 1.0 and not args.fit_codes:
        raise ConfigError("--code-temperature applies to draws from the fitted Gaussian: pass --fit-codes N")
    if not args.code_temperature > 0:
        raise ConfigError(f"--code-temperature must be > 0, got {args.code_temperature}")
    if args.fit_codes:
        z = _code_gaussian(args, model).sample(args.n, args.seed, temperature=args.code_temperature)
    else:
        z = model.sample_prior(args.n, args.seed)
    _print_outputs(model, z, args)


def _code_gaussian(args, model):
    """`sample --fit-codes N`: the Gaussian of N evenly spaced training sentences' codes."""
    from textvae.data import read_corpus
    from textvae.rundir import RunDir

    config = RunDir(args.workdir).read_config()
    if args.fit_codes <= model.latent_dim:
        raise ConfigError(f"--fit-codes {args.fit_codes}: fitting a covariance needs more sentences than "
                          f"the {model.latent_dim} latent dimensions")
    texts = read_corpus(config.data.train, config.data).texts
    if len(texts) <= model.latent_dim:
        raise ConfigError(f"{config.data.train}: {len(texts)} sentences, too few to fit a covariance over "
                          f"{model.latent_dim} latent dimensions")
    return model.fit_code_gaussian(texts, limit=args.fit_codes, seed=args.seed)


def cmd_classify(args) -> None:
    model = _require_m2(_load(args), args.workdir)
    sentences = [line.strip() for line in sys.stdin if line.strip()]
    if not sentences:
        return
    for sentence, probs in zip(sentences, model.classify(sentences)):
        best = int(np.argmax(probs))
        if args.json:
            _emit({"text": sentence, "label": model.classes[best], "probability": float(probs[best]),
                   "probabilities": dict(zip(model.classes, map(float, probs)))}, args)
        else:
            print(f"{model.classes[best]}\t{probs[best]:.4f}\t{sentence}")


def cmd_transfer(args) -> None:
    model = _require_m2(_load(args), args.workdir)
    sentences = [line.strip() for line in sys.stdin if line.strip()]
    if sentences:
        for source, output in zip(sentences, model.transfer(sentences, args.to, seed=args.seed,
                                                             **_decode_options(args))):
            _emit({"source": source, **output} if args.json else output["text"], args)


def _is_m2(model) -> bool:
    from textvae.m2 import M2VAE

    return isinstance(model, M2VAE)


def _require_m2(model, workdir):
    if not _is_m2(model):
        raise ConfigError(f"{workdir} is not an M2 run (m2.enabled: false); classify and transfer need one")
    return model


def cmd_reconstruct(args) -> None:
    model = _load(args)
    sentences = [line.strip() for line in sys.stdin]
    if sentences:
        _print_outputs(model, model.encode(sentences).mean(), args, sources=sentences)


def cmd_interpolate(args) -> None:
    model = _load(args)
    z = model.interpolation_path(args.sentences, args.steps, args.method)
    outputs = model.generate(z, seed=args.seed, **_decode_options(args))
    if args.dedupe:
        from textvae.latent import collapse_repeats

        texts = [o["text"] for o in outputs]
        for text, first, last in collapse_repeats(texts):
            _emit({"text": text, "first": first, "last": last} if args.json else
                  f"[{first}-{last}] {text}" if last > first else f"[{first}] {text}", args)
        return
    for output in outputs:
        _emit(output if args.json else output["text"], args)


def cmd_neighbours(args) -> None:
    model = _load(args)
    _print_outputs(model, model.neighbour_latents(args.sentence, args.n, args.seed), args)


def cmd_arithmetic(args) -> None:
    model = _load(args)
    _print_outputs(model, model.arithmetic_latent(args.a, args.b, args.c), args)


def cmd_encode(args) -> None:
    from textvae.embeddings import check_codes_path, encode_sentences, write_codes, write_projector

    if not args.out and not args.projector:
        raise ConfigError("pass --out FILE (.npy or .jsonl) and/or --projector DIR")
    if args.out:
        check_codes_path(args.out)  # before the encoding, not after it
    if args.data:
        import dataclasses

        from textvae.data import detect_format, read_corpus
        from textvae.rundir import RunDir

        data_config = RunDir(args.workdir).read_config().data
        if args.label_field is not None:
            data_config = dataclasses.replace(data_config, label_field=args.label_field)
        if detect_format(args.data, data_config.format) == "text":
            data_config = dataclasses.replace(data_config, label_field="")
        corpus = read_corpus(args.data, data_config)
        sentences, labels = corpus.texts, corpus.labels
    else:
        sentences, labels = [line.strip() for line in sys.stdin if line.strip()], None
    model = _load(args)
    means, scales = encode_sentences(model, sentences, args.batch_size, progress=len(sentences) > 10 * args.batch_size)
    written = write_codes(args.out, sentences, means, scales if args.scales else None) if args.out else []
    if args.projector:
        written.append(write_projector(args.projector, sentences, means, labels))
    print(f"textvae encode: {len(sentences):,} sentences, {means.shape[1]} dimensions -> "
          f"{', '.join(map(str, written))}", file=sys.stderr)


def _print_outputs(model, z, args, sources=None) -> None:
    outputs = model.generate(z, seed=args.seed, **_decode_options(args))
    for i, output in enumerate(outputs):
        if sources is not None:
            output = {"source": sources[i], **output}
        _emit(output if args.json else output["text"], args)


def _emit(item, args) -> None:
    import json

    print(json.dumps(item) if args.json else item)


def _decode_options(args) -> dict:
    return {"strategy": args.strategy, "max_length": args.max_length, "temperature": args.temperature,
            "top_k": args.top_k, "top_p": args.top_p, "beam_size": args.beam_size,
            "length_penalty": args.length_penalty}


def cmd_evaluate(args) -> None:
    from textvae.evaluation import evaluate_run

    result = evaluate_run(args.workdir, args.data, iw_samples=args.iw_samples, split_name=args.split_name,
                          batch_size=args.batch_size, seed=args.seed, checkpoint=args.checkpoint,
                          generation=args.generation, lm_workdir=args.lm_workdir, num_samples=args.num_samples,
                          jit_compile=args.jit)
    _print_json(result)


def cmd_plot(args) -> None:
    from textvae.plots import plot_run

    for path in plot_run(args.workdir, args.data, args.label_field):
        print(path)


def cmd_demo(args) -> None:
    from textvae.demo import CODE_SENTENCES, demo_config, show
    from textvae.loading import load
    from textvae.training import train

    workdir = Path(args.workdir)
    config = demo_config(workdir, args.set)
    with contextlib.redirect_stdout(sys.stderr):
        train(config, workdir)
    model = load(workdir)
    valid = [s.lower() for s in Path(config.data.valid).read_text(encoding="utf-8").split("\n") if s]
    training = [s.lower() for s in Path(config.data.train).read_text(encoding="utf-8").split("\n") if s]
    codes = model.fit_code_gaussian(training, limit=CODE_SENTENCES)
    show(model, valid[::97], held_out=valid, codes=codes)
    print(f"== run directory: {workdir} (try: textvae sample --workdir {workdir} -n 5) ==")


def cmd_info(args) -> None:
    from textvae.runinfo import format_info, run_info

    info = run_info(args.workdir)
    if args.json:
        _print_json(info)
    else:
        print(format_info(info))


def _load(args):
    """The model of --workdir at --checkpoint; says on stderr which checkpoint it is."""
    from textvae.loading import load

    from textvae.rundir import RunDir

    model = load(args.workdir, checkpoint=args.checkpoint)
    print(f"textvae {args.command}: {RunDir(args.workdir).describe_checkpoint(model.checkpoint)}", file=sys.stderr)
    return model


def _print_json(value) -> None:
    import json

    print(json.dumps(value))


COMMANDS = {
    "train": cmd_train, "sample": cmd_sample, "classify": cmd_classify, "transfer": cmd_transfer, "reconstruct": cmd_reconstruct,
    "interpolate": cmd_interpolate, "neighbours": cmd_neighbours, "arithmetic": cmd_arithmetic,
    "encode": cmd_encode, "evaluate": cmd_evaluate, "plot": cmd_plot, "demo": cmd_demo,
    "info": cmd_info,
}
# commands that only read a run's files: answered without importing TensorFlow
LIGHT_COMMANDS = {"info"}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from textvae import environment

    if args.verbose:
        environment.configure(verbose=True)
    if args.command in LIGHT_COMMANDS:
        from textvae.checkpoints import CheckpointError
        from textvae.data import DataError

        try:
            COMMANDS[args.command](args)
        except (ConfigError, DataError, CheckpointError) as e:
            print(f"textvae {args.command}: error: {e}", file=sys.stderr)
            return 1
        return 0
    environment.import_tensorflow()
    from textvae.errors import USER_ERRORS

    try:
        COMMANDS[args.command](args)
    except USER_ERRORS as e:
        print(f"textvae {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:
        # the traceback's frames hold fit's tf.data iterator; free it while Python still runs,
        # or TensorFlow finalises it at exit and logs FAILED_PRECONDITION after a clean save
        e.__traceback__ = None
        del e
        import gc

        gc.collect()
        print(f"textvae {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
