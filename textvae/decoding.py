"""Generation from any decoder with `initial_state(z)` and `step(ids, state, z)`.

Strategies: greedy, ancestral sampling (temperature, top-k, top-p), and beam
search with length normalisation. Each runs as one `tf.while_loop` (call the
functions inside `tf.function`), batched, seeded with stateless seeds, stopping
once every row has produced EOS.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from textvae.tokenizer import BOS_ID, EOS_ID, PAD_ID

STRATEGIES = ("greedy", "sample", "beam")


class DecodingError(ValueError):
    """An invalid decoding option."""


@dataclasses.dataclass(frozen=True)
class DecodeOptions:
    """How to turn z into text.

    Attributes:
      strategy: greedy, sample or beam.
      max_length: tokens produced at most (EOS included); a Transformer decoder
        stops at its position table (data.max_length + 2) whatever is asked.
      temperature: sample: logits are divided by it (> 0).
      top_k: sample: keep the k most likely tokens; 0 keeps all.
      top_p: sample: keep the smallest set of tokens whose probability reaches p; 1 keeps all.
      beam_size: beam: hypotheses kept per input.
      length_penalty: beam: hypotheses are ranked by log p / length ** length_penalty.
    """

    strategy: str = "greedy"
    max_length: int = 50
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    beam_size: int = 4
    length_penalty: float = 1.0

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise DecodingError(f"strategy={self.strategy!r}; choose one of {list(STRATEGIES)}")
        checks = {"max_length": self.max_length >= 1, "temperature": self.temperature > 0,
                  "top_k": self.top_k >= 0, "top_p": 0 < self.top_p <= 1, "beam_size": self.beam_size >= 1,
                  "length_penalty": self.length_penalty >= 0}
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise DecodingError(f"invalid decoding option(s) {bad}: {self}")


def filter_logits(logits, top_k: int = 0, top_p: float = 1.0):
    """Sets logits outside the top-k / nucleus (top-p) set to -inf.

    Args:
      logits: (batch, vocab).
    Returns:
      (batch, vocab); at least the most likely token always survives.
    """
    neg_inf = tf.fill(tf.shape(logits), tf.constant(-np.inf, logits.dtype))
    if top_k > 0:
        kth = tf.math.top_k(logits, k=tf.minimum(top_k, tf.shape(logits)[-1])).values[:, -1:]
        logits = tf.where(logits < kth, neg_inf, logits)
    if top_p < 1.0:
        sorted_logits = tf.sort(logits, direction="DESCENDING", axis=-1)
        cumulative = tf.cumsum(tf.nn.softmax(sorted_logits), axis=-1, exclusive=True)
        # the smallest logit still inside the nucleus: tokens before it sum to < top_p
        inside = tf.where(cumulative < top_p, sorted_logits, tf.fill(tf.shape(sorted_logits), np.inf))
        threshold = tf.reduce_min(inside, axis=-1, keepdims=True)
        logits = tf.where(logits < threshold, neg_inf, logits)
    return logits


def generate_ids(decoder, z, options: DecodeOptions, seed=(0, 0)):
    """Decodes z with `options`.

    Args:
      z: (batch, latent) float32.
      seed: shape (2,) int stateless seed (sampling only).
    Returns:
      {"ids": (batch, length) int32, PAD after EOS, length <= max_length;
       "scores": (batch,) log-probability of each output under the decoder
       (for beam: of the chosen hypothesis, before length normalisation)}.
    """
    # a Transformer decoder cannot go past its position table
    capacity = getattr(decoder, "max_positions", None)
    if capacity is not None and options.max_length > capacity:
        options = dataclasses.replace(options, max_length=capacity)
    if options.strategy == "beam":
        return _beam_search(decoder, z, options)
    return _sample_or_greedy(decoder, z, options, seed)


def _sample_or_greedy(decoder, z, options: DecodeOptions, seed):
    batch = tf.shape(z)[0]
    state = decoder.initial_state(z)
    tokens = tf.fill([batch], BOS_ID)
    finished = tf.zeros([batch], tf.bool)
    scores = tf.zeros([batch])
    outputs = tf.TensorArray(tf.int32, size=0, dynamic_size=True)
    seed = tf.cast(seed, tf.int32)
    for t in tf.range(options.max_length):
        logits, state = decoder.step(tokens, state, z)
        if options.strategy == "sample":
            filtered = filter_logits(logits / options.temperature, options.top_k, options.top_p)
            step_seed = tf.stack([seed[0], seed[1] + t])
            tokens = tf.random.stateless_categorical(filtered, 1, seed=step_seed, dtype=tf.int32)[:, 0]
        else:
            tokens = tf.argmax(logits, axis=-1, output_type=tf.int32)
        chosen = tf.gather(logits, tokens, axis=1, batch_dims=1) - tf.reduce_logsumexp(logits, axis=-1)
        scores += tf.where(finished, 0.0, chosen)
        tokens = tf.where(finished, PAD_ID, tokens)
        outputs = outputs.write(t, tokens)
        finished = finished | (tokens == EOS_ID)
        if tf.reduce_all(finished):
            break
    return {"ids": tf.transpose(outputs.stack()), "scores": scores}


def _beam_search(decoder, z, options: DecodeOptions):
    width, max_length = options.beam_size, options.max_length
    batch = tf.shape(z)[0]
    z_beams = tf.repeat(z, width, axis=0)  # (batch * width, latent), beams of one input adjacent
    state = decoder.initial_state(z_beams)
    tokens = tf.fill([batch * width], BOS_ID)
    # only the first beam is live at the start, so the W copies do not all expand
    scores = tf.tile(tf.concat([[0.0], tf.fill([width - 1], -np.inf)], 0)[None], [batch, 1])
    finished = tf.zeros([batch, width], tf.bool)
    lengths = tf.zeros([batch, width])
    history = tf.zeros([batch, width, max_length], tf.int32)
    steps = tf.constant(0)
    for t in tf.range(max_length):
        tf.autograph.experimental.set_loop_options(shape_invariants=[
            (scores, tf.TensorShape([None, width])),
            (finished, tf.TensorShape([None, width])),
            (lengths, tf.TensorShape([None, width])),
            (history, tf.TensorShape([None, width, max_length])),
            (tokens, tf.TensorShape([None])),
        ])
        logits, state = decoder.step(tokens, state, z_beams)
        log_probs = tf.reshape(tf.nn.log_softmax(logits), [batch, width, -1])
        vocab = tf.shape(log_probs)[-1]
        # a finished beam may only continue with PAD, at no cost
        pad_only = tf.where(tf.range(vocab) == PAD_ID, 0.0, -np.inf)
        log_probs = tf.where(finished[..., None], pad_only[None, None], log_probs)
        candidates = tf.reshape(scores[..., None] + log_probs, [batch, -1])
        scores, flat = tf.math.top_k(candidates, k=width)
        parent, token = flat // vocab, flat % vocab
        history = tf.gather(history, parent, batch_dims=1)
        history += tf.one_hot(t, max_length, dtype=tf.int32)[None, None] * token[..., None]
        was_finished = tf.gather(finished, parent, batch_dims=1)
        lengths = tf.gather(lengths, parent, batch_dims=1) + tf.cast(~was_finished, tf.float32)
        finished = was_finished | (token == EOS_ID)
        rows = tf.reshape(parent + tf.range(batch)[:, None] * width, [-1])
        state = [tf.ensure_shape(tf.gather(s, rows), s.shape) for s in state]
        tokens = tf.reshape(token, [-1])
        steps = t + 1
        if tf.reduce_all(finished):
            break
    normalised = scores / tf.maximum(lengths, 1.0) ** options.length_penalty
    best = tf.argmax(normalised, axis=1, output_type=tf.int32)
    return {"ids": tf.gather(history, best, batch_dims=1)[:, :steps],
            "scores": tf.gather(scores, best, batch_dims=1)}


def strip_special(ids: np.ndarray) -> list[list[int]]:
    """Rows of ids cut before the first EOS (or PAD).

    Args:
      ids: (batch, length) int.
    Returns:
      One list of token ids per row.
    """
    rows = []
    for row in np.asarray(ids):
        stop = np.flatnonzero((row == EOS_ID) | (row == PAD_ID))
        rows.append(row[: stop[0] if stop.size else len(row)].tolist())
    return rows
