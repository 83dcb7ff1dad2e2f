"""`textvae encode`: posterior means and scales out, in input order, and a projector log."""

import io
import json

import numpy as np
import tensorflow as tf

from textvae.cli import main
from textvae.loading import load
from conftest import SENTENCES, write_lines


def test_npy_means_and_scales_equal_the_posterior_of_each_sentence(trained_run, tmp_path, capsys):
    sentences = SENTENCES[:5]
    data = write_lines(tmp_path / "in.txt", sentences)
    out = tmp_path / "codes.npy"
    code = main(["encode", "--workdir", str(trained_run), "--data", str(data), "--out", str(out),
                 "--scales", "--batch-size", "2"])
    assert code == 0
    means, scales = np.load(out, allow_pickle=False), np.load(tmp_path / "codes.scales.npy", allow_pickle=False)
    model = load(trained_run)
    assert means.shape == scales.shape == (5, model.latent_dim)
    for i, sentence in enumerate(sentences):  # one sentence at a time: order and batching change nothing
        posterior = model.encode([sentence])
        np.testing.assert_allclose(means[i], posterior.mean()[0], atol=1e-5)
        np.testing.assert_allclose(scales[i], posterior.stddev()[0], atol=1e-5)
    assert "5 sentences" in capsys.readouterr().err


def test_jsonl_from_stdin_keeps_order_and_text(trained_run, tmp_path, monkeypatch):
    sentences = SENTENCES[2:6]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(sentences) + "\n"))
    out = tmp_path / "codes.jsonl"
    assert main(["encode", "--workdir", str(trained_run), "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["text"] for r in rows] == sentences and "scale" not in rows[0]
    expected = load(trained_run).encode(sentences).mean()
    np.testing.assert_allclose(np.array([r["mean"] for r in rows]), expected, atol=1e-5)


def test_projector_log_holds_the_means_and_labels(trained_run, tmp_path):
    data = tmp_path / "labelled.jsonl"
    data.write_text("".join(json.dumps({"text": s, "label": "ab"[i % 2]}) + "\n" for i, s in enumerate(SENTENCES[:4])))
    directory = tmp_path / "proj"
    assert main(["encode", "--workdir", str(trained_run), "--data", str(data), "--label-field", "label",
                 "--projector", str(directory), "--batch-size", "3"]) == 0
    means = load(trained_run).encode(SENTENCES[:4]).mean()
    metadata = (directory / "metadata.tsv").read_text().splitlines()
    assert metadata[0] == "sentence\tlabel" and metadata[1:] == [f"{s}\t{y}" for s, y in zip(SENTENCES[:4], "abab")]
    config = (directory / "projector_config.pbtxt").read_text()
    assert "metadata.tsv" in config and "embedding/.ATTRIBUTES/VARIABLE_VALUE" in config
    reader = tf.train.load_checkpoint(str(directory))
    np.testing.assert_allclose(reader.get_tensor("embedding/.ATTRIBUTES/VARIABLE_VALUE"), means, atol=1e-5)


def test_bad_output_name_is_a_clean_error(trained_run, tmp_path, capsys):
    data = write_lines(tmp_path / "in.txt", SENTENCES[:2])
    code = main(["encode", "--workdir", str(trained_run), "--data", str(data), "--out", str(tmp_path / "x.csv")])
    assert code == 1 and "x.csv: --out must end in .npy or .jsonl" in capsys.readouterr().err
    # checked before anything is loaded or encoded: a missing run still gets the --out error
    code = main(["encode", "--workdir", str(tmp_path / "missing"), "--data", str(data), "--out", str(tmp_path / "x.csv")])
    assert code == 1 and "x.csv: --out must end" in capsys.readouterr().err
