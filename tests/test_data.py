import gzip
import json

import numpy as np
import pytest

from textvae.config import DataConfig
from textvae.data import (
    DataError, encode_corpus, epoch_batches, evaluation_batches, pad_batch, read_corpus,
    split_holdout, training_batches,
)
from textvae.tokenizer import BOS_ID, EOS_ID, PAD_ID, WordTokenizer


def test_text_file_skips_and_counts_empty_lines(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes("\ufeffone two\r\n\r\n  three   four \n\n".encode("utf-8"))
    corpus = read_corpus(path, DataConfig())
    assert corpus.texts == ["one two", "three four"]
    assert corpus.skipped_empty == 2 and corpus.labels is None


def test_csv_tsv_jsonl_gz_with_labels(tmp_path):
    config = DataConfig(text_field="sentence", label_field="y")
    (tmp_path / "a.csv").write_text('sentence,y\n"hello, world",1\nbye,0\n')
    (tmp_path / "a.tsv").write_text("y\tsentence\n1\thello world\n0\tbye\n")
    with gzip.open(tmp_path / "a.jsonl.gz", "wt") as f:
        f.write(json.dumps({"sentence": "hello world", "y": 1}) + "\n\n" + json.dumps({"sentence": "bye", "y": 0}) + "\n")
    assert read_corpus(tmp_path / "a.csv", config).texts == ["hello, world", "bye"]
    for name in ("a.csv", "a.tsv", "a.jsonl.gz"):
        corpus = read_corpus(tmp_path / name, config)
        assert corpus.labels == ["1", "0"], name


def test_hugging_face_dataset_from_disk(tmp_path):
    import datasets

    datasets.Dataset.from_dict({"text": ["hello there", "general kenobi"], "label": [0, 1]}).save_to_disk(
        str(tmp_path / "hf"))
    corpus = read_corpus(tmp_path / "hf", DataConfig(label_field="label"))
    assert corpus.texts == ["hello there", "general kenobi"] and corpus.labels == ["0", "1"]


def test_not_utf8_names_file_and_line(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"fine line\ncaf\xe9 au lait\n")
    with pytest.raises(DataError, match=r"latin1.txt:2: not valid UTF-8"):
        read_corpus(path, DataConfig())


@pytest.mark.parametrize("content, fragment", [
    (b"", "no sentences"),
    (b"\n\n  \n", "no sentences"),
    (b"ok\x00bad\n", "NUL byte"),
])
def test_empty_and_binary_files(tmp_path, content, fragment):
    path = tmp_path / "x.txt"
    path.write_bytes(content)
    with pytest.raises(DataError, match=fragment):
        read_corpus(path, DataConfig())


def test_missing_file_and_fields(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_corpus(tmp_path / "none.txt", DataConfig())
    path = tmp_path / "a.jsonl"
    path.write_text('{"text": "a b", "label": 1}\n{"text": "c d"}\n')
    with pytest.raises(DataError, match=r"a.jsonl:2: label field 'label' missing"):
        read_corpus(path, DataConfig(label_field="label"))
    with pytest.raises(DataError, match=r"a.jsonl:1: text field 'sentence' missing"):
        read_corpus(path, DataConfig(text_field="sentence"))
    path.write_text('{"text": "a"}\nnot json\n')
    with pytest.raises(DataError, match=r"a.jsonl:2: invalid JSON"):
        read_corpus(path, DataConfig())
    with pytest.raises(DataError, match="label_field"):
        read_corpus(tmp_path / "a.jsonl", DataConfig(format="text", label_field="label"))
    path = tmp_path / "a.tsv"
    path.write_text("text\tlabel\na b\t1\nc\td\t0\n")  # found by tests/test_fuzz.py: b"\x01\n\t" as TSV
    with pytest.raises(DataError, match=r"a.tsv:3: 3 fields, more than the header's 2"):
        read_corpus(path, DataConfig(label_field="label"))


def test_encoding_adds_bos_eos_and_counts_truncation():
    tokenizer = WordTokenizer(["a", "b", "c"])
    encoded = encode_corpus(["a b c a b", "c"], tokenizer, max_length=3)
    assert encoded.sequences[0].tolist() == [BOS_ID, 4, 5, 6, EOS_ID]
    assert encoded.sequences[1].tolist() == [BOS_ID, 6, EOS_ID]
    assert encoded.truncated == 1
    assert encoded.num_words == (5 + 1) + (1 + 1)  # original words + one EOS each
    assert encoded.num_tokens == 4 + 2


def test_pad_batch_shapes_and_mask():
    batch = pad_batch([np.array([2, 5, 3]), np.array([2, 3])])
    assert batch["token_ids"].shape == (2, 3)
    assert batch["token_ids"][1].tolist() == [2, 3, PAD_ID]
    assert batch["padding_mask"].tolist() == [[True, True, True], [True, True, False]]


def test_epoch_batches_cover_every_sentence_once_and_are_seeded():
    lengths = np.random.default_rng(0).integers(3, 40, size=1003)
    batches = epoch_batches(lengths, batch_size=7, seed=1, epoch=0)
    assert sorted(np.concatenate(batches).tolist()) == list(range(1003))
    assert all(len(b) <= 7 for b in batches)
    again = epoch_batches(lengths, batch_size=7, seed=1, epoch=0)
    assert all((a == b).all() for a, b in zip(batches, again))
    other = epoch_batches(lengths, batch_size=7, seed=1, epoch=1)
    assert any(len(a) != len(b) or (a != b).any() for a, b in zip(batches, other))
    # bucketing keeps padding low: under 10% of the padded tokens
    padded = sum(len(b) * lengths[b].max() for b in batches)
    assert 1 - lengths.sum() / padded < 0.10


def test_training_stream_resumes_at_any_step():
    tokenizer = WordTokenizer(["a", "b"])
    encoded = encode_corpus(["a " * n for n in range(1, 12)], tokenizer, max_length=20)
    full = training_batches(encoded, batch_size=3, seed=5)
    stream = [next(full)["token_ids"] for _ in range(10)]  # 4 batches per epoch: crosses 2 epochs
    resumed = training_batches(encoded, batch_size=3, seed=5, start_step=6)
    for expected in stream[6:]:
        np.testing.assert_array_equal(next(resumed)["token_ids"], expected)


def test_evaluation_batches_see_every_sentence_once():
    tokenizer = WordTokenizer(["a"])
    encoded = encode_corpus(["a " * n for n in range(1, 8)], tokenizer, max_length=20)
    batches = list(evaluation_batches(encoded, batch_size=3))
    assert [len(b["token_ids"]) for b in batches] == [3, 3, 1]  # partial last batch kept
    assert sum(int(b["padding_mask"].sum()) for b in batches) == sum(len(s) for s in encoded.sequences)


def test_split_holdout_is_seeded_and_disjoint():
    texts = [str(i) for i in range(20)]
    train, valid = split_holdout(texts, 0.25, seed=1)
    assert len(valid) == 5 and sorted(train + valid, key=int) == texts
    assert split_holdout(texts, 0.25, seed=1) == (train, valid)
