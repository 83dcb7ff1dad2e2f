"""Where does the fluency of a demo VAE's samples go? Forward PPL under the demo LM of greedy
(or, with --beam-size, beam-search) decodes of: held-out text itself (the reference), reconstructions of held-out sentences, the
posterior means of training sentences (codes that real sentences have), draws from a Gaussian
fitted to those codes (`priors.CodeGaussian.fit`; the demo fits it to one posterior draw per
sentence instead), the same draws pulled towards the codes' mean (temperature), draws from a Gaussian mixture fitted to the codes by EM (Ghosh et al. 2020
fit a 10-component one), and draws from the demo's own Gaussian (`fit_code_gaussian`) at each
temperature and seed. A probe for docs/benchmarks.md, not a package feature.

  python scripts/sample_fluency_probe.py --workdir runs/quality_demo_imdb_hidden_192_lr_0.006_dropout_0 \\
      --lm runs/quality_demo_lm --out results/quality/sample_fluency_demo.json
"""

import argparse
import json
from pathlib import Path

import numpy as np

from textvae import load
from textvae.data import read_corpus
from textvae.demo import CODE_SENTENCES
from textvae.evaluation.generation import distinct_n, forward_perplexity
from textvae.priors import CodeGaussian
from textvae.rundir import RunDir

MAX_LENGTH = 48


def gaussian_log_densities(x, means, choleskys):
    """(n, K) log N(x_i; mean_k, L_k L_k^T)."""
    n, d = x.shape
    out = np.empty((n, len(means)))
    for k, (mean, chol) in enumerate(zip(means, choleskys)):
        white = np.linalg.solve(chol, (x - mean).T)
        out[:, k] = -0.5 * (white**2).sum(0) - np.log(np.diag(chol)).sum() - 0.5 * d * np.log(2 * np.pi)
    return out


def log_sum_exp(joint):
    """(n, K) -> (n,) log sum_k exp(joint[:, k])."""
    top = joint.max(1, keepdims=True)
    return top[:, 0] + np.log(np.exp(joint - top).sum(1))


def fit_mixture(x, k, seed=0, iterations=200, jitter=1e-4):
    """Full-covariance Gaussian mixture by EM -> (weights (K,), means (K, d), choleskys (K, d, d))."""
    n, d = x.shape
    means = x[np.random.default_rng(seed).choice(n, k, replace=False)]
    covariances = np.repeat(np.cov(x, rowvar=False)[None], k, 0) + jitter * np.eye(d)
    weights, previous = np.full(k, 1.0 / k), -np.inf
    for _ in range(iterations):
        chols = np.linalg.cholesky(covariances)
        joint = gaussian_log_densities(x, means, chols) + np.log(weights)
        per_point = log_sum_exp(joint)
        resp = np.exp(joint - per_point[:, None])
        counts = resp.sum(0) + 1e-10
        weights, means = counts / n, (resp.T @ x) / counts[:, None]
        for j in range(k):
            centred = x - means[j]
            covariances[j] = (resp[:, j, None] * centred).T @ centred / counts[j] + jitter * np.eye(d)
        if per_point.mean() - previous < 1e-6:
            break
        previous = per_point.mean()
    return weights, means, np.linalg.cholesky(covariances)


def mixture_log_likelihood(x, weights, means, choleskys):
    """Mean log density of the rows of x under the mixture."""
    return float(log_sum_exp(gaussian_log_densities(x, means, choleskys) + np.log(weights)).mean())


def mixture_sample(weights, means, choleskys, n, seed):
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(weights), n, p=weights)
    noise = rng.standard_normal((n, means.shape[1]))
    return np.stack([means[c] + choleskys[c] @ e for c, e in zip(chosen, noise)]).astype(np.float32)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", required=True, help="a demo VAE run")
    parser.add_argument("--lm", required=True, help="a language-model run on the same corpus")
    parser.add_argument("--codes", type=int, default=20000, help="training sentences (evenly spaced) to fit to")
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--components", type=int, nargs="*", default=[5, 10], help="mixtures beside the Gaussian")
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.8, 0.6])
    parser.add_argument("--beam-size", type=int, default=0,
                        help="decode by beam search of this width (`textvae demo` prints width 5); 0: greedy")
    parser.add_argument("--demo-seeds", type=int, nargs="*", default=[0, 1],
                        help="seeds of draws from the demo's own Gaussian (one posterior draw of each of "
                             "CODE_SENTENCES sentences) at 1.0 and each --temperatures")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    model, lm = load(args.workdir), load(args.lm)
    config = RunDir(args.workdir).read_config()
    training, held_out = (read_corpus(path, config.data).texts for path in (config.data.train, config.data.valid))
    ppl = lambda texts: forward_perplexity(lm, texts, MAX_LENGTH)
    strategy = {"strategy": "beam", "beam_size": args.beam_size} if args.beam_size else {}
    decode = lambda z: model.decode(np.asarray(z, np.float32), max_length=MAX_LENGTH, **strategy)

    spaced = [training[i] for i in np.linspace(0, len(training) - 1, args.codes).astype(int)]
    codes = np.concatenate([model.encode(spaced[i:i + 512]).mean().numpy()
                            for i in range(0, len(spaced), 512)]).astype(np.float64)
    held_codes = model.encode(held_out).mean().numpy().astype(np.float64)
    real = codes[np.linspace(0, len(codes) - 1, args.samples).astype(int)]
    result = {"workdir": args.workdir, "lm": args.lm, "codes": args.codes, "samples": args.samples,
              "beam_size": args.beam_size, "held_out_text": ppl(held_out),
              "held_out_reconstructions": ppl(model.reconstruct(held_out, max_length=MAX_LENGTH, **strategy)),
              "training_codes": ppl(decode(real)), "mixtures": []}

    def scored(z):
        texts = decode(z)
        return {"forward_ppl": ppl(texts), "duplicates": args.samples - len(set(texts)),
                "distinct_2": distinct_n(texts, 2), "examples": texts[:5]}

    gaussian = CodeGaussian.fit(codes)
    draws = gaussian.sample(args.samples, seed=0)
    parts = ([gaussian.mean], [gaussian.cholesky])
    result["gaussian"] = {"train_log_likelihood": mixture_log_likelihood(codes, [1.0], *parts),
                          "held_out_log_likelihood": mixture_log_likelihood(held_codes, [1.0], *parts),
                          **scored(draws)}
    result["temperatures"] = [{"temperature": t, **scored(gaussian.sample(args.samples, seed=0, temperature=t))}
                              for t in args.temperatures]
    demo_gaussian = model.fit_code_gaussian(training, limit=CODE_SENTENCES)  # as `textvae demo` fits it
    result["demo_gaussian"] = [
        {"seed": seed, "temperature": t, **scored(demo_gaussian.sample(args.samples, seed=seed, temperature=t))}
        for seed in args.demo_seeds for t in (1.0, *args.temperatures)]
    for row in result["demo_gaussian"]:
        print(json.dumps({k: v for k, v in row.items() if k != "examples"}), flush=True)
    for k in args.components:
        weights, means, chols = fit_mixture(codes, k)
        result["mixtures"].append({
            "components": k, "train_log_likelihood": mixture_log_likelihood(codes, weights, means, chols),
            "held_out_log_likelihood": mixture_log_likelihood(held_codes, weights, means, chols),
            **scored(mixture_sample(weights, means, chols, args.samples, seed=0))})
        print(json.dumps(result["mixtures"][-1]), flush=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items()
                      if k not in ("mixtures", "temperatures", "gaussian", "demo_gaussian")}))


if __name__ == "__main__":
    main()
