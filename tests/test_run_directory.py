"""One run directory, one writer: the lock, a disk that refuses a write, odd workdirs.

Each case of docs/reliability.md "Two writers, full disks, odd paths" is a test here.
"""

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from textvae import checkpoints
from textvae.cli import main
from textvae.files import StorageError, append_line
from textvae.loading import load
from textvae.locking import RunLock, RunLocked
from textvae.training import train

from conftest import start_training, subprocess_env, tiny_config, wait_for


def lock_holder(workdir):
    path = workdir / "lock"
    return path.is_file() and path.read_text().strip()


def metric_steps(workdir):
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    return [row["step"] for row in rows if "loss" in row]


def assert_same_weights(a, b):
    for x, y in zip(load(a, "latest").get_weights(), load(b, "latest").get_weights()):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


# -- the lock ----------------------------------------------------------------------

def test_a_held_lock_refuses_a_second_holder_and_names_the_first(tmp_path):
    with RunLock(tmp_path / "lock"):
        holder = json.loads((tmp_path / "lock").read_text())
        assert holder["pid"] == os.getpid()
        with pytest.raises(RunLocked, match=f"another textvae process is training.*pid {os.getpid()} on"):
            RunLock(tmp_path / "lock").acquire()
    assert (tmp_path / "lock").read_text() == ""  # released: empty, and free to take
    with RunLock(tmp_path / "lock"):
        pass


def test_a_lock_left_by_a_dead_process_is_taken_over_with_a_warning(tmp_path):
    (tmp_path / "lock").write_text(json.dumps({"pid": 4242424, "host": "gone", "started": 0}))
    messages = []
    with RunLock(tmp_path / "lock", log=messages.append):
        assert json.loads((tmp_path / "lock").read_text())["pid"] == os.getpid()
    assert len(messages) == 1 and "took over the lock left by pid 4242424 on gone" in messages[0]


def test_a_second_trainer_is_refused_and_the_first_is_unaffected(tmp_path, capsys):
    config = tiny_config(tmp_path, train={"max_steps": 40, "log_every": 2, "eval_every": 20, "checkpoint_every": 10})
    workdir = tmp_path / "run"
    first = start_training(tmp_path / "config.yaml", workdir)
    try:
        assert wait_for(lambda: lock_holder(workdir), first), first.stderr.read().decode()
        pid = json.loads(lock_holder(workdir))["pid"]
        # the second trainer runs in this process (TensorFlow already loaded), so it is
        # refused within the first trainer's lifetime on any machine
        code = main(["train", "--config", str(tmp_path / "config.yaml"), "--workdir", str(workdir)])
        err = capsys.readouterr().err
        assert first.poll() is None, "the first trainer should still be running"
        assert code == 1
        assert f"{workdir}: another textvae process is training in this run directory (pid {pid} on" in err
        assert first.wait(timeout=600) == 0, first.stderr.read().decode()
    finally:
        if first.poll() is None:
            first.kill()
    assert metric_steps(workdir) == list(range(2, 41, 2))  # one row per logged step
    train(config, tmp_path / "alone")
    assert_same_weights(workdir, tmp_path / "alone")


def test_a_lock_left_by_sigkill_is_taken_over_and_the_run_resumes(tmp_path, capsys):
    tiny_config(tmp_path, train={"max_steps": 40, "log_every": 2, "eval_every": 100, "checkpoint_every": 4})
    workdir = tmp_path / "run"
    process = start_training(tmp_path / "config.yaml", workdir)
    try:
        assert wait_for(lambda: checkpoints.latest_checkpoint(workdir / "checkpoints") is not None, process)
        pid = json.loads(lock_holder(workdir))["pid"]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    summary = train(None, workdir)
    assert summary["step"] == 40
    assert f"took over the lock left by pid {pid}" in capsys.readouterr().err


def test_reading_while_training_writes_checkpoints_never_fails(tmp_path):
    tiny_config(tmp_path, train={"max_steps": 50, "log_every": 4, "eval_every": 100, "checkpoint_every": 1,
                                 "keep_checkpoints": 2})
    workdir = tmp_path / "run"
    process = start_training(tmp_path / "config.yaml", workdir)
    reads = 0
    try:
        assert wait_for(lambda: checkpoints.latest_checkpoint(workdir / "checkpoints") is not None, process)
        while process.poll() is None:
            model = load(workdir, "latest")  # no lock needed, never a partial checkpoint
            assert len(model.sample(1, seed=reads, max_length=6)) == 1
            reads += 1
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, process.stderr.read().decode()
    assert reads >= 2


def test_a_latest_checkpoint_pruned_while_it_is_read_gives_way_to_the_newer_one(trained_run, tmp_path,
                                                                               monkeypatch):
    run = shutil.copytree(trained_run, tmp_path / "run")
    root = run / "checkpoints"
    read = checkpoints.latest_checkpoint(root)
    newer = checkpoints.checkpoint_path(root, 99)
    expected = load(run, "latest").get_weights()
    real_restore = checkpoints.restore_checkpoint
    calls = []

    def trainer_moves_on(model, path):
        # what a live trainer does between the reader's choice and its read: a newer
        # checkpoint lands, then the one being read is pruned
        calls.append(path.name)
        if path == read:
            shutil.copytree(read, newer)
            shutil.rmtree(read)
        return real_restore(model, path)

    monkeypatch.setattr(checkpoints, "restore_checkpoint", trainer_moves_on)
    model = load(run, "latest")
    assert calls == [read.name, newer.name]
    assert model.checkpoint == newer
    for a, b in zip(model.get_weights(), expected):
        np.testing.assert_array_equal(a, b)
    # a checkpoint named by the user that vanishes is an error, not a silent substitute
    monkeypatch.setattr(checkpoints, "restore_checkpoint",
                        lambda model, path: (shutil.rmtree(path), real_restore(model, path)))
    with pytest.raises(checkpoints.CheckpointError):
        load(run, newer.name)


# -- a disk that says no ------------------------------------------------------------

def _failing_on_call(n, real, error=errno.ENOSPC):
    calls = {"n": 0}

    def fake(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == n:
            raise OSError(error, os.strerror(error))
        return real(*args, **kwargs)
    return fake


EIGHT_STEPS = {"max_steps": 8, "log_every": 2, "eval_every": 100, "checkpoint_every": 4}


@pytest.fixture(scope="module")
def lone_run(tmp_path_factory):
    """The 8-step tiny run trained once without interruption: what every recovered run must equal."""
    root = tmp_path_factory.mktemp("lone")
    train(tiny_config(root, train=EIGHT_STEPS), root / "run")
    return root / "run"


def _assert_run_recovers(workdir, kept_step, lone_run):
    assert not list((workdir / "checkpoints").glob(".*.tmp")), "a half-written checkpoint was left behind"
    assert checkpoints.latest_checkpoint(workdir / "checkpoints").name == f"ckpt-{kept_step:09d}"
    assert load(workdir, "latest") is not None
    summary = train(None, workdir)  # resume, the disk fine again
    assert summary["step"] == 8
    assert_same_weights(workdir, lone_run)


@pytest.mark.parametrize("write", ["weights", "rng", "state"])
def test_a_full_disk_inside_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch, write, lone_run):
    config = tiny_config(tmp_path, train=EIGHT_STEPS)
    workdir = tmp_path / "run"
    import keras

    targets = {"weights": (keras.Model, "save_weights"), "rng": (checkpoints.np, "savez"),
               "state": (Path, "write_text")}
    owner, name = targets[write]
    real = getattr(owner, name)
    if write == "state":  # only the checkpoint's state.json, not every write_text
        def fake(self, *args, **kwargs):
            if self.name == checkpoints.STATE_FILE and "000000008" in str(self.parent):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real(self, *args, **kwargs)
        monkeypatch.setattr(owner, name, fake)
    else:  # the second checkpoint's write fails
        monkeypatch.setattr(owner, name, _failing_on_call(2, real))
    file_name = {"weights": checkpoints.WEIGHTS_FILE, "rng": checkpoints.RNG_FILE, "state": checkpoints.STATE_FILE}
    with pytest.raises(StorageError, match=f"no space left on device writing .*{file_name[write]}"):
        train(config, workdir)
    monkeypatch.undo()
    _assert_run_recovers(workdir, 4, lone_run)


def test_too_little_free_space_is_refused_before_hdf5_writes(tmp_path, monkeypatch, lone_run):
    config = tiny_config(tmp_path, train=EIGHT_STEPS)
    workdir = tmp_path / "run"
    real = shutil.disk_usage
    calls = {"n": 0}

    def usage(path):
        calls["n"] += 1
        total, used, free = real(path)
        return type(real(path))(total, used, 1000 if calls["n"] >= 2 else free)

    monkeypatch.setattr(checkpoints.shutil, "disk_usage", usage)
    with pytest.raises(StorageError, match=r"no space left on device writing .*model.weights.h5 \(needs about"):
        train(config, workdir)
    monkeypatch.undo()
    _assert_run_recovers(workdir, 4, lone_run)


def test_a_full_disk_writing_metrics_leaves_whole_lines(tmp_path, monkeypatch):
    config = tiny_config(tmp_path, train={"max_steps": 8, "log_every": 2, "eval_every": 100, "checkpoint_every": 2})
    workdir = tmp_path / "run"
    import textvae.files as files

    monkeypatch.setattr(files.os, "write", _failing_on_call(3, os.write))
    with pytest.raises(StorageError, match="no space left on device writing .*metrics.jsonl"):
        train(config, workdir)
    monkeypatch.undo()
    text = (workdir / "metrics.jsonl").read_text()
    assert text.endswith("\n") and all(json.loads(line) for line in text.splitlines())
    summary = train(None, workdir)
    assert summary["step"] == 8


def test_a_short_append_is_cut_back_off(tmp_path, monkeypatch):
    path = tmp_path / "log.jsonl"
    append_line(path, '{"a": 1}')
    import textvae.files as files

    real = os.write
    monkeypatch.setattr(files.os, "write", lambda fd, data: real(fd, data[:3]))
    with pytest.raises(StorageError, match=f"no space left on device writing {path}"):
        append_line(path, '{"b": 2}')
    assert path.read_text() == '{"a": 1}\n'


def test_the_tensorboard_log_failing_is_a_clear_error(tmp_path, monkeypatch):
    import tensorflow as tf

    config = tiny_config(tmp_path, train={"max_steps": 4, "log_every": 2, "eval_every": 100})

    def broken(self):
        raise tf.errors.ResourceExhaustedError(None, None, "No space left on device")

    from textvae import callbacks

    monkeypatch.setattr(callbacks.TrainingMonitor, "_flush_tensorboard", broken)
    with pytest.raises(StorageError, match="cannot write the TensorBoard log in .*tensorboard: No space left"):
        train(config, tmp_path / "run")


def _mount_tmpfs(path, options):
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    return done.returncode == 0


def test_a_real_full_filesystem_gives_one_line_and_no_crash(tmp_path):
    """A 1.5 MB tmpfs (where this machine lets us mount one): h5py used to segfault here."""
    disk = tmp_path / "small"
    if not _mount_tmpfs(disk, "size=1500k"):
        pytest.skip("mounting a tmpfs is not permitted here; the patched-write tests cover the same paths")
    try:
        tiny_config(tmp_path, model={"embedding_dim": 64, "hidden_dim": 256},
                    train={"max_steps": 8, "log_every": 2, "eval_every": 100, "checkpoint_every": 4})
        done = subprocess.run([sys.executable, "-m", "textvae.cli", "train", "--config", str(tmp_path / "config.yaml"),
                               "--workdir", str(disk / "run")], capture_output=True, text=True, env=subprocess_env(), timeout=600)
        assert done.returncode == 1, done.stderr
        assert "no space left on device writing" in done.stderr and "Traceback" not in done.stderr
        assert not list((disk / "run" / "checkpoints").glob(".*.tmp"))
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


# -- odd workdirs --------------------------------------------------------------------

def test_a_workdir_that_is_a_file_or_under_a_file_is_a_clear_error(tmp_path, capsys):
    tiny_config(tmp_path)
    (tmp_path / "afile").write_text("x")
    assert main(["train", "--config", str(tmp_path / "config.yaml"), "--workdir", str(tmp_path / "afile")]) == 1
    assert f"{tmp_path / 'afile'}: is a file, not a run directory" in capsys.readouterr().err
    assert main(["train", "--config", str(tmp_path / "config.yaml"), "--workdir", str(tmp_path / "afile" / "run")]) == 1
    assert f"a parent is not a directory writing {tmp_path / 'afile' / 'run'}" in capsys.readouterr().err


def test_a_read_only_workdir_is_a_clear_error_before_training(tmp_path, capsys):
    tiny_config(tmp_path)
    disk = tmp_path / "readonly"
    if not _mount_tmpfs(disk, "ro,size=1m"):
        pytest.skip("mounting a read-only tmpfs is not permitted here (as root, chmod does not stop writes)")
    try:
        assert main(["train", "--config", str(tmp_path / "config.yaml"), "--workdir", str(disk / "run")]) == 1
        assert f"read-only file system writing {disk / 'run'}" in capsys.readouterr().err
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def test_a_workdir_with_spaces_and_non_ascii_characters_works(tmp_path):
    config = tiny_config(tmp_path, train={"max_steps": 4, "log_every": 2, "eval_every": 100})
    workdir = tmp_path / "my runs" / "été – 東京"
    assert train(config, workdir)["step"] == 4
    assert len(load(workdir).sample(2, max_length=6)) == 2
