"""Penn Action (Zhang, Zhu, Derpanis, ICCV 2013) in its original layout: one `Video` per clip.

Layout (as extracted from Penn_Action.tar.gz)::

    ROOT/frames/0001/000001.jpg ... 000151.jpg      one folder per clip, frames numbered from 1
    ROOT/labels/0001.mat                            MATLAB v5: x, y, visibility, bbox, train, nframes, ...

- Split: the label's ``train`` field (1 = train, -1 = test): 1,258 training and 1,068 test clips.
- Joints: 13 in the label order (`ttpose.skeletons.PENN_ACTION`), ``visibility`` as given. The labels are
  1-based MATLAB pixels; they are converted to 0-based (``x - 1``), as are the boxes.
- Crop region: the authors' rule (shared/spec/official-code.md; `ttpose.data.crops.authors_box_rule`), on
  the 1-based box (x1, y1, x2, y2): centre ((x1 + x2 - 1) / 2, (y1 + y2 - 1) / 2), scale = max(w, h) / 200
  with w = x2 - x1 + 1, centre y += 15 scale, scale *= 1.25, centre -= 1 (to 0-based). ttpose stores the
  crop as centre and side in pixels (`ttpose.data.crops`): side = 200 x scale = 1.25 max(w, h).
- Quirks of the real files that this loader accepts (every one of the 2,326 label files passes):
  ``x``, ``y``, ``bbox`` stored as uint8/uint16 instead of float64 (179 files), ``nframes`` as uint16
  (53 files), and ``bbox`` one row shorter than ``nframes`` (1154, 1865: the last row is reused, as the
  authors' code does).

Each clip is one person domain for test-time personalization (Sec. 4.1).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import scipy.io
from tqdm.auto import tqdm

from ttpose.data.cache import VideoRecord, fingerprint, index_path, load_index
from ttpose.data.crops import authors_box_rule
from ttpose.data.errors import DatasetError, require_dir
from ttpose.data.types import Video
from ttpose.skeletons import PENN_ACTION

DATASET = "penn_action"
NUM_JOINTS = 13
LABEL_KEYS = ("x", "y", "visibility", "bbox", "train", "nframes")
FIX_LABEL = "re-extract labels/ from the original Penn_Action.tar.gz (see docs/datasets.md)"
FIX_FRAMES = "re-extract frames/ from the original Penn_Action.tar.gz (see docs/datasets.md)"


def _scalar(label: dict, key: str, path: Path) -> int:
    value = np.asarray(label[key]).reshape(-1)
    if value.size != 1:
        raise DatasetError(path, f"'{key}' to be one number, got shape {np.shape(label[key])}", FIX_LABEL)
    return int(value[0])


def read_label(path: str | Path, root: str | Path | None = None) -> VideoRecord:
    """One label file -> a `VideoRecord` (frames named ``frames/NNNN/NNNNNN.jpg`` relative to the root)."""
    path = Path(path)
    try:
        label = scipy.io.loadmat(path)
    except Exception as e:  # scipy raises ValueError, TypeError, MatReadError... for damaged files
        raise DatasetError(path, f"a MATLAB v5 .mat label file ({type(e).__name__}: {e})", FIX_LABEL) from None
    missing = [k for k in LABEL_KEYS if k not in label]
    if missing:
        raise DatasetError(path, f"keys {', '.join(LABEL_KEYS)}; missing {', '.join(missing)}", FIX_LABEL)
    n = _scalar(label, "nframes", path)
    split = {1: "train", -1: "test"}.get(_scalar(label, "train", path))
    if split is None:
        raise DatasetError(path, f"'train' to be 1 or -1, got {np.asarray(label['train']).ravel().tolist()}",
                           FIX_LABEL)
    arrays = {}
    for key in ("x", "y", "visibility"):
        a = np.asarray(label[key])
        if a.shape != (n, NUM_JOINTS):
            raise DatasetError(path, f"'{key}' of shape ({n}, {NUM_JOINTS}) (nframes x joints), got {a.shape}",
                               FIX_LABEL)
        arrays[key] = a.astype(np.float64)  # uint8/uint16 in some files
    bbox = np.asarray(label["bbox"], np.float64)
    if bbox.ndim != 2 or bbox.shape[1] != 4 or not 1 <= len(bbox) <= n:
        raise DatasetError(path, f"'bbox' of shape ({n}, 4), got {bbox.shape}", FIX_LABEL)
    if len(bbox) < n:  # 1154, 1865: one row short; the authors reuse the last row
        bbox = np.concatenate([bbox, np.repeat(bbox[-1:], n - len(bbox), axis=0)])
    centers, sizes = authors_box_rule(bbox)
    clip = path.stem
    return VideoRecord(
        video_id=clip, person_id=clip, split=split,
        frames=[f"frames/{clip}/{i:06d}.jpg" for i in range(1, n + 1)],
        joints=(np.stack([arrays["x"], arrays["y"]], axis=-1) - 1).astype(np.float32),
        visible=arrays["visibility"] > 0,
        boxes=(bbox - 1).astype(np.float32), centers=centers, sizes=sizes,
        frame_ids=np.arange(n, dtype=np.int64),
    )


def label_files(root: str | Path, videos: Iterable[str] | None = None) -> list[Path]:
    """The label files under ``root/labels`` (all, or those of the clip ids ``videos``), checked to exist."""
    labels = require_dir(Path(root) / "labels", "Penn Action's labels/ folder with NNNN.mat files", FIX_LABEL)
    if videos is None:
        files = sorted(labels.glob("*.mat"))
        if not files:
            raise DatasetError(labels, "label files NNNN.mat (found none)", FIX_LABEL)
        return files
    files = [labels / f"{v}.mat" for v in videos]
    for f in files:
        if not f.is_file():
            raise DatasetError(f, "a label file for the requested clip (it is missing)", FIX_LABEL)
    return files


def scan(root: str | Path, files: list[Path] | None = None, progress: bool = False) -> list[VideoRecord]:
    """Read every label file once (2,326 files: a few seconds)."""
    files = label_files(root) if files is None else files
    return [read_label(f) for f in tqdm(files, desc="Penn Action labels", unit="file", disable=not progress)]


def check_frames(root: Path, record: VideoRecord) -> None:
    """The clip's frame folder exists and holds its first and last frame (cheap: two stat calls)."""
    folder = root / "frames" / record.video_id
    require_dir(folder, f"the frames of clip {record.video_id} ({len(record.frames)} JPEGs)", FIX_FRAMES)
    for rel in (record.frames[0], record.frames[-1]):
        if not (root / rel).is_file():
            raise DatasetError(root / rel, f"frame {Path(rel).name} of clip {record.video_id} "
                               f"(its label says nframes = {len(record.frames)})", FIX_FRAMES)


def load_penn_action(root: str | Path, split: str = "train", videos: Iterable[str] | None = None,
                     progress: bool = False, use_index: bool = True) -> list[Video]:
    """The clips of ``split`` ("train" or "test"), one `Video` each, frames read lazily.

    ``videos`` restricts to clip ids such as ``["0001"]``. A fresh index written by ``ttpose prepare
    penn_action ROOT`` is used when present (see `ttpose.data.cache`).
    """
    if split not in ("train", "test"):
        raise ValueError(f"Penn Action split must be 'train' or 'test', got {split!r}")
    root = require_dir(root, "the Penn Action folder (with frames/ and labels/)", "set data.root / --root")
    require_dir(root / "frames", "Penn Action's frames/ folder (frames/NNNN/NNNNNN.jpg)", FIX_FRAMES)
    files = label_files(root, videos)
    records = None
    if use_index and videos is None:
        records = load_index(index_path(root, DATASET), DATASET, fingerprint(root, files, DATASET))
    if records is None:
        records = scan(root, files, progress)
    records = [r for r in records if r.split == split]
    for r in records:
        check_frames(root, r)
    return [r.to_video(root, PENN_ACTION) for r in records]
