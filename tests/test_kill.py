"""SIGKILL at random moments, one of them inside a checkpoint write: the run always resumes
from an intact checkpoint and ends with the weights of an uninterrupted run."""

import json
import signal
import time

import numpy as np

from textvae import checkpoints
from textvae.loading import load
from textvae.training import train

from conftest import start_training, tiny_config, wait_for

MAX_STEPS = 40


def logged_steps(workdir):
    path = workdir / "metrics.jsonl"
    if not path.exists():
        return 0
    return sum(1 for line in path.read_text().splitlines() if '"loss"' in line)


def test_random_sigkills_never_lose_the_run(tmp_path):
    config = tiny_config(tmp_path, train={"max_steps": MAX_STEPS, "checkpoint_every": 1, "log_every": 1,
                                          "eval_every": 1000, "keep_checkpoints": 2})
    workdir = tmp_path / "killed"
    rng = np.random.default_rng(0)
    kills = []
    for attempt in range(3):
        process = start_training(tmp_path / "config.yaml", workdir)
        try:
            before = logged_steps(workdir)
            if attempt == 1:  # the moment a checkpoint is being written
                in_write = lambda: any(p.name.endswith(".tmp") for p in (workdir / "checkpoints").glob(".ckpt-*"))
                assert wait_for(in_write, process), "no checkpoint write seen"
            else:  # a random moment, a few steps into this attempt
                target = before + int(rng.integers(2, 6))
                assert wait_for(lambda: logged_steps(workdir) >= target, process), process.stderr.read().decode()
                time.sleep(rng.uniform(0.0, 0.3))
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert process.returncode == -signal.SIGKILL
        latest = checkpoints.latest_checkpoint(workdir / "checkpoints")
        # the newest complete checkpoint is intact (none yet: the run restarts from step 0)
        kills.append(checkpoints.verify_checkpoint(latest)["step"] if latest else 0)
    assert kills == sorted(kills) and 0 < kills[-1] < MAX_STEPS, kills

    summary = train(None, workdir)  # resume (saved config) to the end
    assert summary["step"] == MAX_STEPS
    reference = tmp_path / "uninterrupted"
    train(config, reference)
    killed, clean = load(workdir, "latest"), load(reference, "latest")
    for a, b in zip(killed.get_weights(), clean.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # the KL schedule went on from the restored step: same weight logged at every step
    def kl_weights(run):
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        return {row["step"]: row["kl_weight"] for row in rows if "kl_weight" in row}

    resumed_weights, clean_weights = kl_weights(workdir), kl_weights(reference)
    for step, value in resumed_weights.items():
        np.testing.assert_allclose(value, clean_weights[step], rtol=1e-6)
