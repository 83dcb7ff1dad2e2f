"""Tokenizers: sentencepiece (unigram / BPE) and a whitespace word vocabulary.

Both share the special ids below, so models and data pipelines never depend on
which tokenizer is in use. Tokenizer files hold data only (a sentencepiece model
proto, or one word a line) and never execute code when loaded.
"""

from __future__ import annotations

import collections
import io
from pathlib import Path
from typing import Iterable, Sequence

import sentencepiece as spm

from textvae.config import TokenizerConfig
from textvae.files import atomic_write

PAD_ID = 0
UNK_ID = 1
BOS_ID = 2
EOS_ID = 3
SPECIAL_TOKENS = ("<pad>", "<unk>", "<s>", "</s>")

SENTENCEPIECE_FILE = "tokenizer.model"
WORD_VOCAB_FILE = "tokenizer.vocab"


class TokenizerError(ValueError):
    """A tokenizer cannot be trained or loaded from the given input."""


class WordTokenizer:
    """Whitespace tokenizer with a closed vocabulary; unknown words map to UNK.

    `<unk>` in the text (as in Mikolov's PTB) maps to UNK_ID as well.
    """

    def __init__(self, words: Sequence[str]):
        self.pieces = list(SPECIAL_TOKENS) + [w for w in words if w not in SPECIAL_TOKENS]
        self.index = {w: i for i, w in enumerate(self.pieces)}

    @property
    def vocab_size(self) -> int:
        return len(self.pieces)

    def encode(self, text: str) -> list[int]:
        return [self.index.get(w, UNK_ID) for w in text.split()]

    def decode(self, ids: Iterable[int]) -> str:
        return " ".join(self.pieces[i] for i in ids if i >= len(SPECIAL_TOKENS) or i == UNK_ID)

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / WORD_VOCAB_FILE
        atomic_write(path, ("\n".join(self.pieces[len(SPECIAL_TOKENS):]) + "\n").encode("utf-8"))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "WordTokenizer":
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as e:
            raise TokenizerError(f"{path}: word vocabulary is not UTF-8 ({e.reason})") from None
        for number, word in enumerate(lines, 1):
            if not word or any(c.isspace() for c in word):
                raise TokenizerError(f"{path}:{number}: a vocabulary entry must be one word")
        return cls(lines)


class SentencePieceTokenizer:
    """Wraps a trained sentencepiece model whose special ids match ours."""

    def __init__(self, model_proto: bytes, source: str = "<memory>"):
        self.model_proto = model_proto
        self.processor = spm.SentencePieceProcessor()
        try:
            self.processor.LoadFromSerializedProto(model_proto)
        except Exception as e:  # sentencepiece raises bare RuntimeError/OSError
            raise TokenizerError(f"{source}: not a valid sentencepiece model ({e})") from None
        ids = (self.processor.pad_id(), self.processor.unk_id(),
               self.processor.bos_id(), self.processor.eos_id())
        if ids != (PAD_ID, UNK_ID, BOS_ID, EOS_ID):
            raise TokenizerError(
                f"{source}: special ids (pad, unk, bos, eos) are {ids}; textvae needs "
                f"{(PAD_ID, UNK_ID, BOS_ID, EOS_ID)} (train with pad_id=0 unk_id=1 bos_id=2 eos_id=3)"
            )

    @property
    def vocab_size(self) -> int:
        return self.processor.GetPieceSize()

    def encode(self, text: str) -> list[int]:
        return self.processor.EncodeAsIds(text)

    def decode(self, ids: Iterable[int]) -> str:
        return self.processor.DecodeIds([int(i) for i in ids if i >= len(SPECIAL_TOKENS) or i == UNK_ID])

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / SENTENCEPIECE_FILE
        atomic_write(path, self.model_proto)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "SentencePieceTokenizer":
        return cls(Path(path).read_bytes(), source=str(path))


Tokenizer = WordTokenizer | SentencePieceTokenizer


def train_tokenizer(config: TokenizerConfig, sentences: Sequence[str]) -> Tokenizer:
    """Trains the configured tokenizer on `sentences` (or loads `config.model_file`)."""
    if config.model_file:
        return load_tokenizer_file(config.model_file)
    if not sentences:
        raise TokenizerError("cannot train a tokenizer on an empty corpus")
    if config.kind == "word":
        counts = collections.Counter(w for s in sentences for w in s.split())
        counts.pop("<unk>", None)
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        words = [w for w, _ in ranked[: config.vocab_size - len(SPECIAL_TOKENS)]]
        return WordTokenizer(words)
    return _train_sentencepiece(config, sentences)


def _train_sentencepiece(config: TokenizerConfig, sentences: Sequence[str]) -> SentencePieceTokenizer:
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences),
            model_writer=model,
            model_type=config.kind,
            vocab_size=config.vocab_size,
            character_coverage=config.character_coverage,
            pad_id=PAD_ID, unk_id=UNK_ID, bos_id=BOS_ID, eos_id=EOS_ID,
            user_defined_symbols=[],
            minloglevel=2,
            num_threads=2,
        )
    except RuntimeError as e:
        message = str(e)
        if "Vocabulary size" in message or "vocab_size" in message:
            raise TokenizerError(
                f"tokenizer.vocab_size={config.vocab_size} does not fit this corpus "
                f"({len(sentences)} sentences): {message.strip().split('] ')[-1]}"
            ) from None
        raise TokenizerError(f"sentencepiece training failed: {message.strip()}") from None
    return SentencePieceTokenizer(model.getvalue())


def load_tokenizer_file(path: str | Path) -> Tokenizer:
    """Loads a tokenizer file: `.vocab` (word) or a sentencepiece model."""
    path = Path(path)
    if not path.is_file():
        raise TokenizerError(f"tokenizer file not found: {path}")
    if path.suffix == ".vocab":
        return WordTokenizer.load(path)
    return SentencePieceTokenizer.load(path)


def load_tokenizer(directory: str | Path) -> Tokenizer:
    """Loads the tokenizer saved in a run directory."""
    directory = Path(directory)
    for name in (SENTENCEPIECE_FILE, WORD_VOCAB_FILE):
        if (directory / name).is_file():
            return load_tokenizer_file(directory / name)
    raise TokenizerError(f"{directory}: no {SENTENCEPIECE_FILE} or {WORD_VOCAB_FILE} found")
