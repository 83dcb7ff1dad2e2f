"""The training step with textvae's fused kernels against TensorFlow's and Keras' own, in one process.

  python scripts/benchmark_step_kernels.py [--batch-sizes 32 64] [--batches 30] [--rounds 8]

Two copies of the PTB LSTM VAE (configs/ptb.yaml) take the same real batches: one as
textvae trains it (`cross_entropy.token_nll`, `optimizer.FusedAdam`), one with the
kernels these replaced (`tf.nn.sparse_softmax_cross_entropy_with_logits`,
`keras.optimizers.Adam`). Rounds alternate between the two, so a machine whose
speed drifts (a shared host) moves both alike; the medians over rounds are compared.
Every shape is traced (and compiled) once before timing. Writes
results/step_kernels.json and prints the medians.
"""

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import keras
import tensorflow as tf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from benchmark_speed import ptb_batches, ptb_train, real_tokens  # noqa: E402
from textvae import load_config  # noqa: E402
from textvae import model as model_module  # noqa: E402
from textvae import training  # noqa: E402
from textvae.base import sequence_nll  # noqa: E402
from textvae.building import build_model  # noqa: E402
from textvae.optimizer import FusedAdam  # noqa: E402


def tensorflow_sequence_nll(logits, targets, mask):
    """base.sequence_nll as it was before textvae.cross_entropy (TensorFlow's kernel)."""
    return tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(targets, logits) * mask, axis=1)


def traced_step(config, tokenizer, batches, fused: bool):
    """(the model's train_step as a tf.function, every batch shape traced with the chosen kernels,
    the optimizer's class name)."""
    model_module.sequence_nll = sequence_nll if fused else tensorflow_sequence_nll
    training.FusedAdam = FusedAdam if fused else keras.optimizers.Adam
    try:
        model = build_model(config, tokenizer)
        training.compile_model(model, config)
        step = tf.function(model.train_step, reduce_retracing=True)
        for batch in batches:  # traces now, while the chosen kernels are in place
            step(batch)
    finally:
        model_module.sequence_nll, training.FusedAdam = sequence_nll, FusedAdam
    return step, type(model.optimizer).__name__


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[32, 64])
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--out", default=str(ROOT / "results" / "step_kernels.json"))
    args = parser.parse_args()
    config = load_config(ROOT / "configs" / "ptb.yaml")
    tokenizer, encoded = ptb_train(config)
    result = {"machine": {"processor": platform.processor(), "tensorflow": tf.__version__},
              "rounds": args.rounds, "batches": args.batches}
    for batch_size in args.batch_sizes:
        batches = ptb_batches(config, encoded, batch_size, args.batches)
        tokens = sum(real_tokens(b) for b in batches)
        steps, optimizers = {}, {}
        for name, fused in (("tensorflow_kernels", False), ("textvae_kernels", True)):
            steps[name], optimizers[name] = traced_step(config, tokenizer, batches, fused)
        rates = {name: [] for name in steps}
        for _ in range(args.rounds):
            for name, step in steps.items():
                start = time.perf_counter()
                for batch in batches:
                    out = step(batch)
                float(out["loss"])
                rates[name].append(tokens / (time.perf_counter() - start))
        medians = {name: statistics.median(values) for name, values in rates.items()}
        result[f"bs{batch_size}"] = {"tokens_per_second": rates, "median": medians, "optimizer": optimizers,
                                     "speedup": medians["textvae_kernels"] / medians["tensorflow_kernels"]}
        print(f"batch {batch_size}: median real tokens/s {medians['tensorflow_kernels']:.0f} (TensorFlow/Keras "
              f"kernels) -> {medians['textvae_kernels']:.0f} (textvae's): "
              f"{result[f'bs{batch_size}']['speedup']:.2f}x", flush=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
