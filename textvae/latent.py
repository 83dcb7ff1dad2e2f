"""Paths and points in latent space: linear and spherical interpolation, homotopies."""

from __future__ import annotations

import numpy as np

from textvae.decoding import DecodingError

METHODS = ("linear", "slerp")


def lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(latent,), (latent,), (steps,) -> (steps, latent) on the straight line."""
    t = np.asarray(t, np.float64)[:, None]
    return (1 - t) * a + t * b


def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation (White 2016): the great-circle arc from a to b, with the
    norm interpolated linearly, so points stay where the Gaussian prior has its mass.

    Returns (steps, latent); falls back to lerp when a and b are (anti)parallel.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return lerp(a, b, t)
    cos = np.clip(a @ b / (na * nb), -1.0, 1.0)
    omega = np.arccos(cos)
    if np.sin(omega) < 1e-6:
        return lerp(a, b, t)
    t = np.asarray(t, np.float64)[:, None]
    direction = (np.sin((1 - t) * omega) * a / na + np.sin(t * omega) * b / nb) / np.sin(omega)
    return direction * ((1 - t) * na + t * nb)


def path(points: np.ndarray, steps: int, method: str = "linear") -> np.ndarray:
    """Visits each of `points` (n, latent) in turn with `steps` intermediate points per leg.

    Returns:
      ((n - 1) * (steps + 1) + 1, latent): every input point included once.
    """
    if method not in METHODS:
        raise DecodingError(f"method={method!r}; choose one of {list(METHODS)}")
    if len(points) < 2:
        raise DecodingError("interpolation needs at least two sentences")
    interpolate = slerp if method == "slerp" else lerp
    t = np.linspace(0.0, 1.0, steps + 2)
    legs = [interpolate(a, b, t)[:-1] for a, b in zip(points[:-1], points[1:])]
    return np.concatenate([*legs, np.asarray(points[-1:], np.float64)]).astype(np.float32)


def collapse_repeats(sentences: list[str]) -> list[tuple[str, int, int]]:
    """Consecutive duplicates shown once: [(sentence, first index, last index)]."""
    spans: list[tuple[str, int, int]] = []
    for i, sentence in enumerate(sentences):
        if spans and spans[-1][0] == sentence:
            spans[-1] = (sentence, spans[-1][1], i)
        else:
            spans.append((sentence, i, i))
    return spans
