"""One video's run as the steps of `personalize_video` share it (`VideoRun`: the input, the model, the settings and
the person boxes) and what the run hands back (`VideoResult`: both tracks of joints, the boxes, the losses, the
files written)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ttpose.boxes import Boxes
from ttpose.config import TTPConfig
from ttpose.data.video import FrameReader
from ttpose.inference import Predictions
from ttpose.model import TTPModel
from ttpose.video_personalize.loaded_model import LoadedModel
from ttpose.video_personalize.options import PersonalizeOptions

GENERIC_BATCH = 16  # generic predictions are made in batches of this many frames; saves happen at multiples of it


@dataclass
class VideoRun:
    """One video's run: its input, model and settings (step 1), then its person boxes (step 2)."""

    source: Path
    out_dir: Path
    options: PersonalizeOptions
    reader: FrameReader
    loaded: LoadedModel
    cfg: TTPConfig  # the TTP settings used (`LoadedModel.ttp_config`)
    count: int  # source frames, counted before decoding
    track: Boxes  # one box per source frame, before smoothing: given, whole frame, or (step 2) tracked
    whole: bool = False  # the box is the whole frame
    box_smooth: int = 1  # the moving-average window used (step 2)
    boxes: np.ndarray | None = None  # the crop boxes, smoothed and clamped, one per source frame (step 2)
    fast_schedule: str | None = None  # how the fast schedule's update was chosen (`ttpose.schedules`), if it was

    @property
    def model(self) -> TTPModel:
        return self.loaded.model

    @property
    def save_every(self) -> int:
        return max(GENERIC_BATCH, -(-int(self.options.save_every) // GENERIC_BATCH) * GENERIC_BATCH)


@dataclass
class VideoResult:
    """What `personalize_video` produced (also written to ``out_dir``)."""

    source: Path
    out_dir: Path
    mode: str
    frame_ids: np.ndarray  # N: source frame numbers of the decoded frames (skipped frames are absent)
    generic: Predictions  # joints N x K x 2 (full-frame pixels), scores N x K; smoothed if ``smooth``
    personalized: Predictions
    boxes: np.ndarray  # N x 4: the person box used for each frame (smoothed, clamped)
    box_source: str
    skipped: list[int]  # frames that could not be decoded
    losses: np.ndarray  # L_self of every update, in order (restored with the rest on a resume)
    seconds: float
    files: dict[str, Path]
    summary: dict = field(default_factory=dict)
    box_sources: list[str] = field(default_factory=list)  # N: where each frame's box came from (boxes.BOX_KINDS)
