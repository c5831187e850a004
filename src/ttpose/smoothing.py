"""Temporal smoothing of keypoint tracks with a Savitzky-Golay filter (the paper's Table 5).

Test-time personalization predicts each frame on its own; smoothing along time is complementary (Sec. 4.5).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import savgol_filter

SMOOTH_ORDER = 2  # the polynomial order used throughout (quadratic, as the paper's Table 5)


def smoothing_window(window: int, n: int, polyorder: int = SMOOTH_ORDER) -> int | None:
    """The window `savgol_smooth` actually uses on a track of ``n`` frames: ``window`` capped to the track (odd),
    or None when that is shorter than ``polyorder + 2`` (a fit through as many points as the polynomial has
    coefficients reproduces them: no smoothing)."""
    window = min(int(window), n if n % 2 else n - 1)
    return window if window >= polyorder + 2 else None


def savgol_smooth(joints: np.ndarray, window: int, polyorder: int = SMOOTH_ORDER) -> np.ndarray:
    """Smooth N x K x 2 joint tracks along time (axis 0) with a centred Savitzky-Golay filter (float64).

    ``window`` must be odd and at least ``polyorder + 2`` (5 for the quadratic default: a quadratic fit over 3
    points is the identity). A track shorter than ``window`` is smoothed with the largest valid odd window that
    fits (`smoothing_window`), and returned unchanged when even that is shorter than ``polyorder + 2``.
    Edges use the filter's polynomial fit ("interp" mode), so the track keeps its length.
    """
    if window % 2 == 0 or window < polyorder + 2:
        raise ValueError(f"smoothing window must be an odd number of frames >= polyorder + 2 = {polyorder + 2} "
                         f"(smaller windows change nothing), got {window}")
    joints = np.asarray(joints, dtype=np.float64)
    used = smoothing_window(window, len(joints), polyorder)
    if used is None:
        return joints.copy()
    return savgol_filter(joints, used, polyorder, axis=0, mode="interp")
