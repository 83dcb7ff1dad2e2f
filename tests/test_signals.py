"""SIGTERM during training saves a checkpoint at the current step; the run resumes from it."""

import json
import os
import signal
import subprocess
import sys
import time

from textvae import checkpoints
from textvae.training import train
from conftest import tiny_config


def test_sigterm_saves_and_the_run_resumes(tmp_path):
    tiny_config(tmp_path)  # writes tmp_path/config.yaml
    workdir = tmp_path / "run"
    # verbose: TensorFlow's own warnings shown, so the shutdown message below would be seen
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "TEXTVAE_VERBOSE": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "textvae.cli", "train", "--config", str(tmp_path / "config.yaml"),
         "--workdir", str(workdir), "--set", "train.max_steps=100000", "--set", "train.checkpoint_every=100000",
         "--set", "train.eval_every=100000", "--set", "train.log_every=1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )
    try:
        metrics = workdir / "metrics.jsonl"
        deadline = time.time() + 120
        while time.time() < deadline and (not metrics.exists() or len(metrics.read_text().splitlines()) < 5):
            time.sleep(0.2)
        assert metrics.exists(), process.stderr.read().decode()
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err.decode()
    assert "interrupted: saved" in err.decode()
    # TensorFlow's iterator finalised after the interpreter: "Error occurred when finalizing
    # GeneratorDataset iterator: FAILED_PRECONDITION" after a correct save reads like a failure
    assert "GeneratorDataset" not in err.decode() and "FAILED_PRECONDITION" not in err.decode(), err.decode()
    saved = checkpoints.latest_checkpoint(workdir / "checkpoints")
    step = checkpoints.verify_checkpoint(saved)["step"]
    logged = json.loads(metrics.read_text().splitlines()[-1])["step"]
    assert step >= 5 and step >= logged
    resumed = train(tiny_config(tmp_path, [f"train.max_steps={step + 2}"]), workdir)
    assert resumed["step"] == step + 2
