"""Transformer encoder and decoder: causality, the key/value cache, padding, round trips, training."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from textvae import load
from textvae.config import ConfigError
from textvae.data import encode_corpus, to_dataset, training_batches
from textvae.decoders import TransformerDecoder
from textvae.decoding import DecodeOptions, generate_ids
from textvae.encoders import TransformerEncoder
from textvae.evaluation.estimators import evaluate_elbo
from textvae.model import SentenceVAE
from textvae.spec import ModelSpec
from textvae.tokenizer import BOS_ID, EOS_ID, PAD_ID, WordTokenizer
from textvae.training import train

from conftest import SENTENCES, tiny_config

VOCAB, WIDTH, LAT, HEADS, FF, POS = 13, 8, 3, 2, 6, 12
INJECTIONS = ["add", "memory", "both"]


def decoder(injection="both", **kwargs):
    return TransformerDecoder(VOCAB, WIDTH, LAT, num_layers=2, num_heads=HEADS, feedforward_dim=FF,
                              max_positions=POS, latent_injection=injection, **kwargs)


def encoder(pooling="mean", **kwargs):
    return TransformerEncoder(VOCAB, WIDTH, LAT, num_layers=2, num_heads=HEADS, feedforward_dim=FF,
                              max_positions=POS, pooling=pooling, **kwargs)


def random_ids(batch=2, time=7, seed=0):
    return tf.constant(np.random.default_rng(seed).integers(4, VOCAB, (batch, time)), tf.int32)


def full(ids):
    return {"token_ids": ids, "padding_mask": tf.ones_like(ids, tf.bool)}


@pytest.mark.parametrize("injection", INJECTIONS)
def test_decoder_is_causal(injection):
    layer = decoder(injection)
    z = tf.random.normal((2, LAT), seed=1)
    ids = random_ids()
    before = layer(full(ids), z).numpy()
    changed = tf.tensor_scatter_nd_update(ids, [[0, 4], [1, 4]], [BOS_ID, EOS_ID])
    after = layer(full(changed), z).numpy()
    np.testing.assert_allclose(after[:, :4], before[:, :4], rtol=1e-5, atol=1e-6)
    assert np.abs(after[:, 4:] - before[:, 4:]).max() > 1e-4  # the change is seen from t = 4 on


@pytest.mark.parametrize("injection", INJECTIONS)
def test_cached_decoding_equals_full_forward_pass(injection):
    layer = decoder(injection, dropout=0.2, word_dropout=0.3, seed=4)
    z = tf.random.normal((2, LAT), seed=2)
    ids = random_ids(time=POS)  # the whole position table
    logits = layer(full(ids), z)
    state = layer.initial_state(z)
    for t in range(POS):
        step_logits, state = layer.step(ids[:, t], state, z)
        np.testing.assert_allclose(step_logits, logits[:, t], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("injection", INJECTIONS)
def test_decoder_output_depends_on_z(injection):
    layer = decoder(injection)
    ids = random_ids()
    a = layer(full(ids), tf.zeros((2, LAT)))
    b = layer(full(ids), tf.ones((2, LAT)))
    assert np.abs(a.numpy() - b.numpy()).max() > 1e-3


def test_latent_dim_zero_decoder_is_a_language_model():
    layer = TransformerDecoder(VOCAB, WIDTH, 0, num_layers=1, num_heads=HEADS, feedforward_dim=FF,
                               max_positions=POS)
    assert layer.latent_to_input is None and layer.latent_to_memory is None
    ids = random_ids()
    logits = layer(full(ids), tf.zeros((2, 0)))
    state = layer.initial_state(tf.zeros((2, 0)))
    step_logits, _ = layer.step(ids[:, 0], state, tf.zeros((2, 0)))
    np.testing.assert_allclose(step_logits, logits[:, 0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("pooling", ["mean", "summary"])
def test_padding_does_not_change_the_encoding(pooling):
    layer = encoder(pooling)
    ids = random_ids(batch=1, time=5)
    short = {"token_ids": ids, "padding_mask": tf.ones((1, 5), tf.bool)}
    padded_ids = tf.concat([ids, tf.fill([1, 4], PAD_ID)], axis=1)
    padded = {"token_ids": padded_ids, "padding_mask": padded_ids != PAD_ID}
    loc_short, scale_short = layer(short)
    loc_padded, scale_padded = layer(padded)
    np.testing.assert_allclose(loc_padded, loc_short, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(scale_padded, scale_short, rtol=1e-5, atol=1e-6)
    # pads filled with real words instead would be seen: the mask is what hides them
    unmasked = {"token_ids": tf.concat([ids, ids[:, :4]], axis=1), "padding_mask": tf.ones((1, 9), tf.bool)}
    assert np.abs(layer(unmasked)[0].numpy() - loc_short.numpy()).max() > 1e-4


@pytest.mark.parametrize("make", [
    lambda: encoder("mean", bn_gamma=0.5, dropout=0.1),
    lambda: encoder("summary"),
    lambda: decoder("add", dropout=0.1, word_dropout=0.2, seed=3),
    lambda: decoder("memory"),
    lambda: decoder("both"),
], ids=["encoder-mean-bn", "encoder-summary", "decoder-add", "decoder-memory", "decoder-both"])
def test_config_round_trip_gives_identical_outputs(make):
    layer = make()
    ids = random_ids()
    z = tf.random.normal((2, LAT), seed=5)
    run = (lambda l: l(full(ids))[0]) if isinstance(layer, TransformerEncoder) else (lambda l: l(full(ids), z))
    expected = run(layer)
    clone = type(layer).from_config(layer.get_config())
    run(clone)
    clone.set_weights(layer.get_weights())
    assert clone.get_config() == layer.get_config()
    np.testing.assert_allclose(run(clone), expected, rtol=1e-5, atol=1e-6)


def test_generation_stops_at_the_position_table_and_beam_one_is_greedy():
    layer = decoder()
    z = tf.random.normal((3, LAT), seed=6)
    layer(full(random_ids(batch=3)), z)
    greedy = generate_ids(layer, z, DecodeOptions(max_length=50))
    beam = generate_ids(layer, z, DecodeOptions(strategy="beam", beam_size=1, max_length=50))
    assert greedy["ids"].shape[1] <= POS
    np.testing.assert_array_equal(beam["ids"].numpy(), greedy["ids"].numpy())
    np.testing.assert_allclose(beam["scores"], greedy["scores"], rtol=1e-4)
    # greedy scores are the teacher-forced log-probabilities of the output
    ids = greedy["ids"].numpy()
    inputs = np.concatenate([np.full((3, 1), BOS_ID), ids[:, :-1]], axis=1)
    log_probs = tf.nn.log_softmax(layer(full(tf.constant(inputs, tf.int32)), z)).numpy()
    chosen = np.take_along_axis(log_probs, ids[..., None], axis=-1)[..., 0]
    live = np.cumsum(np.concatenate([np.zeros((3, 1)), ids[:, :-1] == EOS_ID], axis=1), axis=1) == 0
    np.testing.assert_allclose((chosen * live).sum(1), greedy["scores"], rtol=1e-4)


PAIRS = [("lstm", "transformer"), ("transformer", "lstm"), ("transformer", "transformer")]


@pytest.mark.parametrize("encoder_kind,decoder_kind", PAIRS)
def test_tiny_corpus_is_overfitted(encoder_kind, decoder_kind):
    keras.utils.set_random_seed(0)
    tokenizer = WordTokenizer(sorted({w for s in SENTENCES for w in s.split()}))
    model = SentenceVAE(ModelSpec(tokenizer.vocab_size, latent_dim=LAT, embedding_dim=16, hidden_dim=32,
                                  encoder=encoder_kind, decoder=decoder_kind, num_layers=1, num_heads=2,
                                  feedforward_dim=32, max_positions=11, seed=1))
    model.tokenizer = tokenizer
    encoded = encode_corpus(SENTENCES, tokenizer, 9)
    model.compile(keras.optimizers.Adam(0.01), kl_weight_fn=lambda step: tf.constant(0.05))
    model.fit(to_dataset(training_batches(encoded, 4, seed=0)), steps_per_epoch=500, verbose=0, shuffle=False)
    # about 7 tokens a sentence over a 41-word vocabulary: 26 nats at chance. Scored on
    # the whole corpus without dropout: the last training batch alone (4 sentences, word
    # dropout, one z draw) is too noisy to hold a threshold across CPUs.
    assert evaluate_elbo(model, encoded)["reconstruction"] < 1.0
    assert model.reconstruct(SENTENCES[:4]) == SENTENCES[:4]


def test_transformer_run_trains_saves_loads_and_generates(tmp_path):
    config = tiny_config(tmp_path, model={"encoder": "transformer", "decoder": "transformer",
                                          "embedding_dim": 4, "num_heads": 2, "feedforward_dim": 6,
                                          "num_layers": 1, "pooling": "summary"})
    summary = train(config, tmp_path / "run")
    assert summary["step"] == config.train.max_steps
    model = load(tmp_path / "run", checkpoint="latest")
    assert isinstance(model.decoder, TransformerDecoder) and isinstance(model.encoder, TransformerEncoder)
    again = load(tmp_path / "run", checkpoint="latest")
    batch = model._batch(SENTENCES[:3])
    noise = tf.random.normal((3, 3), seed=1)
    np.testing.assert_allclose(model(batch, noise=noise)["logits"], again(batch, noise=noise)["logits"],
                               rtol=1e-6)
    assert model.sample(2, seed=1, max_length=5) == again.sample(2, seed=1, max_length=5)
    assert len(model.interpolate(SENTENCES[0], SENTENCES[1], steps=2, strategy="beam")) == 4


def test_transformer_config_errors_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match="model.num_heads=3 must divide model.embedding_dim=4"):
        tiny_config(tmp_path, model={"decoder": "transformer", "num_heads": 3})
    with pytest.raises(ConfigError, match="model.latent_injection"):
        tiny_config(tmp_path, model={"decoder": "transformer", "latent_injection": "prefix"})
    config = tiny_config(tmp_path, model={"decoder": "transformer", "num_heads": 2})
    train(config, tmp_path / "run")
    longer = tiny_config(tmp_path, model={"decoder": "transformer", "num_heads": 2}, data={"max_length": 20})
    with pytest.raises(ConfigError, match="data.max_length: 9 -> 20"):
        train(longer, tmp_path / "run")
