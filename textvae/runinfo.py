"""What is in a run directory, read from its files without loading a model or TensorFlow.

`run_info(workdir)` gathers the config summary, steps done, the best validation
figures, the latest evaluation (KL, MI, active units, PPL) and the size on disk;
`format_info` prints it for a user (`textvae info --workdir W [--json]`).
"""

from __future__ import annotations

from pathlib import Path

from textvae import checkpoints
from textvae.rundir import RunDir

EVAL_FIGURES = ("nll", "ppl", "elbo", "kl", "mi", "active_units", "iw_samples", "num_sentences")


def run_info(workdir: str | Path) -> dict:
    """Returns {"workdir", "model", "data", "steps_done", "max_steps", "checkpoints",
    "best" (best.json's validation metrics or None), "last_logged" (the last metrics.jsonl
    training row or None), "last_eval" (the last eval.jsonl record's figures or None),
    "size_bytes"}. A ConfigError when `workdir` is not a run directory."""
    run = RunDir(workdir)
    config = run.read_config()
    saved = checkpoints.list_checkpoints(run.checkpoints_dir)
    stats = run.read_data_stats()
    logged = [r for r in run.read_metrics() if "loss" in r]
    evals = run.read_evals()
    model = config.model
    return {
        "workdir": str(run.path),
        "model": {"encoder": model.encoder, "decoder": model.decoder, "latent_dim": model.latent_dim,
                  "embedding_dim": model.embedding_dim, "hidden_dim": model.hidden_dim,
                  "tie_embeddings": model.tie_embeddings, "m2": config.m2.enabled,
                  "tokenizer": config.tokenizer.kind, "vocab_size": stats.get("vocab_size")},
        "data": {"train": config.data.train, "train_sentences": stats.get("train_sentences"),
                 "valid_sentences": stats.get("valid_sentences")},
        "steps_done": int(saved[-1].name[len(checkpoints.PREFIX):]) if saved else 0,
        "max_steps": config.train.max_steps,
        "checkpoints": [p.name for p in saved],
        "best": checkpoints.best_metrics(run.checkpoints_dir),
        "last_logged": logged[-1] if logged else None,
        "last_eval": ({"split": evals[-1].get("split"), **{k: evals[-1][k] for k in EVAL_FIGURES if k in evals[-1]}}
                      if evals else None),
        "size_bytes": sum(p.stat().st_size for p in run.path.rglob("*") if p.is_file()),
    }


def format_info(info: dict) -> str:
    """The text `textvae info` prints: one fact a line."""
    m, d = info["model"], info["data"]
    kind = "M2" if m["m2"] else ("LM" if m["latent_dim"] == 0 else "VAE")
    lines = [
        f"run       {info['workdir']}",
        f"model     {kind}: {m['encoder']} encoder, {m['decoder']} decoder, latent {m['latent_dim']}, "
        f"embedding {m['embedding_dim']}, hidden {m['hidden_dim']}{', one word table' if m['tie_embeddings'] else ''}",
        f"tokenizer {m['tokenizer']}, {m['vocab_size']} ids",
        f"data      {d['train']} ({d['train_sentences']} training, {d['valid_sentences']} validation sentences)",
        f"steps     {info['steps_done']} of {info['max_steps']} saved; checkpoints: {', '.join(info['checkpoints']) or 'none'}",
    ]
    best = info["best"]
    if best:
        figures = ", ".join(f"{k[len('valid_'):]} {v:.2f}" for k, v in best.items()
                            if k.startswith("valid_") and isinstance(v, float))
        lines.append(f"best      step {best['step']}: validation {figures}")
    else:
        lines.append("best      no validation yet")
    if info["last_logged"]:
        row = info["last_logged"]
        lines.append(f"training  step {row['step']}: loss {row['loss']:.2f}"
                     + (f", KL {row['kl']:.2f}" if "kl" in row else ""))
    e = info["last_eval"]
    if e:
        lines.append(f"evaluated on {e.get('split')}: " + ", ".join(
            f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in e.items() if k != "split"))
    else:
        lines.append("evaluated not yet (textvae evaluate --workdir W gives IW-NLL, KL, MI, active units)")
    lines.append(f"size      {info['size_bytes'] / 2**20:.1f} MiB")
    return "\n".join(lines)
