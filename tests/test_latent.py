import numpy as np
import pytest

from textvae.decoding import DecodingError
from textvae.latent import collapse_repeats, lerp, path, slerp


def test_slerp_endpoints_norms_and_arc():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(5), rng.standard_normal(5) * 2
    t = np.linspace(0, 1, 7)
    points = slerp(a, b, t)
    np.testing.assert_allclose(points[0], a, atol=1e-12)
    np.testing.assert_allclose(points[-1], b, atol=1e-12)
    norms = np.linalg.norm(points, axis=1)
    np.testing.assert_allclose(norms, (1 - t) * np.linalg.norm(a) + t * np.linalg.norm(b), rtol=1e-10)
    # directions move along the great circle: the angle to a grows linearly
    unit = points / norms[:, None]
    angles = np.arccos(np.clip(unit @ (a / np.linalg.norm(a)), -1, 1))
    np.testing.assert_allclose(angles, t * angles[-1], atol=1e-9)
    # a straight line through the origin's neighbourhood shrinks the norm; slerp does not
    assert np.linalg.norm(lerp(a, -a, np.array([0.5]))) == pytest.approx(0.0)


def test_path_visits_every_point():
    points = np.eye(3)
    out = path(points, steps=2, method="slerp")
    assert out.shape == (2 * 3 + 1, 3)
    np.testing.assert_allclose(out[[0, 3, 6]], points, atol=1e-6)
    with pytest.raises(DecodingError):
        path(points[:1], steps=2)
    with pytest.raises(DecodingError):
        path(points, steps=2, method="cubic")


def test_collapse_repeats_spans():
    assert collapse_repeats(["a", "a", "b", "a", "a", "a"]) == [("a", 0, 1), ("b", 2, 2), ("a", 3, 5)]
