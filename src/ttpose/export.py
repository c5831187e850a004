"""Results out, in formats other tools read: COCO keypoint JSON, a flat CSV, and an H.264 overlay video.

Every writer is atomic (``ttpose.atomic``): an exception or Ctrl-C while writing leaves no partial file
and no temporary file behind.

COCO keypoint JSON (as COCO tools and MMPose read it), one person per frame:

- ``images``: ``id`` (1-based), ``file_name``, ``width``, ``height``, and ``frame_index`` (0-based
  position in the video), so ``ttpose.boxes.load_box_file`` accepts the file as a box file;
- ``annotations``: ``id``, ``image_id``, ``category_id`` 1, ``keypoints`` flat [x, y, v, ...] in 0-based
  pixels with v = 2 for every predicted joint, ``keypoint_scores`` (per-joint confidence, as MMPose's
  result files), ``score`` = mean confidence, ``bbox`` [x, y, w, h] (the person box given, else the
  joints' extent), ``area``, ``num_keypoints``, ``iscrowd`` 0;
- ``categories``: one, ``person``, with ``keypoints`` = the skeleton's joint names and ``skeleton`` = its
  limbs as 1-based index pairs (COCO's convention).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from fractions import Fraction
from pathlib import Path

import numpy as np

from ttpose.atomic import atomic_path, atomic_write_text
from ttpose.skeletons import Skeleton


def _check_arrays(joints, scores, skeleton: Skeleton, frame_ids) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    joints = np.asarray(joints, dtype=np.float64)
    n, k = len(joints), skeleton.num_joints
    if joints.shape != (n, k, 2):
        raise ValueError(f"joints must be N x {k} x 2 for skeleton {skeleton.name}, got shape {joints.shape}")
    scores = np.ones((n, k)) if scores is None else np.asarray(scores, dtype=np.float64)
    if scores.shape != (n, k):
        raise ValueError(f"scores must be N x K = {(n, k)}, got shape {scores.shape}")
    frame_ids = np.arange(n) if frame_ids is None else np.asarray(frame_ids).astype(np.int64)
    if frame_ids.shape != (n,):
        raise ValueError(f"frame_ids must have {n} entries, got shape {frame_ids.shape}")
    if len(set(frame_ids.tolist())) != n:
        raise ValueError("frame_ids must be distinct (one person per frame)")
    return joints, scores, frame_ids


def _r(x: float, digits: int) -> float:
    return round(float(x), digits)


def write_coco_keypoints(
    path: str | Path,
    joints: np.ndarray,
    scores: np.ndarray | None,
    skeleton: Skeleton,
    image_size: tuple[int, int],
    frame_ids: np.ndarray | None = None,
    file_names: list[str] | None = None,
    boxes: np.ndarray | None = None,
) -> Path:
    """Write predictions ``joints`` (N, K, 2) with ``scores`` (N, K) as COCO keypoint JSON (module docstring).

    ``image_size`` is (width, height) of the frames; ``frame_ids`` (N,) their 0-based positions (default
    0..N-1); ``file_names`` the frames' image names (default ``"{frame:06d}.jpg"``, the name the frame
    would have if extracted with 0-based numbering); ``boxes`` (N, 4) x1, y1, x2, y2 person boxes.
    """
    joints, scores, frame_ids = _check_arrays(joints, scores, skeleton, frame_ids)
    n, k = scores.shape
    width, height = (int(v) for v in image_size)
    if file_names is not None and len(file_names) != n:
        raise ValueError(f"file_names must have {n} entries, got {len(file_names)}")
    if boxes is not None:
        boxes = np.asarray(boxes, dtype=np.float64).reshape(n, 4)
    images, annotations = [], []
    for i in range(n):
        frame = int(frame_ids[i])
        name = file_names[i] if file_names is not None else f"{frame:06d}.jpg"
        images.append({"id": i + 1, "file_name": name, "frame_index": frame,
                       "width": width, "height": height})
        found = np.isfinite(joints[i]).all(axis=1)  # K: a NaN joint is written as COCO's "not labelled"
        if boxes is not None:
            x1, y1, x2, y2 = boxes[i]
        elif found.any():
            (x1, y1), (x2, y2) = joints[i][found].min(0), joints[i][found].max(0)
        else:
            x1 = y1 = x2 = y2 = 0.0
        keypoints = []
        for (x, y), ok in zip(joints[i], found, strict=True):
            keypoints += [_r(x, 2), _r(y, 2), 2] if ok else [0, 0, 0]
        score = np.where(np.isfinite(scores[i]) & found, scores[i], 0.0)
        annotations.append({
            "id": i + 1, "image_id": i + 1, "category_id": 1,
            "keypoints": keypoints,
            "keypoint_scores": [_r(s, 4) for s in score],
            "score": _r(score.mean(), 4),
            "bbox": [_r(x1, 2), _r(y1, 2), _r(x2 - x1, 2), _r(y2 - y1, 2)],
            "area": _r((x2 - x1) * (y2 - y1), 2),
            "num_keypoints": int(found.sum()), "iscrowd": 0,
        })
    categories = [{
        "id": 1, "name": "person", "supercategory": "person",
        "keypoints": list(skeleton.joint_names),
        "skeleton": [[a + 1, b + 1] for a, b in skeleton.limbs],  # COCO: 1-based joint indices
    }]
    document = {"info": {"description": f"ttpose predictions ({skeleton.name} joints)"},
                "images": images, "annotations": annotations, "categories": categories}
    path = Path(path)
    atomic_write_text(path, json.dumps(document, separators=(",", ":")))
    return path


def read_coco_keypoints(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """COCO keypoint JSON -> joints (N, K, 2), scores (N, K), frame ids (N,), sorted by frame.

    Joints with v = 0 (not labelled) are NaN. Scores are ``keypoint_scores`` where present, else the
    annotation's ``score`` for joints with v > 0 (0 for the others). A frame is ``frame_index`` of its
    image, else the image id.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        frame_of = {im["id"]: int(im.get("frame_index", im["id"])) for im in data["images"]}
        rows = []
        for ann in data["annotations"]:
            kp = np.asarray(ann["keypoints"], dtype=np.float64).reshape(-1, 3)  # K x (x, y, v)
            score = ann.get("keypoint_scores")
            if score is None:
                score = (kp[:, 2] > 0) * ann.get("score", 1.0)
            xy = np.where(kp[:, 2:] > 0, kp[:, :2], np.nan)  # K x 2
            rows.append((frame_of[ann["image_id"]], xy, np.asarray(score, np.float64)))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a COCO keypoint file ({type(exc).__name__}: {exc})") from None
    rows.sort(key=lambda r: r[0])
    if not rows:
        return np.zeros((0, 0, 2), np.float32), np.zeros((0, 0), np.float32), np.zeros(0, np.int64)
    joints = np.stack([r[1] for r in rows]).astype(np.float32)  # N x K x 2
    scores = np.stack([r[2] for r in rows]).astype(np.float32)  # N x K
    return joints, scores, np.array([r[0] for r in rows], np.int64)


CSV_COLUMNS = ("frame", "joint", "x", "y", "confidence")


def write_keypoints_csv(
    path: str | Path,
    joints: np.ndarray,
    scores: np.ndarray | None,
    skeleton: Skeleton,
    frame_ids: np.ndarray | None = None,
) -> Path:
    """One row per frame and joint: ``frame,joint,x,y,confidence`` (joint by name, 0-based pixels)."""
    joints, scores, frame_ids = _check_arrays(joints, scores, skeleton, frame_ids)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for i, frame in enumerate(frame_ids):
        for j, name in enumerate(skeleton.joint_names):
            writer.writerow([int(frame), name, f"{joints[i, j, 0]:.2f}", f"{joints[i, j, 1]:.2f}",
                             f"{scores[i, j]:.4f}"])
    path = Path(path)
    atomic_write_text(path, buffer.getvalue())
    return path


def read_keypoints_csv(path: str | Path, skeleton: Skeleton) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The CSV of ``write_keypoints_csv`` -> joints (N, K, 2), scores (N, K), frame ids (N,)."""
    path = Path(path)
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    frames = sorted({int(r["frame"]) for r in rows})
    at = {f: i for i, f in enumerate(frames)}
    joints = np.full((len(frames), skeleton.num_joints, 2), np.nan, np.float32)
    scores = np.zeros((len(frames), skeleton.num_joints), np.float32)
    for r in rows:
        i, j = at[int(r["frame"])], skeleton.index(r["joint"])
        joints[i, j] = float(r["x"]), float(r["y"])
        scores[i, j] = float(r["confidence"])
    return joints, scores, np.array(frames, np.int64)


class OverlayVideoWriter:
    """H.264 MP4 (libx264, yuv420p), atomic: ``with OverlayVideoWriter(...) as w: w.write(rgb)``.

    Frames are ``height x width x 3`` RGB uint8. Odd sizes are padded by one edge pixel (yuv420p needs even
    sizes). The file appears on a clean exit only; an exception or Ctrl-C removes the temporary file.
    """

    def __init__(self, path: str | Path, fps: float, width: int, height: int, crf: int = 20):
        if not (fps and fps > 0):
            raise ValueError(f"{path}: fps must be positive, got {fps}")
        self.path = Path(path)
        self.fps = Fraction(fps).limit_denominator(1001)
        self.width, self.height, self.crf = int(width), int(height), crf
        self.frames_written = 0
        self._atomic = self._container = self._stream = None

    def __enter__(self) -> OverlayVideoWriter:
        import av

        self._atomic = atomic_path(self.path)
        tmp = self._atomic.__enter__()
        try:
            self._container = av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"})
            stream = self._container.add_stream("libx264", rate=self.fps)
            stream.width, stream.height = self.width + self.width % 2, self.height + self.height % 2
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(self.crf), "preset": "veryfast"}
            self._stream = stream
        except BaseException as error:
            self._abort(error)
            raise
        return self

    def write(self, frame_rgb: np.ndarray) -> None:
        import av

        if self._stream is None:
            raise RuntimeError(f"{self.path}: use OverlayVideoWriter inside a with-block")
        frame_rgb = np.asarray(frame_rgb)
        if frame_rgb.shape != (self.height, self.width, 3) or frame_rgb.dtype != np.uint8:
            raise ValueError(f"{self.path}: frames must be {self.height}x{self.width}x3 uint8, "
                             f"got {frame_rgb.shape} {frame_rgb.dtype}")
        if self.width % 2 or self.height % 2:  # repeat the last column/row to reach even sizes
            frame_rgb = np.pad(frame_rgb, ((0, self.height % 2), (0, self.width % 2), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame_rgb), format="rgb24")
        frame.pts = self.frames_written
        frame.time_base = 1 / self.fps
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames_written += 1

    def _abort(self, error: BaseException) -> None:
        """Close what is open and remove the temporary file (atomic_path sees the exception)."""
        container, atomic = self._container, self._atomic
        self._container = self._stream = self._atomic = None
        if container is not None:
            with contextlib.suppress(Exception):
                container.close()
        atomic.__exit__(type(error), error, error.__traceback__)

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is not None:
            self._abort(exc)
            return
        try:
            if self.frames_written == 0:
                raise ValueError(f"{self.path}: no frames were written")
            for packet in self._stream.encode(None):  # flush the encoder
                self._container.mux(packet)
            self._container.close()
        except BaseException as error:
            self._abort(error)
            raise
        atomic, self._container, self._stream, self._atomic = self._atomic, None, None, None
        atomic.__exit__(None, None, None)  # rename the temporary file to the target
