import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ttpose.smoothing import savgol_smooth


@settings(max_examples=30, deadline=None)
@given(n=st.integers(5, 60), a=st.floats(-5, 5), b=st.floats(-100, 100), window=st.sampled_from([5, 7, 9, 11]))
def test_linear_tracks_are_unchanged(n, a, b, window):
    t = np.arange(n, dtype=float)
    track = np.stack([a * t + b, -a * t], -1)[:, None, :].repeat(3, axis=1)  # N x 3 x 2
    assert np.allclose(savgol_smooth(track, window), track, atol=1e-7)


def test_noise_variance_drops_and_shape_kept():
    rng = np.random.default_rng(0)
    clean = np.sin(np.linspace(0, 3, 200))[:, None, None].repeat(13, 1).repeat(2, 2)
    noisy = clean + rng.normal(0, 0.1, clean.shape)
    smooth = savgol_smooth(noisy, 9)
    assert smooth.shape == noisy.shape
    assert np.mean((smooth - clean) ** 2) < 0.5 * np.mean((noisy - clean) ** 2)


def test_short_tracks_and_bad_windows():
    short = np.arange(8.0).reshape(4, 1, 2)
    assert savgol_smooth(short, 9).shape == (4, 1, 2)  # window shrunk to 3
    assert np.array_equal(savgol_smooth(short[:2], 9), short[:2])  # too short to smooth
    with pytest.raises(ValueError, match="odd"):
        savgol_smooth(short, 8)
