"""Training speed at the PTB CPU size, against a plain PyTorch reference, in one process.

  pip install torch==2.13.0          # the reference only; never a dependency of textvae
  python scripts/benchmark_speed.py [--steps 30] [--batch-sizes 32 64] [--iw-sentences 100]

Measures, on real PTB batches from textvae's own pipeline (length-bucketed):
  - training throughput in real (non-padding) tokens per second of the LSTM VAE
    (configs/ptb.yaml) with and without XLA, and of the Transformer VAE
    (configs/ptb_transformer.yaml), at each batch size;
  - the same LSTM VAE written plainly in PyTorch, on the same batches: the ratio
    textvae / reference is stored under `lstm_bs<B>_ratio`;
  - the LSTM step's achieved FLOP/s (counted from the shapes, padded positions
    included since they are computed) against a dense fp32 matmul measured in
    the same run: the fraction of peak;
  - padding fraction of the batches, peak resident memory of the process;
  - IW-NLL (K = 500) time per sentence on PTB test sentences, extrapolated to the
    3,761 test sentences (stated as such in the JSON);
Writes results/speed.json and prints a table. Run it on an otherwise idle machine.
XLA compiles once per batch shape: with length-bucketed batches of varying
widths, --steps must be large enough for the compile time to amortise.
"""

import argparse
import json
import platform
import resource
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from textvae import load_config
from textvae.data import encode_corpus, evaluation_batches, read_corpus, training_batches
from textvae.metrics import iw_log_likelihood_batch
from textvae.tokenizer import train_tokenizer
from textvae.train import build_model, compile_model

ROOT = Path(__file__).resolve().parent.parent


def ptb_batches(config, batch_size, count, seed=0):
    corpus = read_corpus(config.data.train, config.data)
    tokenizer = train_tokenizer(config.tokenizer, corpus.texts)
    encoded = encode_corpus(corpus.texts, tokenizer, config.data.max_length)
    stream = training_batches(encoded, batch_size, seed)
    return tokenizer, [next(stream) for _ in range(count)]


def real_tokens(batch):
    return int(batch["padding_mask"][:, 1:].sum())


def time_textvae(config, vocab_size, batches, jit):
    model = build_model(config, vocab_size)
    compile_model(model, config)
    step = tf.function(model.train_step, jit_compile=jit, reduce_retracing=True)
    for batch in batches[:3]:  # trace the shapes seen first
        step(batch)
    start = time.perf_counter()
    for batch in batches:
        out = step(batch)
    float(out["loss"])
    return time.perf_counter() - start


def lstm_step_flops(batch, config, vocab_size):
    """Forward + backward (3x forward) multiply-adds x 2 of the LSTM VAE on a padded batch."""
    b, t = batch["token_ids"].shape
    t -= 1  # predicted positions
    e, h, z = config.model.embedding_dim, config.model.hidden_dim, config.model.latent_dim
    encoder = 4 * (e + h) * h
    decoder = 4 * (e + z + h) * h
    softmax = h * vocab_size
    return 3 * 2 * b * t * (encoder + decoder + softmax)


def matmul_peak(n=2048, repeats=10):
    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    mm = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
    float(mm())
    start = time.perf_counter()
    for _ in range(repeats):
        float(mm())
    return 2 * n ** 3 * repeats / (time.perf_counter() - start)


def time_torch(config, vocab_size, batches):
    """The same LSTM VAE written plainly in PyTorch (CPU), trained on the same batches."""
    import torch
    from torch import nn

    torch.set_num_threads(max(1, len(__import__("os").sched_getaffinity(0))))
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
    tensors = [(torch.from_numpy(b["token_ids"]).long(), torch.from_numpy(b["padding_mask"])) for b in batches]

    def step(ids, mask):
        optimizer.zero_grad()
        loss = model(ids, mask)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        return loss

    for ids, mask in tensors[:3]:
        step(ids, mask)
    start = time.perf_counter()
    for ids, mask in tensors:
        loss = step(ids, mask)
    loss.item()
    return time.perf_counter() - start, torch.__version__


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[32, 64])
    parser.add_argument("--iw-sentences", type=int, default=100)
    parser.add_argument("--skip-torch", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "results" / "speed.json"))
    args = parser.parse_args()
    lstm = load_config(ROOT / "configs" / "ptb.yaml", ["train.progress_bar=false"])
    transformer = load_config(ROOT / "configs" / "ptb_transformer.yaml", ["train.progress_bar=false"])
    results = {"machine": {"processor": platform.processor() or platform.machine(),
                           "cpus": len(__import__("os").sched_getaffinity(0)),
                           "tensorflow": tf.__version__},
               "steps_timed": args.steps}
    peak = matmul_peak()
    results["matmul_peak_flops"] = peak
    prepared = {}
    for batch_size in args.batch_sizes:
        tokenizer, batches = ptb_batches(lstm, batch_size, args.steps)
        vocab = tokenizer.vocab_size
        tokens = sum(real_tokens(b) for b in batches)
        padded = sum(b["padding_mask"][:, 1:].size for b in batches)
        flops = sum(lstm_step_flops(b, lstm, vocab) for b in batches)
        key = f"bs{batch_size}"
        prepared[key] = (batches, tokens)
        results[f"padding_fraction_{key}"] = 1 - tokens / padded
        for name, config, jit in (("lstm", lstm, False), ("lstm_xla", lstm, True),
                                  ("transformer", transformer, False)):
            seconds = time_textvae(config, vocab, batches, jit)
            results[f"{name}_{key}_tokens_per_second"] = tokens / seconds
            if name.startswith("lstm"):
                results[f"{name}_{key}_fraction_of_matmul_peak"] = flops / seconds / peak
    if args.iw_sentences:
        model = build_model(lstm, vocab)
        compile_model(model, lstm)
        test = read_corpus(lstm.data.test, lstm.data).texts
        chosen = np.random.default_rng(0).choice(len(test), args.iw_sentences, replace=False)
        encoded = encode_corpus([test[i] for i in chosen], tokenizer, lstm.data.max_length)
        batches = list(evaluation_batches(encoded, 32))
        iw_log_likelihood_batch(model, batches[0], 500)  # trace
        start = time.perf_counter()
        for batch in batches:
            iw_log_likelihood_batch(model, batch, 500)
        per_sentence = (time.perf_counter() - start) / len(encoded.sequences)
        results["iw500_seconds_per_sentence"] = per_sentence
        results["iw500_ptb_test_minutes_extrapolated"] = per_sentence * 3761 / 60
    # before PyTorch is imported: the memory textvae's training needed
    results["peak_rss_gib_textvae"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    if not args.skip_torch:
        for key, (batches, tokens) in prepared.items():
            seconds, version = time_torch(lstm, vocab, batches)
            results["torch"] = version
            results[f"reference_lstm_{key}_tokens_per_second"] = tokens / seconds
            best = max(results[f"lstm_{key}_tokens_per_second"], results[f"lstm_xla_{key}_tokens_per_second"])
            results[f"lstm_{key}_ratio"] = best / results[f"reference_lstm_{key}_tokens_per_second"]
    out = Path(args.out)
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    for key, value in results.items():
        print(f"{key:48s} {value}")


if __name__ == "__main__":
    main()
