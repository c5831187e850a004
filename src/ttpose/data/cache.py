"""A one-time index of a dataset's annotations, so training does not re-read thousands of .mat files.

``ttpose prepare DATASET ROOT`` (`ttpose.data.build.prepare`) scans the dataset's annotation files once (with
a progress bar) and writes ``ROOT/ttpose-index-DATASET.npz`` (`save_index`): every video's frame paths
(relative to ROOT), joints, visibility, boxes, crop centres and sizes, stacked into flat arrays, plus a JSON
header. It holds only numbers and strings (``numpy.load(..., allow_pickle=False)`` reads it; no pickled
objects). This module knows the index's format, not the datasets: the loaders, which import it, make the
records.

The loaders (`load_penn_action`, `load_h36m`, `load_bbc_pose`) use the index when it is **fresh**: the
header records a fingerprint of the annotation files (relative path, size, modification time), of the
dataset's loader code and of the crop rule it uses, and the index format version; if any of them differs,
or the index is damaged or absent, the loader scans the annotations itself (and says nothing is cached). An
index is never used for a different dataset or root layout.
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
# modules whose source is part of every index's protocol besides the dataset's own loader: the authors' crop
# rule (`ttpose.data.crops.authors_box_rule`), shared by the Penn Action and BBC Pose loaders
PROTOCOL_MODULES = ("ttpose.data.crops",)
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
    dataset's loader module (``ttpose.data.<dataset>``) and of `PROTOCOL_MODULES`: changes when any annotation
    file does, and when the protocol the index was built with (splits, frame sampling, joint maps, crop rule)
    may have."""
    root = Path(root)
    h = hashlib.sha1()
    for module in (f"ttpose.data.{dataset}", *PROTOCOL_MODULES):
        spec = importlib.util.find_spec(module)
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
