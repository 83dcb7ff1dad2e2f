"""Command line: parse arguments, call the API, print results (stdout) and logs (stderr)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path


def _common_decode(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workdir", required=True, help="run directory written by `textvae train`")
    parser.add_argument("--max-length", type=int, default=50, help="tokens to generate at most")
    parser.add_argument("--temperature", type=float, default=0.0, help="0: greedy; >0: sampling")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="textvae", description="Sentence VAEs on TensorFlow / Keras 3.")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("train", help="train a model, or resume the run in --workdir")
    p.add_argument("--config", help="YAML config (omit to resume the run in --workdir)")
    p.add_argument("--workdir", help="run directory (default: runs/<config name>)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set model.latent_dim=16 (repeatable)")

    p = commands.add_parser("sample", help="decode N samples from the prior")
    _common_decode(p)
    p.add_argument("-n", type=int, default=10, help="number of sentences")
    p.add_argument("--seed", type=int, default=0)

    p = commands.add_parser("reconstruct", help="encode and decode sentences read from stdin")
    _common_decode(p)

    p = commands.add_parser("interpolate", help="decode points between two sentences")
    _common_decode(p)
    p.add_argument("start")
    p.add_argument("end")
    p.add_argument("--steps", type=int, default=5, help="intermediate points (K+2 lines printed)")

    p = commands.add_parser("evaluate", help="IW-NLL, perplexity, ELBO, KL, MI, active units on a corpus")
    p.add_argument("--workdir", required=True)
    p.add_argument("--data", help="corpus file (default: the run's data.test)")
    p.add_argument("--iw-samples", type=int, default=500, help="importance samples K per sentence")
    p.add_argument("--split-name", help="name recorded with the result (default: the file name)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", default="best", help="best, latest, or a ckpt-<step> directory name")

    p = commands.add_parser("demo", help="train on the BBC News demo corpus and show the results")
    p.add_argument("--workdir", default="runs/demo")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    return parser


def cmd_train(args) -> None:
    from textvae.config import ConfigError, load_config
    from textvae.train import train

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
    model = _load(args.workdir)
    for line in model.sample(args.n, seed=args.seed, **_decode_kwargs(args)):
        print(line)


def cmd_reconstruct(args) -> None:
    model = _load(args.workdir)
    sentences = [line.strip() for line in sys.stdin]
    outputs = model.reconstruct(sentences, **_decode_kwargs(args)) if sentences else []
    for line in outputs:
        print(line)


def cmd_interpolate(args) -> None:
    model = _load(args.workdir)
    for line in model.interpolate(args.start, args.end, steps=args.steps, **_decode_kwargs(args)):
        print(line)


def cmd_evaluate(args) -> None:
    from textvae.evaluation import evaluate_run

    result = evaluate_run(args.workdir, args.data, iw_samples=args.iw_samples, split_name=args.split_name,
                          batch_size=args.batch_size, seed=args.seed, checkpoint=args.checkpoint)
    _print_json(result)


def cmd_demo(args) -> None:
    from textvae.demo import demo_config, show
    from textvae.saving import load
    from textvae.train import train

    workdir = Path(args.workdir)
    config = demo_config(workdir, args.set)
    with contextlib.redirect_stdout(sys.stderr):
        train(config, workdir)
    model = load(workdir)
    valid = Path(config.data.valid).read_text(encoding="utf-8").split("\n")
    show(model, [s.lower() for s in valid if s][::97])
    print(f"== run directory: {workdir} (try: textvae sample --workdir {workdir} -n 5) ==")


def _load(workdir: str):
    from textvae.saving import load

    return load(workdir)


def _decode_kwargs(args) -> dict:
    return {"max_length": args.max_length, "temperature": args.temperature}


def _print_json(value) -> None:
    import json

    print(json.dumps(value))


COMMANDS = {
    "train": cmd_train, "sample": cmd_sample, "reconstruct": cmd_reconstruct,
    "interpolate": cmd_interpolate, "evaluate": cmd_evaluate, "demo": cmd_demo,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from textvae.errors import USER_ERRORS

    try:
        COMMANDS[args.command](args)
    except USER_ERRORS as e:
        print(f"textvae {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"textvae {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
