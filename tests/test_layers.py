"""get_config/from_config round trips and layer behaviour."""

import numpy as np
import pytest
import tensorflow as tf

from textvae.decoders import LSTMDecoder, WordDropout
from textvae.encoders import LSTMEncoder
from textvae.model import SentenceVAE
from textvae.spec import ModelSpec
from textvae.tokenizer import BOS_ID, EOS_ID, PAD_ID, UNK_ID

VOCAB, EMB, HID, LAT = 11, 4, 5, 3


def batch():
    ids = np.array([[BOS_ID, 5, 6, 7, 8, 9, EOS_ID], [BOS_ID, 10, 4, EOS_ID, PAD_ID, PAD_ID, PAD_ID]], np.int32)
    return {"token_ids": ids, "padding_mask": ids != PAD_ID}


def copy_of(layer):
    clone = type(layer).from_config(layer.get_config())
    return clone


def test_encoder_roundtrip_and_shapes():
    encoder = LSTMEncoder(VOCAB, EMB, HID, LAT)
    loc, scale = encoder(batch())
    assert loc.shape == (2, LAT) and scale.shape == (2, LAT) and (scale.numpy() > 0).all()
    clone = copy_of(encoder)
    clone(batch())
    clone.set_weights(encoder.get_weights())
    np.testing.assert_allclose(clone(batch())[0], loc, rtol=1e-6)
    assert clone.get_config() == encoder.get_config()


def test_encoder_ignores_padding():
    encoder = LSTMEncoder(VOCAB, EMB, HID, LAT)
    short = batch()
    loc_short, _ = encoder({k: v[1:, :4] for k, v in short.items()})
    loc_padded, _ = encoder({k: v[1:] for k, v in short.items()})
    np.testing.assert_allclose(loc_short, loc_padded, rtol=1e-5, atol=1e-6)


def test_decoder_roundtrip_shapes_and_step_matches_full_pass():
    decoder = LSTMDecoder(VOCAB, EMB, HID, LAT, dropout=0.3, word_dropout=0.4, seed=2)
    z = tf.random.normal((2, LAT), seed=1)
    inputs = batch()
    logits = decoder(inputs, z)
    assert logits.shape == (2, 7, VOCAB)
    clone = copy_of(decoder)
    clone(inputs, z)
    clone.set_weights(decoder.get_weights())
    np.testing.assert_allclose(clone(inputs, z), logits, rtol=1e-5)
    assert clone.get_config() == decoder.get_config()
    # incremental decoding gives the teacher-forced logits
    state = decoder.initial_state(z)
    for t in range(7):
        step_logits, state = decoder.step(inputs["token_ids"][:, t], state, z)
        np.testing.assert_allclose(step_logits, logits[:, t], rtol=1e-4, atol=1e-5)


def test_decoder_is_causal():
    decoder = LSTMDecoder(VOCAB, EMB, HID, LAT)
    z = tf.zeros((2, LAT))
    inputs = batch()
    changed = {k: v.copy() for k, v in inputs.items()}
    changed["token_ids"][:, 4] = 9
    a, b = decoder(inputs, z).numpy(), decoder(changed, z).numpy()
    np.testing.assert_allclose(a[:, :4], b[:, :4])
    assert not np.allclose(a[0, 4:], b[0, 4:])


def test_word_dropout_rate_and_specials():
    layer = WordDropout(0.3, seed=4)
    rng = np.random.default_rng(0)
    ids = rng.integers(4, 50, size=(200, 50)).astype(np.int32)
    ids[:, 0] = BOS_ID
    ids[:, 40:] = PAD_ID
    out = layer(ids, training=True).numpy()
    assert (out[:, 0] == BOS_ID).all() and (out[:, 40:] == PAD_ID).all()
    changed = out[:, 1:40] != ids[:, 1:40]
    assert (out[:, 1:40][changed] == UNK_ID).all()
    assert changed.mean() == pytest.approx(0.3, abs=0.01)  # 7,800 draws: sd 0.005
    np.testing.assert_array_equal(layer(ids, training=False), ids)
    assert copy_of(layer).get_config() == layer.get_config()


def test_sentence_vae_roundtrip():
    model = SentenceVAE(ModelSpec(VOCAB, latent_dim=LAT, embedding_dim=EMB, hidden_dim=HID, dropout=0.1,
                                  word_dropout=0.2, seed=9))
    noise = tf.ones((2, LAT))
    out = model(batch(), noise=noise)
    clone = copy_of(model)
    clone(batch(), noise=noise)
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone(batch(), noise=noise)["logits"], out["logits"], rtol=1e-5)
    assert clone.get_config() == model.get_config()


def test_bn_vae_means_have_fixed_scale():
    encoder = LSTMEncoder(VOCAB, EMB, HID, LAT, bn_gamma=0.6)
    rng = np.random.default_rng(0)
    ids = rng.integers(4, VOCAB, size=(64, 6)).astype(np.int32)
    inputs = {"token_ids": ids, "padding_mask": ids != PAD_ID}
    encoder(inputs)
    kernel, bias = encoder.to_posterior.get_weights()
    encoder.to_posterior.set_weights([kernel * 100, bias])  # raw variance >> BN epsilon
    loc, _ = encoder(inputs, training=True)
    # batch-normalised then scaled by gamma: per-dimension std is gamma (beta starts at 0)
    np.testing.assert_allclose(loc.numpy().std(axis=0), 0.6, rtol=0.02)
    np.testing.assert_allclose(loc.numpy().mean(axis=0), 0.0, atol=1e-5)
    assert copy_of(encoder).get_config()["bn_gamma"] == 0.6


def test_reinitialize_decoder_is_seeded_and_leaves_the_encoder():
    model = SentenceVAE(ModelSpec(VOCAB, latent_dim=LAT, embedding_dim=EMB, hidden_dim=HID, seed=9))
    model(batch())
    encoder_before = [w.copy() for w in model.encoder.get_weights()]
    decoder_before = [w.copy() for w in model.decoder.get_weights()]
    model.reinitialize_decoder(seed=5)
    first = [w.copy() for w in model.decoder.get_weights()]
    model.reinitialize_decoder(seed=5)
    for a, b in zip(first, model.decoder.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(decoder_before, first))
    for a, b in zip(encoder_before, model.encoder.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_reinitialize_decoder_keeps_a_word_table_shared_with_the_encoder():
    model = SentenceVAE(ModelSpec(VOCAB, latent_dim=LAT, embedding_dim=EMB, hidden_dim=HID, seed=9,
                                  tie_embeddings=True))
    model(batch())
    table = model.decoder.embedding.embeddings.numpy().copy()
    encoder_before = [w.copy() for w in model.encoder.get_weights()]
    lstm_before = model.decoder.lstm.get_weights()[0].copy()
    model.reinitialize_decoder(seed=5)
    np.testing.assert_array_equal(model.decoder.embedding.embeddings.numpy(), table)
    for a, b in zip(encoder_before, model.encoder.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(model.decoder.lstm.get_weights()[0], lstm_before)
