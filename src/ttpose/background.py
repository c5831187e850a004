"""A still camera's empty scene, and where a frame differs from it: a cue to where the person is that does not
depend on how well the pose model sees them.

On a video from a camera that does not move (a lab, a rehabilitation room, a tripod beside a pitch), the median
of each pixel over frames sampled across the video is the scene without the person: a person who moves covers
any one pixel in fewer than half of the frames. The pixels of a frame that differ from that scene by more than
``threshold`` (largest difference over the three colour channels, 0-255 levels) are the person and whatever
moves with them (a ball, a shadow). `Background.box` is their extent: the 1st to 99th percentile of their
coordinates, so that a few stray pixels do not stretch it.

The cue fails when the camera moves or the light changes (most of the frame then differs: ``max_fraction``
gives no box at all), when the person stands still for more than half of the video (they are part of the
median scene), and when something else moves. `ttpose.tracking` therefore uses it to guide the pose model's
own looks, not instead of them.

    background = Background.of_frames(sampled_frames)    # H x W x 3 uint8 frames of one still camera
    box = background.box(image)                          # x1, y1, x2, y2 full-frame pixels, or None
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class BackgroundOptions:
    """How the empty scene is estimated and compared (module docstring). Defaults chosen on the synthetic
    validation people (benchmarks/tracking.py)."""

    threshold: float = 40.0  # a pixel differs from the scene by more than this (0-255, largest channel)
    downsample: int = 2  # the scene and the comparison at 1 / downsample of the frame's width and height
    samples: int = 48  # frames sampled evenly over the video for the median
    max_fraction: float = 0.5  # more of the frame than this differs: no box (the camera moved, the light changed)
    min_pixels: int = 16  # fewer differing pixels (at the reduced size) than this: no box

    def __post_init__(self) -> None:
        checks = {"threshold": self.threshold > 0, "downsample": self.downsample >= 1, "samples": self.samples >= 3,
                  "max_fraction": 0 < self.max_fraction <= 1, "min_pixels": self.min_pixels >= 1}
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"BackgroundOptions.{bad[0]}={getattr(self, bad[0])!r} is out of range")


def sample_indices(count: int, samples: int) -> np.ndarray:
    """At most ``samples`` frame indices spread evenly over ``count`` frames (all of them when fewer)."""
    if count <= samples:
        return np.arange(count)
    return np.unique(np.round(np.linspace(0, count - 1, samples)).astype(np.int64))


@dataclass
class Background:
    """The median scene of a still camera (module docstring) and the frame size it was made for."""

    scene: np.ndarray  # h x w x 3 float32, the frame at 1 / options.downsample
    frame_size: tuple[int, int]  # H, W of the full frames
    options: BackgroundOptions

    @classmethod
    def of_frames(cls, frames: Iterable[np.ndarray], options: BackgroundOptions | None = None) -> Background:
        """The per-pixel median of ``frames`` (H x W x 3 uint8, all the same size; pass a sample spread over
        the video, `sample_indices`). At least 3 frames: fewer cannot tell the scene from the person."""
        options = options or BackgroundOptions()
        small, size = [], None
        for image in frames:
            if size is None:
                size = image.shape[:2]
            elif image.shape[:2] != size:
                raise ValueError(f"Background.of_frames: frames of different sizes {size} and {image.shape[:2]}")
            small.append(_reduce(image, options.downsample))
        if len(small) < 3:
            raise ValueError(f"Background.of_frames: {len(small)} frames; at least 3 are needed")
        return cls(np.median(np.stack(small), axis=0).astype(np.float32), (int(size[0]), int(size[1])), options)

    def foreground(self, image: np.ndarray) -> np.ndarray:
        """h x w bool: the pixels of ``image`` (H x W x 3) that differ from the scene, at the reduced size."""
        if image.shape[:2] != self.frame_size:
            raise ValueError(f"Background: a frame of size {image.shape[:2]}, the scene is of {self.frame_size}")
        return np.abs(_reduce(image, self.options.downsample) - self.scene).max(-1) > self.options.threshold

    def box(self, image: np.ndarray) -> np.ndarray | None:
        """(x1, y1, x2, y2) float32 around the pixels of ``image`` that differ from the scene (1st-99th
        percentile of their coordinates, full-frame pixels), or None when too few or too many differ."""
        mask = self.foreground(image)
        ys, xs = np.nonzero(mask)
        if len(xs) < self.options.min_pixels or len(xs) > self.options.max_fraction * mask.size:
            return None
        s = self.options.downsample
        (x1, x2), (y1, y2) = np.percentile(xs, [1, 99]), np.percentile(ys, [1, 99])
        # a reduced pixel i covers full pixels s*i .. s*i + s - 1
        return np.array([x1 * s, y1 * s, (x2 + 1) * s - 1, (y2 + 1) * s - 1], np.float32)


def _reduce(image: np.ndarray, downsample: int) -> np.ndarray:
    """``image`` at 1 / downsample of its width and height (area average), float32."""
    image = np.asarray(image)
    if downsample > 1:
        h, w = image.shape[:2]
        image = cv2.resize(image, (max(1, w // downsample), max(1, h // downsample)), interpolation=cv2.INTER_AREA)
    return image.astype(np.float32)


__all__ = ["Background", "BackgroundOptions", "sample_indices"]
