"""Decoding strategies against each other and against exhaustive search."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from textvae.decoders import LSTMDecoder
from textvae.decoding import DecodeOptions, DecodingError, filter_logits, generate_ids
from textvae.tokenizer import BOS_ID, EOS_ID

VOCAB, LAT = 9, 3


@pytest.fixture(scope="module")
def decoder():
    tf.keras.utils.set_random_seed(3)
    layer = LSTMDecoder(VOCAB, 4, 5, LAT)
    layer({"token_ids": tf.constant([[BOS_ID]]), "padding_mask": tf.constant([[True]])}, tf.zeros((1, LAT)))
    # sharpen the random weights so that sequences have clearly different probabilities
    layer.to_logits.set_weights([w * 4 for w in layer.to_logits.get_weights()])
    return layer


@pytest.fixture(scope="module")
def z():
    return tf.constant(np.random.default_rng(0).standard_normal((6, LAT)), tf.float32)


def run(decoder, z, seed=(0, 0), **options):
    out = tf.function(lambda z, seed: generate_ids(decoder, z, DecodeOptions(**options), seed))(z, tf.constant(seed))
    return out["ids"].numpy(), out["scores"].numpy()


def sequence_log_prob(decoder, z_row, ids):
    """Teacher-forced log p of ids (cut after the first EOS) given one z."""
    ids = list(ids)
    if EOS_ID in ids:
        ids = ids[: ids.index(EOS_ID) + 1]
    inputs = tf.constant([[BOS_ID, *ids[:-1]]])
    logits = decoder({"token_ids": inputs, "padding_mask": tf.ones_like(inputs, tf.bool)}, z_row[None])
    log_probs = tf.nn.log_softmax(logits)[0].numpy()
    return float(sum(log_probs[t, token] for t, token in enumerate(ids)))


def test_greedy_scores_are_the_teacher_forced_log_probability(decoder, z):
    ids, scores = run(decoder, z, strategy="greedy", max_length=7)
    for row in range(len(ids)):
        assert scores[row] == pytest.approx(sequence_log_prob(decoder, z[row], ids[row]), abs=1e-4)


def test_greedy_equals_beam_of_one_and_top_k_one(decoder, z):
    greedy, greedy_scores = run(decoder, z, strategy="greedy", max_length=7)
    beam, beam_scores = run(decoder, z, strategy="beam", beam_size=1, max_length=7)
    np.testing.assert_array_equal(greedy, beam)
    np.testing.assert_allclose(greedy_scores, beam_scores, rtol=1e-5)
    top1, _ = run(decoder, z, seed=(5, 0), strategy="sample", top_k=1, max_length=7)
    np.testing.assert_array_equal(greedy, top1)


def test_low_temperature_sampling_approaches_greedy(decoder, z):
    greedy, _ = run(decoder, z, strategy="greedy", max_length=7)
    cold, _ = run(decoder, z, seed=(9, 1), strategy="sample", temperature=1e-4, max_length=7)
    np.testing.assert_array_equal(greedy, cold)


def test_seeded_sampling_repeats_and_respects_max_length(decoder, z):
    a, _ = run(decoder, z, seed=(1, 2), strategy="sample", max_length=4)
    b, _ = run(decoder, z, seed=(1, 2), strategy="sample", max_length=4)
    c, _ = run(decoder, z, seed=(2, 2), strategy="sample", max_length=4)
    np.testing.assert_array_equal(a, b)
    assert a.shape[1] <= 4 and not np.array_equal(a, c)


def all_sequence_log_probs(decoder, z_row, length):
    """log p of every sequence of `length` tokens, truncated after its first EOS: (V**length,)."""
    seqs = np.array(list(itertools.product(range(VOCAB), repeat=length)), np.int32)
    inputs = np.concatenate([np.full((len(seqs), 1), BOS_ID, np.int32), seqs[:, :-1]], axis=1)
    z_rows = tf.repeat(z_row[None], len(seqs), axis=0)
    logits = decoder({"token_ids": inputs, "padding_mask": np.ones_like(inputs, bool)}, z_rows)
    log_probs = np.take_along_axis(tf.nn.log_softmax(logits).numpy(), seqs[..., None], axis=2)[..., 0]
    # positions after the first EOS do not count (the sequence has ended)
    after_eos = np.cumsum(np.cumsum(seqs == EOS_ID, axis=1), axis=1) > 1
    return np.where(after_eos, 0.0, log_probs).sum(axis=1)


def test_wide_beam_finds_the_exhaustive_best_sequence(decoder, z):
    length = 3
    beam, scores = run(decoder, z[:2], strategy="beam", beam_size=VOCAB**length, length_penalty=0.0,
                       max_length=length)
    for row in range(2):
        best = all_sequence_log_probs(decoder, z[row], length).max()
        assert scores[row] == pytest.approx(best, abs=1e-4)
        assert sequence_log_prob(decoder, z[row], beam[row]) == pytest.approx(best, abs=1e-4)


def test_filter_logits_top_k_and_nucleus():
    probs = np.array([[0.5, 0.3, 0.15, 0.05]])
    logits = tf.constant(np.log(probs), tf.float32)
    kept = lambda out: np.isfinite(out.numpy())[0].tolist()  # noqa: E731
    assert kept(filter_logits(logits, top_k=2)) == [True, True, False, False]
    assert kept(filter_logits(logits, top_p=0.7)) == [True, True, False, False]
    assert kept(filter_logits(logits, top_p=0.5)) == [True, False, False, False]
    assert kept(filter_logits(logits, top_p=0.81)) == [True, True, True, False]
    assert kept(filter_logits(logits, top_p=1.0)) == [True] * 4


@pytest.mark.parametrize("options", [
    {"strategy": "nucleus"}, {"temperature": 0.0}, {"top_p": 0.0}, {"beam_size": 0}, {"max_length": 0},
])
def test_bad_options_are_named(options):
    with pytest.raises(DecodingError):
        DecodeOptions(**options)


def test_switching_decoding_strategies_gives_no_retracing_warning(trained_run, caplog):
    import logging

    from textvae.loading import load

    model = load(trained_run)
    option_sets = [{"strategy": "beam", "beam_size": 5}, {"strategy": "sample", "top_p": 0.9},
                   {"strategy": "greedy", "max_length": 7}, {"strategy": "beam", "beam_size": 2},
                   {"strategy": "sample", "top_k": 3}, {"strategy": "greedy"}]
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        for options in option_sets * 2:
            model.sample(3, seed=1, **options)
    assert not [r for r in caplog.records if "retracing" in r.getMessage()]
    # each program is reused: the second round decodes exactly what the first did
    assert model.sample(3, seed=1, **option_sets[0]) == model.sample(3, seed=1, **option_sets[0])
