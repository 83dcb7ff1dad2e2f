"""Labelled and unlabelled data for semi-supervised training (M2).

The labelled set is drawn per class from the labelled corpus with the run's
seed; the unlabelled set is a separate corpus or the rest of the labelled one.
Training batches mix both at a fixed ratio and, like the VAE's, are a pure
function of (seed, step), so resumed runs see the same batches.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator, Sequence

import numpy as np

from textvae.data import DataError, EncodedCorpus, index_batches, pad_batch

UNLABELLED = -1  # the label id of an unlabelled example in a batch


@dataclasses.dataclass(frozen=True)
class LabelledCorpus:
    """Encoded sentences with class ids.

    Attributes:
      encoded: the sentences.
      labels: (num_sentences,) int32 class ids, indices into the run's classes.
    """

    encoded: EncodedCorpus
    labels: np.ndarray


def resolve_classes(declared: str, labels: Sequence[str], source: str) -> list[str]:
    """The class names: `data.classes` (comma-separated) or the sorted labels found.

    Raises:
      DataError: a label outside the declared set, or a declared class with no example.
    """
    found = set(labels)
    if not declared.strip():
        return sorted(found, key=lambda c: (not c.lstrip("-").isdigit(), int(c) if c.lstrip("-").isdigit() else 0, c))
    classes = [c.strip() for c in declared.split(",") if c.strip()]
    if len(set(classes)) != len(classes):
        raise DataError(f"data.classes={declared!r} names a class twice")
    for number, label in enumerate(labels, 1):
        if label not in classes:
            raise DataError(f"{source}: example {number} has label {label!r}, not in data.classes {classes}")
    missing = [c for c in classes if c not in found]
    if missing:
        raise DataError(f"{source}: no labelled example of class(es) {missing} declared in data.classes")
    return classes


def label_ids(labels: Sequence[str], classes: Sequence[str], source: str) -> np.ndarray:
    """Class names -> (n,) int32 ids; an unknown label is an error naming the example."""
    index = {c: i for i, c in enumerate(classes)}
    ids = np.empty(len(labels), np.int32)
    for number, label in enumerate(labels):
        if label not in index:
            raise DataError(f"{source}: example {number + 1} has label {label!r}, not one of {list(classes)}")
        ids[number] = index[label]
    return ids


def draw_per_class(labels: np.ndarray, num_classes: int, per_class: int, seed: int,
                   source: str = "labelled data", classes: Sequence[str] | None = None) -> np.ndarray:
    """Indices of `per_class` examples of each class, drawn with `seed` (all when 0), sorted.

    `source` (a file name) and `classes` (the label names) only make errors precise.
    """
    if per_class == 0:
        return np.arange(len(labels))
    rng = np.random.default_rng([seed, 104729])
    chosen = []
    for c in range(num_classes):
        members = np.flatnonzero(labels == c)
        if len(members) < per_class:
            name = repr(classes[c]) if classes is not None else str(c)
            raise DataError(f"{source}: class {name} has {len(members)} labelled examples, "
                            f"fewer than data.labels_per_class={per_class}")
        chosen.append(rng.choice(members, per_class, replace=False))
    return np.sort(np.concatenate(chosen))


def mixed_batches(labelled: LabelledCorpus, unlabelled: EncodedCorpus, batch_size: int,
                  labelled_fraction: float, seed: int, start_step: int = 0, multiple: int = 1,
                  max_width: int | None = None) -> Iterator[dict[str, np.ndarray]]:
    """Endless batches of round(batch_size * labelled_fraction) labelled sentences then
    unlabelled ones (label -1), from step `start_step` (widths as in `pad_batch`).

    Yields:
      {"token_ids", "padding_mask"}: (batch, time); "labels": (batch,) int32.
    """
    n_labelled = min(max(1, round(batch_size * labelled_fraction)), batch_size - 1)
    lab_lengths = np.asarray([len(s) for s in labelled.encoded.sequences])
    unl_lengths = np.asarray([len(s) for s in unlabelled.sequences])
    lab_stream = index_batches(lab_lengths, n_labelled, seed + 1, start_step)
    unl_stream = index_batches(unl_lengths, batch_size - n_labelled, seed, start_step)
    for lab, unl in zip(lab_stream, unl_stream):
        batch = pad_batch([labelled.encoded.sequences[i] for i in lab] + [unlabelled.sequences[i] for i in unl],
                          multiple, max_width)
        batch["labels"] = np.concatenate([labelled.labels[lab], np.full(len(unl), UNLABELLED, np.int32)])
        yield batch


def labelled_evaluation_batches(corpus: LabelledCorpus, batch_size: int) -> Iterator[dict[str, np.ndarray]]:
    """One pass in length order with labels; every sentence exactly once."""
    sequences = corpus.encoded.sequences
    order = np.argsort([len(s) for s in sequences], kind="stable")
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        batch = pad_batch([sequences[i] for i in rows])
        batch["labels"] = corpus.labels[rows]
        yield batch


@dataclasses.dataclass(frozen=True)
class SemiSupervisedData:
    tokenizer: object
    classes: list[str]
    class_log_prior: list[float]
    labelled: LabelledCorpus
    unlabelled: EncodedCorpus
    valid: LabelledCorpus


def prepare_semi_supervised_data(config, run, log, write: bool = True) -> SemiSupervisedData:
    """Reads the labelled, unlabelled and validation corpora, draws the labelled set,
    trains (or reloads) the tokenizer and encodes everything. With `write`, saves
    labels.json (classes, p(y)), the tokenizer and data_stats.json to the run directory
    (a `textvae.rundir.RunDir`).
    """
    from textvae.config import ConfigError
    from textvae.data import encode_corpus, read_corpus
    from textvae.tokenizer import load_tokenizer, train_tokenizer

    data = config.data
    if not data.train:
        raise ConfigError("data.train is empty: set it to the labelled corpus")
    if not data.valid:
        raise ConfigError("m2.enabled needs data.valid: a labelled corpus for validation accuracy")
    source = read_corpus(data.train, data)
    classes = resolve_classes(data.classes, source.labels, data.train)
    all_ids = label_ids(source.labels, classes, data.train)
    chosen = draw_per_class(all_ids, len(classes), data.labels_per_class, config.train.seed,
                            source=data.train, classes=classes)
    labelled_texts = [source.texts[i] for i in chosen]
    if data.unlabelled:
        unlabelled_texts = read_corpus(data.unlabelled, dataclasses.replace(data, label_field="")).texts
    else:
        rest = np.ones(len(source.texts), bool)
        rest[chosen] = False
        unlabelled_texts = [t for t, keep in zip(source.texts, rest) if keep]
        if not unlabelled_texts:
            raise DataError(f"{data.train}: every example is labelled; set data.labels_per_class or "
                            "data.unlabelled to give M2 unlabelled text")
    valid_source = read_corpus(data.valid, data)
    valid_ids = label_ids(valid_source.labels, classes, data.valid)

    workdir = run.path
    saved = run.read_labels()
    if saved is not None and saved["classes"] != classes:
        raise ConfigError(f"{workdir} was trained with classes {saved['classes']}; this config gives {classes}")
    counts = np.bincount(all_ids[chosen], minlength=len(classes))
    if config.m2.class_prior == "labelled":
        class_log_prior = np.log(counts / counts.sum()).tolist()
    else:
        class_log_prior = [-float(np.log(len(classes)))] * len(classes)
    if write:
        run.write_labels(classes, class_log_prior)

    try:
        tokenizer = load_tokenizer(workdir)
    except ValueError:
        if config.m2.init_from:  # the pretrained VAE's vocabulary, so that its weights fit
            tokenizer = load_tokenizer(config.m2.init_from)
        else:
            tokenizer = train_tokenizer(config.tokenizer, labelled_texts + unlabelled_texts)
        if write:
            tokenizer.save(workdir)
    labelled = LabelledCorpus(encode_corpus(labelled_texts, tokenizer, data.max_length), all_ids[chosen])
    unlabelled = encode_corpus(unlabelled_texts, tokenizer, data.max_length)
    valid = LabelledCorpus(encode_corpus(valid_source.texts, tokenizer, data.max_length), valid_ids)
    stats = {"classes": classes, "labelled_per_class": counts.tolist(),
             "unlabelled_sentences": len(unlabelled.sequences), "valid_sentences": len(valid.labels),
             "truncated": labelled.encoded.truncated + unlabelled.truncated + valid.encoded.truncated,
             "vocab_size": tokenizer.vocab_size, "max_length": data.max_length}
    if write:
        run.write_data_stats(stats)
    log(f"data: {stats}")
    return SemiSupervisedData(tokenizer, classes, class_log_prior, labelled, unlabelled, valid)
