"""tf.distribute: two worker processes on localhost against one process, and the input sharding."""

import dataclasses
import json
import os
import socket
import subprocess
import sys

import h5py
import numpy as np
import pytest
import tensorflow as tf

from textvae.config import ConfigError
from textvae.distribute import is_chief, make_strategy, replica_slice
from textvae.training import train

from conftest import tiny_config

TIMEOUT = 300


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def weights(workdir, step):
    """Every array of a checkpoint's weights file, by path."""
    arrays = {}
    with h5py.File(workdir / "checkpoints" / f"ckpt-{step:09d}" / "model.weights.h5", "r") as f:
        f.visititems(lambda name, item: arrays.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None)
    return arrays


def losses(workdir):
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    return [row["loss"] for row in rows if "loss" in row]


def test_two_workers_train_like_one_process(tmp_path):
    # a language model (latent_dim 0) draws no noise, so the runs must agree to rounding
    config = tiny_config(tmp_path, model={"latent_dim": 0},
                         train={"batch_size": 4, "max_steps": 6, "log_every": 1, "eval_every": 3,
                                "checkpoint_every": 3, "word_dropout": 0.0, "strategy": "multi_worker"})
    config_path = tmp_path / "config.yaml"  # what tiny_config wrote
    ports = free_ports(2)
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    workers = []
    try:
        for index in range(2):
            env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
                       CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2")
            workers.append(subprocess.Popen(
                [sys.executable, "-m", "textvae.cli", "train", "--config", str(config_path),
                 "--workdir", str(tmp_path / "distributed")],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        outputs = [w.communicate(timeout=TIMEOUT) for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()
    for w, (out, err) in zip(workers, outputs):
        assert w.returncode == 0, err[-3000:]
        assert json.loads(out.splitlines()[-1])["step"] == 6
    distributed = tmp_path / "distributed"
    assert (distributed / "checkpoints" / "ckpt-000000006").is_dir()  # written by the chief (worker 0)

    single = dataclasses.replace(config, train=dataclasses.replace(config.train, strategy="single"))
    train(single, tmp_path / "single")
    np.testing.assert_allclose(losses(distributed), losses(tmp_path / "single"), rtol=1e-5)
    expected, got = weights(tmp_path / "single", 6), weights(distributed, 6)
    assert expected.keys() == got.keys()
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-4, atol=1e-6, err_msg=name)


def test_replica_slices_cover_the_global_batch_once():
    ids = np.array([[2, 5, 6, 3, 0], [2, 5, 3, 0, 0], [2, 7, 8, 9, 3], [2, 4, 3, 0, 0]], np.int32)
    batch = {"token_ids": ids, "padding_mask": ids != 0, "labels": np.array([0, 1, -1, -1], np.int32)}
    first, second = replica_slice(batch, 0, 2), replica_slice(batch, 1, 2)
    assert first["token_ids"].shape == (2, 4)  # trailing all-padding column trimmed
    assert second["token_ids"].shape == (2, 5)
    np.testing.assert_array_equal(first["labels"], [0, 1])
    np.testing.assert_array_equal(second["token_ids"], ids[2:])


def test_strategy_choices_and_errors(monkeypatch):
    assert is_chief(make_strategy("single"))
    assert make_strategy("auto").num_replicas_in_sync == 1  # no GPUs here
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert isinstance(make_strategy("mirrored"), tf.distribute.MirroredStrategy)
    with pytest.raises(ConfigError, match="needs the TF_CONFIG environment variable"):
        make_strategy("multi_worker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ConfigError, match="TF_CONFIG is not valid JSON"):
        make_strategy("multi_worker")
