"""BBC Pose (Charles et al., BMVC 2013 / IJCV 2014): sign-language interpreters, 7 upper-body joints.

Layout (the dataset's download, frames extracted at 720 x 480)::

    ROOT/bbcpose.mat         variable ``bbcpose``: 1 x 20 struct with fields videoName, type, source,
                             train_frames (1 x N frame numbers), train_joints (2 x 7 x N, x and y),
                             test_frames (1 x 200), test_joints (2 x 7 x 200)
    ROOT/1/1.jpg ...         one folder per video (1 .. 20), frames named by their number

(camelCase field names, ``trainFrames`` etc., are accepted too.) The paper's split (Sec. 4.1), as in the
authors' code: videos 1-10 train on their ``train_frames`` (joints from the semi-automatic tracker), videos
11-20 are tested on their 200 manually annotated ``test_frames`` each. Each video is one person domain.

- Joints: the 7 of `ttpose.skeletons.BBC_POSE` in the file's order, all visible; converted from MATLAB's
  1-based pixels to 0-based.
- Crop region: the authors' box is the joints' extent widened by 60 px on every side and clipped to the
  720 x 480 frame; it then goes through the same centre/scale rule as Penn Action
  (`ttpose.data.crops.authors_box_rule`).
- Metric: accuracy within 6 px at half resolution (`ttpose.metrics.accuracy_within`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io

from ttpose.data.cache import VideoRecord, fingerprint, index_path, load_index
from ttpose.data.crops import authors_box_rule
from ttpose.data.errors import DatasetError, require_dir, require_file
from ttpose.data.types import Video
from ttpose.skeletons import BBC_POSE

DATASET = "bbc_pose"
WIDTH, HEIGHT = 720, 480
BOX_MARGIN = 60.0
TRAIN_VIDEOS = tuple(range(1, 11))
TEST_VIDEOS = tuple(range(11, 21))
FIX = "download BBC Pose (bbcpose.mat and the frame folders 1..20) again; see docs/datasets.md"


def _field(video, names: tuple[str, ...], path: Path, index: int) -> np.ndarray:
    for name in names:
        if name in (video.dtype.names or ()):
            return np.asarray(video[name])
    raise DatasetError(path, f"field {names[0]} in bbcpose({index})", FIX)


def _frames_joints(video, kind: str, path: Path, index: int) -> tuple[np.ndarray, np.ndarray]:
    camel = kind + "Frames", kind + "Joints"
    frames = _field(video, (f"{kind}_frames", camel[0]), path, index).astype(np.int64).ravel()
    joints = _field(video, (f"{kind}_joints", camel[1]), path, index).astype(np.float64)
    if frames.size == 0:
        return frames, np.zeros((0, 7, 2))
    if joints.shape != (2, 7, frames.size):
        raise DatasetError(path, f"bbcpose({index}).{kind}_joints of shape (2, 7, {frames.size}), got {joints.shape}",
                           FIX)
    return frames, np.transpose(joints, (2, 1, 0))  # N x 7 x (x, y)


def authors_boxes(joints_1based: np.ndarray) -> np.ndarray:
    """(N, 7, 2) 1-based joints -> (N, 4) 1-based boxes: extent +- 60 px, clipped to the 720 x 480 frame."""
    lo = np.maximum(joints_1based.min(axis=1) - BOX_MARGIN, 0)
    hi = np.minimum(joints_1based.max(axis=1) + BOX_MARGIN, [WIDTH, HEIGHT])
    return np.concatenate([lo, hi], axis=1)


def read_annotations(path: str | Path) -> list:
    """The 20 entries of ``bbcpose`` in bbcpose.mat."""
    path = require_file(path, "bbcpose.mat (BBC Pose's annotations)", FIX)
    try:
        data = scipy.io.loadmat(path)
    except Exception as e:
        raise DatasetError(path, f"a MATLAB .mat file ({type(e).__name__}: {e})", FIX) from None
    if "bbcpose" not in data:
        raise DatasetError(path, "a variable named bbcpose", FIX)
    videos = np.asarray(data["bbcpose"]).ravel()
    if len(videos) < 20 or videos.dtype.names is None:
        raise DatasetError(path, f"bbcpose to be a struct array of 20 videos, got {len(videos)} entries", FIX)
    return list(videos)


def scan(root: str | Path, progress: bool = False) -> list[VideoRecord]:
    """One record per video: videos 1-10 with their training frames, 11-20 with their test frames."""
    path = Path(root) / "bbcpose.mat"
    videos = read_annotations(path)
    records = []
    for number in TRAIN_VIDEOS + TEST_VIDEOS:
        split = "train" if number in TRAIN_VIDEOS else "test"
        frames, joints = _frames_joints(videos[number - 1], split, path, number)
        if frames.size == 0:
            raise DatasetError(path, f"bbcpose({number}).{split}_frames to list the video's {split} frames", FIX)
        order = np.argsort(frames, kind="stable")
        frames, joints = frames[order], joints[order]
        boxes = authors_boxes(joints)
        centers, sizes = authors_box_rule(boxes)
        records.append(VideoRecord(
            video_id=str(number), person_id=str(number), split=split,
            frames=[f"{number}/{f}.jpg" for f in frames],
            joints=(joints - 1).astype(np.float32), visible=np.ones(joints.shape[:2], bool),
            boxes=(boxes - 1).astype(np.float32), centers=centers, sizes=sizes,
            frame_ids=frames - 1,
        ))
    return records


def load_bbc_pose(root: str | Path, split: str = "train", use_index: bool = True,
                  check_images: bool = True) -> list[Video]:
    """The 10 videos of ``split`` ("train": 1-10, "test": 11-20, 200 annotated frames each)."""
    if split not in ("train", "test"):
        raise ValueError(f"BBC Pose split must be 'train' or 'test', got {split!r}")
    root = require_dir(root, "the BBC Pose folder (bbcpose.mat and frame folders 1..20)", "set data.root / --root")
    mat = require_file(root / "bbcpose.mat", "bbcpose.mat (BBC Pose's annotations)", FIX)
    records = load_index(index_path(root, DATASET), DATASET, fingerprint(root, [mat], DATASET)) if use_index else None
    if records is None:
        records = scan(root)
    records = [r for r in records if r.split == split]
    if check_images:
        for r in records:
            require_dir(root / r.video_id, f"the frames of video {r.video_id} ({r.video_id}/<frame>.jpg)", FIX)
            if not (root / r.frames[0]).is_file():
                raise DatasetError(root / r.frames[0], f"annotated frame {Path(r.frames[0]).stem} of video "
                                   f"{r.video_id}", FIX)
    return [r.to_video(root, BBC_POSE) for r in records]
