"""Generation-quality measures and pictures."""

import json

import pytest

from textvae.cli import main
from textvae.evaluation.generation import corpus_bleu, distinct_n, self_bleu
from conftest import SENTENCES, tiny_config, write_lines


def test_distinct_n_by_hand():
    sentences = ["a b a", "a b c"]
    # unigrams: a b a a b c -> 3 distinct of 6; bigrams: ab ba ab bc -> 3 distinct of 4
    assert distinct_n(sentences, 1) == pytest.approx(3 / 6)
    assert distinct_n(sentences, 2) == pytest.approx(3 / 4)
    assert distinct_n(["a"], 2) == 0.0


def test_bleu_extremes():
    assert corpus_bleu(SENTENCES, SENTENCES) == pytest.approx(100.0)
    assert corpus_bleu(["zz yy xx ww"] * 2, SENTENCES[:2]) == pytest.approx(0.0)
    assert self_bleu([SENTENCES[0]] * 4) == pytest.approx(100.0)
    assert self_bleu(SENTENCES) < 30


def test_evaluate_generation_with_a_language_model(trained_run, tmp_path, capsys):
    from textvae.training import train

    train(tiny_config(tmp_path, ["model.latent_dim=0", "train.max_steps=4"]), tmp_path / "lm")
    data = write_lines(tmp_path / "held.txt", SENTENCES[:4])
    code = main(["evaluate", "--workdir", str(trained_run), "--data", str(data), "--iw-samples", "3",
                 "--generation", "--lm-workdir", str(tmp_path / "lm"), "--num-samples", "6", "--jit"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    generation = result["generation"]
    # the same figures recomputed from the model's own outputs with the same seeds
    from textvae import load
    from textvae.evaluation.generation import corpus_bleu, distinct_n, forward_perplexity

    model, lm = load(trained_run), load(tmp_path / "lm")
    reconstructions = model.reconstruct(SENTENCES[:4], max_length=10)
    assert generation["reconstruction_bleu"] == pytest.approx(corpus_bleu(reconstructions, SENTENCES[:4]))
    samples = model.sample(6, seed=0, max_length=10)
    assert generation["distinct_1"] == pytest.approx(distinct_n(samples, 1))
    assert generation["distinct_2"] == pytest.approx(distinct_n(samples, 2))
    assert generation["empty_samples"] == sum(1 for s in samples if not s.strip())
    assert generation["forward_ppl"] == pytest.approx(forward_perplexity(lm, samples, 10), rel=1e-5)
    # --jit scores the importance samples under XLA: the same estimates as without it
    code = main(["evaluate", "--workdir", str(trained_run), "--data", str(data), "--iw-samples", "3"])
    plain = json.loads(capsys.readouterr().out)
    assert result["jit_compile"] is True and plain["jit_compile"] is False
    assert result["nll"] == pytest.approx(plain["nll"], rel=1e-4)


def test_plot_writes_pngs(trained_run, tmp_path, capsys):
    data = tmp_path / "labelled.jsonl"
    data.write_text("\n".join(json.dumps({"text": s, "label": i % 2}) for i, s in enumerate(SENTENCES)))
    code = main(["plot", "--workdir", str(trained_run), "--data", str(data), "--label-field", "label"])
    assert code == 0
    paths = capsys.readouterr().out.split()
    assert {p.rsplit("/", 1)[-1] for p in paths} == {"training.png", "kl_per_dimension.png", "posterior_pca.png"}
    for path in paths:
        with open(path, "rb") as f:
            header = f.read(8)
        assert header == b"\x89PNG\r\n\x1a\n"
