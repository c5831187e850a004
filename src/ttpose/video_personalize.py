"""Personalize a pose estimator to the person in your own video: test-time personalization (Sec. 3.2) end to end.

    from ttpose.video_personalize import PersonalizeOptions, personalize_video
    result = personalize_video("clip.mp4", "model.safetensors", "out/", PersonalizeOptions(mode="online"))
    result.personalized.joints    # N x K x 2 full-frame pixels, one row per decoded frame (result.frame_ids)

or ``ttpose personalize clip.mp4 --checkpoint model.safetensors --out out/`` (docs/personalize-your-video.md),
which builds the `PersonalizeOptions` from its flags. The pipeline, in the order of this file, built so that
memory stays bounded on long videos (only crops and per-frame arrays are kept):

1. Checks before any work: the output folder is writable, the input decodes (`ttpose.data.video`), the
   checkpoint loads (`ttpose.checkpoint`), the box file fits the video. The frame count that a box file is
   checked against comes from a demux pass that reads packets without decoding them.
2. Boxes (`ttpose.boxes`): a box file, else a fixed box, else the person tracked by the model itself
   (`ttpose.tracking`: one decode pass with the generic model before pass 1), or with ``tracking=None`` the
   whole frame (centred and padded to a square); the choice is printed and recorded in summary.json
   (each frame's box source too, ``box_sources``), never a silent guess. The track is
   smoothed over time (moving average of ``box_smooth`` frames, default `BOX_SMOOTH`: trailing online,
   centred offline; a folder of photos personalized offline is an unordered set and is not smoothed; tracked
   boxes online are not smoothed unless ``box_smooth`` is given, since a trailing average lags behind a
   moving person) and clamped to the frame.
3. Pass 1, one decode pass: per frame, the generic prediction (the checkpoint as trained, ``model.predict``
   on the crop), and
   - online: `StreamingPersonalizer.step`, i.e. updates on frames 0..t, then frame t is predicted from the
     decoded frame (a prediction never depends on a later frame);
   - offline: the frame's padded crop is stored (`CropStore`, JPEG).
4. Offline only: `ttpose.personalization.personalize_offline` on the stored crops (``store.as_video()``):
   ``offline_steps`` updates on random pairs, then every stored crop is predicted. These predictions see
   pixels resampled twice (the frame was resized into the store, then the stored crop is cropped again to
   the model's input; the store's JPEG adds a little loss) while the generic ones are cropped once from the
   decoded frame. With the default margin (1.5) and JPEG quality (95) the difference is small, but it is
   there.
5. Optional Savitzky-Golay smoothing of both tracks along time (``smooth`` = window, `ttpose.smoothing`;
   decoded frames are treated as consecutive, also across a skipped frame).
6. keypoints (COCO JSON and CSV, generic and personalized), then pass 2: the input is decoded again and the
   overlay video with both skeletons is written, so no frame has to be kept; summary.json comes last.

Every output is atomic (`ttpose.atomic`): Ctrl-C leaves finished files complete and no partial ones. Pass 1
(and the offline updates) save their state every ``save_every`` frames (or steps) into
``OUT/.ttpose-resume/`` (`ttpose.resume`); ``resume=True`` continues from there and gives the same result as
an uninterrupted run. The folder is removed when the run completes.

Many videos (`personalize_many`): a folder of video files, each personalized on its own into
``OUT/<video name>/``. Under ``torchrun`` (``RANK`` and ``WORLD_SIZE`` set) rank r takes the videos
``r, r + W, r + 2W, ...`` of the sorted list; no process group is needed, and since each video's run
depends only on the video, the checkpoint and the seed, the results equal those of one process.
What a path holds (a video, one person's images, a folder of videos) is `ttpose.data.video.input_kind`'s call.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ttpose import __version__
from ttpose.atomic import atomic_write_text
from ttpose.boxes import BoxError, Boxes, box_window, clamp_boxes, kind_runs, resolve_boxes, smooth_boxes
from ttpose.config import SpeedConfig, TTPConfig, config_from_dict, to_dict
from ttpose.convert import load_model_file
from ttpose.data.crops import BOX_PADDING, box_to_center_size, crop_frame, uncrop_points
from ttpose.data.video import (
    FrameReader,
    VideoError,
    count_frames,
    input_kind,
    list_videos,
    open_frames,
    read_frames,
)
from ttpose.export import OverlayVideoWriter, write_coco_keypoints, write_keypoints_csv
from ttpose.inference import Predictions, predict_crops
from ttpose.model import TTPModel
from ttpose.personalization import (
    CropStore,
    Personalizer,
    StreamingPersonalizer,
    personalize_offline,
    seconds_per_update,
)
from ttpose.resume import Learner, ResumeError, ResumeState, RunRecord, source_fingerprint
from ttpose.smoothing import SMOOTH_ORDER, savgol_smooth, smoothing_window
from ttpose.speed import describe, prediction_model
from ttpose.tracking import TrackingOptions, track_frames, tracked_boxes
from ttpose.viz import overlay_two

MODES = ("online", "offline")
GENERIC_BATCH = 16  # generic predictions are made in batches of this many frames; saves happen at multiples of it
BOX_SMOOTH = 9  # default moving-average window of the boxes, frames (see the module docstring)
FOLDER_FPS = 10.0  # frame rate of the overlay video of an image folder


class OutputError(ValueError):
    """An output folder that cannot be written; one line naming the folder."""


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class PersonalizeOptions:
    """Every choice of `personalize_video` / `personalize_many` besides the input, the model and the output folder.

    ``config`` defaults to the checkpoint's saved TTP settings; ``overrides`` are ``ttp.KEY=VALUE`` (and
    ``loss.KEY=VALUE``, for the model's L_self) strings applied on top. ``boxes`` is a box file (JSON or CSV,
    `ttpose.boxes`; for `personalize_many` a folder of them, named after the videos), ``box`` a fixed
    x1,y1,x2,y2 box; with neither, the person is tracked by the model (`ttpose.tracking`, with ``tracking``'s
    options), or with ``tracking=None`` the whole frame is the box. ``smooth`` is an odd Savitzky-Golay window
    (None: no smoothing). Every ``save_every`` frames (rounded up to a multiple of 16) the state is saved for
    ``resume``. ``log`` receives one-line messages (the box source, skipped frames); ``on_frame(index)`` is
    called after each frame of pass 1 (e.g. a test may raise KeyboardInterrupt there).
    """

    mode: str = "online"  # "online" or "offline" (Sec. 3.2)
    config: TTPConfig | None = None
    overrides: Sequence[str] = ()
    seed: int = 0
    # the person's box in each frame (step 2)
    boxes: str | Path | None = None
    box: str | Sequence[float] | None = None
    tracking: TrackingOptions | None = TrackingOptions()  # frozen: one shared default is safe
    box_smooth: int | None = None  # moving-average window; None: BOX_SMOOTH (tracked online: 1)
    # the crops the offline updates draw from (`CropStore`)
    margin: float = 1.5
    jpeg_quality: int | None = 95
    # outputs
    smooth: int | None = None
    overlay: bool = True
    # the run
    resume: bool = False
    save_every: int = 256
    progress: bool = True
    log: Callable[[str], None] | None = _stderr
    on_frame: Callable[[int], None] | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.smooth is not None and (int(self.smooth) < SMOOTH_ORDER + 2 or int(self.smooth) % 2 == 0):
            raise ValueError(f"smoothing window must be an odd number of frames >= {SMOOTH_ORDER + 2} (a quadratic "
                             f"fit over fewer points changes nothing), got {self.smooth}")
        if self.box_smooth is not None and int(self.box_smooth) < 1:
            raise ValueError(f"box smoothing window must be at least 1 frame, got {self.box_smooth}")


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


@dataclass
class LoadedModel:
    """A model with what a run records about it: where it came from, its identity and its saved TTP settings.

    The model is put in eval mode (batch-norm statistics frozen, no dropout), as in the authors' code;
    personalization updates a copy of it.
    """

    model: TTPModel
    checkpoint: str  # the path, or "(model given in Python)"
    ttp: TTPConfig  # the checkpoint's saved ``ttp`` section (TTPConfig() for a model object)
    digest: str  # SHA-256 of the checkpoint file (of the weights for a model object): a resume refuses another
    _generic: dict = field(default_factory=dict, repr=False, compare=False)

    @staticmethod
    def of(checkpoint_or_model: str | Path | TTPModel | LoadedModel,
           log: Callable[[str], None] | None = None) -> LoadedModel:
        """From a model, a ttpose checkpoint or the authors' .pth (converted in memory, said through ``log``).

        The file's weights are read once; its SHA-256 (what ``sha256sum`` prints) is streamed from the file."""
        if isinstance(checkpoint_or_model, LoadedModel):
            return checkpoint_or_model
        if isinstance(checkpoint_or_model, TTPModel):
            model = checkpoint_or_model
            sha = hashlib.sha256()
            for name, tensor in model.state_dict().items():
                sha.update(name.encode())
                sha.update(tensor.detach().cpu().contiguous().numpy().tobytes())
            return LoadedModel(model.eval(), "(model given in Python)", TTPConfig(), sha.hexdigest())
        saved, model, note = load_model_file(checkpoint_or_model)
        if note and log:
            log(f"note: {note}")
        sha = hashlib.sha256()
        with open(checkpoint_or_model, "rb") as f:
            while chunk := f.read(1 << 20):
                sha.update(chunk)
        return LoadedModel(model.eval(), str(checkpoint_or_model), saved.ttp, sha.hexdigest())

    def generic(self, speed: SpeedConfig) -> TTPModel:
        """The model for the generic predictions under ``speed`` (`ttpose.speed.prediction_model`), built once
        per setting: the videos of `personalize_many` share it (with compile_frozen, one compilation)."""
        key = describe(speed)
        if key not in self._generic:
            self._generic[key] = prediction_model(self.model, speed)
        return self._generic[key]

    def ttp_config(self, options: PersonalizeOptions) -> TTPConfig:
        """The run's TTP settings: ``options.config`` (default: the checkpoint's saved ones) with the ``ttp.*``
        overrides applied and ``options.mode``. ``loss.*`` overrides go to the model's L_self (e.g.
        loss.vgg_weights=PATH for the authors' .pth, which does not name its VGG-16 file)."""
        base, overrides = options.config or self.ttp, options.overrides
        bad = [o for o in overrides if not o.startswith(("ttp.", "loss."))]
        if bad:
            raise ValueError(f"override {bad[0]!r}: only ttp.* and loss.* settings can be changed here "
                             "(e.g. ttp.lr=1e-5)")
        ttp = [o for o in overrides if o.startswith("ttp.")]
        if ttp:
            base = config_from_dict({"ttp": to_dict(base)}, ttp).ttp
        loss = [o for o in overrides if o.startswith("loss.")]
        if loss:
            saved = to_dict(self.model.loss_config) if self.model.loss_config else {}
            self.model.loss_config = config_from_dict({"loss": saved}, loss).loss
        return replace(base, mode=options.mode)


@dataclass
class _Run:
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

    @property
    def model(self) -> TTPModel:
        return self.loaded.model

    @property
    def save_every(self) -> int:
        return max(GENERIC_BATCH, -(-int(self.options.save_every) // GENERIC_BATCH) * GENERIC_BATCH)


# ---------------------------------------------------------------------------------------------- the run


def personalize_video(source: str | Path, checkpoint_or_model: str | Path | TTPModel | LoadedModel,
                      out_dir: str | Path, options: PersonalizeOptions | None = None) -> VideoResult:
    """Personalize the model to the person in ``source`` (a video file or a folder of images) and write the
    outputs to ``out_dir`` (module docstring; ``options``: `PersonalizeOptions`)."""
    started = time.time()
    options = _options(options)
    run = _check(Path(source), checkpoint_or_model, Path(out_dir), options)
    _choose_boxes(run)
    learner = _learner(run)
    record = RunRecord(run.model.skeleton.num_joints)
    state = ResumeState(run.out_dir, _fingerprint(run))
    resumed_at = _resume_or_start_over(state, learner, record, options)
    if options.log and record.phase == "frames":  # offline: every update comes after all the frames
        frames = run.count - resumed_at if run.cfg.mode == "online" else run.count
        options.log(_expected_time(run.model, run.cfg, frames))
    pass1_started = time.time()
    if record.phase == "frames":
        _pass1(run, learner, record, state)
        record.phase = "updates" if run.cfg.mode == "offline" else "done"
        state.save(learner, record)
    if record.phase == "updates":
        _offline(run, learner, record, state)
        record.phase = "done"
        state.save(learner, record)
    pass1_seconds = time.time() - pass1_started
    result = _result(run, record)
    _write_outputs(result, run)
    result.seconds = time.time() - started
    result.summary = _summary(result, run, record.notes, resumed_at, pass1_seconds)
    atomic_write_text(run.out_dir / "summary.json", json.dumps(result.summary, indent=1))
    result.files["summary"] = run.out_dir / "summary.json"
    state.remove()
    return result


def _options(options: PersonalizeOptions | None) -> PersonalizeOptions:
    if options is None:
        return PersonalizeOptions()
    if not isinstance(options, PersonalizeOptions):  # e.g. the mode where the options go, as before they existed
        raise TypeError(f"options must be a PersonalizeOptions (e.g. PersonalizeOptions(mode=\"offline\")), "
                        f"got {options!r}")
    return options


# ------------------------------------------------------------------------------- 1. checks before any work


def check_writable(out_dir: str | Path) -> bool:
    """Create ``out_dir`` if needed and check that a file can be written in it; True if it was created."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir}: output path exists and is not a folder")
    created = not out_dir.exists()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out_dir, prefix=".ttpose-write-test."):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise OutputError(f"{out_dir}: output folder is not writable ({reason})") from None
    return created


def _check(source: Path, checkpoint_or_model, out_dir: Path, options: PersonalizeOptions) -> _Run:
    """The output folder, the input, the model and the box file, each checked before any work; a failed check
    leaves no output folder behind."""
    created = check_writable(out_dir)
    try:
        if input_kind(source) == "videos":
            raise VideoError(f"{source}: a folder of videos; use personalize_many (one run per video)")
        reader = open_frames(source)
        loaded = LoadedModel.of(checkpoint_or_model, options.log)
        if loaded.model.config.self_task == "none":
            raise ValueError(f"{loaded.checkpoint}: this model has no self-supervised task (the supervised-only "
                             "baseline): nothing to personalize")
        cfg = loaded.ttp_config(options)
        count = count_frames(reader)
        info = reader.info
        track = resolve_boxes(count, info.width, info.height, options.boxes, options.box,
                              frame_names=getattr(reader, "names", None))
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                out_dir.rmdir()  # only if still empty
        raise
    return _Run(source, out_dir, options, reader, loaded, cfg, count, track)


# ------------------------------------------------------------------------------------------------ 2. boxes


def _choose_boxes(run: _Run) -> None:
    """The person box of every frame: given, else tracked by the generic model (or the whole frame), then
    smoothed over time and clamped to the frame (module docstring, step 2)."""
    options, info = run.options, run.reader.info
    run.whole = options.boxes is None and options.box is None
    box_smooth = options.box_smooth
    if run.whole and options.tracking is not None:
        if options.log:
            options.log(f"{run.source}: no box given; tracking the person with the model (--whole-frame to use "
                        "the whole frame)")
        run.track = _track(run)
        run.whole = False
        if box_smooth is None and run.cfg.mode == "online":  # the tracker's own box follows the person; a
            box_smooth = 1  # trailing average lags behind one who moves (val people: benchmarks/TRACKING.md)
    run.box_smooth = BOX_SMOOTH if box_smooth is None else int(box_smooth)
    # online: a trailing average (no crop may depend on a later frame); an unordered set of photos (a folder
    # of images, offline) is no time series: not smoothed
    if run.cfg.mode == "offline" and run.source.is_dir():
        run.box_smooth = 1
    run.boxes = clamp_boxes(smooth_boxes(run.track.boxes, run.box_smooth, causal=run.cfg.mode == "online"),
                            info.width, info.height)
    if options.log:
        options.log(f"{run.source}: {info.width}x{info.height}, {info.codec}, ~{run.count} frames; "
                    f"person box: {run.track.source}")


def _track(run: _Run) -> Boxes:
    """The person's boxes tracked by the generic model (`ttpose.tracking`), one decode pass; frames that do not
    decode hold the box before them (their decode warnings are reported by pass 1)."""
    bar = tqdm(total=run.count, unit="frame", desc=f"{run.source.name} tracking", disable=not run.options.progress,
               dynamic_ncols=True)
    frames: list[int] = []

    def images():
        for index, image in read_frames(run.reader):
            frames.append(int(index))
            bar.update(1)
            yield image

    try:
        track = track_frames(run.loaded.generic(run.cfg.speed), images(), run.options.tracking, run.cfg.speed)
    except ValueError:
        if frames:
            raise
        raise VideoError(f"{run.reader.info.path}: no decodable video frames") from None
    finally:
        bar.close()
    return tracked_boxes(track, frames, run.count)


# ------------------------------------------------------------------ what is learnt, what a resume must match


@dataclass
class _OfflineLearner:
    """Offline: a private model to update and the crops stored for it, with the RNG that draws the pairs; the
    parts of a `StreamingPersonalizer` (what online runs use), without its per-frame step."""

    tuner: Personalizer
    store: CropStore
    rng: np.random.Generator
    first: int = 0


def _learner(run: _Run) -> Learner:
    """Online: a `StreamingPersonalizer`; offline: its parts, as pass 1 only stores crops."""
    options, model = run.options, run.model
    if run.cfg.mode == "online":
        return StreamingPersonalizer(model, run.cfg, seed=options.seed, margin=options.margin,
                                     jpeg_quality=options.jpeg_quality, padding=BOX_PADDING)
    return _OfflineLearner(Personalizer(model, run.cfg, seed=options.seed),
                           CropStore(model.config.input_size, options.margin, options.jpeg_quality),
                           np.random.default_rng(options.seed))


def _fingerprint(run: _Run) -> dict:
    """What the user chose, most telling first (a refusal names the first difference): the boxes before
    smoothing and the window, not the smoothed track, which also depends on the mode (trailing online, centred
    offline), so that another mode is refused as "different mode"."""
    o = run.options
    raw = np.ascontiguousarray(run.track.boxes, np.float32).tobytes() + (b"whole frame" if run.whole else b"")
    return {"source": source_fingerprint(run.source), "model": run.loaded.digest, "mode": run.cfg.mode,
            "ttp": to_dict(run.cfg), "seed": o.seed, "margin": o.margin, "jpeg_quality": o.jpeg_quality,
            "boxes": hashlib.sha1(raw).hexdigest(), "box_smooth": int(run.box_smooth)}


def _resume_or_start_over(state: ResumeState, learner: Learner, record: RunRecord,
                          options: PersonalizeOptions) -> int:
    """With ``resume``, the saved state restored; without, any saved state discarded. Returns the frames done."""
    log = options.log
    if options.resume:
        if state.load(learner, record):
            if log:
                log(f"resuming from {state.folder}: {len(record.frame_ids)} frames done ({record.phase})")
            return len(record.frame_ids)
        if log:
            log(f"nothing to resume in {state.folder}; starting from the first frame")
    elif state.exists():
        if log:
            log(f"starting over; the unfinished run saved in {state.folder} is discarded (--resume continues one)")
        state.remove()
    return 0


def _expected_time(model: TTPModel, cfg: TTPConfig, frames: int) -> str:
    """One line: the updates ahead and the time they will take, from one timed trial update (decoding,
    prediction and writing come on top)."""
    updates = cfg.total_updates(frames, cfg.mode)
    seconds = seconds_per_update(model, cfg)
    total = updates * seconds
    when = f"{total / 3600:.1f} h" if total >= 3600 else f"{total / 60:.1f} min" if total >= 60 else f"{total:.0f} s"
    return (f"expected time: about {when} for {updates} updates ({seconds:.2f} s each, timed on a trial update; "
            f"decoding and predicting the frames come on top)")


# ----------------------------------------------------------------------------------------------- 3. pass 1


def _pass1(run: _Run, learner: Learner, record: RunRecord, state: ResumeState) -> None:
    """One decode pass: per frame, the crop for the generic model and, online, `StreamingPersonalizer.step`;
    offline, the frame's crop is stored. Frames done before a resume are decoded (to keep the numbering) but
    not run."""
    options, online = run.options, run.cfg.mode == "online"
    generic, size = run.loaded.generic(run.cfg.speed), run.model.config.input_size
    done_before = len(record.frame_ids)
    last_done = record.frame_ids[-1] if record.frame_ids else -1
    pending: list[np.ndarray] = []  # model-input crops waiting for the generic model
    notes: list[str] = []  # this pass's decode warnings

    def skipped(message: str) -> None:
        notes.append(message)
        if options.log:
            options.log(f"warning: {message}")

    bar = tqdm(total=run.count, unit="frame", desc=f"{run.source.name} {run.cfg.mode}",
               disable=not options.progress, dynamic_ncols=True)
    try:
        for index, image in read_frames(run.reader, skipped):
            bar.update(1)
            if index <= last_done:
                continue
            box = run.boxes[min(index, len(run.boxes) - 1)]
            center, side = _crop_region(box, run.whole)
            if online:
                pred = learner.step(image, None if run.whole else box)
                record.pers_joints.append(pred.joints)
                record.pers_scores.append(pred.scores)
                record.losses += pred.losses  # every update (ttp.steps_per_frame of them)
            else:
                learner.store.add(image, center, side)
            record.frame_ids.append(int(index))
            record.boxes.append(np.asarray(box, np.float32))
            record.centers.append(np.asarray(center, np.float32))
            record.sizes.append(float(side))
            pending.append(crop_frame(image, center, side, size)[0])
            processed = len(record.frame_ids)
            if processed % GENERIC_BATCH == 0:
                _predict_generic(generic, run.cfg.speed, pending, record)
            if processed % run.save_every == 0 and processed > done_before:
                state.save(learner, record)
            if options.on_frame is not None:
                options.on_frame(index)
        _predict_generic(generic, run.cfg.speed, pending, record)
    finally:
        bar.close()
    if not record.frame_ids:
        raise VideoError(f"{run.reader.info.path}: no decodable video frames")
    record.skipped, record.notes = sorted(set(run.reader.skipped)), record.notes + notes


def _crop_region(box: np.ndarray, whole_frame: bool) -> tuple[np.ndarray, float]:
    """The crop's centre and side, both float32 values: the precision the resume state saves them in, so that
    a resumed run maps its restored frames back with the very numbers an uninterrupted run uses."""
    center, side = box_to_center_size(box, 1.0 if whole_frame else BOX_PADDING)
    return center, float(np.float32(side))


def _predict_generic(model: TTPModel, speed: SpeedConfig, pending: list[np.ndarray], record: RunRecord) -> None:
    """The generic model's predictions on the pending crops (the latest frames of ``record``); empties it."""
    if not pending:
        return
    n, start = len(pending), len(record.generic_joints)
    pred = predict_crops(model, pending, np.array(record.centers[start:start + n]),
                         np.array(record.sizes[start:start + n]), speed)
    record.generic_joints += list(pred.joints)
    record.generic_scores += list(pred.scores)
    pending.clear()


# ---------------------------------------------------------------------------------------------- 4. offline


def _offline(run: _Run, learner: Learner, record: RunRecord, state: ResumeState) -> None:
    """Offline updates on random pairs of stored crops, then every stored crop is predicted (Sec. 3.2,
    `personalize_offline`); predictions are mapped from the store's pixels back to the frame."""
    store, save_every = learner.store, run.save_every
    video = store.as_video(run.model.skeleton, video_id=run.source.name)
    centers, regions = np.array(record.centers), np.array(record.sizes) * store.margin

    def updated(loss: float) -> None:
        record.losses.append(loss)
        if len(record.losses) % save_every == 0:
            state.save(learner, record)

    def predicted(pred: Predictions) -> None:
        for j, i in enumerate(pred.frame_index):
            record.pers_joints.append(uncrop_points(pred.joints[j], centers[i], regions[i], store.side)
                                      .astype(np.float32))
            record.pers_scores.append(pred.scores[j])
        state.save(learner, record)

    # an offline run records no online losses: its losses are its updates so far
    personalize_offline(learner.tuner, video, learner.rng, run.options.progress, updates_done=len(record.losses),
                        frames_done=len(record.pers_joints), on_update=updated, on_chunk=predicted)


# ------------------------------------------------------------------------------------ 5. smoothing, results


def _result(run: _Run, record: RunRecord) -> VideoResult:
    a, smooth, kinds = record.arrays(), run.options.smooth, run.track.kinds
    generic = Predictions(a["frame_ids"], a["generic_joints"], a["generic_scores"])
    personalized = Predictions(a["frame_ids"], a["pers_joints"], a["pers_scores"])
    if smooth is not None:
        generic.joints = savgol_smooth(generic.joints, smooth).astype(np.float32)
        personalized.joints = savgol_smooth(personalized.joints, smooth).astype(np.float32)
    return VideoResult(run.source, run.out_dir, run.cfg.mode, a["frame_ids"], generic, personalized, a["boxes"],
                       run.track.source, record.skipped, a["losses"], 0.0, {},
                       box_sources=[kinds[min(int(i), len(kinds) - 1)] for i in a["frame_ids"]])


# ---------------------------------------------------------------------------------------------- 6. outputs


def _write_outputs(result: VideoResult, run: _Run) -> None:
    out, info, skeleton = result.out_dir, run.reader.info, run.model.skeleton
    (out / "summary.json").unlink(missing_ok=True)  # written last: present = one complete run
    ids = result.frame_ids
    names = getattr(run.reader, "names", None)
    files = names and [names[i] for i in ids]
    for which, pred in (("generic", result.generic), ("personalized", result.personalized)):
        result.files[f"{which}_json"] = write_coco_keypoints(out / f"{which}.json", pred.joints, pred.scores,
                                                             skeleton, (info.width, info.height), ids, files,
                                                             result.boxes)
        result.files[f"{which}_csv"] = write_keypoints_csv(out / f"{which}.csv", pred.joints, pred.scores,
                                                           skeleton, ids)
    if not run.options.overlay:
        (out / "overlay.mp4").unlink(missing_ok=True)  # an earlier run's overlay would not match these outputs
        return
    at = {int(i): j for j, i in enumerate(ids)}
    labels = ("generic", f"personalized ({result.mode})")
    bar = tqdm(total=len(ids), unit="frame", desc=f"{result.source.name} overlay", disable=not run.options.progress,
               dynamic_ncols=True)
    try:
        with OverlayVideoWriter(out / "overlay.mp4", info.fps or FOLDER_FPS, info.width, info.height) as writer:
            for index, image in read_frames(run.reader):
                j = at.get(int(index))
                if j is not None:
                    writer.write(overlay_two(image, result.generic.joints[j], result.personalized.joints[j],
                                             skeleton, labels))
                    bar.update(1)
    finally:
        bar.close()
    result.files["overlay"] = out / "overlay.mp4"


def _summary(result: VideoResult, run: _Run, notes: list[str], resumed_at: int, pass1_seconds: float) -> dict:
    info, model, o = run.reader.info, run.model, run.options
    online, processed = result.mode == "online", len(result.frame_ids) - resumed_at
    return {
        "ttpose_version": __version__,
        "source": str(result.source),
        "video": {"width": info.width, "height": info.height, "fps": info.fps, "codec": info.codec,
                  "frames_counted": run.count},
        "checkpoint": run.loaded.checkpoint,
        "model": {"backbone": model.config.backbone, "input_size": model.config.input_size,
                  "sup_head": model.config.sup_head, "self_task": model.config.self_task,
                  "skeleton": model.skeleton.name},
        "mode": result.mode,
        "frames": int(len(result.frame_ids)),
        "skipped_frames": result.skipped,
        "warnings": notes,
        "box_source": result.box_source,
        "box_sources": kind_runs(result.box_sources, result.frame_ids),  # each frame's box: where it came from
        "boxes_interpolated": int(run.track.interpolated.sum()),
        "settings": {"ttp": to_dict(run.cfg), "seed": o.seed, "smooth": o.smooth, "box_smooth": run.box_smooth,
                     "crop_margin": o.margin, "crop_jpeg_quality": o.jpeg_quality, "crop_padding": BOX_PADDING},
        "box_smoothing": (f"moving average, {'trailing' if online else 'centred'}, window {box_used}"
                          if (box_used := box_window(run.box_smooth, len(run.track.boxes), online)) > 1 else "none"),
        "smoothing": (f"Savitzky-Golay, window {used}, order {SMOOTH_ORDER}, applied to generic and "
                      "personalized joints" if (used := o.smooth and smoothing_window(o.smooth, len(result.frame_ids)))
                      else "none"),
        "updates": int(len(result.losses)),
        "resumed_from_frame": resumed_at or None,
        "seconds": round(result.seconds, 3),
        "frames_per_second": round(processed / pass1_seconds, 3) if pass1_seconds > 0 and processed else None,
        "outputs": sorted(p.name for p in result.files.values()) + ["summary.json"],
    }


# ------------------------------------------------------------------------------------------- many videos


@dataclass
class ManyResult:
    done: list[VideoResult]
    failed: list[tuple[Path, str]]  # (video, one-line error)
    videos: list[Path]  # this rank's share
    rank: int
    world_size: int
    finished_before: list[Path] = field(default_factory=list)  # with resume: complete already, not run again


def rank_and_world() -> tuple[int, int]:
    """(RANK, WORLD_SIZE) from the environment torchrun sets; (0, 1) otherwise."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
    except ValueError:
        raise ValueError("RANK and WORLD_SIZE must be whole numbers") from None
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"RANK={rank} is not in 0..WORLD_SIZE-1 (WORLD_SIZE={world})")
    return rank, world


def _box_file_for(boxes: Path, video: Path) -> Path:
    for suffix in (".json", ".csv"):
        if (boxes / (video.stem + suffix)).is_file():
            return boxes / (video.stem + suffix)
    raise BoxError(f"{boxes}: no box file {video.stem}.json or {video.stem}.csv for the video {video.name}")


def personalize_many(folder: str | Path, checkpoint_or_model: str | Path | TTPModel, out_dir: str | Path,
                     options: PersonalizeOptions | None = None, rank: int | None = None,
                     world_size: int | None = None) -> ManyResult:
    """`personalize_video` for each video of ``folder`` (this rank's share) into ``out_dir/<video name>/``.

    ``options.boxes``, if given, is a folder of box files named after the videos (``<stem>.json`` or ``.csv``).
    A video that fails (bad file, bad box file) is reported in ``failed`` and the others go on. With
    ``options.resume``, videos whose output folder has a summary.json (a complete run) are not run again.
    ``rank`` / ``world_size`` default to `rank_and_world`.
    """
    options = _options(options)
    folder, out_dir, log = Path(folder), Path(out_dir), options.log
    videos = list_videos(folder)  # before anything is created: an empty or missing folder leaves nothing behind
    check_writable(out_dir)
    if rank is None or world_size is None:
        rank, world_size = rank_and_world()
    loaded = LoadedModel.of(checkpoint_or_model, log)
    stems = [v.stem for v in videos]
    mine = videos[rank::world_size]
    if log:
        log(f"{folder}: {len(videos)} videos; rank {rank} of {world_size} takes {len(mine)}")
    result = ManyResult([], [], mine, rank, world_size)
    for video in mine:
        name = video.stem if stems.count(video.stem) == 1 else video.name
        if options.resume and (out_dir / name / "summary.json").is_file():
            result.finished_before.append(video)
            if log:
                log(f"{video.name}: already done in {out_dir / name}")
            continue
        try:
            box_file = _box_file_for(Path(options.boxes), video) if options.boxes is not None else None
            result.done.append(personalize_video(video, loaded, out_dir / name, replace(options, boxes=box_file)))
        except (VideoError, BoxError, ResumeError) as exc:  # this video's problem: the others go on
            result.failed.append((video, str(exc).splitlines()[0]))
            if log:
                log(f"error: {result.failed[-1][1]}")
    return result


__all__ = ["LoadedModel", "ManyResult", "OutputError", "PersonalizeOptions", "VideoResult", "check_writable",
           "personalize_many", "personalize_video", "rank_and_world"]
