"""The structures every data source produces: one `Video` per person domain, `PoseFrame` per frame.

Conventions, the same for synthetic people, Penn Action, Human3.6M, BBC Pose and users' videos:

- images are H x W x 3 ``uint8`` arrays in **RGB** order;
- joints are ``float32`` (K, 2) arrays of (x, y) in **0-based pixel** coordinates of the full frame
  (a dataset stored 1-based, like Penn Action's MATLAB files, is converted by its loader);
- ``visible`` is a (K,) ``bool`` array; an invisible joint's coordinates are meaningless (often 0);
- ``box`` is (x1, y1, x2, y2) in 0-based pixels; ``center`` (2,) and ``size`` (a float, pixels) describe
  the square region that is cropped and resized to the model's input. Each loader computes them with
  its dataset's own rule (e.g. the authors' Penn Action rule), so the crop code needs no dataset logic.

A `Video` holds per-frame annotations as stacked arrays (cheap to cache, see `ttpose prepare`) and
loads images lazily through ``images[i]``, so a long video never has to sit in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Protocol

import numpy as np

from ttpose.data.crops import BOX_PADDING, whole_frame_box
from ttpose.skeletons import Skeleton


class ImageSource(Protocol):
    """Anything indexable that returns RGB uint8 frames: a numpy array, a list, `ImageFiles`, ..."""

    def __len__(self) -> int: ...

    def __getitem__(self, i: int) -> np.ndarray: ...


@dataclass
class PoseFrame:
    image: np.ndarray  # H x W x 3 uint8 RGB
    joints: np.ndarray  # K x 2 float32, 0-based pixels
    visible: np.ndarray  # K bool
    box: np.ndarray  # 4 float32: x1, y1, x2, y2
    center: np.ndarray  # 2 float32: crop centre (pixels)
    size: float  # side of the square crop region (pixels)
    video_id: str
    person_id: str
    frame_id: int  # the frame's number in its source (e.g. Penn Action's file number, 0-based)


@dataclass
class Video:
    """One person domain: the frames of one video (or one unordered set of photos) of one person."""

    video_id: str
    person_id: str
    skeleton: Skeleton
    images: ImageSource
    joints: np.ndarray  # N x K x 2 float32
    visible: np.ndarray  # N x K bool
    boxes: np.ndarray  # N x 4 float32
    centers: np.ndarray  # N x 2 float32 (float64 from the authors' box rule, as theirs)
    sizes: np.ndarray  # N float32 (float64 from the authors' box rule, as theirs)
    frame_ids: np.ndarray = field(default=None)  # N int64; defaults to 0..N-1

    def __post_init__(self) -> None:
        n = len(self.images)
        if self.frame_ids is None:
            self.frame_ids = np.arange(n, dtype=np.int64)
        k = self.skeleton.num_joints
        expected = {
            "joints": (n, k, 2), "visible": (n, k), "boxes": (n, 4), "centers": (n, 2), "sizes": (n,),
            "frame_ids": (n,),
        }
        for name, shape in expected.items():
            got = np.shape(getattr(self, name))
            if got != shape:
                raise ValueError(f"video {self.video_id}: {name} has shape {got}, expected {shape}")

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> PoseFrame:
        return PoseFrame(
            image=self.images[i],
            joints=self.joints[i],
            visible=self.visible[i],
            box=self.boxes[i],
            center=self.centers[i],
            size=float(self.sizes[i]),
            video_id=self.video_id,
            person_id=self.person_id,
            frame_id=int(self.frame_ids[i]),
        )


class ImageFiles:
    """Lazily read image files (JPEG, PNG, ...) as RGB uint8 arrays."""

    def __init__(self, paths: Sequence[str | Path]):
        self.paths = [Path(p) for p in paths]

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> np.ndarray:
        import cv2

        path = self.paths[i]
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise OSError(f"{path}: cannot read image (missing, empty or not an image file)")
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def unlabeled_video(
    images: ImageSource,
    skeleton: Skeleton,
    boxes: np.ndarray,
    video_id: str = "video",
    person_id: str = "person",
    padding: float = BOX_PADDING,
) -> Video:
    """A `Video` without labels (joints zero, nothing visible), e.g. a user's clip, from per-frame boxes.

    The crop region is the box's longer side times ``padding``, centred on the box, as for training.
    """
    boxes = np.asarray(boxes, dtype=np.float32).reshape(len(images), 4)
    centers = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], axis=1)
    sizes = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) * padding
    n, k = len(images), skeleton.num_joints
    return Video(
        video_id=video_id,
        person_id=person_id,
        skeleton=skeleton,
        images=images,
        joints=np.zeros((n, k, 2), np.float32),
        visible=np.zeros((n, k), bool),
        boxes=boxes,
        centers=centers.astype(np.float32),
        sizes=sizes.astype(np.float32),
    )


def video_from_frames(frames, boxes: np.ndarray | None, skeleton: Skeleton) -> Video:
    """What `ttpose.personalize` takes as a person's frames, as a `Video`: a `Video` as it is, or a sequence of RGB
    uint8 images (H x W x 3) with ``boxes`` (N x 4, x1 y1 x2 y2, padded as in training; default: the whole frame,
    unpadded). Anything else (a file name, grey or float images) is refused with what to pass instead."""
    if isinstance(frames, Video):
        return frames
    if isinstance(frames, (str, bytes, PathLike)):
        raise TypeError("personalize: frames must be a Video or RGB uint8 images, not a file name; for a video file "
                        "use personalize_video (from ttpose.video_personalize import personalize_video: what "
                        "`ttpose personalize` runs), or read its frames (from ttpose.data.video import open_frames; "
                        "[image for _, image in open_frames(path)])")
    images = frames if isinstance(frames, (np.ndarray, Sequence)) else list(frames)
    if len(images) == 0:
        raise ValueError("personalize: no frames given")
    first = np.asarray(images[0])
    if first.dtype != np.uint8 or first.ndim != 3 or first.shape[2] != 3:
        raise ValueError(f"personalize: frames must be RGB uint8 images (H x W x 3), got {first.dtype} "
                         f"{'x'.join(map(str, first.shape))} (grayscale: np.repeat(image[..., None], 3, axis=2); "
                         "floats in 0..255: image.clip(0, 255).round().astype(np.uint8), in 0..1: "
                         "(image * 255).clip(0, 255).round().astype(np.uint8))")
    if boxes is None:  # the whole frame, as it is
        h, w = first.shape[:2]
        return unlabeled_video(images, skeleton, np.tile(whole_frame_box(w, h), (len(images), 1)), padding=1.0)
    # a person box (a detector's, say) is padded as in training and in `ttpose personalize`
    return unlabeled_video(images, skeleton, boxes, padding=BOX_PADDING)
