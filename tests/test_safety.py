"""Loading a run directory never executes code from its files."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from textvae import checkpoints
from textvae.config import ConfigError
from textvae.loading import load

MARKER = "/tmp/textvae_pwned_marker"
LAMBDA_MARKER = "/tmp/textvae_lambda_marker"


@pytest.fixture
def run_copy(trained_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(trained_run, copy)
    return copy


def test_yaml_python_tags_are_refused(run_copy):
    config = run_copy / "config.yaml"
    config.write_text(f"model: !!python/object/apply:os.system ['touch {MARKER}']\n" + config.read_text())
    with pytest.raises(ConfigError, match="invalid YAML"):
        load(run_copy)
    assert not __import__("os").path.exists(MARKER)


def test_a_config_naming_a_class_is_refused(run_copy):
    config = run_copy / "config.yaml"
    config.write_text(config.read_text().replace("encoder: lstm", "encoder: keras.layers.Lambda"))
    with pytest.raises(ConfigError, match="model.encoder"):
        load(run_copy)


def test_pickled_rng_state_is_refused_even_with_a_matching_checksum(run_copy):
    ckpt = checkpoints.best_checkpoint(run_copy / "checkpoints")
    np.savez(ckpt / checkpoints.RNG_FILE, np.array([{"evil": print}], dtype=object))
    state = json.loads((ckpt / checkpoints.STATE_FILE).read_text())
    state["sha256"][checkpoints.RNG_FILE] = checkpoints._sha256(ckpt / checkpoints.RNG_FILE)
    (ckpt / checkpoints.STATE_FILE).write_text(json.dumps(state))
    with pytest.raises(checkpoints.CheckpointError, match="unusable RNG state"):
        load(run_copy)


def test_a_weights_file_holding_a_lambda_model_is_refused(run_copy, tmp_path):
    """A full Keras model with a Lambda layer in place of the weights: never deserialised."""
    import keras

    marker = Path(LAMBDA_MARKER)
    marker.unlink(missing_ok=True)
    inputs = keras.Input((2,))
    evil = keras.Model(inputs, keras.layers.Lambda(lambda x: (open(LAMBDA_MARKER, "w").write("ran"), x)[1])(inputs))
    ckpt = checkpoints.best_checkpoint(run_copy / "checkpoints")
    weights = ckpt / checkpoints.WEIGHTS_FILE
    weights.unlink()
    evil.save(tmp_path / "evil.keras")
    shutil.copy(tmp_path / "evil.keras", weights)
    state = json.loads((ckpt / checkpoints.STATE_FILE).read_text())
    state["sha256"][checkpoints.WEIGHTS_FILE] = checkpoints._sha256(weights)
    (ckpt / checkpoints.STATE_FILE).write_text(json.dumps(state))
    marker.unlink(missing_ok=True)
    with pytest.raises(checkpoints.CheckpointError):
        load(run_copy, checkpoint=ckpt.name)
    assert not marker.exists()
