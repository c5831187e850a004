"""One video, end to end (`personalize_video`): test-time personalization (Sec. 3.2) of a pose estimator to the
person in a video file or a folder of images, from the checks before any work to the files written. The steps,
in the order of this file, built so that memory stays bounded on long videos (only crops and per-frame arrays
are kept):

1. Checks before any work: the output folder is writable (`outputs.check_writable`), the input decodes
   (`ttpose.data.video`), the checkpoint loads (`LoadedModel`), the box file fits the video. The frame count
   that a box file is checked against comes from a demux pass that reads packets without decoding them.
2. Boxes (`ttpose.boxes`): a box file, else a fixed box, else the person tracked by the model itself
   (`ttpose.tracking`: one decode pass with the generic model before pass 1, guided by the still scene of
   `ttpose.background` made in one more decode pass from frames sampled over the video, unless
   ``background=None``), or with ``tracking=None`` the
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
6. The outputs (`ttpose.video_personalize.outputs`): keypoints (COCO JSON and CSV, generic and personalized),
   then pass 2: the input is decoded again and the overlay video with both skeletons is written, so no frame
   has to be kept; summary.json comes last.

Pass 1 (and the offline updates) save their state every ``save_every`` frames (or steps) into
``OUT/.ttpose-resume/`` (`ttpose.resume`); ``resume=True`` continues from there and gives the same result as
an uninterrupted run. The folder is removed when the run completes.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ttpose.background import Background, sample_indices
from ttpose.boxes import Boxes, clamp_boxes, resolve_boxes, smooth_boxes
from ttpose.config import SpeedConfig, TTPConfig, to_dict
from ttpose.data.crops import BOX_PADDING, box_to_center_size, crop_frame, uncrop_points
from ttpose.data.video import VideoError, count_frames, input_kind, open_frames, read_frames
from ttpose.inference import Predictions, predict_crops
from ttpose.model import TTPModel
from ttpose.personalization import (
    CropStore,
    Personalizer,
    StreamingPersonalizer,
    personalize_offline,
)
from ttpose.resume import Learner, ResumeState, RunRecord, source_fingerprint
from ttpose.schedules import seconds_per_update
from ttpose.smoothing import savgol_smooth
from ttpose.tracking import track_frames, tracked_boxes
from ttpose.video_personalize.loaded_model import LoadedModel
from ttpose.video_personalize.options import BOX_SMOOTH, PersonalizeOptions
from ttpose.video_personalize.outputs import check_writable, write_outputs, write_summary
from ttpose.video_personalize.run import GENERIC_BATCH, VideoResult, VideoRun

# ---------------------------------------------------------------------------------------------- the run


# a saved run's phase, as a resume reports it
PHASES = {"frames": "reading the frames", "updates": "offline updates", "done": "finished"}

def personalize_video(source: str | Path, checkpoint_or_model: str | Path | TTPModel | LoadedModel,
                      out_dir: str | Path, options: PersonalizeOptions | None = None) -> VideoResult:
    """Personalize the model to the person in ``source`` (a video file or a folder of images) and write the
    outputs to ``out_dir`` (module docstring; ``options``: `PersonalizeOptions`)."""
    started = time.time()
    options = PersonalizeOptions.given(options)
    run = _check(Path(source), checkpoint_or_model, Path(out_dir), options)
    _choose_boxes(run)
    run.cfg, run.fast_schedule, update_s = run.loaded.fast_settings(run.cfg, options, run.out_dir)
    learner = _learner(run)
    record = RunRecord(run.model.skeleton.num_joints)
    state = ResumeState(run.out_dir, _fingerprint(run))
    resumed_at = _resume_or_start_over(state, learner, record, options)
    if options.log and record.phase == "frames":  # offline: every update comes after all the frames
        frames = run.count - resumed_at if run.cfg.mode == "online" else run.count
        options.log(_expected_time(run.model, run.cfg, frames, update_s))
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
    write_outputs(result, run)
    result.seconds = time.time() - started
    write_summary(result, run, record.notes, resumed_at, pass1_seconds)
    state.remove()
    return result


# ------------------------------------------------------------------------------- 1. checks before any work


def _check(source: Path, checkpoint_or_model, out_dir: Path, options: PersonalizeOptions) -> VideoRun:
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
    return VideoRun(source, out_dir, options, reader, loaded, cfg, count, track)


# ------------------------------------------------------------------------------------------------ 2. boxes


def _choose_boxes(run: VideoRun) -> None:
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


def _background(run: VideoRun) -> Background | None:
    """The still scene (`ttpose.background`) from frames sampled over the video (one decode pass; each sampled
    frame is reduced as it is decoded), or None when ``background=None`` or `Background.of_frames` refuses the
    sample (fewer than 3 frames decode, or they differ in size: a folder of photos)."""
    options = run.options.background
    if options is None:
        return None
    wanted = set(sample_indices(run.count, options.samples).tolist())
    try:
        return Background.of_frames((image for index, image in read_frames(run.reader) if int(index) in wanted),
                                    options)
    except ValueError as error:
        if run.options.log:
            run.options.log(f"{run.source}: no still scene for the tracker ({error}); tracking with the model alone")
        return None


def _track(run: VideoRun) -> Boxes:
    """The person's boxes tracked by the generic model (`ttpose.tracking`), guided by the still scene unless
    ``background=None``, one decode pass (two with the scene); frames that do not decode hold the box before
    them (their decode warnings are reported by pass 1)."""
    background = _background(run)
    bar = tqdm(total=run.count, unit="frame", desc=f"{run.source.name} tracking", disable=not run.options.progress,
               dynamic_ncols=True)
    frames: list[int] = []

    def images():
        for index, image in read_frames(run.reader):
            frames.append(int(index))
            bar.update(1)
            yield image

    try:
        track = track_frames(run.loaded.generic(run.cfg.speed), images(), run.options.tracking, run.cfg.speed,
                             background)
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


def _learner(run: VideoRun) -> Learner:
    """Online: a `StreamingPersonalizer`; offline: its parts, as pass 1 only stores crops."""
    options, model = run.options, run.model
    if run.cfg.mode == "online":
        return StreamingPersonalizer(model, run.cfg, seed=options.seed, margin=options.margin,
                                     jpeg_quality=options.jpeg_quality, padding=BOX_PADDING)
    return _OfflineLearner(Personalizer(model, run.cfg, seed=options.seed),
                           CropStore(model.config.input_size, options.margin, options.jpeg_quality),
                           np.random.default_rng(options.seed))


def _fingerprint(run: VideoRun) -> dict:
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
                phase = PHASES.get(record.phase, record.phase)
                log(f"resuming from {state.folder}: {len(record.frame_ids)} frames done ({phase})")
            return len(record.frame_ids)
        if log:
            log(f"nothing to resume in {state.folder}; starting from the first frame")
    elif state.exists():
        if log:
            log(f"starting over; the unfinished run saved in {state.folder} is discarded (--resume continues one)")
        state.remove()
    return 0


def _expected_time(model: TTPModel, cfg: TTPConfig, frames: int, seconds: float | None = None) -> str:
    """One line: the updates ahead and the time they will take, from one timed trial update (``seconds`` where it
    is known; decoding, prediction and writing come on top)."""
    updates = cfg.total_updates(frames, cfg.mode)
    seconds = seconds_per_update(model, cfg) if seconds is None else seconds
    total = updates * seconds
    when = f"{total / 3600:.1f} h" if total >= 3600 else f"{total / 60:.1f} min" if total >= 60 else f"{total:.0f} s"
    return (f"expected time: about {when} for {updates} updates ({seconds:.2f} s each, timed on a trial update; "
            f"decoding and predicting the frames come on top)")


# ----------------------------------------------------------------------------------------------- 3. pass 1


def _pass1(run: VideoRun, learner: Learner, record: RunRecord, state: ResumeState) -> None:
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


def _offline(run: VideoRun, learner: Learner, record: RunRecord, state: ResumeState) -> None:
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


def _result(run: VideoRun, record: RunRecord) -> VideoResult:
    a, smooth, kinds = record.arrays(), run.options.smooth, run.track.kinds
    generic = Predictions(a["frame_ids"], a["generic_joints"], a["generic_scores"])
    personalized = Predictions(a["frame_ids"], a["pers_joints"], a["pers_scores"])
    if smooth is not None:
        generic.joints = savgol_smooth(generic.joints, smooth).astype(np.float32)
        personalized.joints = savgol_smooth(personalized.joints, smooth).astype(np.float32)
    return VideoResult(run.source, run.out_dir, run.cfg.mode, a["frame_ids"], generic, personalized, a["boxes"],
                       run.track.source, record.skipped, a["losses"], 0.0, {},
                       box_sources=[kinds[min(int(i), len(kinds) - 1)] for i in a["frame_ids"]])
