import pytest

from textvae.config import TokenizerConfig
from textvae.tokenizer import (
    BOS_ID, EOS_ID, PAD_ID, UNK_ID, SentencePieceTokenizer, TokenizerError, WordTokenizer,
    load_tokenizer, load_tokenizer_file, train_tokenizer,
)
from conftest import SENTENCES


@pytest.mark.parametrize("kind", ["unigram", "bpe"])
def test_sentencepiece_special_ids_and_roundtrip(kind, tmp_path):
    tokenizer = train_tokenizer(TokenizerConfig(kind=kind, vocab_size=40), SENTENCES * 20)
    proc = tokenizer.processor
    assert (proc.pad_id(), proc.unk_id(), proc.bos_id(), proc.eos_id()) == (PAD_ID, UNK_ID, BOS_ID, EOS_ID)
    assert tokenizer.vocab_size == 40
    ids = tokenizer.encode(SENTENCES[0])
    assert min(ids) > EOS_ID
    assert tokenizer.decode(ids) == SENTENCES[0]
    tokenizer.save(tmp_path)
    reloaded = load_tokenizer(tmp_path)
    assert isinstance(reloaded, SentencePieceTokenizer)
    assert reloaded.encode(SENTENCES[3]) == tokenizer.encode(SENTENCES[3])


def test_word_tokenizer_vocab_unk_and_roundtrip(tmp_path):
    tokenizer = train_tokenizer(TokenizerConfig(kind="word", vocab_size=7), ["a a a b b c <unk>"])
    # 4 specials + the 3 most frequent words; "<unk>" in the text is UNK itself.
    assert tokenizer.pieces[4:] == ["a", "b", "c"]
    assert tokenizer.encode("a c <unk> zebra") == [4, 6, UNK_ID, UNK_ID]
    assert tokenizer.decode([BOS_ID, 4, UNK_ID, 5, EOS_ID, PAD_ID]) == "a <unk> b"
    tokenizer.save(tmp_path)
    assert load_tokenizer(tmp_path).pieces == tokenizer.pieces


def test_word_vocab_truncates_to_size():
    tokenizer = train_tokenizer(TokenizerConfig(kind="word", vocab_size=6), ["x y z w", "x y"])
    assert tokenizer.vocab_size == 6 and tokenizer.pieces[4:] == ["x", "y"]


def test_corpus_too_small_for_vocab_names_the_key():
    with pytest.raises(TokenizerError, match="tokenizer.vocab_size=5000"):
        train_tokenizer(TokenizerConfig(kind="unigram", vocab_size=5000), SENTENCES)


def test_empty_corpus():
    with pytest.raises(TokenizerError, match="empty"):
        train_tokenizer(TokenizerConfig(), [])


def test_bad_tokenizer_files(tmp_path):
    junk = tmp_path / "junk.model"
    junk.write_bytes(b"\x00not a model")
    with pytest.raises(TokenizerError, match="junk.model"):
        load_tokenizer_file(junk)
    with pytest.raises(TokenizerError, match="not found"):
        load_tokenizer_file(tmp_path / "missing.model")
    vocab = tmp_path / "bad.vocab"
    vocab.write_text("good\ntwo words\n")
    with pytest.raises(TokenizerError, match="bad.vocab:2"):
        load_tokenizer_file(vocab)
    with pytest.raises(TokenizerError, match="no tokenizer.model"):
        load_tokenizer(tmp_path)


def test_model_file_option_reuses_a_tokenizer(tmp_path, spm_tokenizer):
    path = spm_tokenizer.save(tmp_path)
    reused = train_tokenizer(TokenizerConfig(model_file=str(path)), ["ignored"])
    assert reused.encode(SENTENCES[1]) == spm_tokenizer.encode(SENTENCES[1])


def test_wrong_special_ids_rejected(tmp_path):
    import io

    import sentencepiece as spm

    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(SENTENCES * 20), model_writer=buffer,
                                   vocab_size=40, minloglevel=2)  # default ids: unk 0, bos 1, eos 2
    with pytest.raises(TokenizerError, match="special ids"):
        SentencePieceTokenizer(buffer.getvalue())


def test_word_tokenizer_type():
    assert isinstance(train_tokenizer(TokenizerConfig(kind="word"), SENTENCES), WordTokenizer)
