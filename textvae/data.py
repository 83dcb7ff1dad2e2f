"""Corpora -> sentences -> token ids -> length-bucketed, seeded `tf.data` batches.

Readers accept plain text (one sentence a line), CSV/TSV with a header, JSON
lines (optionally gzipped) and Hugging Face `datasets` saved to disk or loadable
from local files. Every error names the file and, where there is one, the line.

Batches are built in NumPy from a pure function of (seed, epoch), so the stream
of batches is a function of the global step: a resumed run sees exactly the
batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import json
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from textvae.config import DataConfig
from textvae.tokenizer import BOS_ID, EOS_ID, PAD_ID, Tokenizer

# Sentences per bucket window: sorted by length inside a window of this many
# batches, so batches hold similar lengths while the order stays random.
BUCKET_WINDOW_BATCHES = 50


class DataError(ValueError):
    """A corpus file is missing, unreadable or lacks a required field."""


@dataclasses.dataclass(frozen=True)
class Corpus:
    """Sentences read from one source, with optional labels.

    Attributes:
      texts: the sentences, in file order (empty lines dropped).
      labels: one string label per sentence, or None when unlabelled.
      source: file the sentences came from (for messages).
      skipped_empty: number of empty lines dropped.
    """

    texts: list[str]
    labels: list[str] | None
    source: str
    skipped_empty: int = 0


def detect_format(path: str | Path, declared: str = "auto") -> str:
    if declared != "auto":
        return declared
    path = Path(path)
    if path.is_dir():
        return "hf"
    name = path.name.lower().removesuffix(".gz")
    suffixes = ((".csv", "csv"), (".tsv", "tsv"), (".jsonl", "jsonl"), (".json", "jsonl"),
                (".parquet", "parquet"))
    for suffix, kind in suffixes:
        if name.endswith(suffix):
            return kind
    return "text"


def read_corpus(path: str | Path, config: DataConfig) -> Corpus:
    """Reads sentences (and labels if `config.label_field`) from one file or directory."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"corpus not found: {path} (looked in {path.absolute().parent}; a relative path in a "
                        "config file is looked for beside the config file first, then from the current directory)")
    kind = detect_format(path, config.format)
    if kind in ("hf", "parquet"):
        records = _read_hf(path, kind)
    elif kind == "text":
        if config.label_field:
            raise DataError(
                f"{path}: data.label_field={config.label_field!r} needs a csv, tsv, jsonl or hf corpus"
            )
        records = ((n, {"text": line}) for n, line in enumerate(_read_lines(path), 1))
        config = dataclasses.replace(config, text_field="text")
    elif kind in ("csv", "tsv"):
        records = _read_delimited(path, "\t" if kind == "tsv" else ",")
    else:
        records = _read_jsonl(path)
    corpus = _collect(records, path, config)
    if not corpus.texts:
        raise DataError(f"{path}: no sentences (the file is empty or holds only empty lines)")
    return corpus


def _collect(records, path: Path, config: DataConfig) -> Corpus:
    texts, labels, empty = [], [] if config.label_field else None, 0
    for line, record in records:
        if config.text_field not in record:
            raise DataError(
                f"{path}:{line}: text field {config.text_field!r} missing "
                f"(fields: {sorted(record)}); set data.text_field"
            )
        text = " ".join(str(record[config.text_field] or "").split())
        if config.lowercase:
            text = text.lower()
        if not text:
            empty += 1
            continue
        if labels is not None:
            if record.get(config.label_field) in (None, ""):
                raise DataError(
                    f"{path}:{line}: label field {config.label_field!r} missing "
                    f"(fields: {sorted(record)}); set data.label_field or leave it empty"
                )
            labels.append(str(record[config.label_field]))
        texts.append(text)
    return Corpus(texts, labels, str(path), empty)


def _read_lines(path: Path) -> Iterator[str]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataError(f"{path}:{number}: not valid UTF-8 ({e.reason} at byte {e.start})") from None
            if number == 1:
                text = text.removeprefix("\ufeff")
            if "\x00" in text:
                raise DataError(f"{path}:{number}: contains a NUL byte; is this a binary file?")
            yield text.rstrip("\r\n")


def _read_delimited(path: Path, delimiter: str) -> Iterator[tuple[int, dict]]:
    lines = list(_read_lines(path))
    reader = csv.DictReader(lines, delimiter=delimiter)
    try:
        for record in reader:
            if None in record:  # DictReader files a row's fields beyond the header under None
                raise DataError(f"{path}:{reader.line_num}: {len(reader.fieldnames) + len(record[None])} fields, "
                                f"more than the header's {len(reader.fieldnames)}")
            yield reader.line_num, record
    except csv.Error as e:
        raise DataError(f"{path}:{reader.line_num}: {e}") from None


def _read_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    for number, line in enumerate(_read_lines(path), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{number}: invalid JSON ({e.msg})") from None
        if not isinstance(record, dict):
            raise DataError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
        yield number, record


def _read_hf(path: Path, kind: str) -> Iterator[tuple[int, dict]]:
    """Hugging Face `datasets`: a `save_to_disk` directory or a local parquet file."""
    import datasets  # imported lazily: only this reader needs it

    try:
        if kind == "parquet":
            dataset = datasets.load_dataset("parquet", data_files=str(path), split="train")
        else:
            dataset = datasets.load_from_disk(str(path))
    except Exception as e:  # datasets raises many types for a bad directory or file
        raise DataError(f"{path}: cannot be read with Hugging Face datasets ({e})") from None
    if isinstance(dataset, datasets.DatasetDict):
        raise DataError(f"{path}: holds splits {list(dataset)}; point data.* at one split's directory")
    for number, record in enumerate(dataset, 1):
        yield number, record


@dataclasses.dataclass(frozen=True)
class EncodedCorpus:
    """Token ids of a corpus, BOS and EOS included.

    Attributes:
      sequences: one int32 array per sentence, `[BOS, w_1 .. w_n, EOS]`, n <= max_length.
      truncated: sentences cut to `max_length` tokens.
      num_words: whitespace words of the original text plus one EOS per sentence
        (the literature's perplexity denominator).
    """

    sequences: list[np.ndarray]
    truncated: int
    num_words: int

    @property
    def num_tokens(self) -> int:
        """Predicted tokens (everything after BOS)."""
        return int(sum(len(s) - 1 for s in self.sequences))


def encode_corpus(texts: Sequence[str], tokenizer: Tokenizer, max_length: int) -> EncodedCorpus:
    sequences, truncated, words = [], 0, 0
    for text in texts:
        ids = tokenizer.encode(text)
        if len(ids) > max_length:
            ids, truncated = ids[:max_length], truncated + 1
        sequences.append(np.asarray([BOS_ID, *ids, EOS_ID], dtype=np.int32))
        words += len(text.split()) + 1
    return EncodedCorpus(sequences, truncated, words)


def pad_batch(sequences: Sequence[np.ndarray], multiple: int = 1, max_width: int | None = None
              ) -> dict[str, np.ndarray]:
    """Pads to the longest sequence, rounded up to a multiple of `multiple` (never
    past `max_width`, e.g. a Transformer's position table, unless a sequence is longer).

    Returns:
      `{"token_ids": (batch, time) int32, "padding_mask": (batch, time) bool}`,
      True where a real token (BOS and EOS included) stands.
    """
    longest = max(len(s) for s in sequences)
    width = -(-longest // multiple) * multiple
    if max_width is not None:
        width = max(longest, min(width, max_width))
    ids = np.full((len(sequences), width), PAD_ID, dtype=np.int32)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = seq
    return {"token_ids": ids, "padding_mask": ids != PAD_ID}


def epoch_batches(lengths: np.ndarray, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """Index batches for one epoch: shuffled, bucketed by length, a function of (seed, epoch).

    Args:
      lengths: (num_sentences,) sequence lengths.
    Returns:
      List of index arrays, each of at most `batch_size` indices; every sentence once.
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    window = batch_size * BUCKET_WINDOW_BATCHES
    batches = []
    for start in range(0, len(order), window):
        chunk = order[start : start + window]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def index_batches(lengths: np.ndarray, batch_size: int, seed: int, start_step: int = 0) -> Iterator[np.ndarray]:
    """Endless stream of index batches (epoch after epoch), starting at step `start_step`."""
    per_epoch = -(-len(lengths) // batch_size) if len(lengths) else 0
    if per_epoch == 0:
        raise DataError("the training corpus is empty")
    epoch, offset = divmod(start_step, per_epoch)
    while True:
        yield from epoch_batches(lengths, batch_size, seed, epoch)[offset:]
        epoch, offset = epoch + 1, 0


def training_batches(
    encoded: EncodedCorpus, batch_size: int, seed: int, start_step: int = 0, multiple: int = 1,
    max_width: int | None = None,
) -> Iterator[dict[str, np.ndarray]]:
    """Endless stream of padded batches, starting at global step `start_step`
    (widths as in `pad_batch`)."""
    lengths = np.asarray([len(s) for s in encoded.sequences])
    for index in index_batches(lengths, batch_size, seed, start_step):
        yield pad_batch([encoded.sequences[i] for i in index], multiple, max_width)


def evaluation_batches(encoded: EncodedCorpus, batch_size: int, multiple: int = 1, max_width: int | None = None
                       ) -> Iterator[dict[str, np.ndarray]]:
    """One pass in length order (little padding); every sentence exactly once
    (widths as in `pad_batch`)."""
    order = np.argsort([len(s) for s in encoded.sequences], kind="stable")
    for start in range(0, len(order), batch_size):
        yield pad_batch([encoded.sequences[i] for i in order[start : start + batch_size]], multiple, max_width)


def to_dataset(batches: Iterator[dict[str, np.ndarray]], labelled: bool = False):
    """Wraps a batch iterator as a prefetched `tf.data.Dataset` of named tensors
    (with `labels` (batch,) int32 when `labelled`)."""
    import tensorflow as tf

    signature = {
        "token_ids": tf.TensorSpec((None, None), tf.int32),
        "padding_mask": tf.TensorSpec((None, None), tf.bool),
    }
    if labelled:
        signature["labels"] = tf.TensorSpec((None,), tf.int32)
    return tf.data.Dataset.from_generator(lambda: batches, output_signature=signature).prefetch(2)


def split_holdout(texts: Sequence[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Splits texts into (train, valid) with a seeded permutation."""
    order = np.random.default_rng([seed, 7919]).permutation(len(texts))
    n_valid = max(1, int(round(len(texts) * fraction))) if fraction > 0 else 0
    if n_valid >= len(texts):
        raise DataError(f"cannot hold out {n_valid} of {len(texts)} sentences for validation")
    valid = sorted(order[:n_valid])
    keep = sorted(order[n_valid:])
    return [texts[i] for i in keep], [texts[i] for i in valid]
