"""Typed configuration: frozen dataclasses loaded from YAML with `key=value` overrides.

Every field is documented where it is declared. `load_config(path, overrides)` is
the only entry point; it rejects unknown keys and bad values with a message that
names the key and lists the valid choices, so a typo never trains the wrong model.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml


class ConfigError(ValueError):
    """A configuration file or override names an unknown key or a bad value."""


@dataclass(frozen=True)
class DataConfig:
    # Training corpus: a text file (one sentence a line), .csv/.tsv, .jsonl
    # (optionally .gz), or a Hugging Face `datasets` directory saved to disk.
    train: str = ""
    # Validation corpus; empty means: hold out `valid_fraction` of `train`.
    valid: str = ""
    # Test corpus, kept with the run for evaluation; training never reads it.
    test: str = ""
    # File format: auto (from the extension), text, csv, tsv, jsonl, parquet,
    # hf (a `datasets` save_to_disk directory).
    format: str = "auto"
    # Column / key holding the sentence in csv, tsv, jsonl and hf corpora.
    text_field: str = "text"
    # Column / key holding the label; empty means unlabelled.
    label_field: str = ""
    # Maximum tokens per sentence, BOS/EOS excluded; longer ones are truncated
    # (the count is reported, never silent).
    max_length: int = 64
    # Fraction of `train` held out as validation when `valid` is empty.
    valid_fraction: float = 0.05
    # Lower-case the text before tokenisation.
    lowercase: bool = False
    # Semi-supervised (m2.enabled): labelled examples drawn per class from
    # `train` with the run's seed; 0 uses every label in `train`.
    labels_per_class: int = 0
    # Semi-supervised: unlabelled corpus; empty means the examples of `train`
    # not drawn as labelled (their labels are then never read).
    unlabelled: str = ""
    # Semi-supervised: the declared label set, comma-separated ("0,1"); empty
    # means the labels found in `train`. A label outside it is an error.
    classes: str = ""


@dataclass(frozen=True)
class TokenizerConfig:
    # unigram or bpe (sentencepiece), or word (whitespace vocabulary with UNK).
    kind: str = "unigram"
    # Vocabulary size including the four special tokens (PAD, UNK, BOS, EOS).
    # For `word`, the most frequent words up to this size; fewer if the corpus
    # has fewer distinct words.
    vocab_size: int = 8000
    # An existing tokenizer file (sentencepiece .model or word .vocab); empty
    # means: train one on the training split.
    model_file: str = ""
    # sentencepiece character coverage.
    character_coverage: float = 1.0


@dataclass(frozen=True)
class ModelConfig:
    # Encoder architecture: lstm or transformer.
    encoder: str = "lstm"
    # Decoder architecture: lstm or transformer.
    decoder: str = "lstm"
    # Dimension of z; 0 gives the decoder alone, an LSTM language model baseline
    # trained and evaluated by the same commands (its NLL is exact).
    latent_dim: int = 32
    # Token embedding size (encoder and decoder each own one); also the width
    # of the Transformer layers.
    embedding_dim: int = 256
    # LSTM hidden size.
    hidden_dim: int = 512
    # Transformer layers (encoder and decoder each), attention heads (must
    # divide embedding_dim) and feed-forward width. LSTM models ignore these.
    num_layers: int = 2
    num_heads: int = 4
    feedforward_dim: int = 1024
    # LSTM encoder readout: last (a left-to-right LSTM's state at the last real
    # token) or max (a bidirectional LSTM of the same width, max-pooled over the
    # real tokens, so every word reaches q(z|x) by a short path).
    lstm_pooling: str = "last"
    # Transformer encoder pooling: mean (over the real tokens) or summary (a
    # learned vector prepended to the sentence, read out like BERT's [CLS]).
    pooling: str = "mean"
    # How z enters a Transformer decoder: add (a projection of z added to every
    # input embedding), memory (a projection of z per layer as an extra
    # key/value slot every position attends to, as Optimus), or both.
    latent_injection: str = "both"
    # Dropout on decoder input embeddings and LSTM outputs; inside Transformer
    # layers (attention weights, residual branches) and on their inputs.
    dropout: float = 0.0
    # BN-VAE (Zhu et al. 2020): batch-normalise the posterior means and scale them
    # by this fixed gamma, which keeps the expected KL of each dimension at least
    # gamma^2 / 2; 0 disables.
    bn_gamma: float = 0.0
    # Bag-of-words loss (Zhao et al. 2017): z alone predicts the sentence's words
    # without order, through a softmax head on z; this weight times its NLL is added
    # to the training loss (not to the ELBO). Only information in z can lower it,
    # so it makes the encoder say what the sentence contains. In M2 the head reads
    # [z, onehot(y)] and its term is part of L(x, y). 0 disables.
    bag_of_words: float = 0.0
    # Feed z to the decoder's output layer at every step (a skip connection,
    # Dieng et al. 2019): logits = W [h_t; z] + b, so z reaches each word directly
    # instead of only through the recurrent state.
    latent_to_output: bool = False
    # One word-vector table for the encoder's input, the decoder's input and its
    # output layer (Press & Wolf 2017; Inan et al. 2017), the bag-of-words head's
    # output too: logits = E (P h) + b. A word seen once as input is then already a
    # word the decoder can say, so reconstruction generalises to unseen sentences.
    tie_embeddings: bool = False
    # The prior p(z): 0 for N(0, I); K > 0 for a mixture of K diagonal Gaussians learnt
    # with the model, fitted to the codes the encoder gives (textvae/priors.py), so that
    # the KL does not also pay for the distance between the codes and N(0, I) and prior
    # samples land where sentences' codes are. Its KL has no closed form: it is
    # estimated at the training sample (one sample per sentence in evaluation too).
    prior_components: int = 0


@dataclass(frozen=True)
class KLConfig:
    # KL weight schedule: constant, linear, logistic, cyclical.
    schedule: str = "linear"
    # Final (maximum) KL weight.
    weight: float = 1.0
    # linear: steps from weight 0 to `weight`.
    warmup_steps: int = 10000
    # logistic (Bowman et al. 2016): weight / (1 + exp(-steepness * (step - midpoint))).
    midpoint: int = 5000
    steepness: float = 0.0025
    # cyclical (Fu et al. 2019): `cycles` cycles over train.max_steps, the weight
    # rising linearly over the first `ratio` of each cycle, then held.
    cycles: int = 4
    ratio: float = 0.5
    # Free bits lambda in nats per dimension, a floor on each dimension's KL
    # (see free_bits_per); 0 disables. The reported KL is always the true KL.
    free_bits: float = 0.0
    # What the free-bits floor applies to: batch (each dimension's mean KL over the
    # batch) or sentence (each sentence's KL of each dimension; Li et al. 2019's
    # `fb 2`), so a code cannot meet the floor on average while single sentences
    # carry nothing.
    free_bits_per: str = "batch"
    # Target rate C in nats per sentence (Burgess et al. 2018's capacity): the KL
    # term becomes weight(step) * |mean KL - C|, so the model is pulled towards
    # spending C nats on z instead of as few as possible; 0 disables. Exclusive
    # with free_bits.
    target_rate: float = 0.0


@dataclass(frozen=True)
class TrainConfig:
    # Sentences per batch.
    batch_size: int = 32
    # Total optimizer steps.
    max_steps: int = 10000
    # Adam learning rate (the peak, with a schedule).
    learning_rate: float = 1e-3
    # constant, or cosine: from learning_rate at step 0 down to
    # learning_rate * final_lr_fraction at max_steps (Loshchilov & Hutter 2017).
    lr_schedule: str = "constant"
    final_lr_fraction: float = 0.1
    # Global gradient-norm clip; 0 disables.
    clip_norm: float = 5.0
    # Seed for initialisation, data order, word dropout and sampling.
    seed: int = 0
    # Probability of replacing a decoder input token by UNK (never BOS/PAD).
    word_dropout: float = 0.0
    # Li et al. 2019: train this many steps as an autoencoder (KL weight 0), then
    # re-initialise the decoder and train the VAE; the KL schedule starts then.
    pretrain_steps: int = 0
    # Steps between metrics.jsonl / TensorBoard records.
    log_every: int = 50
    # Steps between validation ELBO runs (best checkpoint kept).
    eval_every: int = 500
    # Steps between checkpoints; the final step is always saved.
    checkpoint_every: int = 500
    # Checkpoints kept besides the best one.
    keep_checkpoints: int = 2
    # Compile train steps with XLA (fuses the LSTM's per-step ops; compiles once
    # per batch shape, so widths are rounded up by pad_to_multiple).
    jit_compile: bool = False
    # Batch widths are rounded up to a multiple of this, bounding the number of
    # distinct shapes XLA compiles for; 0 = 8 with jit_compile, else 1.
    pad_to_multiple: int = 0
    # Candidate words of the sampled softmax (Jean et al. 2015) in training;
    # 0 = exact softmax. Evaluation and generation are always exact. Faster, not
    # free: the PTB LM at 10,000 steps ends 11% higher in perplexity with 1,024.
    sampled_softmax: int = 0
    # Compute dtype: float32, or mixed_float16 (GPU; dynamic loss scaling) /
    # mixed_bfloat16 with variables, q(z|x), softmax and losses in float32.
    precision: str = "float32"
    # tf.distribute strategy: auto (mirrored when several GPUs are visible),
    # single, mirrored (local GPUs), multi_worker (TF_CONFIG cluster). The
    # global batch is batch_size whatever the number of replicas.
    strategy: str = "auto"
    # Threads each TensorFlow op may use; 0 = TensorFlow's default (every core).
    # At the demo's size a CPU step is many small ops, and running them side by
    # side on one thread each beats splitting each op over the cores
    # (docs/benchmarks.md, "One thread per op"); large matmuls (IW-NLL with many
    # samples) want the default. Fixed for the process when TensorFlow starts.
    intra_op_threads: int = 0
    # Show the Keras progress bar when stderr is a terminal; elsewhere (a file,
    # nohup, CI) and with false, one plain line every log_every steps.
    progress_bar: bool = True


@dataclass(frozen=True)
class M2Config:
    # Train the semi-supervised M2 model (Kingma et al. 2014) instead of the
    # VAE; needs data.label_field.
    enabled: bool = False
    # Weight of the classifier's cross-entropy on labelled examples, per
    # example, next to their -ELBO (tens of nats for a sentence).
    alpha: float = 50.0
    # Fraction of each batch drawn from the labelled examples.
    labelled_fraction: float = 0.5
    # p(y): uniform, or labelled (the class frequencies of the labelled examples).
    class_prior: str = "uniform"
    # Start from a VAE run (textvae train with m2 off, on the same text; Kingma et
    # al.'s M1 -> M2 stacking, Li et al. 2019's pretraining): its tokenizer, and every
    # weight of its encoder and decoder, q(z|x) as q(z|x, y); the rows for y in the
    # decoder's input layers start fresh. The model settings must match. "" disables.
    init_from: str = ""
    # Weight lambda of an adversary a(y|z) that reads z and learns to predict the
    # sentence's class (the label, or q(y|x) on unlabelled text); q(z|x, y)'s head
    # (not the features q(y|x) reads) is trained to maximise lambda * a's entropy
    # (John et al. 2019), so that z carries no class and the class must reach the
    # decoder through y. 0 disables (no adversary is built).
    adversary: float = 0.0


@dataclass(frozen=True)
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    kl: KLConfig = field(default_factory=KLConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    m2: M2Config = field(default_factory=M2Config)


CHOICES: dict[str, tuple[str, ...]] = {
    "data.format": ("auto", "text", "csv", "tsv", "jsonl", "parquet", "hf"),
    "tokenizer.kind": ("unigram", "bpe", "word"),
    "model.encoder": ("lstm", "transformer"),
    "model.decoder": ("lstm", "transformer"),
    "model.pooling": ("mean", "summary"),
    "model.lstm_pooling": ("last", "max"),
    "model.latent_injection": ("add", "memory", "both"),
    "kl.schedule": ("constant", "linear", "logistic", "cyclical"),
    "kl.free_bits_per": ("batch", "sentence"),
    "m2.class_prior": ("uniform", "labelled"),
    "train.strategy": ("auto", "single", "mirrored", "multi_worker"),
    "train.lr_schedule": ("constant", "cosine"),
    "train.precision": ("float32", "mixed_float16", "mixed_bfloat16"),
}

# (key, lowest allowed, highest allowed); None means unbounded.
# Keys that existed once and were removed when they did not pay (docs/benchmarks.md has what
# each measured). A saved run that set one to the value whose behaviour the code kept still
# loads (the key is dropped); any other value is refused: today's code cannot rebuild that run.
RETIRED: dict[str, tuple[Any, str]] = {
    "m2.entropy_weight": (1.0, "removed in 9d25baf; the bound's own weight, 1.0, is what the code kept"),
    "m2.classifier_encoder": ("shared", "removed in a5fc42a; q(y|x) shares the encoder, as 'shared' did"),
    "train.lr_warmup_steps": (0, "removed in 9e439d7; the learning rate starts at its peak, as 0 did"),
    "m2.unlabelled_pull": (1.0, "removed in f772f7e; all of the unlabelled term's gradient reaches q(y|x), as 1.0 did"),
}

RANGES: dict[str, tuple[float | None, float | None]] = {
    "data.max_length": (1, None),
    "data.valid_fraction": (0.0, 0.5),
    "data.labels_per_class": (0, None),
    "m2.alpha": (0.0, None),
    "m2.labelled_fraction": (0.01, 0.99),
    "m2.adversary": (0.0, None),
    "tokenizer.vocab_size": (5, None),
    "tokenizer.character_coverage": (0.9, 1.0),
    "model.latent_dim": (0, None),
    "model.embedding_dim": (1, None),
    "model.hidden_dim": (1, None),
    "model.num_layers": (1, None),
    "model.num_heads": (1, None),
    "model.feedforward_dim": (1, None),
    "model.dropout": (0.0, 0.99),
    "model.bn_gamma": (0.0, None),
    "train.pretrain_steps": (0, None),
    "kl.weight": (0.0, None),
    "kl.warmup_steps": (0, None),
    "kl.steepness": (0.0, None),
    "kl.cycles": (1, None),
    "kl.ratio": (0.0, 1.0),
    "kl.free_bits": (0.0, None),
    "kl.target_rate": (0.0, None),
    "model.bag_of_words": (0.0, None),
    "model.prior_components": (0, None),
    "train.batch_size": (1, None),
    "train.max_steps": (1, None),
    "train.learning_rate": (0.0, None),
    "train.final_lr_fraction": (0.0, 1.0),
    "train.clip_norm": (0.0, None),
    "train.word_dropout": (0.0, 1.0),
    "train.log_every": (1, None),
    "train.eval_every": (1, None),
    "train.checkpoint_every": (1, None),
    "train.keep_checkpoints": (1, None),
    "train.pad_to_multiple": (0, None),
    "train.sampled_softmax": (0, None),
    "train.intra_op_threads": (0, None),
}


# Keys holding file paths. A relative one written in a config file names a file beside
# the config file (so `configs/ptb.yaml` works from any directory); when nothing is
# there it is read from the current directory, as before this rule.
PATH_KEYS = (("data", "train"), ("data", "valid"), ("data", "test"), ("data", "unlabelled"),
             ("tokenizer", "model_file"), ("m2", "init_from"))


def load_config(path: str | Path | None = None, overrides: Sequence[str] = (),
                paths_beside_file: bool = True) -> Config:
    """Loads a YAML config file (or the defaults) and applies `key=value` overrides.

    Args:
      path: YAML file with sections `data`, `tokenizer`, `model`, `kl`, `train`;
        None for the defaults.
      overrides: strings such as `"model.latent_dim=16"`; values are parsed as YAML,
        paths in them are relative to the current directory.
      paths_beside_file: resolve the file's relative PATH_KEYS against its folder
        (off for a run's saved config, whose paths were resolved when it was written).
    Returns:
      The validated, frozen `Config`.
    Raises:
      ConfigError: naming the file, key and valid choices at fault.
    """
    tree: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except UnicodeDecodeError as e:
            raise ConfigError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
        try:
            tree = yaml.safe_load(text) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: invalid YAML: {e}") from None
        if not isinstance(tree, dict):
            raise ConfigError(f"{path}: expected a mapping of sections, got {type(tree).__name__}")
    tree = {k: dict(v) if isinstance(v, dict) else v for k, v in tree.items()}
    if path is not None and paths_beside_file:
        _resolve_paths(tree, Path(path).parent)
    for item in overrides:
        key, value = parse_override(item)
        section, _, name = key.partition(".")
        if not isinstance(tree.get(section, {}), dict):
            raise ConfigError(f"{key}: section {section!r} is not a mapping")
        tree.setdefault(section, {})[name] = value
    return config_from_dict(tree, source=source)


def _resolve_paths(tree: dict, folder: Path) -> None:
    """Rewrites each relative PATH_KEYS value that exists under `folder` to that path."""
    for section, key in PATH_KEYS:
        value = tree.get(section, {}).get(key) if isinstance(tree.get(section), dict) else None
        if isinstance(value, str) and value and not Path(value).is_absolute() and (folder / value).exists():
            tree[section][key] = os.path.normpath(folder / value)


def parse_override(item: str) -> tuple[str, Any]:
    """Splits `"section.key=value"`; the value is parsed as YAML (`16`, `true`, `x.txt`)."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or key.count(".") != 1:
        raise ConfigError(f"override {item!r}: expected section.key=value, e.g. model.latent_dim=16")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key, value


def config_from_dict(tree: Mapping[str, Any], source: str = "config") -> Config:
    """Builds a validated `Config` from a nested mapping (unknown keys are errors)."""
    sections = {f.name: f.type for f in dataclasses.fields(Config)}
    hints = typing.get_type_hints(Config)
    unknown = set(tree) - set(sections)
    if unknown:
        raise ConfigError(
            f"{source}: unknown section(s) {sorted(unknown)}; valid sections: {sorted(sections)}"
        )
    built = {}
    for name in sections:
        cls = hints[name]
        values = tree.get(name) or {}
        if not isinstance(values, Mapping):
            raise ConfigError(f"{source}: section {name!r} must be a mapping")
        built[name] = _build_section(cls, name, values, source)
    if built["m2"].enabled and not built["data"].label_field:
        raise ConfigError(f"{source}: m2.enabled needs data.label_field (the labelled corpus' label column)")
    if built["m2"].enabled and built["train"].sampled_softmax:
        raise ConfigError(f"{source}: train.sampled_softmax is not supported with m2.enabled (use 0)")
    model, kl = built["model"], built["kl"]
    if kl.target_rate and kl.free_bits:
        raise ConfigError(f"{source}: kl.target_rate and kl.free_bits are two ways to set the rate; set one (the other 0)")
    if kl.free_bits_per == "sentence" and not kl.free_bits:
        raise ConfigError(f"{source}: kl.free_bits_per=sentence sets where the free-bits floor applies; "
                          "it needs kl.free_bits > 0")
    if model.bag_of_words and model.latent_dim == 0:
        raise ConfigError(f"{source}: model.bag_of_words needs model.latent_dim > 0 (it predicts the words from z)")
    if model.prior_components:
        clashes = {"model.latent_dim=0": model.latent_dim == 0, "m2.enabled": built["m2"].enabled,
                   "kl.free_bits": kl.free_bits > 0, "model.bn_gamma": model.bn_gamma > 0}
        if clash := [key for key, on in clashes.items() if on]:
            raise ConfigError(
                f"{source}: model.prior_components (a learnt mixture prior) does not go with {clash}: it needs a "
                "SentenceVAE's z, has no per-dimension KL for free bits and no N(0, I) for BN-VAE to hold; "
                "use kl.target_rate for the rate")
    uses_transformer = "transformer" in (model.encoder, model.decoder)
    if uses_transformer and model.embedding_dim % model.num_heads:
        raise ConfigError(
            f"{source}: model.num_heads={model.num_heads} must divide model.embedding_dim="
            f"{model.embedding_dim} (the Transformer width)")
    return Config(**built)


def _build_section(cls: type, section: str, values: Mapping[str, Any], source: str):
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in values.items():
        full = f"{section}.{key}"
        if full in RETIRED:
            kept, why = RETIRED[full]
            if value != kept:
                raise ConfigError(f"{source}: {full}={value!r} is no longer supported ({why}); "
                                  f"a run that set it to anything but {kept!r} cannot be rebuilt")
            continue
        if key not in hints:
            raise ConfigError(
                f"{source}: unknown key {full!r}; valid keys in {section!r}: {sorted(hints)}"
            )
        kwargs[key] = _check_value(full, hints[key], value, source)
    return cls(**kwargs)


def _check_value(key: str, kind: type, value: Any, source: str) -> Any:
    if value is None and kind is str:
        value = ""
    if kind is float and isinstance(value, str):
        try:  # PyYAML reads 1e-3 (no dot) as a string
            value = float(value)
        except ValueError:
            pass
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is int and isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ConfigError(
            f"{source}: {key} must be of type {kind.__name__}, got {value!r}"
        )
    if key in CHOICES and value not in CHOICES[key]:
        raise ConfigError(
            f"{source}: {key}={value!r} is not valid; choose one of {list(CHOICES[key])}"
        )
    low, high = RANGES.get(key, (None, None))
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"[{low if low is not None else '-inf'}, {high if high is not None else 'inf'}]"
        raise ConfigError(f"{source}: {key}={value!r} is out of range {bounds}")
    return value


def config_to_dict(config: Config) -> dict[str, dict[str, Any]]:
    """The config as a plain nested dict (what `save_config` writes)."""
    return dataclasses.asdict(config)


def save_config(config: Config, path: str | Path) -> None:
    """Writes the resolved config as YAML, atomically."""
    from textvae.files import atomic_write

    atomic_write(path, yaml.safe_dump(config_to_dict(config), sort_keys=False))


def diff_configs(a: Config, b: Config, sections: Sequence[str]) -> list[str]:
    """Keys in `sections` whose values differ, as `"model.hidden_dim: 512 -> 256"`."""
    da, db = config_to_dict(a), config_to_dict(b)
    changes = []
    for section in sections:
        for key, value in da[section].items():
            if db[section][key] != value:
                changes.append(f"{section}.{key}: {value!r} -> {db[section][key]!r}")
    return changes
