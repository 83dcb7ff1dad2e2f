"""The process environment textvae sets before TensorFlow is imported.

TensorFlow reads its C++ log level once, when it loads. On a machine with no
NVIDIA driver it logs, before anything else, that it found no CUDA driver and that
`cuInit` failed, the last at level E, so a CPU run reads like a failure. textvae
therefore hides TensorFlow's C++ INFO and WARNING lines by default and, where no
NVIDIA driver is installed at all, its C++ ERROR lines too (Python exceptions and
warnings are untouched). `TEXTVAE_VERBOSE=1` (the CLI's `--verbose`) shows them all;
a TF_CPP_MIN_LOG_LEVEL the user set is kept.
"""

from __future__ import annotations

import ctypes.util
import os
import re
import sys
import tempfile
from pathlib import Path


def nvidia_driver_present() -> bool:
    """True where an NVIDIA kernel driver or its user-space library (libcuda) exists."""
    return Path("/proc/driver/nvidia/version").exists() or ctypes.util.find_library("cuda") is not None


def quiet_level(verbose: bool, driver: bool) -> str:
    """TF_CPP_MIN_LOG_LEVEL for TensorFlow: 0 all, 2 errors only, 3 none of its C++ log."""
    if verbose:
        return "0"
    return "2" if driver else "3"


def configure(verbose: bool | None = None) -> None:
    """Sets the Keras backend and TensorFlow's log level; call before TensorFlow is imported."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if verbose is None:
        verbose = os.environ.get("TEXTVAE_VERBOSE", "") not in ("", "0")
    if verbose:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = quiet_level(True, driver=False)
    else:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", quiet_level(False, nvidia_driver_present()))


# What TensorFlow prints on every CPU machine while it loads, before absl logging is
# initialised (so TF_CPP_MIN_LOG_LEVEL cannot hide it): the pre-init banner, INFO
# lines, and the CUDA probe's complaints when there is no driver to find.
_BANNER = "All log messages before absl::InitializeLog() is called are written to STDERR"
_NO_DRIVER = ("Could not find cuda drivers", "failed call to cuInit", "Unable to register cu")
_INFO_LINE = re.compile(r"^I\d{4} ")


def is_loading_noise(line: str, driver: bool) -> bool:
    """True for a line TensorFlow prints while loading that says nothing to a user."""
    if _BANNER in line or _INFO_LINE.match(line):
        return True
    return not driver and any(text in line for text in _NO_DRIVER)


def import_tensorflow() -> None:
    """Imports TensorFlow, TFP and Keras and starts the runtime with file descriptor 2
    captured, then writes back every captured line except the loading noise (all of them
    with TEXTVAE_VERBOSE). Safe to call more than once."""
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0" or "tensorflow" in sys.modules:
        import tensorflow  # noqa: F401

        return
    driver = nvidia_driver_present()
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import keras  # noqa: F401
            import tensorflow as tf
            import tensorflow_probability  # noqa: F401

            tf.config.list_physical_devices()
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode("utf-8", "replace").splitlines(keepends=True)
                    if not is_loading_noise(line, driver)]
            sys.stderr.write("".join(kept))
