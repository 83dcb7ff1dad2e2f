import keras
import numpy as np
import pytest
import tensorflow as tf

from textvae import distributions
from textvae.data import encode_corpus, to_dataset, training_batches
from textvae.evaluation.estimators import evaluate_elbo
from textvae.model import SentenceVAE
from textvae.spec import ModelSpec
from textvae.tokenizer import WordTokenizer
from conftest import SENTENCES

LAT = 3


def tiny_model(tokenizer, **kwargs):
    model = SentenceVAE(ModelSpec(tokenizer.vocab_size, latent_dim=LAT, embedding_dim=4, hidden_dim=5, seed=1, **kwargs),
                        tokenizer=tokenizer)
    return model


def test_loss_terms_equal_a_manual_sum():
    tokenizer = WordTokenizer(sorted({w for s in SENTENCES for w in s.split()}))
    model = tiny_model(tokenizer)
    batch = encode_corpus(SENTENCES[:2], tokenizer, 9).sequences
    from textvae.data import pad_batch

    inputs = pad_batch(batch)
    noise = tf.constant(np.random.default_rng(0).standard_normal((2, LAT)), tf.float32)
    terms = model.loss_terms(inputs, noise=noise)
    out = model(inputs, noise=noise)
    log_probs = tf.nn.log_softmax(out["logits"]).numpy()
    for row, seq in enumerate(batch):
        manual = -sum(log_probs[row, t, seq[t + 1]] for t in range(len(seq) - 1))
        assert float(terms["reconstruction"][row]) == pytest.approx(manual, rel=1e-5)
    loc, scale = out["loc"].numpy(), out["scale"].numpy()
    manual_kl = (0.5 * (loc**2 + scale**2 - 1) - np.log(scale)).sum(axis=1)
    np.testing.assert_allclose(terms["kl"], manual_kl, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(out["z"], loc + scale * noise.numpy(), rtol=1e-5)
    assert float(terms["tokens"]) == sum(len(s) - 1 for s in batch)


def test_free_bits_leave_reported_kl_true():
    tokenizer = WordTokenizer(sorted({w for s in SENTENCES for w in s.split()}))
    model = tiny_model(tokenizer)
    model.compile(keras.optimizers.Adam(0.0), free_bits=5.0)  # lr 0: weights stay put
    inputs = next(training_batches(encode_corpus(SENTENCES, tokenizer, 9), 2, seed=0))
    logs = model.train_step({k: tf.constant(v) for k, v in inputs.items()})
    out = model(inputs, noise=tf.zeros((2, LAT)))
    true_kl = distributions.kl_per_dimension(out["loc"], out["scale"]).numpy().sum(1).mean()
    assert float(logs["kl"]) == pytest.approx(true_kl, rel=1e-5)
    # the loss uses the clamped KL: LAT dims x 5 nats each (every dim is far below 5)
    assert float(logs["loss"]) == pytest.approx(float(logs["reconstruction"]) + LAT * 5.0, rel=1e-5)


def spread_posteriors(to_posterior, seed=0):
    """Large random weights in a posterior head, so that KLs are of order 1 nat and differ
    between sentences and units (the tiny encoder's features are about 0.004, an untrained
    model's KLs about 1e-5)."""
    rng = np.random.default_rng(seed)
    kernel, bias = to_posterior.get_weights()
    to_posterior.set_weights([rng.normal(0, 400, kernel.shape).astype(np.float32), np.zeros_like(bias)])


def test_free_bits_per_sentence_floor_each_sentence_in_the_loss():
    tokenizer = WordTokenizer(sorted({w for s in SENTENCES for w in s.split()}))
    model = tiny_model(tokenizer)
    inputs = next(training_batches(encode_corpus(SENTENCES, tokenizer, 9), 4, seed=0))
    model(inputs)
    spread_posteriors(model.encoder.to_posterior)
    out = model(inputs, noise=tf.zeros((4, LAT)))
    kl = distributions.kl_per_dimension(out["loc"], out["scale"]).numpy()  # (4, LAT)
    floor = float(np.median(kl))  # some sentences' units below it, some above
    model.compile(keras.optimizers.Adam(0.0), free_bits=floor, free_bits_per="sentence")
    logs = model.train_step({k: tf.constant(v) for k, v in inputs.items()})
    per_sentence = np.maximum(kl, floor).sum(axis=1).mean()
    per_batch = np.maximum(kl.mean(axis=0), floor).sum()
    assert per_sentence > per_batch + 0.1  # the two floors differ on this batch
    assert float(logs["loss"]) == pytest.approx(float(logs["reconstruction"]) + per_sentence, rel=1e-5)
    assert float(logs["kl"]) == pytest.approx(kl.sum(axis=1).mean(), rel=1e-5)  # reported KL stays true


def test_tiny_corpus_is_overfitted():
    keras.utils.set_random_seed(0)
    tokenizer = WordTokenizer(sorted({w for s in SENTENCES for w in s.split()}))
    model = SentenceVAE(ModelSpec(tokenizer.vocab_size, latent_dim=LAT, embedding_dim=16, hidden_dim=32, seed=1),
                        tokenizer=tokenizer)
    encoded = encode_corpus(SENTENCES, tokenizer, 9)
    model.compile(keras.optimizers.Adam(0.02), kl_weight_fn=lambda step: tf.constant(0.05))
    model.fit(to_dataset(training_batches(encoded, 4, seed=0)), steps_per_epoch=300, verbose=0, shuffle=False)
    # about 7 tokens a sentence over a 41-word vocabulary: 26 nats at chance; scored on the
    # whole corpus without dropout (the last training batch alone is too noisy a figure)
    assert evaluate_elbo(model, encoded)["reconstruction"] < 1.0
    assert model.reconstruct(SENTENCES[:4]) == SENTENCES[:4]


def test_string_api_shapes():
    tokenizer = WordTokenizer(sorted({w for s in SENTENCES for w in s.split()}))
    model = tiny_model(tokenizer)
    q = model.encode(SENTENCES[:2])
    assert q.batch_shape == (2,) and q.event_shape == (LAT,)
    assert len(model.sample(3, seed=1, max_length=6)) == 3
    assert model.sample(3, seed=1) == model.sample(3, seed=1)
    samples = model.sample(4, seed=2, strategy="sample", max_length=5)
    assert all(len(s.split()) <= 5 for s in samples)
    assert samples == model.sample(4, seed=2, strategy="sample", max_length=5)
    assert len(model.interpolate(SENTENCES[0], SENTENCES[1], steps=3)) == 5
    with pytest.raises(TypeError):
        model.encode("a single string")
    model.tokenizer = None
    with pytest.raises(ValueError, match="no tokenizer"):
        model.sample(1)


def test_neighbours_and_arithmetic_api():
    tokenizer = WordTokenizer(sorted({w for s in SENTENCES for w in s.split()}))
    model = tiny_model(tokenizer)
    assert model.neighbour_latents(SENTENCES[0], n=4, seed=1).shape == (4, LAT)
    assert len(model.neighbours(SENTENCES[0], n=4, seed=1, max_length=5)) == 4
    mu = model.encode(SENTENCES[:3]).mean().numpy()
    np.testing.assert_allclose(model.arithmetic_latent(*SENTENCES[:3])[0], mu[0] - mu[1] + mu[2], rtol=1e-6)
    assert isinstance(model.arithmetic(*SENTENCES[:3], max_length=5), str)
