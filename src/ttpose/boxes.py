"""Where the person is in each frame of a user's video: from a box file, a fixed box, or the whole frame.

The model sees a square crop around one person (``ttpose.data.types.unlabeled_video`` turns per-frame boxes
into crop centres and sizes), so every frame needs a box. ttpose runs no person detector; the box comes
from, in this order of preference (``resolve_boxes``):

1. a **box file** the user made (``load_box_file``), in one of these formats:

   - COCO-style JSON: ``{"images": [{"id": 1, "file_name": "000000.jpg", "frame_index": 0}, ...],
     "annotations": [{"image_id": 1, "bbox": [x, y, w, h]}, ...]}``. An image's frame is its
     ``"frame_index"`` (or ``"frame"``), 0-based; without one, its ``file_name`` (base name) must equal the
     name of a frame of the input (a folder of images). One annotation per image (one person).
     The keypoint files ``ttpose.export.write_coco_keypoints`` writes are such files.
   - a plain JSON list: ``[{"frame": 0, "bbox": [x, y, w, h]}, ...]``;
   - CSV with a header naming the columns ``frame,x1,y1,x2,y2`` (any order, other columns ignored).

   ``bbox`` is COCO's [left, top, width, height]; x1, y1, x2, y2 are corners; all in 0-based pixels of
   the full frame. Frames missing from the file get a box **interpolated** linearly between the nearest
   given frames before and after (the first/last given box is held before/after the given range);
   ``Boxes.interpolated`` marks them. A file is refused (`BoxError`) if it names frames beyond the
   video's end, covers fewer than half of the frames, or holds non-numeric or empty boxes.
2. a **fixed box** (x1, y1, x2, y2) for every frame (``fixed_boxes``, e.g. ``--box 40,10,200,230``);
3. the **whole frame** (``whole_frame_boxes``): the crop is then the frame, centred and padded to a square.
   `ttpose.video_personalize` replaces it by default with boxes tracked by the pose model itself
   (`ttpose.tracking`, `tracked_boxes`).

Whatever is chosen is described in ``Boxes.source`` for the caller to print: never a silent guess; each
frame's box also says where it came from (``Boxes.kinds``: `BOX_KINDS`).
``smooth_boxes`` (centred moving average) and ``clamp_boxes`` post-process a track.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ttpose.data.crops import whole_frame_box

MIN_COVERAGE = 0.5  # a box file must give boxes for at least this fraction of the frames
# where a frame's box came from: a box file (given or interpolated), a fixed box, the whole frame, or the
# pose model's own track (ttpose.tracking.TRACK_SOURCES)
BOX_KINDS = ("file", "interpolated", "fixed", "whole-frame", "start", "tracked", "widened", "restart", "guided",
             "background")


class BoxError(ValueError):
    """A box file or box that cannot be used; the message is one line naming the file and the problem."""


@dataclass
class Boxes:
    boxes: np.ndarray  # N x 4 float32: x1, y1, x2, y2 in 0-based pixels
    source: str  # what the boxes are, for the user: "box file people.csv (CSV: 38 of 40 frames, ...)"
    interpolated: np.ndarray  # N bool: True where the box was filled in between given frames
    kinds: list[str] | None = None  # N, each one of BOX_KINDS: where each frame's box came from

    def __len__(self) -> int:
        return len(self.boxes)


# ---------------------------------------------------------------------------------------------- box files


def _number(value, where: str) -> float:
    """A finite float from a JSON/CSV value, else BoxError (``where`` names the file and entry)."""
    if isinstance(value, bool):
        raise BoxError(f"{where}: expected a number, got {value!r}")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise BoxError(f"{where}: expected a number, got {value!r}") from None
    if not math.isfinite(x):
        raise BoxError(f"{where}: expected a finite number, got {value!r}")
    return x


def _frame_number(value, where: str) -> int:
    x = _number(value, where)
    if x != int(x):
        raise BoxError(f"{where}: frame must be a whole number, got {value!r}")
    return int(x)


def _xywh(bbox, where: str) -> tuple[float, float, float, float]:
    if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
        raise BoxError(f"{where}: bbox must be [x, y, w, h], got {bbox!r}")
    x, y, w, h = (_number(v, where) for v in bbox)
    return x, y, x + w, y + h


def _read_json(path: Path, frame_names: list[str] | None) -> tuple[str, list[tuple[int, tuple]]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))  # a byte-order mark is accepted, as for CSV
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BoxError(f"{path}: not valid JSON ({exc})") from None
    if isinstance(data, list):  # [{"frame": i, "bbox": [x, y, w, h]}, ...]
        entries = []
        for n, item in enumerate(data):
            where = f"{path}: entry {n}"
            has_frame = isinstance(item, dict) and ("frame" in item or "frame_index" in item)
            if not has_frame or "bbox" not in item:
                expected = '{"frame": i, "bbox": [x, y, w, h]}'
                raise BoxError(f"{where}: expected {expected}, got {item!r:.80}")
            frame = _frame_number(item.get("frame", item.get("frame_index")), where)
            entries.append((frame, _xywh(item["bbox"], f"{where} (frame {frame})")))
        return "JSON list", entries
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) \
            or not isinstance(data.get("annotations"), list):
        raise BoxError(f"{path}: expected COCO JSON (\"images\" and \"annotations\") or a list of "
                       "{\"frame\": i, \"bbox\": [x, y, w, h]}")
    by_name = {name: i for i, name in enumerate(frame_names or [])}
    frame_of_image = {}
    for image in data["images"]:
        if not isinstance(image, dict) or not isinstance(image.get("id"), (int, str)):
            raise BoxError(f"{path}: every entry of \"images\" needs an \"id\" (a number or a string), "
                           f"got {image!r:.80}")
        where = f"{path}: image id {image['id']}"
        if "frame_index" in image or "frame" in image:
            frame = _frame_number(image.get("frame_index", image.get("frame")), where)
        elif Path(str(image.get("file_name", ""))).name in by_name:
            frame = by_name[Path(str(image["file_name"])).name]
        else:
            raise BoxError(f"{where}: no \"frame_index\", and its file_name {image.get('file_name')!r} "
                           "is not the name of a frame of the input")
        frame_of_image[image["id"]] = frame
    entries = []
    for n, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict) or "image_id" not in ann or "bbox" not in ann:
            raise BoxError(f"{path}: annotation {n} needs \"image_id\" and \"bbox\", got {ann!r:.80}")
        if not isinstance(ann["image_id"], (int, str)) or ann["image_id"] not in frame_of_image:
            raise BoxError(f"{path}: annotation {n} refers to image id {ann['image_id']!r}, "
                           "not in \"images\"")
        frame = frame_of_image[ann["image_id"]]
        entries.append((frame, _xywh(ann["bbox"], f"{path}: annotation {n} (frame {frame})")))
    return "COCO JSON", entries


def _read_csv(path: Path) -> tuple[str, list[tuple[int, tuple]]]:
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError:
        raise BoxError(f"{path}: not a text CSV file") from None
    rows = csv.reader(line for line in lines if line.strip())
    header = [h.strip().lower() for h in next(rows, [])]
    columns = ("frame", "x1", "y1", "x2", "y2")
    if not set(columns) <= set(header):
        raise BoxError(f"{path}: CSV header must name the columns frame,x1,y1,x2,y2, "
                       f"got {','.join(header)!r}")
    at = [header.index(c) for c in columns]
    entries = []
    for n, row in enumerate(rows, start=2):
        where = f"{path}: row {n}"
        if len(row) < len(header):
            raise BoxError(f"{where}: expected {len(header)} values, got {len(row)}")
        frame = _frame_number(row[at[0]].strip(), where)
        entries.append((frame, tuple(_number(row[i].strip(), f"{where} (frame {frame})") for i in at[1:])))
    return "CSV", entries


def _outside(box, width: int | None, height: int | None) -> bool:
    """Whether box (x1, y1, x2, y2) misses the width x height frame entirely (False if size unknown)."""
    if width is None or height is None:
        return False
    x1, y1, x2, y2 = box
    return x2 < 0 or y2 < 0 or x1 > width - 1 or y1 > height - 1


def load_box_file(
    path: str | Path,
    num_frames: int,
    width: int | None = None,
    height: int | None = None,
    frame_names: list[str] | None = None,
) -> Boxes:
    """Per-frame boxes from a JSON or CSV box file (formats in the module docstring), checked against the
    video: ``num_frames`` frames (as read), and when given its size and its frames' file names."""
    path = Path(path)
    if not path.is_file():
        raise BoxError(f"{path}: box file not found")
    if path.suffix.lower() == ".json":
        kind, entries = _read_json(path, frame_names)
    elif path.suffix.lower() == ".csv":
        kind, entries = _read_csv(path)
    else:
        raise BoxError(f"{path}: box file must be .json (COCO or a list of frame/bbox) "
                       "or .csv (frame,x1,y1,x2,y2)")
    if not entries:
        raise BoxError(f"{path}: no boxes in the file")
    known: dict[int, tuple] = {}
    for frame, box in entries:
        if frame in known:
            raise BoxError(f"{path}: frame {frame} has more than one box; keep one person per frame")
        if frame < 0:
            raise BoxError(f"{path}: frame {frame} is negative; frames are numbered from 0")
        x1, y1, x2, y2 = box
        if not (x2 > x1 and y2 > y1):
            raise BoxError(f"{path}: frame {frame}: empty box {box} (need x2 > x1 and y2 > y1)")
        if _outside(box, width, height):
            raise BoxError(f"{path}: frame {frame}: box {box} lies outside the {width}x{height} frame")
        known[frame] = box
    last = max(known)
    if last >= num_frames:
        raise BoxError(f"{path}: boxes up to frame {last}, but the video has {num_frames} frames "
                       f"(0..{num_frames - 1})")
    if len(known) < MIN_COVERAGE * num_frames:
        raise BoxError(f"{path}: boxes for only {len(known)} of the video's {num_frames} frames; "
                       f"need at least {MIN_COVERAGE:.0%} (the rest are interpolated)")
    frames = np.array(sorted(known))
    given = np.array([known[f] for f in frames], dtype=np.float64)  # M x 4
    t = np.arange(num_frames)
    boxes = np.stack([np.interp(t, frames, given[:, c]) for c in range(4)], axis=1)  # N x 4, held at the ends
    interpolated = ~np.isin(t, frames)
    source = (f"box file {path} ({kind}: {len(known)} of {num_frames} frames given, "
              f"{int(interpolated.sum())} interpolated)")
    return Boxes(boxes.astype(np.float32), source, interpolated,
                 ["interpolated" if i else "file" for i in interpolated])


# ---------------------------------------------------------------------------------------------- other sources


def parse_box(text: str) -> tuple[float, float, float, float]:
    """"x1,y1,x2,y2" (a command-line argument) -> four floats."""
    parts = [p for p in text.replace(" ", ",").split(",") if p]
    if len(parts) != 4:
        raise BoxError(f"box {text!r}: expected four numbers x1,y1,x2,y2")
    x1, y1, x2, y2 = (_number(p, f"box {text!r}") for p in parts)
    return x1, y1, x2, y2


def fixed_boxes(box, num_frames: int, width: int | None = None, height: int | None = None) -> Boxes:
    """The same box (x1, y1, x2, y2) on every frame."""
    x1, y1, x2, y2 = (_number(v, f"box {tuple(box)}") for v in box)
    if not (x2 > x1 and y2 > y1):
        raise BoxError(f"box {tuple(box)}: empty box (need x2 > x1 and y2 > y1)")
    if _outside((x1, y1, x2, y2), width, height):
        raise BoxError(f"box {tuple(box)}: lies outside the {width}x{height} frame")
    boxes = np.tile(np.array([x1, y1, x2, y2], np.float32), (num_frames, 1))
    source = f"fixed box ({x1:g}, {y1:g}, {x2:g}, {y2:g}) on every frame"
    return Boxes(boxes, source, np.zeros(num_frames, bool), ["fixed"] * num_frames)


def whole_frame_boxes(width: int, height: int, n: int) -> Boxes:
    """The documented fallback: the whole frame (the crop centres it and pads it to a square)."""
    boxes = np.tile(whole_frame_box(width, height), (n, 1))
    return Boxes(boxes, f"whole frame ({width}x{height}; no box given, so the person should fill the frame)",
                 np.zeros(n, bool), ["whole-frame"] * n)


def resolve_boxes(
    num_frames: int,
    width: int,
    height: int,
    box_file: str | Path | None = None,
    box=None,
    frame_names: list[str] | None = None,
) -> Boxes:
    """The boxes the user asked for: a box file, else a fixed box, else the whole frame (see ``.source``)."""
    if box_file is not None and box is not None:
        raise BoxError(f"{box_file}: give either a box file or a fixed box, not both")
    if box_file is not None:
        return load_box_file(box_file, num_frames, width, height, frame_names)
    if box is not None:
        return fixed_boxes(parse_box(box) if isinstance(box, str) else box, num_frames, width, height)
    return whole_frame_boxes(width, height, num_frames)


def kind_runs(kinds: list[str], frames) -> list[dict]:
    """Per-frame box kinds as runs for a summary: [{"frames": [first, last], "source": kind}, ...], where
    ``frames`` (N) are the frames' numbers (a run ends where the kind changes)."""
    runs: list[dict] = []
    for frame, kind in zip((int(f) for f in frames), kinds, strict=True):
        if runs and runs[-1]["source"] == kind:
            runs[-1]["frames"][1] = frame
        else:
            runs.append({"frames": [frame, frame], "source": kind})
    return runs


# ------------------------------------------------------------------------------------------- post-processing


def box_window(window: int, n: int, causal: bool = False) -> int:
    """The moving-average window `smooth_boxes` uses on ``n`` boxes: at most the track length, odd if centred."""
    if causal:
        return max(1, min(int(window), n))
    return max(1, min(int(window) | 1, n if n % 2 else n - 1))


def smooth_boxes(boxes: np.ndarray, window: int = 9, causal: bool = False) -> np.ndarray:
    """Moving average over ``window`` frames: centred (odd window; edges repeat the first/last box), or with
    ``causal`` trailing (frame t averages frames t-window+1..t, fewer at the start), so that no box depends
    on a later frame (online personalization).

    Averaging the corners is the same as averaging centre and size (it is linear). Each output is a convex
    combination of inputs, so a constant track is unchanged and the total frame-to-frame movement (jitter)
    never grows. ``window`` is capped to the track length; 1 returns a copy.
    """
    from scipy.ndimage import uniform_filter1d

    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must be N x 4, got shape {boxes.shape}")
    if not np.isfinite(boxes).all():
        raise ValueError("boxes contain NaN or infinite values")
    if int(window) < 1:
        raise ValueError(f"box smoothing window must be at least 1 frame, got {window}")
    n = len(boxes)
    window = box_window(window, n, causal)
    if causal:
        sums = np.cumsum(np.concatenate([np.zeros((1, 4)), boxes]), axis=0)
        first = np.maximum(np.arange(1, n + 1) - window, 0)
        return ((sums[1:] - sums[first]) / (np.arange(1, n + 1) - first)[:, None]).astype(np.float32)
    if window <= 1:
        return boxes.astype(np.float32)
    return uniform_filter1d(boxes, size=window, axis=0, mode="nearest").astype(np.float32)


def clamp_boxes(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Boxes (..., 4) cut to the frame: corners ordered (x1 <= x2, y1 <= y2), x in [0, W-1], y in [0, H-1]."""
    boxes = np.asarray(boxes, dtype=np.float32)
    x1, x2 = np.minimum(boxes[..., 0], boxes[..., 2]), np.maximum(boxes[..., 0], boxes[..., 2])
    y1, y2 = np.minimum(boxes[..., 1], boxes[..., 3]), np.maximum(boxes[..., 1], boxes[..., 3])
    out = np.stack([np.clip(x1, 0, width - 1), np.clip(y1, 0, height - 1),
                    np.clip(x2, 0, width - 1), np.clip(y2, 0, height - 1)], axis=-1)
    return out.astype(np.float32)
