"""Real corpora from ../shared/data (or $TEXTVAE_DATA): counts the literature relies on.

Skipped, with the reason, on machines without the shared data folder.
"""

import os
from pathlib import Path

import pytest

from textvae.config import DataConfig, TokenizerConfig
from textvae.data import encode_corpus, read_corpus
from textvae.tokenizer import UNK_ID, train_tokenizer

DATA = Path(os.environ.get("TEXTVAE_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
PTB = DATA / "ptb"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not PTB.is_dir(), reason=f"shared corpora not found at {DATA} (set TEXTVAE_DATA)"),
]


def test_ptb_word_counts_match_the_literature():
    train = read_corpus(PTB / "ptb.train.txt", DataConfig())
    test = read_corpus(PTB / "ptb.test.txt", DataConfig())
    assert len(train.texts) == 42068 and len(test.texts) == 3761
    tokenizer = train_tokenizer(TokenizerConfig(kind="word", vocab_size=10003), train.texts)
    assert tokenizer.vocab_size == 10002  # 9,998 words + <unk> (= UNK) + PAD, BOS, EOS
    encoded = encode_corpus(test.texts, tokenizer, max_length=100)
    # perplexity denominator: 78,669 words + one EOS per sentence
    assert encoded.num_words == 82430 and encoded.truncated == 0
    assert encoded.num_tokens == 82430  # word tokenizer: one token per word
    ids = [i for seq in encoded.sequences for i in seq]
    assert ids.count(UNK_ID) == sum(s.split().count("<unk>") for s in test.texts)  # no test word is OOV
