"""Run directories written before the house change still load and compute the same numbers.

tests/fixtures/legacy_runs holds tiny runs trained by the code at f4353fd and what
that code computed from them (expected.json; README.md says how they were made).
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from textvae import load
from conftest import SENTENCES

FIXTURES = Path(__file__).parent / "fixtures" / "legacy_runs"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())


@pytest.fixture
def legacy_run(tmp_path, request):
    """A copy of the fixture, so that nothing a test does can change the committed files."""
    return shutil.copytree(FIXTURES / request.param, tmp_path / request.param)


@pytest.mark.parametrize("legacy_run", ["vae_lstm", "vae_transformer"], indirect=True)
def test_legacy_vae_runs_give_the_same_posteriors_and_likelihoods(legacy_run):
    expected = EXPECTED[legacy_run.name]
    model = load(legacy_run)
    assert getattr(model, "optimizer", None) is None  # loading builds no optimizer
    loc = model.encode(SENTENCES[:3]).mean()
    np.testing.assert_allclose(loc.numpy(), expected["loc"], rtol=1e-5, atol=1e-6)
    log_p = model.log_likelihood_given_z(model._batch(SENTENCES[:3]), loc[None]).numpy()[0]
    np.testing.assert_allclose(log_p, expected["log_p_at_mean"], rtol=1e-5)
    assert model.reconstruct(SENTENCES[:3], max_length=6) == expected["reconstruct"]


@pytest.mark.parametrize("legacy_run", ["m2"], indirect=True)
def test_legacy_m2_run_classifies_and_samples_the_same(legacy_run):
    expected = EXPECTED["m2"]
    model = load(legacy_run)
    assert model.classes == ["neg", "pos"]
    np.testing.assert_allclose(model.classify(SENTENCES[:3]), expected["classify"], rtol=1e-5, atol=1e-6)
    assert model.sample(3, "pos", seed=1, max_length=6) == expected["sample"]


@pytest.mark.parametrize("legacy_run", ["vae_lstm"], indirect=True)
def test_legacy_run_resumes_training(legacy_run):
    """The optimizer state saved by the old code restores, and training continues from its step."""
    from textvae import train
    from textvae.rundir import RunDir

    config = RunDir(legacy_run).read_config()
    import dataclasses

    longer = dataclasses.replace(config, train=dataclasses.replace(config.train, max_steps=8))
    corpus = legacy_run.parent / "corpus.txt"
    corpus.write_text("\n".join(SENTENCES * 3) + "\n")
    longer = dataclasses.replace(longer, data=dataclasses.replace(longer.data, train=str(corpus)))
    assert train(longer, legacy_run)["step"] == 8


def _with_keys(run: Path, section: str, **keys) -> None:
    """Adds keys under `section:` in the run's config.yaml, as a run saved while they existed has them."""
    config = run / "config.yaml"
    lines = config.read_text().splitlines()
    at = lines.index(f"{section}:") + 1
    lines[at:at] = [f"  {key}: {value}" for key, value in keys.items()]
    config.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("legacy_run", ["m2"], indirect=True)
def test_a_run_saved_with_a_retired_key_at_its_kept_value_loads_the_same(legacy_run):
    """m2.entropy_weight, m2.classifier_encoder and m2.unlabelled_pull were removed; runs that set
    them to the behaviour the code kept (1.0, shared, 1.0) still load and classify as before."""
    _with_keys(legacy_run, "m2", entropy_weight=1.0, classifier_encoder="shared", unlabelled_pull=1.0)
    model = load(legacy_run)
    np.testing.assert_allclose(model.classify(SENTENCES[:3]), EXPECTED["m2"]["classify"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("legacy_run", ["m2"], indirect=True)
@pytest.mark.parametrize("key, value", [("entropy_weight", 0.0), ("classifier_encoder", "separate"),
                                        ("unlabelled_pull", 0.0)])
def test_a_run_saved_with_a_retired_key_at_another_value_is_refused_by_name(legacy_run, key, value):
    from textvae.config import ConfigError

    _with_keys(legacy_run, "m2", **{key: value})
    with pytest.raises(ConfigError, match=rf"m2\.{key}={value!r}.*no longer supported"):
        load(legacy_run)


@pytest.mark.parametrize("legacy_run", ["vae_lstm"], indirect=True)
def test_a_run_saved_with_the_retired_learning_rate_warmup_loads_at_0_and_is_refused_otherwise(legacy_run):
    """train.lr_warmup_steps existed between ca062af and 9e439d7; runs written then carry it."""
    from textvae.config import ConfigError

    _with_keys(legacy_run, "train", lr_warmup_steps=0)
    model = load(legacy_run)
    np.testing.assert_allclose(model.encode(SENTENCES[:3]).mean().numpy(), EXPECTED["vae_lstm"]["loc"],
                               rtol=1e-5, atol=1e-6)
    config = legacy_run / "config.yaml"
    config.write_text(config.read_text().replace("lr_warmup_steps: 0", "lr_warmup_steps: 400"))
    with pytest.raises(ConfigError, match=r"train\.lr_warmup_steps=400.*no longer supported"):
        load(legacy_run)
