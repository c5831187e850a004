import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ttpose.smoothing import savgol_smooth, smoothing_window


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


def test_the_window_used_is_capped_and_a_window_of_three_is_refused():
    """Bug (issue 15): a window of 3 was accepted by the command and "applied", yet a quadratic fit over 3
    points is the identity; it is refused, and the window reported is the one the filter uses."""
    with pytest.raises(ValueError, match=">= polyorder"):
        savgol_smooth(np.zeros((10, 1, 2)), 3)
    assert smoothing_window(31, 9) == 9 and smoothing_window(31, 10) == 9 and smoothing_window(5, 100) == 5
    assert smoothing_window(9, 3) is None  # too short: unchanged
    line = np.linspace(0, 10, 9)[:, None, None] * np.ones((1, 2, 2))  # a quadratic fit keeps a line
    np.testing.assert_allclose(savgol_smooth(line, 31), line, atol=1e-9)  # window capped to the track
