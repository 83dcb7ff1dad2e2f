"""Training speed at the PTB CPU size, against a plain PyTorch reference, in one process.

  pip install torch==2.13.0          # the reference only; never a dependency of textvae
  python scripts/benchmark_speed.py [--steps 50] [--batch-sizes 32 64] [--iw-sentences 64] [--intra-op-threads 1]
      [--rounds 5] [--interleaved-only]

Measures, on real PTB batches from textvae's own pipeline (length-bucketed):
  - training throughput in real (non-padding) tokens per second of the LSTM VAE
    (configs/ptb.yaml): plain graph step, XLA (widths rounded up to 8, so at
    most 13 shapes compile), sampled softmax (--sampled-softmax candidates) with
    and without XLA; the Transformer VAE (configs/ptb_transformer.yaml) with and
    without XLA; the LSTM VAE with `train.precision: mixed_bfloat16` (fast only on CPUs
    with bfloat16 instructions; not the same arithmetic, so not in the ratios below); each at
    every batch size;
  - the same LSTM VAE written plainly in PyTorch, on the same batches: the ratio
    textvae / reference for the same computation (exact softmax) is stored under
    `lstm_bs<B>_ratio`, the fastest textvae option's under `lstm_fastest_bs<B>_ratio`;
  - the exact LSTM step's achieved FLOP/s (counted from the shapes, padded
    positions included since they are computed) against a dense fp32 matmul
    measured in the same run: the fraction of peak;
  - interleaved (`--rounds`): per round, the exact LSTM step, the PyTorch reference and the
    matmul peak timed back to back on the same batches, so that a machine whose speed drifts
    (other tenants, clocks) moves all three alike; the per-round ratio and fraction of peak
    and their medians are stored under `interleaved_lstm_bs<B>_*` (the figures above are
    minutes apart, and on a noisy machine their ratio moves with the noise);
  - batches per second the input pipeline delivers on its own (it must outrun the step);
  - padding fraction of the batches (as batched, and with widths rounded to 8),
    peak resident memory of the process before PyTorch is imported;
  - IW-NLL (K = 500) time per sentence on a seeded sample of PTB test sentences,
    with and without XLA, extrapolated to the 3,761 test sentences (stated as such).
Every variant takes one untimed step per distinct batch shape first (XLA compiles
once per shape; a real run amortises that over thousands of steps); warm-up
seconds are recorded. Writes results/speed.json and prints a table. Run it on an
otherwise idle machine.
"""

import argparse
import json
import os
import platform
import resource
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from textvae import load_config
from textvae.data import encode_corpus, evaluation_batches, read_corpus, to_dataset, training_batches
from textvae.evaluation.estimators import iw_log_likelihood_batch
from textvae.tokenizer import train_tokenizer
from textvae.building import build_model
from textvae.training import compile_model, use_op_threads

ROOT = Path(__file__).resolve().parent.parent


def ptb_train(config):
    """(tokenizer, EncodedCorpus) of PTB train, read and encoded once for every measurement."""
    corpus = read_corpus(config.data.train, config.data)
    tokenizer = train_tokenizer(config.tokenizer, corpus.texts)
    return tokenizer, encode_corpus(corpus.texts, tokenizer, config.data.max_length)


def ptb_batches(config, encoded, batch_size, count, multiple=1, seed=0):
    stream = training_batches(encoded, batch_size, seed, multiple=multiple, max_width=config.data.max_length + 2)
    return [next(stream) for _ in range(count)]


def real_tokens(batch):
    return int(batch["padding_mask"][:, 1:].sum())


def timed(step, batches, shape=lambda batch: batch["token_ids"].shape):
    """(seconds for all batches, seconds spent warming up): one untimed step per distinct
    shape first, so XLA's compilations (once per shape in a real run) are not timed."""
    start = time.perf_counter()
    seen = set()
    for batch in batches:
        if shape(batch) not in seen:
            seen.add(shape(batch))
            step(batch)
    warm = time.perf_counter() - start
    start = time.perf_counter()
    for batch in batches:
        out = step(batch)
    float(out["loss"].detach() if hasattr(out["loss"], "detach") else out["loss"])
    return time.perf_counter() - start, warm


def time_textvae(config, tokenizer, batches, jit):
    model = build_model(config, tokenizer)
    compile_model(model, config)
    step = tf.function(model.train_step, jit_compile=jit, reduce_retracing=not jit)
    return timed(step, batches)


def lstm_step_flops(batch, config, vocab_size):
    """Forward + backward (3x forward) multiply-adds x 2 of the LSTM VAE on a padded batch."""
    b, t = batch["token_ids"].shape
    t -= 1  # predicted positions
    e, h, z = config.model.embedding_dim, config.model.hidden_dim, config.model.latent_dim
    encoder = 4 * (e + h) * h
    decoder = 4 * (e + z + h) * h
    softmax = h * vocab_size
    return 3 * 2 * b * t * (encoder + decoder + softmax)


def matmul_peaks(n=2048, repeats=10):
    """{count: FLOP/s} of the fastest of `repeats` runs of `count` independent dense fp32
    (n, n) x (n, n) matmuls through TensorFlow, for count 1 and the process's cores (with one
    thread per op, `--intra-op-threads 1`, only side-by-side ops reach every core). The
    larger is the peak this process can reach."""
    cores = len(os.sched_getaffinity(0))
    pairs = [(tf.random.normal((n, n)), tf.random.normal((n, n))) for _ in range(cores)]
    rates = {}
    for count in sorted({1, cores}):
        mm = tf.function(lambda: tf.add_n([tf.reduce_sum(tf.matmul(a, b)) for a, b in pairs[:count]]))
        float(mm())
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            float(mm())
            best = min(best, time.perf_counter() - start)
        rates[count] = count * 2 * n ** 3 / best
    return rates


def torch_reference(config, vocab_size):
    """(step, tensors, version): a train step of the same LSTM VAE written plainly in PyTorch
    (CPU), `tensors(batches)` turning textvae's batches into its inputs."""
    import torch
    from torch import nn

    torch.set_num_threads(max(1, len(os.sched_getaffinity(0))))
    e, h, z = config.model.embedding_dim, config.model.hidden_dim, config.model.latent_dim

    class Reference(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc_emb, self.enc = nn.Embedding(vocab_size, e), nn.LSTM(e, h, batch_first=True)
            self.to_post = nn.Linear(h, 2 * z)
            self.dec_emb, self.to_state = nn.Embedding(vocab_size, e), nn.Linear(z, 2 * h)
            self.dec = nn.LSTM(e + z, h, batch_first=True)
            self.drop = nn.Dropout(config.model.dropout)
            self.out = nn.Linear(h, vocab_size)

        def forward(self, ids, mask):
            enc_in, dec_in, targets = ids[:, 1:], ids[:, :-1], ids[:, 1:]
            tmask = mask[:, 1:].float()
            states, _ = self.enc(self.enc_emb(enc_in))
            last = mask[:, 1:].sum(1) - 1
            feats = states[torch.arange(ids.shape[0]), last]
            loc, logvar = self.to_post(feats).chunk(2, -1)
            zs = loc + torch.exp(0.5 * logvar) * torch.randn_like(loc)
            h0, c0 = self.to_state(zs).chunk(2, -1)
            x = torch.cat([self.dec_emb(dec_in), zs[:, None].expand(-1, dec_in.shape[1], -1)], -1)
            out, _ = self.dec(self.drop(x), (torch.tanh(h0)[None].contiguous(), c0[None].contiguous()))
            logits = self.out(self.drop(out))
            nll = nn.functional.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
            kl = 0.5 * (loc ** 2 + logvar.exp() - 1 - logvar).sum(-1)
            return ((nll * tmask).sum(1) + kl).mean()

    model = Reference()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(pair):
        optimizer.zero_grad()
        loss = model(*pair)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        return {"loss": loss}

    def tensors(batches):
        return [(torch.from_numpy(b["token_ids"]).long(), torch.from_numpy(b["padding_mask"])) for b in batches]

    return step, tensors, torch.__version__


def torch_shape(pair):
    return tuple(pair[0].shape)


def time_torch(config, vocab_size, batches):
    """Seconds of the PyTorch reference over `batches`, and its version."""
    step, tensors, version = torch_reference(config, vocab_size)
    seconds, _ = timed(step, tensors(batches), shape=torch_shape)
    return seconds, version


def interleaved_rounds(config, tokenizer, batches, rounds):
    """{"ratio": [...], "fraction_of_matmul_peak": [...]} per round: the exact LSTM step, the
    PyTorch reference and the matmul peak timed back to back on the same batches (the order of
    the two steps alternating), so that a machine whose speed drifts between the variants above
    moves all three of a round alike."""
    model = build_model(config, tokenizer)
    compile_model(model, config)
    tf_step = tf.function(model.train_step, reduce_retracing=True)
    torch_step, tensors, _ = torch_reference(config, tokenizer.vocab_size)
    pairs = tensors(batches)
    flops = sum(lstm_step_flops(b, config, tokenizer.vocab_size) for b in batches)
    ratios, fractions = [], []  # `timed` steps once per shape untimed first, so tracing is never timed
    for index in range(rounds):
        order = ("tf", "torch") if index % 2 == 0 else ("torch", "tf")
        seconds = {}
        for name in order:
            seconds[name] = (timed(tf_step, batches) if name == "tf"
                             else timed(torch_step, pairs, shape=torch_shape))[0]
        peak = max(matmul_peaks(repeats=3).values())
        ratios.append(seconds["torch"] / seconds["tf"])  # tokens per second, textvae over PyTorch
        fractions.append(flops / seconds["tf"] / peak)
    return {"ratio": ratios, "fraction_of_matmul_peak": fractions}


def input_pipeline_batches_per_second(encoded, batch_size: int, count: int = 2000) -> float:
    """Batches per second the training input pipeline (NumPy padding -> prefetched tf.data) delivers alone."""
    dataset = to_dataset(training_batches(encoded, batch_size, seed=0)).take(count)
    start = time.perf_counter()
    for _ in dataset:
        pass
    return count / (time.perf_counter() - start)


def iw_seconds_per_sentence(config, tokenizer, sentences: int, jit: bool) -> float:
    """IW-NLL (K = 500) seconds per PTB test sentence over a seeded sample of sentences."""
    model = build_model(config, tokenizer)
    compile_model(model, config)
    test = read_corpus(config.data.test, config.data).texts
    chosen = np.random.default_rng(0).choice(len(test), sentences, replace=False)
    encoded = encode_corpus([test[i] for i in chosen], tokenizer, config.data.max_length)
    batches = list(evaluation_batches(encoded, 32, multiple=8 if jit else 1, max_width=model.max_positions))
    iw_log_likelihood_batch(model, batches[0], 500, jit_compile=jit)  # trace / compile
    start = time.perf_counter()
    for batch in batches:
        iw_log_likelihood_batch(model, batch, 500, jit_compile=jit)
    return (time.perf_counter() - start) / len(encoded.sequences)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[32, 64])
    parser.add_argument("--sampled-softmax", type=int, default=1024)
    parser.add_argument("--xla-batch-sizes", nargs="+", type=int, default=[32],
                        help="batch sizes at which the XLA variants are timed (each compiles ~13 shapes)")
    parser.add_argument("--iw-sentences", type=int, default=64)
    parser.add_argument("--iw-xla-sentences", type=int, default=32)
    parser.add_argument("--skip-torch", action="store_true")
    parser.add_argument("--rounds", type=int, default=5,
                        help="rounds of the interleaved exact-LSTM / PyTorch / peak measurement (0: none)")
    parser.add_argument("--interleaved-only", action="store_true",
                        help="only the interleaved measurement (and the input pipeline and padding)")
    parser.add_argument("--intra-op-threads", type=int, default=0,
                        help="threads per TensorFlow op, as train.intra_op_threads (0: TensorFlow's default)")
    parser.add_argument("--out", default=str(ROOT / "results" / "speed.json"))
    args = parser.parse_args()
    use_op_threads(args.intra_op_threads)  # before TensorFlow's runtime starts
    lstm = load_config(ROOT / "configs" / "ptb.yaml", ["train.progress_bar=false"])
    sampled = load_config(ROOT / "configs" / "ptb.yaml",
                          ["train.progress_bar=false", f"train.sampled_softmax={args.sampled_softmax}"])
    transformer = load_config(ROOT / "configs" / "ptb_transformer.yaml", ["train.progress_bar=false"])
    bfloat16 = load_config(ROOT / "configs" / "ptb.yaml", ["train.progress_bar=false", "train.precision=mixed_bfloat16"])
    results = {"machine": {"processor": platform.processor() or platform.machine(),
                           "cpus": len(os.sched_getaffinity(0)),
                           "tensorflow": tf.__version__,
                           "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads()},
               "steps_timed": args.steps, "sampled_softmax_candidates": args.sampled_softmax}
    peaks = matmul_peaks()
    peak = max(peaks.values())
    results["matmul_peak_flops"] = peak
    results["matmul_flops_by_side_by_side_count"] = peaks
    tokenizer, encoded = ptb_train(lstm)
    vocab = tokenizer.vocab_size
    for batch_size in args.batch_sizes:  # to compare with the steps per second below
        results[f"input_pipeline_bs{batch_size}_batches_per_second"] = input_pipeline_batches_per_second(
            encoded, batch_size)
    prepared = {}
    for batch_size in args.batch_sizes:
        key = f"bs{batch_size}"
        batches = ptb_batches(lstm, encoded, batch_size, args.steps)
        rounded = ptb_batches(lstm, encoded, batch_size, args.steps, multiple=8)  # the same sentences, widths to 8
        tokens = sum(real_tokens(b) for b in batches)
        prepared[key] = (batches, tokens)
        for name, stream in (("", batches), ("_width8", rounded)):
            padded = sum(b["padding_mask"][:, 1:].size for b in stream)
            results[f"padding_fraction{name}_{key}"] = 1 - tokens / padded
        variants = (("lstm", lstm, False, batches), ("lstm_xla", lstm, True, rounded),
                    ("lstm_sampled", sampled, False, batches), ("lstm_sampled_xla", sampled, True, rounded),
                    ("transformer", transformer, False, batches), ("transformer_xla", transformer, True, rounded),
                    ("lstm_bfloat16", bfloat16, False, batches))
        for name, config, jit, stream in variants:
            if args.interleaved_only or jit and batch_size not in args.xla_batch_sizes:
                continue
            seconds, warm = time_textvae(config, tokenizer, stream, jit)
            results[f"{name}_{key}_tokens_per_second"] = tokens / seconds
            results[f"{name}_{key}_warmup_seconds"] = warm
            if name in ("lstm", "lstm_xla"):
                flops = sum(lstm_step_flops(b, lstm, vocab) for b in stream)
                results[f"{name}_{key}_fraction_of_matmul_peak"] = flops / seconds / peak
            print(f"{name}_{key}: {tokens / seconds:.0f} real tokens/s", flush=True)
    for name, jit, count in (("iw500", False, args.iw_sentences), ("iw500_xla", True, args.iw_xla_sentences)):
        if count and not args.interleaved_only:
            per_sentence = iw_seconds_per_sentence(lstm, tokenizer, count, jit)
            results[f"{name}_seconds_per_sentence"] = per_sentence
            results[f"{name}_ptb_test_minutes_extrapolated"] = per_sentence * 3761 / 60
    # before PyTorch is imported: the memory textvae's training needed
    results["peak_rss_gib_textvae"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    if not args.skip_torch and not args.interleaved_only:
        for key, (batches, tokens) in prepared.items():
            seconds, version = time_torch(lstm, vocab, batches)
            results["torch"] = version
            reference = tokens / seconds
            results[f"reference_lstm_{key}_tokens_per_second"] = reference
            exact = max(results.get(f"lstm{x}_{key}_tokens_per_second", 0) for x in ("", "_xla"))
            results[f"lstm_{key}_ratio"] = exact / reference  # the same computation: exact softmax
            fastest = max(results.get(f"lstm{x}_{key}_tokens_per_second", 0)
                          for x in ("", "_xla", "_sampled", "_sampled_xla"))
            results[f"lstm_fastest_{key}_ratio"] = fastest / reference
    if not args.skip_torch and args.rounds:
        for key, (batches, _) in prepared.items():
            rounds = interleaved_rounds(lstm, tokenizer, batches, args.rounds)
            for name, values in rounds.items():
                results[f"interleaved_lstm_{key}_{name}_rounds"] = values
                results[f"interleaved_lstm_{key}_{name}_median"] = float(np.median(values))
            print(f"interleaved {key}: ratio {np.median(rounds['ratio']):.2f}, "
                  f"fraction of peak {np.median(rounds['fraction_of_matmul_peak']):.2f}", flush=True)
    out = Path(args.out)
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    for key, value in results.items():
        print(f"{key:48s} {value}")


if __name__ == "__main__":
    main()
