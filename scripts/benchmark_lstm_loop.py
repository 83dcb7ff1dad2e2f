"""The LSTM VAE's training step with Keras' own LSTM loop against textvae's ProjectedLSTM
(inputs projected once per sequence), in one process on the same batches.

  python scripts/benchmark_lstm_loop.py [--config configs/ptb.yaml] [--steps 40] [--rounds 3]

Rounds alternate the two loops (keras, projected, keras, ...) on the same PTB batches
so that a machine shared with other jobs slows both alike; reports real tokens per
second of each (the best round and the median), the ratio, and the largest difference
of the loss and of the gradients between the two at the same weights and noise (they
must agree within float rounding). Writes results/lstm_loop.json.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from benchmark_speed import ptb_batches, ptb_train, real_tokens  # noqa: E402
from hardware import cpu_name  # noqa: E402

from textvae import load_config  # noqa: E402
from textvae.building import build_model  # noqa: E402
from textvae.lstm import ProjectedLSTM  # noqa: E402
from textvae.training import compile_model  # noqa: E402


def agreement(model, batch) -> dict:
    """Largest |difference| of the loss and of every gradient between the two loops."""
    noise = tf.random.stateless_normal([len(batch["token_ids"]), model.latent_dim], [0, 1])
    results = []
    for hoist in (False, True):
        ProjectedLSTM.hoist_inputs = hoist
        with tf.GradientTape() as tape:
            loss = model.objective(batch, training=False, noise=noise)["loss"]
        grads = tape.gradient(loss, model.trainable_variables)
        results.append((float(loss), [tf.convert_to_tensor(g).numpy() for g in grads]))
    (loss_a, grads_a), (loss_b, grads_b) = results
    return {"loss_keras": loss_a, "loss_abs_difference": abs(loss_a - loss_b),
            "gradient_max_abs_difference": float(max(np.abs(a - b).max() for a, b in zip(grads_a, grads_b))),
            "gradient_max_abs": float(max(np.abs(a).max() for a in grads_a))}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default=str(ROOT / "configs" / "ptb.yaml"))
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[32, 64])
    parser.add_argument("--out", default=str(ROOT / "results" / "lstm_loop.json"))
    args = parser.parse_args()
    config = load_config(args.config, args.set)
    tokenizer, encoded = ptb_train(config)
    result = {"config": args.config, "overrides": args.set, "cpu": cpu_name(), "steps_per_round": args.steps,
              "rounds": args.rounds}
    for batch_size in args.batch_sizes:
        batches = ptb_batches(config, encoded, batch_size, args.steps)
        tokens = sum(real_tokens(b) for b in batches)
        model = build_model(config, tokenizer)
        compile_model(model, config)
        result[f"bs{batch_size}_agreement"] = agreement(model, batches[0])
        steps = {}
        for hoist in (False, True):  # one tf.function per loop, traced per shape before timing
            ProjectedLSTM.hoist_inputs = hoist
            steps[hoist] = tf.function(model.train_step, reduce_retracing=True)
            for shape in {b["token_ids"].shape: b for b in batches}.values():
                steps[hoist](shape)
        speeds = {False: [], True: []}
        for _ in range(args.rounds):
            for hoist in (False, True):
                ProjectedLSTM.hoist_inputs = hoist
                start = time.perf_counter()
                for batch in batches:
                    out = steps[hoist](batch)
                float(out["loss"])
                speeds[hoist].append(tokens / (time.perf_counter() - start))
        ProjectedLSTM.hoist_inputs = True
        for hoist, name in ((False, "keras"), (True, "projected")):
            result[f"bs{batch_size}_{name}_tokens_per_second"] = {"best": max(speeds[hoist]),
                                                                  "median": statistics.median(speeds[hoist]),
                                                                  "rounds": speeds[hoist]}
        result[f"bs{batch_size}_ratio_median"] = (statistics.median(speeds[True])
                                                 / statistics.median(speeds[False]))
        print(batch_size, json.dumps({k: v for k, v in result.items() if k.startswith(f"bs{batch_size}")}),
              file=sys.stderr)
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
