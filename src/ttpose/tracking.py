"""Find the person in a video without a box file: track them with the pose model itself (no extra weights).

The model sees a square crop around one person; a crop of the whole frame makes a small person smaller
still, and the skeleton collapses. `Tracker` turns the model into its own person tracker:

1. **Start** (first frame): a search over square windows: the whole frame, centred and padded to a square,
   and windows whose side is each of ``search_sides`` x the frame's shorter side, a quarter side apart. The
   model looks at all of them (in batches); the ``start_candidates`` most confident windows are each refined:
   the box of their confident joints gives a finer crop, and so on for ``refine_steps`` passes (coarse to
   fine). The most confident pass of all candidates wins. A window on the person stays confident when the
   crop closes in on the joints it found; a background window that scored by chance rarely does, so the
   refined confidence picks the person more often than the window's own score.
2. **Track** (every later frame): the crop is the previous frame's box with the training padding
   (`BOX_PADDING`, as the model's training crops), and the frame's box is the extent of the joints
   predicted in it, grown by ``body_scale`` (joint centres -> the body around them); ``track_refine``
   more looks at the same frame, each around the box the look before found, follow a person who moved.
3. **Widen, then restart** when confidence drops: a frame is *lost* when fewer than ``min_joints`` joints
   are confident or its mean joint confidence falls below ``drop`` x the track's reference (the median of
   the last ``reference_frames`` accepted frames). A lost frame is tried again with a crop ``widen`` times
   larger; if that is lost too, the start procedure runs again on the frame, and the best of all the
   frame's attempts (highest mean confidence) is kept.
4. **Guided by the still scene** (when a `ttpose.background.Background` is given: a still camera): every frame
   where the background cue finds a region that differs from the empty scene is looked at around that region
   first, then ``track_refine`` more looks around the joints found; the last look whose box agrees with the
   region (at least ``agree_inside`` of its area inside it) gives the box, cut to the region ("guided": the
   person lies inside what differs from the empty scene, so joints the model misplaced outside it do not
   stretch the box); when none agrees, the region itself is the box ("background"). The cue does not depend
   on how well the model poses the person, which the confidence of steps 1-3 does: on the synthetic validation
   people of the shifted look it stops the boxes that grow to the frame, shrink onto a limb or start on the
   background, and the cut stops those that a badly posed person's stray joints stretch
   (benchmarks/TRACKING.md).
   Frames where the cue finds nothing are tracked as in steps 1-3.

Confidence is the heatmap maximum of each joint (``Predictions.scores``); a joint is confident when its
score is at least ``joint_threshold`` x the frame's highest joint score. Every frame's box comes with the
attempt it came from (`TRACK_SOURCES`), which the outputs record: "start", "tracked", "widened",
"restart", "guided", "background". Without a background a box depends only on the frame and the frames before
it, so tracking is causal (online); the background is the median of frames sampled over the whole video, so
with it a box also depends on later frames, through the estimate of the empty scene.

    tracker = Tracker(model)                 # or Tracker(model, background=Background.of_frames(sample))
    for image in frames:
        frame = tracker.step(image)      # frame.box (x1, y1, x2, y2), frame.source, frame.confidence

`track_frames` runs it over a whole sequence (``Track``: N x 4 boxes and N sources).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from ttpose.background import Background
from ttpose.boxes import Boxes
from ttpose.data.crops import BOX_PADDING, box_to_center_size, crop_frame
from ttpose.inference import Predictions, predict_crops
from ttpose.model import TTPModel
from ttpose.speed import SpeedConfig

# (image H x W x 3, centres R x 2, sizes R) -> (joints R x K x 2, scores R x K), full-frame pixels
Predict = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
TRACK_SOURCES = ("start", "tracked", "widened", "restart", "guided", "background")


@dataclass(frozen=True)
class TrackingOptions:
    """How `Tracker` follows the person (module docstring)."""

    joint_threshold: float = 0.3  # confident joint: score >= this x the frame's highest joint score
    min_joints: int = 4  # fewer confident joints than this: the frame is lost
    drop: float = 0.6  # mean joint score below drop x the reference: the frame is lost
    reference_frames: int = 10  # the reference is the median mean score of this many recent accepted frames
    widen: float = 1.6  # a lost frame is tried again with a crop this many times larger
    refine_steps: int = 2  # coarse-to-fine passes after the window search (start and restart)
    search_sides: tuple[float, ...] = (0.5, 0.35, 0.25)  # start windows' sides / the frame's shorter side
    start_candidates: int = 4  # the most confident start windows refined before one is chosen
    track_refine: int = 1  # more looks at a tracked frame, each around the box the look before found
    body_scale: float = 1.15  # joint extent -> person box (median 1.13 on synthetic training people)
    padding: float = BOX_PADDING  # crop side = box's longer side x this
    agree_inside: float = 0.5  # a guided look agrees with the background's region: this much of its box inside

    def __post_init__(self) -> None:
        checks = {"joint_threshold": 0 <= self.joint_threshold <= 1, "min_joints": self.min_joints >= 1,
                  "drop": 0 <= self.drop <= 1, "reference_frames": self.reference_frames >= 1,
                  "widen": self.widen >= 1, "refine_steps": self.refine_steps >= 0,
                  "search_sides": all(0 < f <= 1 for f in self.search_sides), "track_refine": self.track_refine >= 0,
                  "start_candidates": self.start_candidates >= 1,
                  "body_scale": self.body_scale > 0, "padding": self.padding > 0,
                  "agree_inside": 0 <= self.agree_inside <= 1}
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"TrackingOptions.{bad[0]}={getattr(self, bad[0])!r} is out of range")


@dataclass
class TrackedFrame:
    """One frame's result: the person box, where it came from, and the winning attempt's joints."""

    box: np.ndarray  # 4 float32: x1, y1, x2, y2, full-frame pixels
    source: str  # one of TRACK_SOURCES
    confidence: float  # mean joint score of the winning attempt
    joints: np.ndarray  # K x 2 full-frame pixels
    scores: np.ndarray  # K


@dataclass
class Track:
    """`track_frames` over a sequence: one box and one source per frame."""

    boxes: np.ndarray  # N x 4 float32
    sources: list[str]  # N, each one of TRACK_SOURCES
    confidence: np.ndarray  # N float32

    def __len__(self) -> int:
        return len(self.boxes)


def _intersection(box: np.ndarray, region: np.ndarray) -> np.ndarray:
    """x1, y1, x2, y2 of the overlap of two boxes (x2 < x1 or y2 < y1 when they do not overlap)."""
    return np.concatenate([np.maximum(box[:2], region[:2]), np.minimum(box[2:], region[2:])])


def _area(box: np.ndarray) -> float:
    return max(float(box[2] - box[0]), 0.0) * max(float(box[3] - box[1]), 0.0)


def agrees(box: np.ndarray, region: np.ndarray, options: TrackingOptions) -> bool:
    """Whether a look's ``box`` agrees with the background's ``region`` (both x1, y1, x2, y2): at least
    ``agree_inside`` of its area lies inside the region (a box of no area never agrees)."""
    box, region = np.asarray(box, np.float64), np.asarray(region, np.float64)
    own = _area(box)
    return own > 0 and _area(_intersection(box, region)) >= options.agree_inside * own


def inside(box: np.ndarray, region: np.ndarray) -> np.ndarray:
    """The part of ``box`` inside ``region`` (both x1, y1, x2, y2; float32): their intersection, or the region
    when they do not overlap."""
    box, region = np.asarray(box, np.float32), np.asarray(region, np.float32)
    cut = _intersection(box, region)
    return cut if _area(cut) > 0 else region.copy()


def joints_box(joints: np.ndarray, scores: np.ndarray, options: TrackingOptions) -> tuple[np.ndarray, int]:
    """(x1, y1, x2, y2) around the confident joints, grown by ``body_scale`` about its centre, and the
    number of confident joints. Fewer than ``min_joints`` confident: the ``min_joints`` best are used."""
    joints, scores = np.asarray(joints, np.float64), np.asarray(scores, np.float64)  # K x 2, K
    confident = scores >= options.joint_threshold * scores.max()
    count = int(confident.sum())
    if count < options.min_joints:
        confident = np.zeros_like(confident)
        confident[np.argsort(-scores, kind="stable")[:options.min_joints]] = True
    points = joints[confident]
    lo, hi = points.min(0), points.max(0)
    center, half = (lo + hi) / 2, np.maximum((hi - lo) / 2, 0.5) * options.body_scale
    return np.concatenate([center - half, center + half]).astype(np.float32), count


SEARCH_BATCH = 64  # start windows per model call


def search_windows(height: int, width: int, sides: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Centres (R x 2) and sides (R,) of the start search: the whole frame (centred, padded to a square) and,
    for each fraction in ``sides``, the square windows of side fraction x the shorter side of the frame that
    lie inside it, a quarter side apart (the last ones flush with the right and bottom edges)."""
    centers = [((width - 1) / 2, (height - 1) / 2)]
    lengths = [float(max(width, height))]
    for fraction in sides:
        side = fraction * min(width, height)
        xs, ys = (np.unique(np.append(np.arange(side / 2, n - side / 2, side / 4), n - side / 2))
                  for n in (width, height))
        for y in ys:
            for x in xs:
                centers.append((x - 0.5, y - 0.5))
                lengths.append(side)
    return np.asarray(centers, np.float32), np.asarray(lengths, np.float32)


def predict_regions(model: TTPModel, image: np.ndarray, centers: np.ndarray, sizes: np.ndarray,
                    speed: SpeedConfig | None = None) -> Predictions:
    """The model's joints in square regions (``centers`` R x 2, ``sizes`` R, full-frame pixels) of one frame."""
    size = model.config.input_size
    crops = [crop_frame(image, c, s, size)[0] for c, s in zip(centers, sizes, strict=True)]
    return predict_crops(model, crops, centers, sizes, speed)


def model_predict(model: TTPModel, speed: SpeedConfig | None = None) -> Predict:
    """The model as the `Predict` function a `Tracker` calls (the model is used as it is, in eval mode)."""
    def predict(image, centers, sizes):
        pred = predict_regions(model, image, centers, sizes, speed)
        return pred.joints, pred.scores

    return predict


class Tracker:
    """Follows one person through a stream of frames with a pose model (module docstring).

    ``model`` is a `TTPModel` (run with ``speed``'s autocast and layout) or any `Predict` function;
    ``background``, the still camera's empty scene, guides every frame where it finds the person (step 4)."""

    def __init__(self, model: TTPModel | Predict, options: TrackingOptions | None = None,
                 speed: SpeedConfig | None = None, background: Background | None = None):
        self.predict = model_predict(model, speed) if isinstance(model, TTPModel) else model
        self.options = options or TrackingOptions()
        self.background = background
        self.box: np.ndarray | None = None  # the last frame's box; None before the first frame
        self.history: list[float] = []  # mean joint scores of accepted frames

    def _looks(self, image: np.ndarray, boxes: list[np.ndarray], scale: float, source: str) -> list[TrackedFrame]:
        """One model call on the crops around ``boxes`` (training padding, side x ``scale``)."""
        regions = [box_to_center_size(b, self.options.padding) for b in boxes]
        joints, scores = self.predict(image, np.asarray([c for c, _ in regions], np.float32),
                                      np.asarray([s * scale for _, s in regions], np.float32))
        joints, scores = np.asarray(joints, np.float32), np.asarray(scores, np.float32)
        return [TrackedFrame(joints_box(j, s, self.options)[0], source, float(s.mean()), j, s)
                for j, s in zip(joints, scores, strict=True)]

    def _look(self, image: np.ndarray, box: np.ndarray, source: str, scale: float = 1.0) -> TrackedFrame:
        return self._looks(image, [box], scale, source)[0]

    def _lost(self, frame: TrackedFrame) -> bool:
        _, count = joints_box(frame.joints, frame.scores, self.options)
        recent = self.history[-self.options.reference_frames:]
        reference = float(np.median(recent)) if recent else 0.0
        return count < self.options.min_joints or frame.confidence < self.options.drop * reference

    def _search(self, image: np.ndarray, source: str) -> list[TrackedFrame]:
        """The ``start_candidates`` most confident start windows (`search_windows`), looked at in batches,
        most confident first."""
        centers, sides = search_windows(*image.shape[:2], self.options.search_sides)
        joints, scores = [], []
        for i in range(0, len(sides), SEARCH_BATCH):
            j, s = self.predict(image, centers[i:i + SEARCH_BATCH], sides[i:i + SEARCH_BATCH])
            joints.append(np.asarray(j, np.float32))
            scores.append(np.asarray(s, np.float32))
        joints, scores = np.concatenate(joints), np.concatenate(scores)
        best = np.argsort(-scores.mean(1), kind="stable")[:self.options.start_candidates]
        return [TrackedFrame(joints_box(joints[k], scores[k], self.options)[0], source, float(scores[k].mean()),
                             joints[k], scores[k]) for k in best]

    def _start(self, image: np.ndarray, source: str) -> TrackedFrame:
        """The window search first, then ``refine_steps`` crops around the joints found, for every candidate
        window at once; the most confident refined pass of them all (the best window when there are none)."""
        frames = self._search(image, source)
        passes = [] if self.options.refine_steps else frames
        for _ in range(self.options.refine_steps):
            frames = self._looks(image, [f.box for f in frames], 1.0, source)
            passes += frames
        return max(passes, key=lambda p: p.confidence)

    def _guided(self, image: np.ndarray, region: np.ndarray) -> TrackedFrame:
        """Looks around the background's ``region``, then around the joints found (``track_refine`` times); the
        last look that `agrees` with the region, its box cut to the region (`inside`), else the region itself
        with the first look's joints."""
        looks = [self._look(image, region, "guided")]
        for _ in range(self.options.track_refine):
            looks.append(self._look(image, looks[-1].box, "guided"))
        for look in reversed(looks):
            if agrees(look.box, region, self.options):
                look.box = inside(look.box, region)
                return look
        first = looks[0]
        return TrackedFrame(np.asarray(region, np.float32), "background", first.confidence, first.joints, first.scores)

    def step(self, image: np.ndarray) -> TrackedFrame:
        """The person box of the next frame (H x W x 3 RGB uint8)."""
        region = self.background.box(image) if self.background is not None else None
        if region is not None:
            result = self._guided(image, region)
        elif self.box is None:
            result = self._start(image, "start")
        else:
            result = self._look(image, self.box, "tracked")
            for _ in range(self.options.track_refine):
                result = self._look(image, result.box, "tracked")
            if self._lost(result):
                attempts = [result, self._look(image, self.box, "widened", self.options.widen)]
                if self._lost(attempts[-1]):
                    attempts.append(self._start(image, "restart"))
                    result = max(attempts, key=lambda a: a.confidence)
                else:
                    result = attempts[-1]
        self.box = result.box
        self.history = (self.history + [result.confidence])[-self.options.reference_frames:]
        return result


def track_frames(model: TTPModel | Predict, frames: Iterable[np.ndarray], options: TrackingOptions | None = None,
                 speed: SpeedConfig | None = None, background: Background | None = None) -> Track:
    """`Tracker` over a sequence of frames (RGB uint8): one box and its source per frame."""
    tracker = Tracker(model, options, speed, background)
    results = [tracker.step(image) for image in frames]
    if not results:
        raise ValueError("track_frames: no frames")
    return Track(np.stack([r.box for r in results]).astype(np.float32), [r.source for r in results],
                 np.array([r.confidence for r in results], np.float32))


def tracked_boxes(track: Track, frames, num_frames: int) -> Boxes:
    """``track`` of the frames numbered ``frames`` (N, increasing) as `Boxes` for all ``num_frames`` frames
    of the video: a frame without a result (not decoded) holds the box of the frame before it (the first
    result before the first tracked frame)."""
    frames = np.asarray(frames, np.int64)
    n = max(int(num_frames), int(frames[-1]) + 1)
    at = np.clip(np.searchsorted(frames, np.arange(n), side="right") - 1, 0, None)  # the last result <= t
    kinds = [track.sources[i] for i in at]
    counts = ", ".join(f"{track.sources.count(k)} {k}" for k in TRACK_SOURCES if k in track.sources)
    source = f"tracked by the pose model ({counts}; no box given)"
    return Boxes(track.boxes[at].astype(np.float32), source, np.zeros(n, bool), kinds)


__all__ = ["TRACK_SOURCES", "Predict", "Track", "TrackedFrame", "Tracker", "TrackingOptions", "agrees", "inside",
           "joints_box", "model_predict", "predict_regions", "track_frames", "tracked_boxes"]
