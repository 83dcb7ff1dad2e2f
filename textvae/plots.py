"""Pictures of a run (matplotlib, an optional extra): training curves, per-dimension
KL bars and a PCA of posterior means coloured by label."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, no display
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plots need matplotlib: pip install 'textvae[plot]'") from None
    return plt


def plot_training_curves(metrics_path: Path, out: Path) -> Path:
    """Reconstruction, KL, KL weight and validation -ELBO against the step."""
    plt = _pyplot()
    records = [json.loads(line) for line in Path(metrics_path).read_text().splitlines() if line.strip()]
    train = [r for r in records if "loss" in r]
    valid = [r for r in records if "valid_elbo" in r]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    panels = [("reconstruction", "reconstruction (nats / sentence)"), ("kl", "KL (nats / sentence)"),
              ("kl_weight", "KL weight")]
    for ax, (key, title) in zip(axes.flat, panels):
        ax.plot([r["step"] for r in train], [r[key] for r in train])
        ax.set_title(title)
    ax = axes.flat[3]
    ax.plot([r["step"] for r in valid], [-r["valid_elbo"] for r in valid], marker="o")
    ax.set_title("validation -ELBO (nats / sentence)")
    for ax in axes[1]:
        ax.set_xlabel("step")
    return _save(fig, plt, out)


def plot_kl_per_dimension(kl_per_dim: Sequence[float], out: Path, threshold: float = 0.01) -> Path:
    """Bars of the mean KL of each latent dimension (active units stand out)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(6, 0.3 * len(kl_per_dim)), 4))
    ax.bar(np.arange(len(kl_per_dim)), kl_per_dim, color="tab:blue")
    ax.axhline(threshold, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("latent dimension")
    ax.set_ylabel("KL (nats)")
    ax.set_title(f"KL per dimension (total {float(np.sum(kl_per_dim)):.2f} nats)")
    return _save(fig, plt, out)


def plot_posterior_pca(loc: np.ndarray, out: Path, labels: Sequence[str] | None = None) -> Path:
    """2-D PCA of posterior means, coloured by label when there are labels."""
    plt = _pyplot()
    centred = loc - loc.mean(axis=0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    xy = centred @ vt[:2].T if vt.shape[0] >= 2 else np.column_stack([centred[:, 0], np.zeros(len(loc))])
    explained = singular**2 / max(float((singular**2).sum()), 1e-12)
    fig, ax = plt.subplots(figsize=(7, 6))
    if labels is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=6, alpha=0.5)
    else:
        for label in sorted(set(labels)):
            mask = np.asarray(labels) == label
            ax.scatter(xy[mask, 0], xy[mask, 1], s=6, alpha=0.5, label=str(label))
        ax.legend(markerscale=3, title="label")
    ax.set_xlabel(f"PC1 ({explained[0]:.0%})")
    ax.set_ylabel(f"PC2 ({explained[1]:.0%})" if len(explained) > 1 else "PC2")
    ax.set_title("posterior means, PCA")
    return _save(fig, plt, out)


def _save(fig, plt, out: Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def plot_run(workdir: str | Path, data: str | Path | None = None, label_field: str | None = None,
             max_sentences: int = 5000) -> list[Path]:
    """Writes PNGs into `workdir/plots/`: curves always; KL bars and PCA from `data`
    (default: the run's data.valid) when there is one, coloured by `label_field`
    (default: the run's data.label_field). M2 runs get the curves only (their
    posterior depends on the label); runs with a learnt prior no KL bars."""
    import dataclasses

    from textvae.data import encode_corpus, evaluation_batches, read_corpus
    from textvae.distributions import kl_per_dimension
    from textvae.loading import load_run
    from textvae.rundir import RunDir

    run = RunDir(workdir)
    written = [plot_training_curves(run.metrics_path, run.plots_dir / "training.png")]
    config = run.read_config()
    path = data or config.data.valid
    if not path or config.m2.enabled:
        return written
    model = load_run(run, config)
    data_config = config.data if label_field is None else dataclasses.replace(config.data, label_field=label_field)
    corpus = read_corpus(path, data_config)
    texts = corpus.texts[:max_sentences]
    labels = corpus.labels[:max_sentences] if corpus.labels is not None else None
    encoded = encode_corpus(texts, model.tokenizer, config.data.max_length)
    loc, scale = [], []
    for batch in evaluation_batches(encoded, 64):  # length-sorted: restore the order for labels
        params = model.posterior_params(batch)
        loc.append(params[0].numpy())
        scale.append(params[1].numpy())
    order = np.argsort([len(s) for s in encoded.sequences], kind="stable")
    loc_sorted, scale_sorted = np.concatenate(loc), np.concatenate(scale)
    loc_all = np.empty_like(loc_sorted)
    loc_all[order] = loc_sorted
    if model.learnt_prior is None:  # a mixture prior's KL has no per-dimension split
        kl = kl_per_dimension(loc_sorted, scale_sorted).numpy().mean(axis=0)
        written.append(plot_kl_per_dimension(kl, run.plots_dir / "kl_per_dimension.png"))
    if model.latent_dim > 0:
        written.append(plot_posterior_pca(loc_all, run.plots_dir / "posterior_pca.png", labels))
    return written
