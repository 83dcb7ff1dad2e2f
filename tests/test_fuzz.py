"""Property-based tests: readers, config loader and tokenizer loader on arbitrary bytes
give either a result or a specific error, never an unhandled exception."""

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from textvae.config import ConfigError, DataConfig, load_config
from textvae.data import DataError, read_corpus
from textvae.tokenizer import TokenizerError, load_tokenizer_file

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# bytes with the troublemakers over-represented: BOMs, NUL, CR/LF, invalid UTF-8, quotes
TRICKY = st.lists(
    st.one_of(
        st.binary(max_size=40),
        st.sampled_from([b"\xef\xbb\xbf", b"\x00", b"\r\n", b"\n", b"\r", b"\xff\xfe", b"\xc3", b'"', b",",
                         b"\t", b"{", b"}", b"text", b":", b"label"]),
        st.text(max_size=30).map(lambda s: s.encode("utf-8")),
    ),
    max_size=30,
).map(b"".join)


@SETTINGS
@given(content=TRICKY, suffix=st.sampled_from([".txt", ".csv", ".tsv", ".jsonl"]))
def test_readers_never_crash(tmp_path_factory, content, suffix):
    path = Path(tmp_path_factory.mktemp("fuzz")) / f"corpus{suffix}"
    path.write_bytes(content)
    try:
        corpus = read_corpus(path, DataConfig())
    except DataError as e:
        assert str(path) in str(e)
    else:
        assert corpus.texts and all(t == " ".join(t.split()) and t for t in corpus.texts)


def test_enormous_line_is_read(tmp_path):
    path = tmp_path / "big.txt"
    path.write_text("word " * 200_000 + "\nshort line\n")
    assert len(read_corpus(path, DataConfig()).texts) == 2
    csv_path = tmp_path / "big.csv"
    csv_path.write_text("text\n" + "x" * 300_000 + "\n")
    try:
        read_corpus(csv_path, DataConfig())
    except DataError as e:  # csv's field-size limit, reported with the line
        assert "big.csv:" in str(e)


@SETTINGS
@given(content=TRICKY)
def test_config_loader_never_crashes(tmp_path_factory, content):
    path = Path(tmp_path_factory.mktemp("fuzz")) / "config.yaml"
    path.write_bytes(content)
    try:
        load_config(path)
    except ConfigError as e:
        assert str(path) in str(e)


@SETTINGS
@given(content=TRICKY, suffix=st.sampled_from([".model", ".vocab"]))
def test_tokenizer_loader_never_crashes(tmp_path_factory, content, suffix):
    path = Path(tmp_path_factory.mktemp("fuzz")) / f"tok{suffix}"
    path.write_bytes(content)
    try:
        load_tokenizer_file(path)
    except TokenizerError as e:
        assert str(path) in str(e)
