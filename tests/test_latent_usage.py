"""The remedies that make z carry the sentence: each term against a hand computation,
the decoder paths against each other, a tiny corpus overfitted and exact resume with
each switch on."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from textvae import distributions
from textvae.base import split_batch
from textvae.config import ConfigError
from textvae.data import encode_corpus, pad_batch, to_dataset, training_batches
from textvae.decoders import LSTMDecoder, TransformerDecoder
from textvae.evaluation.estimators import evaluate_elbo
from textvae.model import SentenceVAE
from textvae.spec import ModelSpec
from textvae.tokenizer import EOS_ID, WordTokenizer
from textvae.training import train
from conftest import SENTENCES, tiny_config

LAT = 3
WORDS = WordTokenizer(sorted({w for s in SENTENCES for w in s.split()}))


def vae(**spec):
    return SentenceVAE(ModelSpec(WORDS.vocab_size, latent_dim=LAT, embedding_dim=4, hidden_dim=5, seed=1, **spec),
                       tokenizer=WORDS)


# -- bag of words -------------------------------------------------------------

def test_bag_of_words_loss_is_a_manual_sum_of_log_softmax_over_the_words():
    model = vae(bag_of_words=0.5)
    inputs = pad_batch(encode_corpus(SENTENCES[:3], WORDS, 9).sequences)
    noise = tf.constant(np.random.default_rng(0).standard_normal((3, LAT)), tf.float32)
    terms = model.loss_terms(inputs, noise=noise)
    out = model(inputs, noise=noise)
    kernel, bias = (w.numpy() for w in model.bag_of_words.weights)
    logits = out["z"].numpy() @ kernel + bias
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    for row, sentence in enumerate(SENTENCES[:3]):
        ids = WORDS.encode(sentence)  # the words, no BOS / EOS
        assert EOS_ID not in ids
        assert float(terms["bag_of_words"][row]) == pytest.approx(-log_softmax[row, ids].sum(), rel=1e-5)
    # the training loss adds weight x the batch mean; the ELBO terms are unchanged
    model.compile(keras.optimizers.Adam(0.0), kl_weight_fn=lambda step: tf.constant(0.0))
    logs = model.train_step({k: tf.constant(v) for k, v in inputs.items()})
    assert float(logs["loss"]) == pytest.approx(
        float(logs["reconstruction"]) + 0.5 * float(logs["bag_of_words"]), rel=1e-5)


def test_bag_of_words_gradient_reaches_the_encoder_only_through_z():
    model = vae(bag_of_words=1.0)
    inputs = pad_batch(encode_corpus(SENTENCES[:2], WORDS, 9).sequences)
    with tf.GradientTape() as tape:
        bow = tf.reduce_sum(model.loss_terms(inputs, noise=tf.zeros((2, LAT)))["bag_of_words"])
    grads = dict(zip([v.path for v in model.trainable_variables],
                     tape.gradient(bow, model.trainable_variables)))
    assert any(g is not None and float(tf.norm(g)) > 0 for p, g in grads.items() if "encoder" in p)
    assert all(g is None for p, g in grads.items() if "/decoder/" in p)


# -- target rate ----------------------------------------------------------------

@pytest.mark.parametrize("kl, expected_grad", [(2.0, -1.0), (7.0, 1.0)])
def test_target_rate_value_and_gradient_at_known_kls(kl, expected_grad):
    mean_kl = tf.Variable([[kl / 2, kl / 2]])  # one sentence, two units
    with tf.GradientTape() as tape:
        value = distributions.kl_penalty(mean_kl, target_rate=5.0)
    assert float(value) == pytest.approx(abs(kl - 5.0))
    np.testing.assert_allclose(tape.gradient(value, mean_kl), [[expected_grad] * 2])
    # without a target rate the free-bits floor is unchanged
    assert float(distributions.kl_penalty(mean_kl, free_bits=3.0)) == pytest.approx(2 * max(3.0, kl / 2))


def test_target_rate_and_free_bits_are_exclusive(tmp_path):
    with pytest.raises(ConfigError, match="kl.target_rate and kl.free_bits"):
        tiny_config(tmp_path, ["kl.target_rate=5", "kl.free_bits=0.5"])
    with pytest.raises(ConfigError, match="model.bag_of_words needs"):
        tiny_config(tmp_path, ["model.bag_of_words=1", "model.latent_dim=0"])


# -- z at the output layer --------------------------------------------------------

def _decoders(latent_to_output):
    return [LSTMDecoder(13, 4, 5, LAT, latent_to_output=latent_to_output, dropout=0.2, seed=3),
            TransformerDecoder(13, 8, LAT, num_layers=1, num_heads=2, feedforward_dim=6, max_positions=9,
                               latent_to_output=latent_to_output, dropout=0.2, seed=3)]


@pytest.mark.parametrize("index", [0, 1])
def test_latent_to_output_cached_steps_equal_the_teacher_forced_pass(index):
    layer = _decoders(True)[index]
    ids = tf.constant(np.random.default_rng(0).integers(4, 13, (2, 9)), tf.int32)
    z = tf.random.normal((2, LAT), seed=5)
    logits = layer({"token_ids": ids, "padding_mask": tf.ones_like(ids, tf.bool)}, z)
    assert layer.to_logits.kernel.shape[0] == layer.features(
        {"token_ids": ids, "padding_mask": tf.ones_like(ids, tf.bool)}, z).shape[-1]
    state = layer.initial_state(z)
    for t in range(9):
        step_logits, state = layer.step(ids[:, t], state, z)
        np.testing.assert_allclose(step_logits, logits[:, t], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("index", [0, 1])
def test_latent_to_output_gives_the_output_layer_z(index):
    plain, skip = _decoders(False)[index], _decoders(True)[index]
    ids = tf.constant([[2, 5, 6]], tf.int32)
    inputs = {"token_ids": ids, "padding_mask": tf.ones_like(ids, tf.bool)}
    z = tf.ones((1, LAT))
    width = plain.features(inputs, z).shape[-1]
    assert skip.features(inputs, z).shape[-1] == width + LAT
    np.testing.assert_allclose(skip.features(inputs, z)[..., width:], np.ones((1, 3, LAT)))


# -- one word-vector table (tied embeddings) -------------------------------------------

@pytest.mark.parametrize("index", [0, 1])
def test_tied_decoder_logits_are_the_projected_features_times_its_input_table(index):
    layer = [LSTMDecoder(13, 4, 5, LAT, latent_to_output=True, tie_embeddings=True, seed=3),
             TransformerDecoder(13, 8, LAT, num_layers=1, num_heads=2, feedforward_dim=6, max_positions=9,
                                latent_to_output=True, tie_embeddings=True, seed=3)][index]
    ids = tf.constant(np.random.default_rng(0).integers(4, 13, (2, 9)), tf.int32)
    inputs = {"token_ids": ids, "padding_mask": tf.ones_like(ids, tf.bool)}
    z = tf.random.normal((2, LAT), seed=5)
    layer(inputs, z)
    layer.to_logits.bias.assign(np.arange(13, dtype=np.float32) / 10)
    logits = layer(inputs, z).numpy()
    table = layer.embedding.embeddings.numpy()  # (vocab, e): the input table
    expected = layer.features(inputs, z).numpy() @ layer.to_logits.project.kernel.numpy() @ table.T
    np.testing.assert_allclose(logits, expected + np.arange(13) / 10, rtol=1e-4, atol=1e-5)
    x, kernel, bias = layer.to_logits.linear_parts(layer.features(inputs, z))  # what sampled softmax reads
    np.testing.assert_allclose(x.numpy() @ kernel.numpy() + bias.numpy(), logits, rtol=1e-4, atol=1e-5)
    state = layer.initial_state(z)
    for t in range(9):  # generation's cached steps use the same tied layer
        step_logits, state = layer.step(ids[:, t], state, z)
        np.testing.assert_allclose(step_logits, logits[:, t], rtol=1e-4, atol=1e-5)


def test_tied_vae_has_one_word_table_for_encoder_decoder_and_bag_of_words():
    tied = vae(tie_embeddings=True, bag_of_words=1.0, latent_to_output=True)
    plain = vae(bag_of_words=1.0, latent_to_output=True)
    batch = pad_batch(encode_corpus(SENTENCES[:3], WORDS, 9).sequences)
    tied(batch), plain(batch)
    assert tied.encoder.embedding is tied.decoder.embedding
    tables = [w for w in tied.weights if tuple(w.shape) == (WORDS.vocab_size, 4)]
    assert len(tables) == 1 and len(tied.weights) == len({id(w) for w in tied.weights})
    assert sum(int(np.prod(w.shape)) for w in plain.weights) > sum(int(np.prod(w.shape)) for w in tied.weights)
    z = tf.random.normal((3, LAT), seed=2)
    views = split_batch(batch)
    log_p = tf.nn.log_softmax(z.numpy() @ tied.bag_of_words.project.kernel.numpy() @ tables[0].numpy().T
                              + tied.bag_of_words.bias.numpy()).numpy()
    targets = np.asarray(views["targets"])
    words = np.asarray(views["target_mask"]) * (targets != EOS_ID)
    manual = -np.array([sum(log_p[i, targets[i, t]] for t in range(words.shape[1]) if words[i, t])
                        for i in range(3)])
    np.testing.assert_allclose(tied.bag_of_words_nll(z, views), manual, rtol=1e-5)


def test_decoder_input_dropout_never_touches_z():
    layer = LSTMDecoder(13, 4, 5, LAT, dropout=0.9, seed=3)
    ids = tf.constant([[2, 5, 6, 7]], tf.int32)
    z = tf.constant([[1.0, -2.0, 3.0]])
    layer({"token_ids": ids, "padding_mask": tf.ones_like(ids, tf.bool)}, z)
    x = layer._inputs(ids, z, training=True)
    np.testing.assert_allclose(x[..., -LAT:], np.tile(z.numpy(), (1, 4, 1)).reshape(1, 4, LAT))


# -- with every switch on: overfits, resumes exactly ---------------------------------

SWITCHES = {"bag_of_words": {"model": {"bag_of_words": 1.0}},
            "latent_to_output": {"model": {"latent_to_output": True}},
            "target_rate": {"kl": {"free_bits": 0.0, "target_rate": 4.0}},
            "free_bits_per_sentence": {"kl": {"free_bits": 0.5, "free_bits_per": "sentence"}},
            "tie_embeddings": {"model": {"tie_embeddings": True, "bag_of_words": 1.0}},
            "mixture_prior": {"model": {"prior_components": 4}, "kl": {"free_bits": 0.0, "target_rate": 4.0}}}


@pytest.mark.parametrize("switch", list(SWITCHES))
def test_tiny_corpus_is_overfitted_with_each_switch(switch):
    keras.utils.set_random_seed(0)
    spec = {"bag_of_words": {"bag_of_words": 1.0}, "latent_to_output": {"latent_to_output": True},
            "tie_embeddings": {"tie_embeddings": True, "bag_of_words": 1.0},
            "mixture_prior": {"prior_components": 4}}.get(switch, {})
    model = SentenceVAE(ModelSpec(WORDS.vocab_size, latent_dim=LAT, embedding_dim=16, hidden_dim=32, seed=1, **spec),
                        tokenizer=WORDS)
    encoded = encode_corpus(SENTENCES, WORDS, 9)
    rate = {"target_rate": {"target_rate": 4.0},
            "free_bits_per_sentence": {"free_bits": 0.5, "free_bits_per": "sentence"}}.get(switch, {})
    model.compile(keras.optimizers.Adam(0.02), kl_weight_fn=lambda step: tf.constant(0.05), **rate)
    model.fit(to_dataset(training_batches(encoded, 4, seed=0)), steps_per_epoch=300, verbose=0, shuffle=False)
    assert evaluate_elbo(model, encoded)["reconstruction"] < 1.0
    assert model.reconstruct(SENTENCES[:4]) == SENTENCES[:4]


@pytest.mark.parametrize("switch", list(SWITCHES))
def test_resume_is_exact_with_each_switch(tmp_path, switch):
    config = tiny_config(tmp_path, **SWITCHES[switch])
    full = train(config, tmp_path / "full")
    short = dataclasses.replace(config, train=dataclasses.replace(config.train, max_steps=4))
    train(short, tmp_path / "part")
    resumed = train(config, tmp_path / "part")
    assert resumed["step"] == full["step"] == 8
    assert resumed["last"]["loss"] == pytest.approx(full["last"]["loss"], rel=1e-6)
    if "bag_of_words" in SWITCHES[switch].get("model", {}):
        assert resumed["last"]["bag_of_words"] == pytest.approx(full["last"]["bag_of_words"], rel=1e-6)


# -- the max-pooled bidirectional LSTM encoder ----------------------------------------

def test_max_pooled_lstm_encoding_does_not_depend_on_padding_and_round_trips(tmp_path):
    from textvae.encoders import LSTMEncoder

    layer = LSTMEncoder(13, 4, 6, LAT, pooling="max")
    ids = tf.constant([[5, 6, 7, EOS_ID]], tf.int32)
    short = layer({"token_ids": ids, "padding_mask": tf.ones_like(ids, tf.bool)})
    padded_ids = tf.concat([ids, tf.zeros((1, 3), tf.int32)], axis=1)
    mask = tf.constant([[True] * 4 + [False] * 3])
    padded = layer({"token_ids": padded_ids, "padding_mask": mask})
    for a, b in zip(short, padded):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # the features are a max over positions: each feature equals some real position's output
    assert layer.features({"token_ids": ids, "padding_mask": tf.ones_like(ids, tf.bool)}).shape == (1, 6)
    copy = LSTMEncoder.from_config(layer.get_config())
    copy({"token_ids": ids, "padding_mask": tf.ones_like(ids, tf.bool)})
    copy.set_weights(layer.get_weights())
    for a, b in zip(short, copy({"token_ids": ids, "padding_mask": tf.ones_like(ids, tf.bool)})):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    with pytest.raises(ConfigError, match="model.lstm_pooling"):
        tiny_config(tmp_path, ["model.lstm_pooling=mean"])
