"""A quiet CPU run: TensorFlow's loading noise hidden, real messages kept, --help without TensorFlow."""

import os
import subprocess
import sys

from textvae import environment

NOISE = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
    "I0000 00:00:1796220985.130069    2684 port.cc:153] oneDNN custom operations are on.\n",
    "I0000 00:00:1796220985.130615    2684 cudart_stub.cc:31] Could not find cuda drivers on your machine.\n",
    "E0000 00:00:1796220662.384085    2024 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error\n",
]


def test_loading_noise_is_recognised_and_real_messages_are_not():
    assert all(environment.is_loading_noise(line, driver=False) for line in NOISE)
    # with a driver installed, a failing cuInit is a real error and stays
    assert not environment.is_loading_noise(NOISE[3], driver=True)
    real = ["W0000 00:00:17962.1 1 op_kernel.cc:1] OUT_OF_RANGE: something\n",
            "E0000 00:00:17962.1 1 gpu_device.cc:1] could not allocate memory\n",
            "UserWarning: a Python warning\n"]
    assert not any(environment.is_loading_noise(line, driver=d) for line in real for d in (False, True))


def test_log_levels(monkeypatch):
    assert environment.quiet_level(verbose=True, driver=False) == "0"
    assert environment.quiet_level(verbose=False, driver=True) == "2"
    assert environment.quiet_level(verbose=False, driver=False) == "3"
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "1")
    environment.configure(verbose=False)
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "1"  # the user's own setting is kept
    environment.configure(verbose=True)
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"


def _run(*args, **env):
    full_env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TEXTVAE_VERBOSE")}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env={**full_env, **env})


def test_a_command_prints_only_its_own_error(tmp_path):
    result = _run("-m", "textvae.cli", "sample", "--workdir", str(tmp_path / "missing"))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"textvae sample: error: {tmp_path / 'missing'}: not a textvae run directory (no config.yaml)"]


def test_help_does_not_import_tensorflow():
    code = ("import sys\nfrom textvae.cli import build_parser\n"
            "try:\n    build_parser().parse_args(['sample', '--help'])\nexcept SystemExit:\n    pass\n"
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    result = _run("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "False False"


def test_public_names_stay_functions_after_their_modules_are_imported():
    import textvae.training  # noqa: F401  (binds the submodule on the package)
    from textvae import load, train

    assert callable(train) and train.__module__ == "textvae.training"
    assert callable(load) and load.__module__ == "textvae.loading"
    import textvae

    assert all(hasattr(textvae, name) for name in textvae.__all__)


def test_info_answers_without_importing_tensorflow(trained_run):
    code = ("import sys\nfrom textvae.cli import main\n"
            f"assert main(['info', '--workdir', {str(trained_run)!r}]) == 0\n"
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    result = _run("-c", code)
    assert result.returncode == 0, result.stderr
    assert "steps" in result.stdout and result.stdout.splitlines()[-1] == "False False"
