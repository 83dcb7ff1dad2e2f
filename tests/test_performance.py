"""Speed levers are correct: sampled softmax, width rounding for XLA, mixed precision, cuDNN eligibility."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from textvae import sampled_softmax as softmax
from textvae.config import ConfigError
from textvae.data import EncodedCorpus, encode_corpus, evaluation_batches, pad_batch, to_dataset, training_batches
from textvae.base import split_batch
from textvae.model import SentenceVAE
from textvae.spec import ModelSpec
from textvae.loading import load
from textvae.tokenizer import WordTokenizer
from textvae.building import build_model
from textvae.training import compile_model, train
from conftest import SENTENCES, tiny_config, vocabulary


def word_tokenizer():
    return WordTokenizer(sorted({w for s in SENTENCES for w in s.split()}))


# -- sampled softmax ---------------------------------------------------------

def test_log_uniform_is_a_distribution_and_the_sampler_follows_it():
    vocab = 50
    q = np.exp(softmax.log_uniform_log_probability(tf.range(vocab), vocab).numpy())
    assert q.sum() == pytest.approx(1.0, abs=1e-5)
    assert np.all(np.diff(q) < 0)  # frequent (low) ids first
    draws = softmax.log_uniform_candidates(200_000, vocab, keras.random.SeedGenerator(0)).numpy()
    assert draws.min() >= 0 and draws.max() < vocab
    counts = np.bincount(draws, minlength=vocab) / len(draws)
    assert np.all(np.abs(counts[:10] - q[:10]) < 4 * np.sqrt(q[:10] / len(draws)))  # 4 standard errors


def test_sampled_loss_equals_a_manual_computation():
    rng = np.random.default_rng(0)
    batch, time, hidden, vocab, num_sampled = 3, 4, 5, 23, 7
    projection = keras.layers.Dense(vocab)
    projection.build((None, hidden))
    projection.bias.assign(rng.normal(size=vocab).astype(np.float32))
    features = rng.normal(size=(batch, time, hidden)).astype(np.float32)
    targets = rng.integers(0, vocab, size=(batch, time)).astype(np.int32)
    mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]], np.float32)

    got = softmax.sampled_sequence_nll(features, projection.kernel, projection.bias, targets, mask, num_sampled,
                                       keras.random.SeedGenerator(5)).numpy()
    candidates = softmax.log_uniform_candidates(num_sampled, vocab, keras.random.SeedGenerator(5)).numpy()
    w, b = projection.kernel.numpy(), projection.bias.numpy()
    log_q = np.log(np.log1p(1 / (np.arange(vocab) + 1)) / np.log(vocab + 1))
    expected = np.zeros(batch)
    for i in range(batch):
        for t in range(time):
            y = targets[i, t]
            true = features[i, t] @ w[:, y] + b[y] - np.log(num_sampled) - log_q[y]
            others = [features[i, t] @ w[:, c] + b[c] - np.log(num_sampled) - log_q[c]
                      for c in candidates if c != y]  # accidental hits removed
            logits = np.array([true, *others])
            expected[i] += mask[i, t] * (np.log(np.exp(logits - logits.max()).sum()) + logits.max() - true)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_sampled_softmax_is_training_only_and_learns_the_tiny_corpus():
    keras.utils.set_random_seed(0)
    tokenizer = word_tokenizer()
    model = SentenceVAE(ModelSpec(tokenizer.vocab_size, latent_dim=3, embedding_dim=16, hidden_dim=32, seed=1),
                        tokenizer=tokenizer)
    encoded = encode_corpus(SENTENCES, tokenizer, 9)
    model.compile(keras.optimizers.Adam(0.02), kl_weight_fn=lambda step: tf.constant(0.05), sampled_softmax=16)
    batch = pad_batch(encoded.sequences)
    noise = tf.zeros([len(SENTENCES), 3])
    exact = tf.reduce_sum(model.loss_terms(batch, training=False, noise=noise)["reconstruction"])
    manual = -tf.reduce_sum(tf.nn.log_softmax(model(batch, noise=noise)["logits"])
                            * tf.one_hot(split_batch(batch)["targets"], tokenizer.vocab_size)
                            * split_batch(batch)["target_mask"][..., None])
    np.testing.assert_allclose(exact.numpy(), manual.numpy(), rtol=1e-5)  # evaluation stays exact

    model.fit(to_dataset(training_batches(encoded, 4, seed=0)), steps_per_epoch=300, verbose=0, shuffle=False)
    # judged with the exact softmax: about 26 nats a sentence at chance (ids here are
    # alphabetical, not by frequency, so the log-uniform proposal is a poor one)
    exact = model.loss_terms(batch, training=False, noise=noise)["reconstruction"].numpy()
    assert exact.mean() < 2.5


def test_sampled_softmax_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="train.sampled_softmax"):
        tiny_config(tmp_path, ["train.sampled_softmax=-1"])
    with pytest.raises(ConfigError, match="train.sampled_softmax is not supported with m2.enabled"):
        tiny_config(tmp_path, ["train.sampled_softmax=5", "m2.enabled=true", "data.label_field=label"])
    config = tiny_config(tmp_path, ["train.sampled_softmax=1000"])
    model = build_model(config, vocabulary(60))
    with pytest.raises(ConfigError, match="train.sampled_softmax=1000 must be below the vocabulary size 60"):
        compile_model(model, config)


def test_sampled_softmax_run_resumes_identically(tmp_path):
    config = tiny_config(tmp_path, ["train.sampled_softmax=5"])
    full = train(config, tmp_path / "full")
    train(tiny_config(tmp_path, ["train.sampled_softmax=5", "train.max_steps=4"]), tmp_path / "part")
    resumed = train(config, tmp_path / "part")
    assert resumed["last"]["loss"] == pytest.approx(full["last"]["loss"], rel=1e-6)
    for x, y in zip(load(tmp_path / "full", "latest").get_weights(), load(tmp_path / "part", "latest").get_weights()):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-7)


# -- widths for XLA ----------------------------------------------------------

def test_widths_round_up_to_the_multiple_but_not_past_the_position_table():
    seqs = [np.arange(1, 6), np.arange(1, 4)]
    assert pad_batch(seqs)["token_ids"].shape == (2, 5)
    batch = pad_batch(seqs, multiple=8)
    assert batch["token_ids"].shape == (2, 8)
    assert batch["padding_mask"].sum() == 8 and not batch["padding_mask"][:, 5:].any()
    assert pad_batch(seqs, multiple=8, max_width=6)["token_ids"].shape == (2, 6)
    assert pad_batch(seqs, multiple=8, max_width=4)["token_ids"].shape == (2, 5)  # never truncates
    encoded = EncodedCorpus([np.arange(1, n + 1) for n in (3, 9, 11)], truncated=0, num_words=0)
    widths = [b["token_ids"].shape[1] for b in evaluation_batches(encoded, 1, multiple=8, max_width=11)]
    assert widths == [8, 11, 11]


def test_rounded_widths_leave_the_training_run_unchanged(tmp_path):
    """Word dropout is off: its random draws have the batch's shape, so wider batches draw differently."""
    base = ["train.max_steps=4", "train.word_dropout=0"]
    plain = train(tiny_config(tmp_path, base), tmp_path / "plain")
    padded = train(tiny_config(tmp_path, [*base, "train.pad_to_multiple=8"]), tmp_path / "padded")
    assert padded["last"]["loss"] == plain["last"]["loss"]
    for x, y in zip(load(tmp_path / "plain", "latest").get_weights(), load(tmp_path / "padded", "latest").get_weights()):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("decoder", ["lstm", "transformer"])
def test_xla_training_computes_what_the_graph_step_computes(tmp_path, decoder):
    """A language model without dropout draws no random numbers (XLA draws different ones than
    TensorFlow's kernels), so the XLA run with widths rounded to 8 must match the plain one."""
    sections = {"model": {"decoder": decoder, "latent_dim": 0, "num_heads": 2, "num_layers": 1,
                          "feedforward_dim": 6}}
    base = ["train.max_steps=4", "train.word_dropout=0", "kl.free_bits=0"]
    plain = train(tiny_config(tmp_path, base, **sections), tmp_path / "plain")
    xla = train(tiny_config(tmp_path, [*base, "train.jit_compile=true"], **sections), tmp_path / "xla")
    assert xla["last"]["loss"] == pytest.approx(plain["last"]["loss"], rel=1e-5)
    for x, y in zip(load(tmp_path / "plain", "latest").get_weights(), load(tmp_path / "xla", "latest").get_weights()):
        # atol: Adam divides by sqrt(v), so parameters with ~0 gradients move by rounding noise
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=5e-5)


# -- mixed precision ---------------------------------------------------------

@pytest.mark.parametrize("precision", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("decoder", ["lstm", "transformer"])
def test_mixed_precision_trains_in_low_precision_with_float32_islands(tmp_path, precision, decoder):
    sections = {"model": {"decoder": decoder, "encoder": decoder, "num_heads": 2, "num_layers": 1,
                          "feedforward_dim": 6}}
    config = tiny_config(tmp_path, [f"train.precision={precision}"], **sections)
    summary = train(config, tmp_path / "run")
    assert np.isfinite(summary["last"]["loss"])
    model = load(tmp_path / "run")
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
    assert model.decoder.embedding.compute_dtype == precision.removeprefix("mixed_")
    assert all(v.dtype == "float32" for v in model.trainable_variables)
    assert getattr(model, "optimizer", None) is None  # loading builds no optimizer; training's is loss-scaled under float16
    compile_model(model, config)
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer) == (precision == "mixed_float16")
    batch = model._batch(SENTENCES[:2])
    out = model(batch)
    assert out["logits"].dtype == out["loc"].dtype == out["scale"].dtype == tf.float32
    # the same weights in float32 give nearly the same loss
    reference = build_model(tiny_config(tmp_path, [], **sections), model.tokenizer)
    compile_model(reference, config)
    reference.set_weights(model.get_weights())
    noise = tf.zeros([2, 3])
    low = model.loss_terms(batch, noise=noise)["reconstruction"].numpy()
    high = reference.loss_terms(batch, noise=noise)["reconstruction"].numpy()
    np.testing.assert_allclose(low, high, rtol=0.05)
    assert len(model.sample(2, max_length=5)) == 2
    assert len(model.reconstruct(SENTENCES[:2], strategy="beam", beam_size=2, max_length=5)) == 2


# -- cuDNN -------------------------------------------------------------------

def test_every_lstm_is_eligible_for_the_cudnn_kernel(tmp_path):
    """On a GPU, Keras runs an LSTM with cuDNN only with its default activations (tanh, sigmoid),
    use_bias, no unrolling and no recurrent dropout (keras.layers.LSTM's documented conditions)."""
    for m2 in (False, True):
        extra = {"m2": {"enabled": True}, "data": {"label_field": "label"}} if m2 else {}
        config = tiny_config(tmp_path, **extra)
        labels = {"classes": ["a", "b"], "class_log_prior": [np.log(0.5)] * 2} if m2 else None
        model = build_model(config, vocabulary(60), labels)
        compile_model(model, config)
        lstms = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.LSTM)]
        assert len(lstms) == 2
        for layer in lstms:
            assert layer.use_cudnn in ("auto", True) and layer.recurrent_dropout == 0
            assert layer.cell.activation is keras.activations.tanh
            assert layer.cell.recurrent_activation is keras.activations.sigmoid
            assert layer.cell.use_bias and not layer.unroll


def test_importance_scoring_equals_the_training_reconstruction():
    """log p(x|z) for IW-NLL (log-softmax by logsumexp) = -reconstruction of the cross-entropy path."""
    keras.utils.set_random_seed(0)
    tokenizer = word_tokenizer()
    model = SentenceVAE(ModelSpec(tokenizer.vocab_size, latent_dim=3, embedding_dim=4, hidden_dim=5, seed=1),
                        tokenizer=tokenizer)
    batch = model._batch(SENTENCES)
    noise = tf.random.normal([2, len(SENTENCES), 3])
    loc, scale = model.posterior_params(batch)
    scored = model.log_likelihood_given_z(batch, loc + scale * noise).numpy()
    for k in range(2):
        reconstruction = model.loss_terms(batch, noise=noise[k])["reconstruction"].numpy()
        np.testing.assert_allclose(scored[k], -reconstruction, rtol=1e-5)


def test_intra_op_threads_are_set_before_tensorflow_starts(tmp_path):
    """A fresh process: train() sets the count before TensorFlow's first op."""
    import subprocess
    import sys

    from conftest import subprocess_env

    tiny_config(tmp_path, train={"max_steps": 2, "intra_op_threads": 1})  # writes tmp_path/config.yaml
    script = ("import tensorflow as tf; from textvae.config import load_config; from textvae.training import train; "
              f"train(load_config({str(tmp_path / 'config.yaml')!r}), {str(tmp_path / 'run')!r}); "
              "print('threads', tf.config.threading.get_intra_op_parallelism_threads())")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=subprocess_env(),
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "threads 1" in done.stdout
    assert "already started" not in done.stderr


def test_intra_op_threads_in_a_running_tensorflow_are_left_and_logged(capsys):
    """A process where TensorFlow already runs keeps its count and says so instead of failing."""
    from textvae.training import use_op_threads

    tf.constant(1.0) + 1.0  # TensorFlow has started in this process
    before = tf.config.threading.get_intra_op_parallelism_threads()
    use_op_threads(before + 3)
    assert tf.config.threading.get_intra_op_parallelism_threads() == before
    assert f"train.intra_op_threads={before + 3}" in capsys.readouterr().err
    use_op_threads(0)  # the default asks for nothing
    assert capsys.readouterr().err == ""
