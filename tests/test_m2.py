"""M2 semi-supervised model: the objective against manual sums, gradients, data rules, CLI."""

import io
import json
from contextlib import redirect_stdout

import numpy as np
import pytest
import tensorflow as tf

from textvae import load
from textvae.cli import main
from textvae.config import ConfigError
from textvae.data import DataError, encode_corpus
from textvae.m2 import M2VAE
from textvae.spec import ModelSpec
from textvae.evaluation.classification import classification_scores, evaluate_m2
from textvae.base import bag_of_words_nll
from textvae.model import sequence_nll, split_batch
from textvae.semisupervised import (
    UNLABELLED, LabelledCorpus, draw_per_class, label_ids, mixed_batches, resolve_classes)
from textvae.tokenizer import WordTokenizer
from textvae.training import train

from conftest import SENTENCES, tiny_config

VOCAB_WORDS = sorted({w for s in SENTENCES for w in s.split()})
C, LAT = 3, 2


def tiny_m2(adversary=0.0, **kwargs):
    tokenizer = WordTokenizer(VOCAB_WORDS)
    model = M2VAE(ModelSpec(tokenizer.vocab_size, latent_dim=LAT, embedding_dim=4, hidden_dim=5, seed=1, **kwargs),
                  [str(c) for c in range(C)], class_log_prior=np.log([0.2, 0.3, 0.5]).tolist(),
                  adversary=adversary, tokenizer=tokenizer)
    model.compile(kl_weight_fn=lambda step: tf.constant(0.7), alpha=2.5)
    batch = model._batch(SENTENCES[:4])
    model(batch)
    return model, batch


def manual_bound(model, batch, row, label, noise):
    """L(x, y) of one sentence and class, written out from the model's pieces."""
    views = split_batch(batch)
    features = model.encoder(views["encoder"])[row:row + 1]
    loc, scale = model.posterior_params(features, tf.constant([label]))
    z = loc + scale * noise[None]
    decoder_inputs = {k: v[row:row + 1] for k, v in views["decoder"].items()}
    logits = model.decoder(decoder_inputs, model.decoder_code(z, tf.constant([label])))
    reconstruction = float(sequence_nll(logits, views["targets"][row:row + 1], views["target_mask"][row:row + 1])[0])
    kl_dims = (0.5 * (loc ** 2 + scale ** 2 - 1.0) - tf.math.log(scale)).numpy()[0]
    return reconstruction, float(kl_dims.sum()), kl_dims


@pytest.mark.parametrize("free_bits_per", [None, "sentence"])
def test_objective_equals_a_manual_sum_over_classes(free_bits_per):
    model, batch = tiny_m2()
    if free_bits_per:  # KLs of order 1 nat that differ between rows and units (features are about 0.004)
        kernel, bias = model.to_posterior.get_weights()
        kernel = np.random.default_rng(1).normal(0, 1, kernel.shape).astype(np.float32)
        kernel[:-C] *= 400  # the encoder's features; the last C rows read onehot(y)
        model.to_posterior.set_weights([kernel, np.zeros_like(bias)])
    labels = np.array([1, UNLABELLED, 0, UNLABELLED], np.int32)  # rows 0, 2 labelled
    batch = dict(batch, labels=labels)
    # noise rows: labelled rows first (0, 2), then unlabelled rows (1, 3) for class 0, 1, 2
    noise = np.random.default_rng(0).standard_normal((2 + 2 * C, LAT)).astype(np.float32)
    out = model.objective(batch, training=False, beta=0.7, noise=tf.constant(noise))
    log_prior = np.log([0.2, 0.3, 0.5])
    q = tf.nn.softmax(model.class_logits(batch)).numpy()
    total_rec = total_kl = total = 0.0
    weighted_dims = []  # (weight, per-dimension KL) of every (sentence, class) row
    for i, (row, label) in enumerate([(0, 1), (2, 0)]):
        rec, kl, dims = manual_bound(model, batch, row, label, noise[i])
        total += rec - log_prior[label] - 2.5 * np.log(q[row, label])
        total_rec, total_kl = total_rec + rec, total_kl + kl
        weighted_dims.append((1.0, dims))
    for j, row in enumerate([1, 3]):
        for label in range(C):
            rec, kl, dims = manual_bound(model, batch, row, label, noise[2 + label * 2 + j])
            np.testing.assert_allclose(float(out["class_bounds"][j, label]), rec + kl - log_prior[label], rtol=1e-5)
            total += q[row, label] * (rec - log_prior[label])
            total_rec, total_kl = total_rec + q[row, label] * rec, total_kl + q[row, label] * kl
            weighted_dims.append((q[row, label], dims))
        total += np.sum(q[row] * np.log(q[row]))  # - H(q(y|x))
    kl_term = total_kl / 4  # free bits 0: the KL term is the weighted mean
    if free_bits_per:
        # each row's units floored on their own, then weighted: sum_r w_r sum_d max(lambda, KL[r, d]) / 4
        floor = float(np.median([d for _, dims in weighted_dims for d in dims]))
        model.compile(kl_weight_fn=lambda step: tf.constant(0.7), alpha=2.5, free_bits=floor,
                      free_bits_per=free_bits_per)
        out = model.objective(batch, training=False, beta=0.7, noise=tf.constant(noise))
        kl_term = sum(w * np.maximum(dims, floor).sum() for w, dims in weighted_dims) / 4
        assert kl_term > total_kl / 4 + 0.1  # the floor is active for some rows
    expected_loss = total / 4 + 0.7 * kl_term
    np.testing.assert_allclose(float(out["reconstruction"]), total_rec / 4, rtol=1e-5)
    np.testing.assert_allclose(float(out["kl"]), total_kl / 4, rtol=1e-5)
    np.testing.assert_allclose(float(out["loss"]), expected_loss, rtol=1e-5)


def test_bag_of_words_given_z_and_y_enters_the_loss_and_class_bounds_not_the_bound():
    w = 0.5
    model, batch = tiny_m2(bag_of_words=w)
    plain = M2VAE(ModelSpec(model.vocab_size, latent_dim=LAT, embedding_dim=4, hidden_dim=5, seed=1),
                  model.classes, class_log_prior=model.class_log_prior, tokenizer=model.tokenizer)
    plain(batch)
    for layer in ("encoder", "decoder", "classifier_hidden", "classifier_logits", "to_posterior"):
        getattr(plain, layer).set_weights(getattr(model, layer).get_weights())
    plain.compile(kl_weight_fn=lambda step: tf.constant(0.7), alpha=2.5)
    labels = np.array([1, UNLABELLED, 0, UNLABELLED], np.int32)
    batch = dict(batch, labels=labels)
    noise = np.random.default_rng(0).standard_normal((2 + 2 * C, LAT)).astype(np.float32)
    out = model.objective(batch, beta=0.7, noise=tf.constant(noise))
    without = plain.objective(batch, beta=0.7, noise=tf.constant(noise))
    views = split_batch(batch)
    q = tf.nn.softmax(model.class_logits(batch)).numpy()
    features = model.encoder(views["encoder"])
    words = SENTENCES[:4]

    def bow(row, label, eps):
        """-sum over the sentence's words of log softmax(head([z, onehot(y)])), by numpy."""
        loc, scale = model.posterior_params(features[row:row + 1], tf.constant([label]))
        code = model.decoder_code(loc + scale * eps[None], tf.constant([label]))
        logits = model.bag_of_words(code).numpy()[0]
        log_p = logits - np.log(np.sum(np.exp(logits - logits.max()))) - logits.max()
        return -sum(log_p[model.tokenizer.encode(word)[0]] for word in words[row].split())

    extra = bow(0, 1, noise[0]) + bow(2, 0, noise[1])
    unlabelled_bow = np.zeros((2, C))
    for j, row in enumerate([1, 3]):
        for label in range(C):
            unlabelled_bow[j, label] = bow(row, label, noise[2 + label * 2 + j])
            extra += q[row, label] * unlabelled_bow[j, label]
    assert extra > 1.0
    np.testing.assert_allclose(float(out["loss"]), float(without["loss"]) + w * extra / 4, rtol=1e-5)
    np.testing.assert_allclose(out["class_bounds"].numpy(), without["class_bounds"].numpy() + w * unlabelled_bow,
                               rtol=1e-5)
    np.testing.assert_allclose(out["per_sentence"].numpy(), without["per_sentence"].numpy(), rtol=1e-6)


def test_unlabelled_data_trains_the_classifier():
    model, batch = tiny_m2()
    batch = dict(batch, labels=np.full(4, UNLABELLED, np.int32))
    with tf.GradientTape() as tape:
        loss = model.objective(batch, training=True)["loss"]
    grads = tape.gradient(loss, [model.classifier_logits.kernel, model.classifier_hidden.kernel])
    assert all(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in grads)


def test_adversary_terms_and_their_gradients_by_hand():
    lam = 3.0
    model, batch = tiny_m2(adversary=lam)
    labels = np.array([1, UNLABELLED, 0, UNLABELLED], np.int32)
    batch = dict(batch, labels=labels)
    noise = tf.constant(np.random.default_rng(0).standard_normal((2 + 2 * C, LAT)).astype(np.float32))
    rows = [0, 2] + [1, 3] * C  # labelled rows, then the unlabelled rows once per class (class-major)
    ys = [1, 0] + [c for c in range(C) for _ in range(2)]
    watched = {"adversary": model.adversary_logits.kernel, "posterior": model.to_posterior.kernel,
               "classifier": model.classifier_logits.kernel, "encoder": model.encoder.trainable_weights[-1]}

    def manual_adversary():
        """sum over rows of w * CE(a(y|z), class of x) / batch and w * H(a(y|z)) / batch."""
        features = model.encoder(split_batch(batch)["encoder"])
        q = tf.stop_gradient(tf.nn.softmax(model.classifier(features)))
        loc, scale = model.posterior_params(tf.gather(features, rows), tf.constant(ys))
        z = loc + scale * noise
        probs = tf.nn.softmax(model.adversary_logits(model.adversary_hidden(z)))
        targets = tf.concat([tf.one_hot([1, 0], C), tf.gather(q, rows[2:])], axis=0)
        weights = tf.concat([tf.ones(2), tf.gather_nd(q, [[r, y] for r, y in zip(rows[2:], ys[2:])])], axis=0)
        ce = -tf.reduce_sum(targets * tf.math.log(probs), axis=1)
        entropy = -tf.reduce_sum(probs * tf.math.log(probs), axis=1)
        return tf.reduce_sum(weights * ce) / 4, tf.reduce_sum(weights * entropy) / 4

    with tf.GradientTape(persistent=True) as tape:
        total = model.objective(batch, beta=0.7, noise=noise)
        ce, entropy = manual_adversary()
        model.adversary = 0.0  # the same objective without the adversary's terms
        base = model.objective(batch, beta=0.7, noise=noise)["loss"]
        model.adversary = lam
    assert float(total["adversary"]) > 0.1 and float(base) > 1.0
    np.testing.assert_allclose(float(total["adversary"]), float(ce), rtol=1e-5)
    np.testing.assert_allclose(float(total["adversary_entropy"]), float(entropy), rtol=1e-5)
    np.testing.assert_allclose(float(total["loss"]), float(base) + float(ce) - lam * float(entropy), rtol=1e-5)
    g_total, g_base, g_ce, g_entropy = (tape.gradient(t, watched) for t in (total["loss"], base, ce, entropy))
    # the adversary learns from its cross-entropy alone ...
    np.testing.assert_allclose(g_total["adversary"].numpy(), g_ce["adversary"].numpy(), rtol=1e-4, atol=1e-7)
    # ... the encoder's q(z|x, y) from the bound and from -lambda * the adversary's entropy ...
    assert float(tf.reduce_max(tf.abs(g_entropy["posterior"]))) > 1e-5
    np.testing.assert_allclose(g_total["posterior"].numpy(),
                               (g_base["posterior"] - lam * g_entropy["posterior"]).numpy(), rtol=1e-4, atol=1e-6)
    # ... and neither q(y|x), whose outputs are the adversary's fixed targets and weights, nor the
    # encoder's features that q(y|x) reads, anything from either
    for name in ("classifier", "encoder"):
        np.testing.assert_allclose(g_total[name].numpy(), g_base[name].numpy(), rtol=1e-5, atol=1e-8)
    assert float(tf.reduce_max(tf.abs(g_entropy["encoder"]))) > 1e-6  # (which the entropy would reach)


def test_an_m2_run_with_an_adversary_trains_saves_and_loads_it(tmp_path):
    from textvae.building import build_model

    config = m2_config(tmp_path, adversary=2.0)
    summary = train(config, tmp_path / "run")
    assert np.isfinite(summary["last"]["adversary"]) and summary["last"]["adversary"] > 0
    model = load(tmp_path / "run", checkpoint="latest")
    assert model.adversary == 2.0
    initial = build_model(config, model.tokenizer, {"classes": model.classes,
                                                   "class_log_prior": model.class_log_prior})
    trained, untrained = model.adversary_logits.kernel.numpy(), initial.adversary_logits.kernel.numpy()
    assert trained.shape == untrained.shape and not np.allclose(trained, untrained)
    again = load(tmp_path / "run", checkpoint="latest")
    np.testing.assert_array_equal(again.adversary_logits.kernel.numpy(), trained)
    with pytest.raises(ValueError, match="adversary weight must be >= 0"):
        M2VAE(model.spec, model.classes, adversary=-1.0)


def test_decoder_depends_on_the_label():
    model, batch = tiny_m2()
    views = split_batch(batch)
    z = tf.zeros((4, LAT))
    a = model.decoder(views["decoder"], model.decoder_code(z, tf.fill([4], 0)))
    b = model.decoder(views["decoder"], model.decoder_code(z, tf.fill([4], 2)))
    assert float(tf.reduce_max(tf.abs(a - b))) > 1e-4


def test_accuracy_counts_the_real_examples_of_a_partial_batch():
    model, _ = tiny_m2()
    encoded = encode_corpus(SENTENCES[:7], model.tokenizer, 9)
    corpus = LabelledCorpus(encoded, np.array([0, 1, 2, 0, 1, 2, 0], np.int32))
    result = evaluate_m2(model, corpus, batch_size=3)  # batches of 3, 3, 1
    predicted = np.argmax(model.classify(SENTENCES[:7]), axis=1)
    assert result["num_sentences"] == 7
    np.testing.assert_allclose(result["accuracy"], np.mean(predicted == corpus.labels))
    assert np.sum(result["confusion_matrix"]) == 7
    assert abs(result["generative_accuracy"] * 7 - round(result["generative_accuracy"] * 7)) < 1e-9


def test_classification_scores_by_hand():
    scores = classification_scores(np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, 0]), 3)
    assert scores["accuracy"] == pytest.approx(3 / 5)
    assert scores["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    # F1: class 0: 2*1/(2+2) = 0.5; class 1: 2*2/(2+3) = 0.8; class 2: 0
    assert scores["macro_f1"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)


def test_label_rules_give_clear_errors():
    assert resolve_classes("", ["10", "2", "2"], "f.tsv") == ["2", "10"]
    with pytest.raises(DataError, match="f.tsv: example 3 has label 'x', not in data.classes"):
        resolve_classes("a,b", ["a", "b", "x"], "f.tsv")
    with pytest.raises(DataError, match=r"no labelled example of class\(es\) \['c'\]"):
        resolve_classes("a,b,c", ["a", "b"], "f.tsv")
    with pytest.raises(DataError, match="p.tsv: class 'neg' has 2 labelled examples, fewer than data.labels_per_class=3"):
        draw_per_class(np.array([0, 0, 0, 1, 1]), 2, 3, seed=0, source="p.tsv", classes=["pos", "neg"])
    with pytest.raises(DataError, match="v.tsv: example 2 has label 'z'"):
        label_ids(["a", "z"], ["a", "b"], "v.tsv")
    drawn = draw_per_class(np.array([0, 1, 0, 1, 0, 1, 0]), 2, 2, seed=4)
    assert len(drawn) == 4 and np.array_equal(drawn, draw_per_class(np.array([0, 1, 0, 1, 0, 1, 0]), 2, 2, seed=4))


def test_mixed_batches_are_a_function_of_the_step():
    tokenizer = WordTokenizer(VOCAB_WORDS)
    labelled = LabelledCorpus(encode_corpus(SENTENCES[:4], tokenizer, 9), np.array([0, 1, 0, 1], np.int32))
    unlabelled = encode_corpus(SENTENCES[4:], tokenizer, 9)
    stream = mixed_batches(labelled, unlabelled, 3, 0.34, seed=2)  # 1 labelled + 2 unlabelled
    batches = [next(stream) for _ in range(6)]
    for batch in batches:
        assert list(batch["labels"][1:]) == [UNLABELLED] * 2 and batch["labels"][0] in (0, 1)
        assert len(batch["token_ids"]) == 3
    resumed = mixed_batches(labelled, unlabelled, 3, 0.34, seed=2, start_step=3)
    for expected in batches[3:]:
        got = next(resumed)
        assert all(np.array_equal(got[k], expected[k]) for k in expected)


def write_labelled(path, rows):
    path.write_text("label\ttext\n" + "".join(f"{label}\t{text}\n" for label, text in rows), encoding="utf-8")
    return path


def m2_config(tmp_path, adversary=0.0, **data):
    rows = [("pos" if i % 2 else "neg", s) for i, s in enumerate(SENTENCES * 2)]
    train_file = write_labelled(tmp_path / "train.tsv", rows)
    valid_file = write_labelled(tmp_path / "valid.tsv", rows[:5])
    return tiny_config(tmp_path, data={"train": str(train_file), "valid": str(valid_file), "label_field": "label",
                                       "labels_per_class": 2, **data},
                       m2={"enabled": True, "alpha": 5.0, "labelled_fraction": 0.5, "adversary": adversary},
                       train={"batch_size": 4})


@pytest.fixture(scope="module")
def m2_run(tmp_path_factory):
    """One tiny M2 run shared by the run and CLI tests below (they only read it)."""
    root = tmp_path_factory.mktemp("m2")
    config = m2_config(root)
    summary = train(config, root / "run")
    return {"root": root, "workdir": root / "run", "config": config, "summary": summary}


def run_cli(monkeypatch, *argv, stdin=""):
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    out = io.StringIO()
    with redirect_stdout(out):
        code = main([str(a) for a in argv])
    return code, out.getvalue()


def test_m2_run_logs_classification_and_validation(m2_run):
    assert m2_run["summary"]["step"] == m2_run["config"].train.max_steps
    records = [json.loads(line) for line in (m2_run["workdir"] / "metrics.jsonl").read_text().splitlines()]
    assert any("valid_accuracy" in r for r in records) and any("classification" in r for r in records)
    model = load(m2_run["workdir"], checkpoint="latest")
    assert model.classes == ["neg", "pos"]
    np.testing.assert_allclose(model.classify(SENTENCES[:3]).sum(axis=1), 1.0, rtol=1e-5)


def test_m2_cli_classify_prints_the_models_argmax(m2_run, monkeypatch):
    model = load(m2_run["workdir"])
    sentences = ["the cat sat on the mat", "we walked home"]
    code, out = run_cli(monkeypatch, "classify", "--workdir", m2_run["workdir"], stdin="\n".join(sentences) + "\n")
    probs = model.classify(sentences)
    rows = [line.split("\t") for line in out.strip().splitlines()]
    assert code == 0 and [r[0] for r in rows] == [model.classes[i] for i in probs.argmax(axis=1)]
    np.testing.assert_allclose([float(r[1]) for r in rows], probs.max(axis=1), atol=1e-4)


def test_m2_cli_sample_and_transfer(m2_run, monkeypatch):
    workdir = m2_run["workdir"]
    model = load(workdir)
    code, out = run_cli(monkeypatch, "sample", "--workdir", workdir, "--label", "pos", "-n", "3", "--max-length", "6",
                        "--json")
    items = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [i["label"] for i in items] == ["pos"] * 3
    assert [i["text"] for i in items] == model.sample(3, "pos", seed=0, max_length=6)
    code, out = run_cli(monkeypatch, "transfer", "--workdir", workdir, "--to", "neg", "--json",
                        stdin="the bird sang a song\n")
    item = json.loads(out)
    expected = model.transfer(["the bird sang a song"], "neg")[0]
    assert code == 0 and item["to"] == "neg" and item["from"] == expected["from"]
    assert item["text"] == expected["text"]
    assert run_cli(monkeypatch, "sample", "--workdir", workdir, "--label", "meh")[0] == 1
    assert run_cli(monkeypatch, "sample", "--workdir", workdir)[0] == 1


def test_m2_cli_plot_writes_the_training_curves(m2_run, monkeypatch):
    code, out = run_cli(monkeypatch, "plot", "--workdir", m2_run["workdir"])
    assert code == 0 and out.split() == [str(m2_run["workdir"] / "plots" / "training.png")]


def test_m2_cli_evaluate_accuracy_equals_the_classifier_on_the_file(m2_run, monkeypatch):
    valid = m2_run["root"] / "valid.tsv"
    code, out = run_cli(monkeypatch, "evaluate", "--workdir", m2_run["workdir"], "--data", valid)
    result = json.loads(out)
    rows = [line.split("\t") for line in valid.read_text().splitlines()[1:]]
    model = load(m2_run["workdir"])
    predicted = [model.classes[i] for i in model.classify([text for _, text in rows]).argmax(axis=1)]
    truth = [label for label, _ in rows]
    assert code == 0 and result["num_sentences"] == 5
    assert result["accuracy"] == pytest.approx(np.mean([p == t for p, t in zip(predicted, truth)]))
    confusion = np.zeros((2, 2), int)
    for t, p in zip(truth, predicted):
        confusion[model.classes.index(t), model.classes.index(p)] += 1
    assert np.array_equal(result["confusion_matrix"], confusion) and "macro_f1" in result


def test_m2_run_resumes_with_more_steps(tmp_path):
    config = m2_config(tmp_path)
    assert train(config, tmp_path / "run")["step"] == config.train.max_steps
    longer = m2_config(tmp_path, labels_per_class=2)
    longer = type(longer)(**{**longer.__dict__, "train": type(longer.train)(**{**longer.train.__dict__, "max_steps": 10})})
    assert train(longer, tmp_path / "run")["step"] == 10


def test_m2_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="m2.enabled needs data.label_field"):
        tiny_config(tmp_path, m2={"enabled": True})
    config = m2_config(tmp_path, labels_per_class=50)
    with pytest.raises(DataError, match="fewer than data.labels_per_class=50"):
        train(config, tmp_path / "run")
    config = m2_config(tmp_path, classes="neg,pos,neutral")
    with pytest.raises(DataError, match="neutral"):
        train(config, tmp_path / "run2")
    config = m2_config(tmp_path, classes="neg")
    with pytest.raises(DataError, match="label 'pos', not in data.classes"):
        train(config, tmp_path / "run3")


def test_m2_trains_under_mixed_precision(tmp_path):
    config = m2_config(tmp_path)
    config = type(config)(**{**config.__dict__, "train": type(config.train)(**{**config.train.__dict__,
                                                                              "precision": "mixed_float16"})})
    summary = train(config, tmp_path / "run")
    assert np.isfinite(summary["last"]["loss"])
    model = load(tmp_path / "run", checkpoint="latest")
    assert model.encoder.embedding.compute_dtype == "float16"
    probs = model.classify(SENTENCES[:3])
    assert probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert len(model.sample(2, label="pos", max_length=5)) == 2


# -- starting from a pretrained VAE (m2.init_from) ----------------------------------

@pytest.mark.parametrize("bag_of_words", [0.0, 1.0])
def test_initialised_from_a_vae_with_the_y_rows_zeroed_m2_is_that_vae(tmp_path, bag_of_words):
    from textvae.model import SentenceVAE

    spec = dict(latent_dim=LAT, embedding_dim=4, hidden_dim=6, seed=3, latent_to_output=True, lstm_pooling="max",
                bag_of_words=bag_of_words)
    tokenizer = WordTokenizer(VOCAB_WORDS)
    vae = SentenceVAE(ModelSpec(tokenizer.vocab_size, **spec), tokenizer=tokenizer)
    model = M2VAE(ModelSpec(tokenizer.vocab_size, **spec), [str(c) for c in range(C)], tokenizer=tokenizer)
    batch = model._batch(SENTENCES[:3])
    vae(batch), model(batch)
    fresh_y_rows = model.decoder.lstm.get_weights()[0][-C:].copy()
    counts = model.initialise_from(vae)
    # to_state, the LSTM input kernel, the output layer, q(z|x, y)'s head (and the bag-of-words head)
    assert counts["extended"] == 4 + (bag_of_words > 0)
    np.testing.assert_array_equal(model.decoder.lstm.get_weights()[0][-C:], fresh_y_rows)  # y's own rows kept
    # with the rows that read y set to zero, M2's q(z|x, y) and p(x|z, y) are the VAE's q(z|x) and p(x|z)
    layers = [model.decoder.to_state, model.decoder.lstm.cell, model.decoder.to_logits, model.to_posterior]
    for layer in layers + ([model.bag_of_words] if bag_of_words else []):
        kernel = layer.kernel.numpy()
        kernel[-C:] = 0.0
        layer.kernel.assign(kernel)
    views = split_batch(batch)
    features = model.encoder(views["encoder"])
    labels = tf.constant([0, 2, 1])
    loc, scale = model.posterior_params(features, labels)
    vae_loc, vae_scale = vae.posterior_params(batch)
    np.testing.assert_allclose(loc, vae_loc, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(scale, vae_scale, rtol=1e-5, atol=1e-6)
    z = tf.random.normal((3, LAT), seed=4)
    np.testing.assert_allclose(model.decoder(views["decoder"], model.decoder_code(z, labels)),
                               vae.decoder(views["decoder"], z), rtol=1e-5, atol=1e-5)
    if bag_of_words:
        np.testing.assert_allclose(bag_of_words_nll(model.bag_of_words, model.decoder_code(z, labels), views),
                                   vae.bag_of_words_nll(z, views), rtol=1e-5)
    else:
        assert model.bag_of_words is None
    other = M2VAE(ModelSpec(tokenizer.vocab_size, **{**spec, "latent_dim": LAT + 1}), ["a", "b"], tokenizer=tokenizer)
    other(batch)
    with pytest.raises(ValueError, match="latent_dim"):
        other.initialise_from(vae)


def test_m2_run_from_a_vae_run_uses_its_tokenizer_and_weights(tmp_path, capsys):
    import dataclasses

    from textvae.tokenizer import load_tokenizer

    (tmp_path / "vae").mkdir()
    vae_config = tiny_config(tmp_path / "vae", train={"max_steps": 4}, tokenizer={"kind": "word", "vocab_size": 12})
    train(vae_config, tmp_path / "vae" / "run")
    config = m2_config(tmp_path)  # its own tokenizer settings (another vocabulary size) are not used
    config = dataclasses.replace(config, m2=dataclasses.replace(config.m2, init_from=str(tmp_path / "vae" / "run")))
    train(config, tmp_path / "m2")
    assert "m2.init_from: " in capsys.readouterr().err
    vae_words, m2_words = load_tokenizer(tmp_path / "vae" / "run"), load_tokenizer(tmp_path / "m2")
    assert m2_words.vocab_size == vae_words.vocab_size == 12
    assert m2_words.encode(SENTENCES[0]) == vae_words.encode(SENTENCES[0])
    bad = dataclasses.replace(config, m2=dataclasses.replace(config.m2, init_from=str(tmp_path / "m2")))
    with pytest.raises(ConfigError, match="not a VAE run"):
        train(bad, tmp_path / "m2_bad")
