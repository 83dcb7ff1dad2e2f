"""Decoding speed: compiled greedy / beam search against a plain eager Python loop.

  python scripts/benchmark_decoding.py [--workdir RUN] [--batch 64] [--max-length 30]

Without --workdir, an untrained model at the PTB CPU size (vocabulary 10,002,
embedding 256, LSTM 256, latent 32) is used: speed does not depend on the weights,
but every row then runs to --max-length (no early EOS), the worst case. Writes
results/decoding_speed.json and prints it.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from textvae.decoding import DecodeOptions, generate_ids
from textvae.model import SentenceVAE
from textvae.spec import ModelSpec
from textvae.tokenizer import BOS_ID, EOS_ID, PAD_ID

ROOT = Path(__file__).resolve().parent.parent


def eager_greedy(decoder, z, max_length):
    """The reference: one Python iteration per token, eager ops."""
    state = decoder.initial_state(z)
    tokens = tf.fill([z.shape[0]], BOS_ID)
    finished = np.zeros(z.shape[0], bool)
    out = []
    for _ in range(max_length):
        logits, state = decoder.step(tokens, state, z)
        tokens = tf.argmax(logits, axis=-1, output_type=tf.int32)
        tokens = tf.where(finished, PAD_ID, tokens)
        out.append(tokens.numpy())
        finished |= out[-1] == EOS_ID
        if finished.all():
            break
    return np.stack(out, axis=1)


def timed(fn, repeats):
    fn()  # trace / warm up
    start = time.perf_counter()
    for _ in range(repeats):
        result = fn()
    return (time.perf_counter() - start) / repeats, result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=30)
    parser.add_argument("--beam-size", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "results" / "decoding_speed.json"))
    args = parser.parse_args()
    if args.workdir:
        from textvae import load

        model = load(args.workdir)
    else:
        model = SentenceVAE(ModelSpec(10002, latent_dim=32, embedding_dim=256, hidden_dim=256, seed=0))
        model({"token_ids": np.array([[2, 4, 3]], np.int32), "padding_mask": np.ones((1, 3), bool)})
    z = tf.constant(np.random.default_rng(0).standard_normal((args.batch, model.latent_dim)), tf.float32)
    results = {"batch": args.batch, "max_length": args.max_length, "workdir": args.workdir}
    for name, options in (("greedy", DecodeOptions("greedy", args.max_length)),
                          ("beam", DecodeOptions("beam", args.max_length, beam_size=args.beam_size))):
        compiled = tf.function(lambda z, o=options: generate_ids(model.decoder, z, o))
        seconds, out = timed(lambda: compiled(z)["ids"].numpy(), args.repeats)
        results[f"{name}_sentences_per_second"] = args.batch / seconds
        results[f"{name}_tokens_generated"] = int(out.shape[1])
    seconds, eager_ids = timed(lambda: eager_greedy(model.decoder, z, args.max_length), args.repeats)
    results["eager_greedy_sentences_per_second"] = args.batch / seconds
    compiled_ids = tf.function(lambda z: generate_ids(model.decoder, z, DecodeOptions("greedy", args.max_length)))(z)
    results["eager_equals_compiled"] = bool(np.array_equal(eager_ids, compiled_ids["ids"].numpy()))
    results["greedy_speedup_ratio"] = results["greedy_sentences_per_second"] / results["eager_greedy_sentences_per_second"]
    Path(args.out).parent.mkdir(exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
