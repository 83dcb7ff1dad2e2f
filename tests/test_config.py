from pathlib import Path

import pytest

from textvae.config import CHOICES, Config, ConfigError, diff_configs, load_config, save_config


def test_defaults_load_and_are_frozen():
    config = load_config()
    assert isinstance(config, Config)
    with pytest.raises(Exception):
        config.model.latent_dim = 3  # frozen dataclass


def test_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  latent_dim: 7\ntrain:\n  learning_rate: 1\n")
    config = load_config(path, ["model.hidden_dim=11", "kl.schedule=cyclical", "data.train=x.txt", "kl.free_bits=1e-1",
                                "train.jit_compile=true"])
    assert config.model.latent_dim == 7
    assert config.model.hidden_dim == 11
    assert config.train.learning_rate == 1.0 and isinstance(config.train.learning_rate, float)
    assert config.kl.schedule == "cyclical"
    assert config.data.train == "x.txt"
    assert config.train.jit_compile is True
    assert config.kl.free_bits == 0.1  # PyYAML reads 1e-1 as a string


def test_unknown_key_names_key_and_valid_keys():
    with pytest.raises(ConfigError) as e:
        load_config(None, ["model.latnet_dim=3"])
    assert "model.latnet_dim" in str(e.value) and "latent_dim" in str(e.value)


def test_unknown_section(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("modle:\n  latent_dim: 7\n")
    with pytest.raises(ConfigError, match="modle.*valid sections"):
        load_config(path)


def test_bad_choice_lists_valid_choices():
    with pytest.raises(ConfigError) as e:
        load_config(None, ["kl.schedule=sigmoid"])
    for choice in CHOICES["kl.schedule"]:
        assert choice in str(e.value)


@pytest.mark.parametrize("override, fragment", [
    ("model.latent_dim=three", "must be of type int"),
    ("model.latent_dim=-1", "out of range"),
    ("train.word_dropout=1.5", "out of range"),
    ("train.jit_compile=1", "must be of type bool"),
    ("latent_dim=3", "section.key=value"),
    ("kl.free_bits_per=token", r"kl.free_bits_per='token' is not valid; choose one of \['batch', 'sentence'\]"),
    ("kl.free_bits_per=sentence", "needs kl.free_bits > 0"),
])
def test_bad_values(override, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_config(None, [override])


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"model: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(bad)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(binary)


def test_save_roundtrip_and_diff(tmp_path):
    config = load_config(None, ["model.latent_dim=5"])
    save_config(config, tmp_path / "c.yaml")
    assert load_config(tmp_path / "c.yaml") == config
    other = load_config(None, ["model.latent_dim=6"])
    assert diff_configs(config, other, ["model"]) == ["model.latent_dim: 5 -> 6"]


def _folder_with_corpus(tmp_path):
    folder = tmp_path / "project" / "configs"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "train.txt").write_text("a b c\n")
    (folder / "run.yaml").write_text("data:\n  train: data/train.txt\n  valid: elsewhere.txt\n")
    return folder


def test_relative_paths_in_a_config_file_are_found_beside_it_from_any_directory(tmp_path, monkeypatch):
    folder = _folder_with_corpus(tmp_path)
    monkeypatch.chdir(tmp_path)
    config = load_config("project/configs/run.yaml")
    assert Path(config.data.train).resolve() == (folder / "data" / "train.txt").resolve()
    # nothing called elsewhere.txt beside the file: read from the current directory, as before
    assert config.data.valid == "elsewhere.txt"
    # a path given as an override is the user's, relative to where they typed it
    assert load_config("project/configs/run.yaml", ["data.train=mine.txt"]).data.train == "mine.txt"


def test_a_runs_saved_config_is_not_resolved_again(tmp_path, monkeypatch):
    from textvae.rundir import RunDir

    folder = _folder_with_corpus(tmp_path)
    monkeypatch.chdir(folder)
    run = RunDir(tmp_path / "run")
    (run.path / "data").mkdir(parents=True)
    (run.path / "data" / "train.txt").write_text("x y\n")
    run.write_config(load_config(None, ["data.train=data/train.txt"]))
    assert run.read_config().data.train == "data/train.txt"


def test_a_missing_corpus_names_where_it_was_looked_for(tmp_path, monkeypatch):
    from textvae.data import DataError, read_corpus

    monkeypatch.chdir(tmp_path)
    config = load_config(None, ["data.train=nowhere/train.txt"])
    with pytest.raises(DataError, match=r"corpus not found: nowhere/train.txt \(looked in .*nowhere; "
                                        r"a relative path in a config file is looked for beside"):
        read_corpus(config.data.train, config.data)


@pytest.mark.parametrize("corpus, steps, extra", [
    ("yelp", 15000, []),
    # the PTB row of docs/benchmarks.md: --set kl.target_rate=100 model.prior_components=100
    # model.latent_dim=64 model.dropout=0 --steps 10000
    ("ptb", 10000, ["kl.target_rate=100", "model.latent_dim=64", "model.dropout=0"]),
])
def test_corpus_vae_configs_are_the_benchmarked_recipes(corpus, steps, extra):
    """configs/<corpus>_vae.yaml is what scripts/quality_benchmark.py trains as that corpus's row."""
    import importlib.util

    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("quality_benchmark", root / "scripts" / "quality_benchmark.py")
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    overrides = benchmark.corpus_overrides("recipe_mixture_prior", steps, extra)
    assert diff_configs(load_config(root / "configs" / f"{corpus}.yaml", overrides),
                        load_config(root / "configs" / f"{corpus}_vae.yaml"),
                        ["data", "tokenizer", "model", "kl", "train", "m2"]) == []
