"""Training runs end to end: determinism, resume, NaN, checkpoints, bad workdirs."""

import json
import shutil
import warnings

import numpy as np
import pytest

from textvae import checkpoints
from textvae.rundir import RunDir
from textvae.config import ConfigError
from textvae.loading import load
from textvae.schedules import kl_weight
from textvae.tokenizer import TokenizerError
from textvae.training import TrainingDiverged, train
from conftest import SENTENCES, tiny_config, write_lines


def train_records(workdir):
    lines = (workdir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if '"loss"' in line]


def weights(workdir, which="latest"):
    return load(workdir, checkpoint=which).get_weights()


def test_run_directory_contents(trained_run):
    names = {p.name for p in trained_run.iterdir()}
    assert {"config.yaml", "tokenizer.vocab", "metrics.jsonl", "tensorboard", "checkpoints",
            "data_stats.json"} <= names
    records = train_records(trained_run)
    assert [r["step"] for r in records] == [2, 4, 6, 8, 10, 12]
    assert {"loss", "reconstruction", "kl", "kl_weight", "tokens_per_second"} <= set(records[0])
    valid = [json.loads(line) for line in (trained_run / "metrics.jsonl").read_text().splitlines()
             if "valid_elbo" in line]
    assert [r["step"] for r in valid] == [4, 8, 12]
    assert checkpoints.best_checkpoint(trained_run / "checkpoints") is not None


def test_seeded_runs_are_identical(tmp_path):
    config = tiny_config(tmp_path)
    train(config, tmp_path / "a")
    train(config, tmp_path / "b")
    assert [r["loss"] for r in train_records(tmp_path / "a")] == [r["loss"] for r in train_records(tmp_path / "b")]
    for x, y in zip(weights(tmp_path / "a"), weights(tmp_path / "b")):
        np.testing.assert_array_equal(x, y)


def test_resume_continues_step_schedule_and_weights(tmp_path):
    config = tiny_config(tmp_path)
    full = train(config, tmp_path / "full")
    # stop at step 4 (as a kill after the step-4 checkpoint would), then resume to 8
    train(tiny_config(tmp_path, ["train.max_steps=4"]), tmp_path / "part")
    resumed = train(config, tmp_path / "part")
    assert resumed["step"] == full["step"] == 8
    assert resumed["last"]["kl_weight"] == pytest.approx(full["last"]["kl_weight"])
    assert resumed["last"]["kl_weight"] == pytest.approx(
        np.mean([float(kl_weight(s, config.kl, 8)) for s in (6, 7)]))
    full_losses = [r["loss"] for r in train_records(tmp_path / "full")]
    part_losses = [r["loss"] for r in train_records(tmp_path / "part")]
    assert part_losses == pytest.approx(full_losses, rel=1e-6)
    for x, y in zip(weights(tmp_path / "full"), weights(tmp_path / "part")):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-7)


def test_resume_without_config_and_finished_run_is_a_no_op(trained_run):
    run = RunDir(trained_run)
    before = {p: p.read_bytes() for p in run.checkpoints_dir.rglob("*") if p.is_file()}
    metrics_before = run.metrics_path.read_bytes()
    summary = train(None, trained_run)
    assert summary["step"] == 12
    # nothing trained, logged or checkpointed again
    assert run.metrics_path.read_bytes() == metrics_before
    assert {p: p.read_bytes() for p in run.checkpoints_dir.rglob("*") if p.is_file()} == before


def test_non_finite_loss_stops_with_last_good_checkpoint(tmp_path):
    config = tiny_config(tmp_path, ["train.max_steps=4"])
    train(config, tmp_path / "run")
    good = checkpoints.latest_checkpoint(tmp_path / "run" / "checkpoints")
    before = (good / checkpoints.WEIGHTS_FILE).read_bytes()
    exploding = tiny_config(tmp_path, ["train.max_steps=12", "train.learning_rate=.inf", "train.clip_norm=0"])
    with pytest.raises(TrainingDiverged, match="non-finite loss"):
        train(exploding, tmp_path / "run")
    after = checkpoints.latest_checkpoint(tmp_path / "run" / "checkpoints")
    assert checkpoints.verify_checkpoint(after)
    model = load(tmp_path / "run", checkpoint="latest")
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert (good / checkpoints.WEIGHTS_FILE).read_bytes() == before


def test_damaged_checkpoint_falls_back_to_previous(tmp_path):
    train(tiny_config(tmp_path), tmp_path / "run")
    root = tmp_path / "run" / "checkpoints"
    newest = checkpoints.list_checkpoints(root)[-1]
    with open(newest / checkpoints.WEIGHTS_FILE, "r+b") as f:
        f.truncate(100)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fallback = checkpoints.latest_checkpoint(root)
    assert fallback is not None and fallback != newest
    assert any("damaged" in str(w.message) for w in caught)


def test_workdir_with_a_different_model_is_refused_and_untouched(tmp_path, trained_run):
    copy = tmp_path / "copy"
    shutil.copytree(trained_run, copy)
    before = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    with pytest.raises(ConfigError, match="model.hidden_dim: 5 -> 6"):
        train(tiny_config(tmp_path, ["model.hidden_dim=6"]), copy)
    assert {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()} == before


def test_corpus_too_small_for_vocabulary(tmp_path):
    config = tiny_config(tmp_path, ["tokenizer.kind=unigram", "tokenizer.vocab_size=900"])
    with pytest.raises(TokenizerError, match="tokenizer.vocab_size=900"):
        train(config, tmp_path / "run")


def test_long_lines_are_truncated_and_reported(tmp_path, capsys):
    corpus = write_lines(tmp_path / "long.txt", SENTENCES * 3 + ["the cat " * 20])
    train(tiny_config(tmp_path, ["train.max_steps=2"], corpus=corpus), tmp_path / "run")
    stats = json.loads((tmp_path / "run" / "data_stats.json").read_text())
    assert stats["train_truncated"] + stats["valid_truncated"] == 1
    assert "truncated" in capsys.readouterr().err


def test_save_load_gives_identical_outputs(trained_run):
    a, b = load(trained_run), load(trained_run)
    sentences = SENTENCES[:3]
    np.testing.assert_array_equal(a.encode(sentences).mean(), b.encode(sentences).mean())
    assert a.reconstruct(sentences) == b.reconstruct(sentences)
    assert a.sample(3, seed=4) == b.sample(3, seed=4)


def test_load_refuses_non_run_directories(tmp_path):
    with pytest.raises(ConfigError, match="not a textvae run directory"):
        load(tmp_path)


def test_pretraining_then_vae_resumes_across_the_boundary(tmp_path):
    overrides = ["train.pretrain_steps=4", "kl.warmup_steps=2"]
    config = tiny_config(tmp_path, overrides)
    train(config, tmp_path / "full")
    records = train_records(tmp_path / "full")
    weights_by_step = {r["step"]: r["kl_weight"] for r in records}
    # steps 0-3: autoencoder (weight 0); steps 4-7: linear from 0 over 2 steps -> 0, 0.5, 1, 1
    assert weights_by_step[2] == 0.0 and weights_by_step[4] == 0.0
    assert weights_by_step[6] == pytest.approx((0.0 + 0.5) / 2)
    assert weights_by_step[8] == pytest.approx(1.0)
    train(tiny_config(tmp_path, [*overrides, "train.max_steps=4"]), tmp_path / "part")
    train(config, tmp_path / "part")
    assert [r["loss"] for r in train_records(tmp_path / "part")] == pytest.approx(
        [r["loss"] for r in records], rel=1e-6)
    for x, y in zip(weights(tmp_path / "full"), weights(tmp_path / "part")):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-7)


def test_bn_vae_keeps_kl_where_the_plain_vae_loses_it(tmp_path):
    plain = train(tiny_config(tmp_path, ["kl.free_bits=0"]), tmp_path / "plain")
    bn = train(tiny_config(tmp_path, ["model.bn_gamma=1.0", "kl.free_bits=0"]), tmp_path / "bn")
    # normalised means have a batch variance near gamma^2 in every dimension
    assert bn["last"]["kl"] > 0.3 > 10 * plain["last"]["kl"]


def test_log_line_reports_running_means_and_time_left():
    from textvae.callbacks import format_log_line

    record = {"step": 200, "loss": 85.214, "reconstruction": 80.126, "kl": 12.3, "kl_weight": 1 / 3,
              "tokens_per_second": 4100.4, "sentences_per_second": 150.0}
    # 2,200 steps left at 11 steps/s: 200 s
    assert format_log_line(record, 2400, 11.0) == (
        "step 200/2400  loss 85.21  rec 80.13  kl 12.30  kl_weight 0.333  4,100 tok/s  left 3m20s")


def test_off_a_terminal_training_writes_plain_lines_not_the_bar(tmp_path, capsys):
    from textvae.training import train

    config = tiny_config(tmp_path, train={"max_steps": 8, "log_every": 2, "progress_bar": True})
    train(config, tmp_path / "run")
    err = capsys.readouterr().err  # pytest's capture is not a terminal
    lines = [l for l in err.splitlines() if l.startswith("step ")]
    assert [l.split()[1] for l in lines] == ["2/8", "4/8", "6/8", "8/8"]
    rows = [r for r in RunDir(tmp_path / "run").read_metrics() if "loss" in r]
    assert [f"loss {r['loss']:.2f}" in l for r, l in zip(rows, lines)] == [True] * 4
    assert "\r" not in err and "\x1b[" not in err
