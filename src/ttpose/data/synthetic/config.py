"""The synthetic-people generator's knobs (`SyntheticConfig`): frame size, video length, appearance shift, and
how often a video has an occluder or a framing that cuts limbs off. Every other module of the package reads
them from here."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class SyntheticConfig:
    """Knobs of the generator. ``shift`` (>= 0) sets how far val/test appearance lies from training's."""

    frame_size: int = 128  # square frames, pixels
    frames_per_video: int = 48
    shift: float = 1.0
    occluder_prob: float = 0.35  # chance that a video has an occluder in front of the person
    cutoff_prob: float = 0.15  # chance that a video frames the person so tightly that limbs leave the frame
    stratified: bool = False  # spread the shift's all-or-nothing choices evenly over a split (appearance.SplitDraws)
    # half range of a video's body yaw, radians: 1.0 (about 57 deg either way) keeps every person facing the
    # camera; pi lets people turn any way, their backs to the camera included (then the image side of a joint
    # no longer tells its body side)
    yaw_range: float = 1.0

    def __post_init__(self) -> None:
        if self.frame_size < 32:
            raise ValueError(f"SyntheticConfig.frame_size must be >= 32 pixels, got {self.frame_size}")
        if self.frames_per_video < 1:
            raise ValueError(f"SyntheticConfig.frames_per_video must be >= 1, got {self.frames_per_video}")
        if not self.shift >= 0:
            raise ValueError(f"SyntheticConfig.shift must be a float >= 0, got {self.shift}")
        if not 0 <= self.yaw_range <= math.pi:
            raise ValueError(f"SyntheticConfig.yaw_range must be in [0, pi] radians, got {self.yaw_range}")
