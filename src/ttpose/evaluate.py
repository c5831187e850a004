"""Evaluation as in the paper's Table 1: mean PCK@0.2 torso (Penn Action, Human3.6M, synthetic people)
or accuracy within 6 px at half resolution (BBC Pose), per part, without TTP, online or offline.

`evaluate(model, videos, ttp=...)` personalizes per video (reset between videos, Sec. 3.2), pools
the per-frame predictions and scores them; `write_outputs` saves the per-frame predictions as COCO-style
keypoint JSON and the metrics as JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ttpose.atomic import atomic_write_text
from ttpose.config import TTPConfig
from ttpose.data.types import Video
from ttpose.export import write_coco_keypoints
from ttpose.inference import Predictions
from ttpose.metrics import accuracy_within, format_table, part_table, pck_table
from ttpose.model import TTPModel
from ttpose.people import personalize_people
from ttpose.personalization import model_ttp_config
from ttpose.skeletons import Skeleton
from ttpose.speed import prediction_model

PCK_THRESHOLD = 0.2  # the authors' code (the paper's text says 0.5 for Penn Action; see docs/reproduce.md)
BBC_PIXELS, BBC_SCALE = 6.0, 0.5


@dataclass
class Evaluation:
    metric: str  # "PCK@0.2" or "Acc@6px"
    table: dict[str, float]  # part -> value (percent), and "Mean"
    frames: int
    joints: int  # visible joints scored

    @property
    def mean(self) -> float:
        return self.table["Mean"]

    def format(self) -> str:
        return f"{self.metric} over {self.frames} frames ({self.joints} visible joints)\n{format_table(self.table)}"


def evaluate_predictions(items: list[tuple[Video, np.ndarray, Predictions]], skeleton: Skeleton) -> Evaluation:
    """Score pooled predictions: ``items`` are (video, frame indices, predictions of those frames)."""
    pred = np.concatenate([p.joints for _, _, p in items])
    gt = np.concatenate([v.joints[np.asarray(i)] for v, i, _ in items])
    vis = np.concatenate([v.visible[np.asarray(i)] for v, i, _ in items])
    if skeleton.torso is None:
        table = part_table(accuracy_within(pred, gt, vis, d=BBC_PIXELS, scale=BBC_SCALE), skeleton)
        metric = f"Acc@{BBC_PIXELS:g}px"
    else:
        table = pck_table(pred, gt, vis, skeleton, threshold=PCK_THRESHOLD, convention="authors")
        metric = f"PCK@{PCK_THRESHOLD:g}"
    return Evaluation(metric, {k: float(v) for k, v in table.items()}, len(pred), int(vis.sum()))


def evaluate(
    model: TTPModel,
    videos: list[Video],
    ttp: str = "none",
    config: TTPConfig | None = None,
    loss=None,
    seed: int = 0,
    progress: bool = True,
    workers: int = 1,
) -> tuple[Evaluation, list[Predictions]]:
    """Predict every frame of every video (personalizing per video when ``ttp`` is online/offline, in
    ``workers`` processes: `ttpose.people.personalize_people`)."""
    if not videos:
        raise ValueError("no videos to evaluate")
    config = config or model_ttp_config(model)
    if ttp == "none":  # prediction only: one process, one prediction-only copy for all videos
        model, workers = prediction_model(model, config.speed), 1
    preds = personalize_people(model, videos, ttp, config, loss, seed, workers=workers, progress=progress)
    items = [(v, p.frame_index, p) for v, p in zip(videos, preds, strict=True)]
    return evaluate_predictions(items, model.skeleton), preds


def image_names(video: Video, indices: np.ndarray) -> list[str] | None:
    """The file names of ``video``'s frames at ``indices`` when they are image files (Penn Action's frame 1
    is ``000001.jpg``), else None (the exporter's default names)."""
    paths = getattr(video.images, "paths", None)
    return None if paths is None else [Path(paths[int(i)]).name for i in indices]


def write_outputs(out_dir: str | Path, evaluation: Evaluation, videos: list[Video], preds: list[Predictions],
                  skeleton: Skeleton, settings: dict) -> None:
    """predictions/<video_id>.json (COCO-style keypoints, one annotation per frame) and metrics.json."""
    out = Path(out_dir)
    for video, pred in zip(videos, preds, strict=True):
        h, w = np.asarray(video.images[0]).shape[:2]
        write_coco_keypoints(out / "predictions" / f"{video.video_id}.json", pred.joints, pred.scores, skeleton,
                             (w, h), frame_ids=video.frame_ids[pred.frame_index], boxes=video.boxes[pred.frame_index],
                             file_names=image_names(video, pred.frame_index))
    metrics = {"metric": evaluation.metric, "table": evaluation.table, "frames": evaluation.frames,
               "visible_joints": evaluation.joints, "settings": settings}
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2))


__all__ = ["Evaluation", "evaluate", "evaluate_predictions", "write_outputs"]
