"""Temporal smoothing of keypoint tracks with a Savitzky-Golay filter (the paper's Table 5).

Test-time personalization predicts each frame on its own; smoothing along time is complementary (Sec. 4.5).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import savgol_filter


def savgol_smooth(joints: np.ndarray, window: int, polyorder: int = 2) -> np.ndarray:
    """Smooth N x K x 2 joint tracks along time (axis 0) with a centred Savitzky-Golay filter.

    ``window`` must be odd and at least ``polyorder + 2``. A track shorter than ``window`` is smoothed with the
    largest valid odd window that fits, and returned unchanged when even that is shorter than ``polyorder + 2``.
    Edges use the filter's polynomial fit ("interp" mode), so the track keeps its length.
    """
    if window % 2 == 0 or window < polyorder + 2:
        raise ValueError(f"smoothing window must be odd and >= polyorder + 2 = {polyorder + 2}, got {window}")
    joints = np.asarray(joints, dtype=np.float64)
    n = len(joints)
    window = min(window, n if n % 2 else n - 1)
    if window < polyorder + 2:
        return joints.copy()
    return savgol_filter(joints, window, polyorder, axis=0, mode="interp")
