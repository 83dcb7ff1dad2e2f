"""The CLI in-process: stdout carries results, stderr logs, errors exit non-zero."""

import io
import json

import pytest

from textvae.cli import main
from conftest import SENTENCES, tiny_config


def run(argv, capsys, stdin=None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_sample_prints_n_lines_and_honours_seed(trained_run, capsys):
    code, out, _ = run(["sample", "--workdir", str(trained_run), "-n", "4", "--seed", "2",
                        "--strategy", "sample", "--max-length", "5"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 4 and all(len(line.split()) <= 5 for line in lines)
    _, again, _ = run(["sample", "--workdir", str(trained_run), "-n", "4", "--seed", "2",
                       "--strategy", "sample", "--max-length", "5"], capsys)
    assert again == out


def test_reconstruct_reads_stdin(trained_run, capsys, monkeypatch):
    code, out, _ = run(["reconstruct", "--workdir", str(trained_run)], capsys,
                       stdin="\n".join(SENTENCES[:3]) + "\n", monkeypatch=monkeypatch)
    assert code == 0 and len(out.splitlines()) == 3


def test_interpolate_prints_steps_plus_two(trained_run, capsys):
    code, out, _ = run(["interpolate", "--workdir", str(trained_run), SENTENCES[0], SENTENCES[1],
                        "--steps", "4"], capsys)
    assert code == 0 and len(out.splitlines()) == 6


def test_train_with_overrides_prints_summary(tmp_path, capsys):
    tiny_config(tmp_path)
    code, out, err = run(["train", "--config", str(tmp_path / "config.yaml"), "--workdir", str(tmp_path / "w"),
                          "--set", "train.max_steps=3", "--set", "train.log_every=1"], capsys)
    assert code == 0
    summary = json.loads(out)
    assert summary["step"] == 3
    assert "data:" in err


@pytest.mark.parametrize("argv, fragment", [
    (["train", "--config", "missing.yaml"], "config file not found"),
    (["train"], "pass --config"),
    (["sample", "--workdir", "/nonexistent/run"], "not a textvae run directory"),
])
def test_errors_are_one_line_and_non_zero(argv, fragment, capsys):
    code, out, err = run(argv, capsys)
    assert code == 1 and out == ""
    assert fragment in err and "Traceback" not in err


def test_bad_override_names_key(tmp_path, capsys):
    tiny_config(tmp_path)
    code, _, err = run(["train", "--config", str(tmp_path / "config.yaml"), "--set", "kl.schedule=sigmoid"], capsys)
    assert code == 1 and "kl.schedule" in err and "cyclical" in err


def test_json_outputs_carry_scores_and_beam_is_honoured(trained_run, capsys):
    argv = ["sample", "--workdir", str(trained_run), "-n", "3", "--json", "--max-length", "6"]
    _, greedy, _ = run([*argv, "--strategy", "greedy"], capsys)
    _, beam1, _ = run([*argv, "--strategy", "beam", "--beam-size", "1"], capsys)
    rows = [json.loads(line) for line in greedy.splitlines()]
    assert len(rows) == 3 and {"text", "score", "length"} <= set(rows[0])
    assert all(r["score"] <= 0 and r["length"] <= 6 for r in rows)
    assert [json.loads(line)["text"] for line in beam1.splitlines()] == [r["text"] for r in rows]
    _, top1, _ = run([*argv, "--strategy", "sample", "--top-k", "1"], capsys)  # same seed: same z
    assert [json.loads(line)["text"] for line in top1.splitlines()] == [r["text"] for r in rows]


def test_interpolate_several_sentences_slerp_and_dedupe(trained_run, capsys):
    code, out, _ = run(["interpolate", "--workdir", str(trained_run), *SENTENCES[:3], "--steps", "2",
                        "--method", "slerp"], capsys)
    assert code == 0 and len(out.splitlines()) == 2 * 3 + 1
    _, deduped, _ = run(["interpolate", "--workdir", str(trained_run), *SENTENCES[:2], "--steps", "6",
                         "--dedupe", "--json"], capsys)
    spans = [json.loads(line) for line in deduped.splitlines()]
    assert spans[0]["first"] == 0 and spans[-1]["last"] == 7
    assert all(a["text"] != b["text"] for a, b in zip(spans, spans[1:]))


def test_neighbours_and_arithmetic(trained_run, capsys):
    code, out, _ = run(["neighbours", "--workdir", str(trained_run), SENTENCES[0], "-n", "3"], capsys)
    assert code == 0 and len(out.splitlines()) == 3
    code, out, _ = run(["arithmetic", "--workdir", str(trained_run), *SENTENCES[:3]], capsys)
    assert code == 0 and len(out.splitlines()) == 1


def test_bad_decoding_option_is_a_clean_error(trained_run, capsys):
    code, _, err = run(["sample", "--workdir", str(trained_run), "--strategy", "sample", "--top-p", "0"], capsys)
    assert code == 1 and "top_p" in err and "Traceback" not in err


def test_checkpoint_flag_picks_and_names_the_checkpoint(trained_run, capsys):
    from textvae.checkpoints import best_metrics

    best_step = best_metrics(trained_run / "checkpoints")["step"]
    outputs = {}
    for which, step in [("8", 8), ("ckpt-000000008", 8), ("latest", 12), ("best", best_step)]:
        code, out, err = run(["sample", "--workdir", str(trained_run), "-n", "3", "--checkpoint", which], capsys)
        assert code == 0
        line = [l for l in err.splitlines() if "loaded" in l]
        assert line and line[0].startswith(f"textvae sample: loaded ckpt-{step:09d} (step {step}")
        assert ("best validation ELBO" in line[0]) == (step == best_step)
        assert ("latest" in line[0]) == (step == 12)
        outputs[which] = out
    assert outputs["8"] == outputs["ckpt-000000008"]
    code, out, err = run(["sample", "--workdir", str(trained_run), "--checkpoint", "7"], capsys)
    assert code == 1 and "no usable checkpoint ('7')" in err


def test_info_json_round_trips_the_runs_figures(trained_run, tmp_path, capsys):
    import shutil

    from textvae import checkpoints

    run_dir = tmp_path / "run"
    shutil.copytree(trained_run, run_dir)
    code, out, _ = run(["info", "--workdir", str(run_dir), "--json"], capsys)
    assert code == 0
    info = json.loads(out)
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    stats = json.loads((run_dir / "data_stats.json").read_text())
    assert info["steps_done"] == checkpoints.verify_checkpoint(
        checkpoints.latest_checkpoint(run_dir / "checkpoints"))["step"] == 12
    assert info["best"] == checkpoints.best_metrics(run_dir / "checkpoints")
    assert info["last_logged"] == [r for r in metrics if "loss" in r][-1]
    assert info["model"]["latent_dim"] == 3 and info["model"]["vocab_size"] == stats["vocab_size"]
    assert info["data"]["train_sentences"] == stats["train_sentences"]
    assert info["last_eval"] is None
    assert run(["evaluate", "--workdir", str(run_dir), "--data", str(trained_run.parent / "corpus.txt"),
                "--iw-samples", "2"], capsys)[0] == 0
    code, out, _ = run(["info", "--workdir", str(run_dir), "--json"], capsys)
    evaluated = json.loads((run_dir / "eval.jsonl").read_text().splitlines()[-1])
    assert {k: json.loads(out)["last_eval"][k] for k in ("nll", "kl", "mi", "active_units")} == {
        k: evaluated[k] for k in ("nll", "kl", "mi", "active_units")}
    code, text, _ = run(["info", "--workdir", str(run_dir)], capsys)
    assert code == 0 and f"step {info['best']['step']}" in text and "active_units" in text


def test_info_on_a_directory_that_is_no_run_is_one_line(tmp_path, capsys):
    code, out, err = run(["info", "--workdir", str(tmp_path)], capsys)
    assert code == 1 and out == "" and "not a textvae run directory" in err and len(err.splitlines()) == 1


def test_sample_from_a_gaussian_fitted_to_the_training_codes(trained_run, capsys):
    code, out, _ = run(["sample", "--workdir", str(trained_run), "-n", "3", "--fit-codes", "20", "--max-length", "5"],
                       capsys)
    assert code == 0 and len(out.splitlines()) == 3
    _, again, _ = run(["sample", "--workdir", str(trained_run), "-n", "3", "--fit-codes", "20", "--max-length", "5"],
                      capsys)
    assert again == out
    code, _, err = run(["sample", "--workdir", str(trained_run), "--fit-codes", "2"], capsys)
    assert code == 1 and "--fit-codes 2" in err and "latent dimensions" in err


def test_sample_from_the_fitted_gaussian_at_a_temperature(trained_run, capsys):
    """--code-temperature T decodes mean + T * (draw - mean) of the same fitted Gaussian."""
    from textvae import load
    from textvae.data import read_corpus
    from textvae.rundir import RunDir

    code, out, _ = run(["sample", "--workdir", str(trained_run), "-n", "3", "--fit-codes", "20",
                        "--code-temperature", "0.5", "--max-length", "5"], capsys)
    model = load(trained_run)
    config = RunDir(trained_run).read_config()
    gaussian = model.fit_code_gaussian(read_corpus(config.data.train, config.data).texts, limit=20, seed=0)
    assert code == 0 and out.splitlines() == model.decode(gaussian.sample(3, seed=0, temperature=0.5), max_length=5)
    code, _, err = run(["sample", "--workdir", str(trained_run), "--code-temperature", "0.5"], capsys)
    assert code == 1 and "--fit-codes" in err
    code, _, err = run(["sample", "--workdir", str(trained_run), "--fit-codes", "20", "--code-temperature", "0"],
                       capsys)
    assert code == 1 and "must be > 0" in err
