"""A one-time index of a dataset's annotations, so training does not re-read thousands of .mat files.

``ttpose prepare DATASET ROOT`` scans the dataset's annotation files once (with a progress bar) and writes
``ROOT/ttpose-index-DATASET.npz``: every video's frame paths (relative to ROOT), joints, visibility, boxes,
crop centres and sizes, stacked into flat arrays, plus a JSON header. It holds only numbers and strings
(``numpy.load(..., allow_pickle=False)`` reads it; no pickled objects).

The loaders (`load_penn_action`, `load_h36m`, `load_bbc_pose`) use the index when it is **fresh**: the
header records a fingerprint of the annotation files (relative path, size, modification time) and of the
dataset's loader code, and the index format version; if any of them differs, or the index is damaged or
absent, the loader scans the annotations itself (and says nothing is cached). An index is never used for a
different dataset or root layout.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ttpose.atomic import atomic_path
from ttpose.data.types import ImageFiles, Video
from ttpose.skeletons import Skeleton

INDEX_VERSION = 1
_ARRAYS = ("joints", "visible", "boxes", "centers", "sizes", "frame_ids")


@dataclass
class VideoRecord:
    """One person domain as stored in an index: everything a `Video` needs except the pixels."""

    video_id: str
    person_id: str
    split: str  # "train" or "test"
    frames: list[str]  # image paths relative to the dataset root
    joints: np.ndarray  # N x K x 2 float32, 0-based pixels
    visible: np.ndarray  # N x K bool
    boxes: np.ndarray  # N x 4 float32 (x1, y1, x2, y2), 0-based pixels
    centers: np.ndarray  # N x 2 float32 (float64 from the authors' box rule, as theirs)
    sizes: np.ndarray  # N float32 (float64 from the authors' box rule, as theirs)
    frame_ids: np.ndarray  # N int64: the frame's number in its source

    def to_video(self, root: str | Path, skeleton: Skeleton) -> Video:
        """The `Video` (images read lazily from ``root``)."""
        root = Path(root)
        return Video(
            video_id=self.video_id, person_id=self.person_id, skeleton=skeleton,
            images=ImageFiles([root / f for f in self.frames]),
            joints=self.joints, visible=self.visible, boxes=self.boxes, centers=self.centers, sizes=self.sizes,
            frame_ids=self.frame_ids,
        )


def index_path(root: str | Path, dataset: str) -> Path:
    return Path(root) / f"ttpose-index-{dataset}.npz"


def fingerprint(root: str | Path, files: Sequence[str | Path], dataset: str) -> str:
    """SHA-1 of (path relative to root, size, mtime) of the annotation files and of the source of the
    dataset's loader module (``ttpose.data.<dataset>``): changes when any annotation file does, and when the
    protocol the index was built with (splits, frame sampling, joint maps, crop rule) may have."""
    root = Path(root)
    h = hashlib.sha1()
    spec = importlib.util.find_spec(f"ttpose.data.{dataset}")
    if spec is not None and spec.origin:
        h.update(Path(spec.origin).read_bytes())
    for f in sorted(Path(p) for p in files):
        st = f.stat()
        h.update(f"{f.relative_to(root).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def save_index(path: str | Path, dataset: str, stamp: str, records: Sequence[VideoRecord]) -> Path:
    """Write ``records`` atomically as an npz (flat arrays + per-video offsets + a JSON header)."""
    lengths = np.array([len(r.frames) for r in records], np.int64)
    header = {"dataset": dataset, "version": INDEX_VERSION, "fingerprint": stamp, "videos": len(records),
              "frames": int(lengths.sum())}
    arrays = {
        "header": np.array(json.dumps(header)),
        "video_id": np.array([r.video_id for r in records], dtype=str),
        "person_id": np.array([r.person_id for r in records], dtype=str),
        "split": np.array([r.split for r in records], dtype=str),
        "offsets": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        "frames": np.array([f for r in records for f in r.frames], dtype=str),
    }
    for name in _ARRAYS:
        parts = [np.asarray(getattr(r, name)) for r in records]
        arrays[name] = np.concatenate(parts) if parts else np.zeros(0)
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    return path


def load_index(path: str | Path, dataset: str, stamp: str) -> list[VideoRecord] | None:
    """The records of a fresh index for ``dataset`` with fingerprint ``stamp``; None if absent, stale or damaged
    (an interrupted copy of the dataset folder, say): the loader then rescans."""
    try:
        with np.load(path, allow_pickle=False) as z:  # lazy: the arrays are read only for a fresh index
            header = json.loads(str(z["header"]))
            if header.get("dataset") != dataset or header.get("version") != INDEX_VERSION \
                    or header.get("fingerprint") != stamp:
                return None
            data = {k: z[k] for k in z.files}
        off = data["offsets"]
        frames = data["frames"].tolist()
        videos = data["video_id"].tolist()
        if len(off) != len(videos) + 1 or off[-1] != len(frames) or any(len(data[n]) != off[-1] for n in _ARRAYS):
            return None
        return [VideoRecord(video_id=vid, person_id=str(data["person_id"][i]), split=str(data["split"][i]),
                            frames=frames[int(off[i]):int(off[i + 1])],
                            **{name: data[name][int(off[i]):int(off[i + 1])] for name in _ARRAYS})
                for i, vid in enumerate(videos)]
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return None


DATASETS = ("penn_action", "h36m", "bbc_pose")


def prepare(dataset: str, root: str | Path, progress: bool = True) -> tuple[Path, list[VideoRecord]]:
    """Scan ``dataset`` under ``root`` once and write its index (``ttpose prepare DATASET ROOT``).

    The folder is validated as the loader would (a `DatasetError` names the first bad file); the index
    then lets every later `load_*` call skip the scan while the annotation files are unchanged.
    """
    from ttpose.data.errors import require_dir

    root = require_dir(root, f"the {dataset} dataset folder", "pass the folder that holds the dataset")
    if dataset == "penn_action":
        from ttpose.data import penn_action as mod

        require_dir(root / "frames", "Penn Action's frames/ folder (frames/NNNN/NNNNNN.jpg)", mod.FIX_FRAMES)
        files = mod.label_files(root)
        records = mod.scan(root, files, progress)
        for r in records:
            mod.check_frames(root, r)
    elif dataset == "h36m":
        from ttpose.data import h36m as mod

        files = mod.annotation_files(root)
        records = mod.scan(root, files, progress)
    elif dataset == "bbc_pose":
        from ttpose.data import bbc_pose as mod

        files = [root / "bbcpose.mat"]
        records = mod.scan(root, progress)
    else:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    return save_index(index_path(root, dataset), dataset, fingerprint(root, files, dataset), records), records
