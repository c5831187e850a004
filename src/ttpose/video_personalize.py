"""Personalize a pose estimator to the person in your own video: test-time personalization (Sec. 3.2) end to end.

    from ttpose.video_personalize import personalize_video
    result = personalize_video("clip.mp4", "model.safetensors", "out/", mode="online")
    result.personalized.joints    # N x K x 2 full-frame pixels, one row per decoded frame (result.frame_ids)

or ``ttpose personalize clip.mp4 --checkpoint model.safetensors --out out/`` (docs/personalize-your-video.md).

The pipeline, built so that memory stays bounded on long videos (only crops and per-frame arrays are kept):

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
4. Offline only: ``offline_steps`` updates on random pairs of stored crops (`offline_batch` on
   ``store.as_video()``, `Personalizer.update`), then every stored crop is predicted. These predictions see
   pixels resampled twice (the frame was resized into the store, then the stored crop is cropped again to
   the model's input; the store's JPEG adds a little loss) while the generic ones are cropped once from the
   decoded frame. With the default margin (1.5) and JPEG quality (95) the difference is small, but it is
   there.
5. Optional Savitzky-Golay smoothing of both tracks along time (``smooth`` = window, quadratic, Table 5;
   decoded frames are treated as consecutive, also across a skipped frame).
6. keypoints (COCO JSON and CSV, generic and personalized), then pass 2: the input is decoded again and the
   overlay video with both skeletons is written, so no frame has to be kept; summary.json comes last.

Every output is atomic (`ttpose.atomic`): Ctrl-C leaves finished files complete and no partial ones. Pass 1
(and the offline updates) save their state every ``save_every`` frames (or steps) into
``OUT/.ttpose-resume/`` (weights, optimizer and loss state, RNG states, stored crops, predictions so far;
safetensors, npz without pickles, JSON); ``resume=True`` continues from there and gives the same result as
an uninterrupted run. The folder is removed when the run completes.

Many videos (`personalize_many`): a folder of video files, each personalized on its own into
``OUT/<video name>/``. Under ``torchrun`` (``RANK`` and ``WORLD_SIZE`` set) rank r takes the videos
``r, r + W, r + 2W, ...`` of the sorted list; no process group is needed, and since each video's run
depends only on the video, the checkpoint and the seed, the results equal those of one process.

A folder holding video files (``VIDEO_SUFFIXES``) is a folder of videos; a folder holding images
(``ttpose.data.video.IMAGE_SUFFIXES``) is one person's frames: an image sequence in natural order (online)
or an unordered set of photos (offline). A folder with both is refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ttpose.atomic import atomic_path, atomic_write_text
from ttpose.boxes import BoxError, Boxes, box_window, clamp_boxes, kind_runs, resolve_boxes, smooth_boxes
from ttpose.config import SpeedConfig, TTPConfig, config_from_dict, to_dict
from ttpose.data.crops import BOX_PADDING, box_to_center_size, crop_frame, normalize, uncrop_points
from ttpose.data.pairs import offline_batch
from ttpose.data.types import unlabeled_video
from ttpose.data.video import IMAGE_SUFFIXES, FrameReader, FrameSkippedWarning, VideoError, natural_key, open_frames
from ttpose.inference import Predictions, decode_output, predict_images
from ttpose.model import TTPModel
from ttpose.personalization import StreamingPersonalizer, seconds_per_update
from ttpose.smoothing import SMOOTH_ORDER, savgol_smooth, smoothing_window
from ttpose.speed import describe, prediction_model
from ttpose.tracking import TrackingOptions, track_frames, tracked_boxes

MODES = ("online", "offline")
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".ts")
GENERIC_BATCH = 16  # generic predictions are made in batches of this many frames; saves happen at multiples of it
BOX_SMOOTH = 9  # default moving-average window of the boxes, frames (see the module docstring)
FOLDER_FPS = 10.0  # frame rate of the overlay video of an image folder
RESUME_DIR = ".ttpose-resume"
RESUME_FORMAT = "ttpose-video-resume-2"  # 2: the fingerprint holds the boxes before smoothing
OUTPUTS = ("generic.json", "personalized.json", "generic.csv", "personalized.csv", "overlay.mp4", "summary.json")


class OutputError(ValueError):
    """An output folder that cannot be written; one line naming the folder."""


class ResumeError(ValueError):
    """Saved resume state that does not belong to this run; one line naming the folder."""


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


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


# ------------------------------------------------------------------------------------------ inputs, checks


def input_kind(path: str | Path) -> str:
    """"video" (a file), "images" (a folder of images: one person) or "videos" (a folder of video files)."""
    path = Path(path)
    if not path.exists():
        raise VideoError(f"{path}: no such file or folder")
    if not path.is_dir():
        return "video"
    files = [p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")]
    videos = [p for p in files if p.suffix.lower() in VIDEO_SUFFIXES]
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    if videos and images:
        raise VideoError(f"{path}: holds both video files ({videos[0].name}, ...) and images ({images[0].name}, "
                         "...); give a folder of videos or a folder of one person's images")
    return "videos" if videos else "images"


def list_videos(folder: str | Path) -> list[Path]:
    """The video files of a folder (not recursive), in natural sort order."""
    folder = Path(folder)
    videos = [p for p in folder.iterdir()
              if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in VIDEO_SUFFIXES]
    if not videos:
        raise VideoError(f"{folder}: no video files ({', '.join(s[1:] for s in VIDEO_SUFFIXES)}) in this folder")
    return sorted(videos, key=lambda p: natural_key(p.name))


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


def count_frames(reader: FrameReader) -> int:
    """The number of source frames, before decoding: a folder's images, or a video's non-empty packets
    (one per frame; an AVI's empty "dropped frame" packets are not frames, as in ``open_frames``)."""
    if reader.info.exact and reader.info.num_frames:
        return int(reader.info.num_frames)
    import av

    count = 0
    try:
        with av.open(str(reader.info.path)) as container:
            for packet in container.demux(container.streams.video[0]):
                count += bool(packet.size)
    except (av.error.FFmpegError, OSError):
        pass  # a damaged container: count what could be read
    return count or int(reader.info.num_frames or 1)


@dataclass
class LoadedModel:
    """A model with what a run records about it: where it came from and its saved TTP settings.

    The model is put in eval mode (batch-norm statistics frozen, no dropout), as in the authors' code;
    personalization updates a copy of it.
    """

    model: TTPModel
    checkpoint: str  # the path, or "(model given in Python)"
    ttp: TTPConfig  # the checkpoint's saved ``ttp`` section (TTPConfig() for a model object)
    digest: str  # SHA-1 of the weights, so that a resume refuses another model
    _generic: dict = field(default_factory=dict, repr=False, compare=False)

    def generic(self, speed: SpeedConfig) -> TTPModel:
        """The model for the generic predictions under ``speed`` (`ttpose.speed.prediction_model`), built once
        per setting: the videos of `personalize_many` share it (with compile_frozen, one compilation)."""
        key = describe(speed)
        if key not in self._generic:
            self._generic[key] = prediction_model(self.model, speed)
        return self._generic[key]

    @staticmethod
    def of(checkpoint_or_model: str | Path | TTPModel | LoadedModel,
           log: Callable[[str], None] | None = None) -> LoadedModel:
        """From a model, a ttpose checkpoint or the authors' .pth (converted in memory, said through ``log``)."""
        if isinstance(checkpoint_or_model, LoadedModel):
            return checkpoint_or_model
        if isinstance(checkpoint_or_model, TTPModel):
            model, where, ttp = checkpoint_or_model, "(model given in Python)", TTPConfig()
        else:
            from ttpose.convert import load_model_file

            where = str(checkpoint_or_model)
            saved, model, note = load_model_file(checkpoint_or_model)
            ttp = saved.ttp
            if note and log:
                log(f"note: {note}")
        sha = hashlib.sha1()
        for name, tensor in model.state_dict().items():
            sha.update(name.encode())
            sha.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return LoadedModel(model.eval(), where, ttp, sha.hexdigest())


def _ttp_config(loaded: LoadedModel, config: TTPConfig | None, overrides: Sequence[str], mode: str) -> TTPConfig:
    """``config`` (default: the checkpoint's saved TTP settings) with ``ttp.KEY=VALUE`` overrides applied;
    ``loss.KEY=VALUE`` overrides go to the model's L_self (e.g. loss.vgg_weights=PATH for the authors' .pth,
    which does not name its VGG-16 file)."""
    base = config or loaded.ttp
    bad = [o for o in overrides if not o.startswith(("ttp.", "loss."))]
    if bad:
        raise ValueError(f"override {bad[0]!r}: only ttp.* and loss.* settings can be changed here "
                         "(e.g. ttp.lr=1e-5)")
    ttp = [o for o in overrides if o.startswith("ttp.")]
    if ttp:
        base = config_from_dict({"ttp": to_dict(base)}, ttp).ttp
    loss = [o for o in overrides if o.startswith("loss.")]
    if loss:
        saved = to_dict(loaded.model.loss_config) if loaded.model.loss_config else {}
        loaded.model.loss_config = config_from_dict({"loss": saved}, loss).loss
    return replace(base, mode=mode)


# ------------------------------------------------------------------------------------------------- frames


def _frames(reader: FrameReader, notes: list[str] | None, log) -> Iterator[tuple[int, np.ndarray]]:
    """The reader's frames; its FrameSkippedWarnings become one-line messages (logged and kept in ``notes``)."""
    frames = iter(reader)
    while True:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", FrameSkippedWarning)
            item = next(frames, None)
        for w in caught:
            if issubclass(w.category, FrameSkippedWarning):
                if notes is not None:
                    notes.append(str(w.message))
                    if log:
                        log(f"warning: {w.message}")
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        if item is None:
            return
        yield item


def _crop_region(box: np.ndarray, whole_frame: bool) -> tuple[np.ndarray, float]:
    """The crop's centre and side, both float32 values: the precision the resume state saves them in, so that
    a resumed run maps its restored frames back with the very numbers an uninterrupted run uses."""
    center, side = box_to_center_size(box, 1.0 if whole_frame else BOX_PADDING)
    return center, float(np.float32(side))


@torch.no_grad()
def _predict_crops(model: TTPModel, crops: list[np.ndarray], centers: np.ndarray, sizes: np.ndarray,
                   speed: SpeedConfig | None = None) -> Predictions:
    """The model's predictions on model-input crops whose regions are ``centers``/``sizes`` (full-frame px).

    ``model`` is used as it is: pass `ttpose.speed.prediction_model(model, speed)` for ``speed``'s options."""
    n, size = len(crops), model.config.input_size
    video = unlabeled_video(crops, model.skeleton, np.zeros((n, 4), np.float32))
    video.centers[:], video.sizes[:] = centers, sizes
    model.eval()
    out = predict_images(model, normalize(np.stack(crops)), speed)  # B x 3 x S x S
    return decode_output(out, video, np.arange(n), size, model.config.label_origin)


# -------------------------------------------------------------------------------------------- run record


class _Record:
    """Per-frame results of pass 1 and the offline phase (small arrays only), and their resume state."""

    def __init__(self):
        self.frame_ids: list[int] = []
        self.boxes: list[np.ndarray] = []  # each 4
        self.centers: list[np.ndarray] = []  # each 2
        self.sizes: list[float] = []
        self.generic_joints: list[np.ndarray] = []  # each K x 2
        self.generic_scores: list[np.ndarray] = []  # each K
        self.pers_joints: list[np.ndarray] = []
        self.pers_scores: list[np.ndarray] = []
        self.losses: list[float] = []
        self.pending: list[np.ndarray] = []  # model-input crops waiting for the generic model
        self.phase = "frames"  # frames -> updates (offline) -> done
        self.steps_done = 0  # offline updates made
        self.skipped: list[int] = []  # frames the decoder rejected (known after pass 1)
        self.notes: list[str] = []  # one-line decode warnings of pass 1
        self.crops_saved = 0  # stored crops already in resume files

    def flush_generic(self, model: TTPModel, speed: SpeedConfig | None) -> None:
        if not self.pending:
            return
        n, start = len(self.pending), len(self.generic_joints)
        pred = _predict_crops(model, self.pending, np.array(self.centers[start:start + n]),
                              np.array(self.sizes[start:start + n]), speed)
        self.generic_joints += list(pred.joints)
        self.generic_scores += list(pred.scores)
        self.pending = []

    def arrays(self, k: int) -> dict[str, np.ndarray]:
        def stack(items, shape, dtype=np.float32):
            return np.array(items, dtype).reshape(len(items), *shape)

        return {"frame_ids": stack(self.frame_ids, (), np.int64), "boxes": stack(self.boxes, (4,)),
                "centers": stack(self.centers, (2,)), "sizes": stack(self.sizes, ()),
                "generic_joints": stack(self.generic_joints, (k, 2)),
                "generic_scores": stack(self.generic_scores, (k,)),
                "pers_joints": stack(self.pers_joints, (k, 2)), "pers_scores": stack(self.pers_scores, (k,)),
                "losses": stack(self.losses, ())}

    def load_arrays(self, a: dict[str, np.ndarray]) -> None:
        self.frame_ids = [int(i) for i in a["frame_ids"]]
        for name in ("boxes", "centers", "generic_joints", "generic_scores", "pers_joints", "pers_scores"):
            setattr(self, name, list(a[name]))
        self.sizes, self.losses = [float(s) for s in a["sizes"]], [float(x) for x in a["losses"]]


# ------------------------------------------------------------------------------------------------- resume


def _rng_json(rng: np.random.Generator) -> str:
    return json.dumps(rng.bit_generator.state)


class _Resume:
    """``OUT/.ttpose-resume/``: state.json (written last) names the generation's files; crops are appended."""

    def __init__(self, out_dir: Path, fingerprint: dict):
        self.folder = out_dir / RESUME_DIR
        self.fingerprint = fingerprint
        self.generation = 0
        self.crop_files: list[str] = []

    def save(self, stream: StreamingPersonalizer, rec: _Record, k: int) -> None:
        from safetensors.numpy import save_file as save_numpy
        from safetensors.torch import save_file

        from ttpose.checkpoint import flatten_state

        self.folder.mkdir(parents=True, exist_ok=True)
        gen = self.generation + 1
        tuner = stream.tuner
        state = {"model": tuner.model.state_dict(), "optimizer": tuner.optimizer.state_dict(),
                 "loss": tuner.loss.state_dict() if tuner.loss is not None else None,
                 "torch_rng": torch.get_rng_state()}
        tensors: dict[str, torch.Tensor] = {}
        skeleton = flatten_state(state, "s", tensors)
        with atomic_path(self.folder / f"weights-{gen}.safetensors") as tmp:
            save_file(tensors, str(tmp), metadata={"state": json.dumps(skeleton)})
        items = stream.store.items[rec.crops_saved:]
        crop_files = list(self.crop_files)
        if items:  # append-only: each file holds the crops stored since the previous save
            lengths = np.array([item.size for item in items], np.int64)
            with atomic_path(self.folder / f"crops-{gen}.safetensors") as tmp:
                save_numpy({"bytes": np.concatenate([item.reshape(-1) for item in items]), "lengths": lengths},
                           str(tmp))
            crop_files.append(f"crops-{gen}.safetensors")
        with atomic_path(self.folder / f"arrays-{gen}.npz") as tmp, open(tmp, "wb") as f:
            np.savez(f, **rec.arrays(k))
        doc = {"format": RESUME_FORMAT, "fingerprint": self.fingerprint, "generation": gen,
               "weights": f"weights-{gen}.safetensors", "arrays": f"arrays-{gen}.npz", "crops": crop_files,
               "stored": len(stream.store), "phase": rec.phase, "steps_done": rec.steps_done,
               "updates": tuner.updates, "first": stream.first, "rng": _rng_json(stream.rng),
               "skipped": rec.skipped, "notes": rec.notes}
        atomic_write_text(self.folder / "state.json", json.dumps(doc))
        self.generation, self.crop_files, rec.crops_saved = gen, crop_files, len(stream.store)
        self._remove_unlisted(doc)

    def _remove_unlisted(self, doc: dict) -> None:
        keep = {"state.json", doc["weights"], doc["arrays"], *doc["crops"]}
        for p in self.folder.iterdir():
            if p.name not in keep:
                p.unlink(missing_ok=True)

    def load(self, stream: StreamingPersonalizer, rec: _Record) -> bool:
        """Restore a saved state into ``stream`` and ``rec``; False if there is none."""
        path = self.folder / "state.json"
        if not path.is_file():
            return False
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if doc.get("format") != RESUME_FORMAT:
                raise ValueError(f"format {doc.get('format')!r}")
        except (ValueError, OSError) as exc:
            raise ResumeError(f"{self.folder}: unreadable resume state ({exc}); run without --resume "
                              "to start over") from None
        saved = doc["fingerprint"]
        if saved != self.fingerprint:  # named: the first difference in the fingerprint's order
            what = next(k for k in [*self.fingerprint, *saved] if saved.get(k) != self.fingerprint.get(k))
            raise ResumeError(f"{self.folder}: saved by a run with a different {what}; run without --resume "
                              "to start over")
        try:
            self._restore(doc, stream, rec)
        except ResumeError:
            raise
        except Exception as exc:  # a damaged or partly deleted state folder
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise ResumeError(f"{self.folder}: unreadable resume state ({reason}); run without --resume "
                              "to start over") from None
        return True

    def _restore(self, doc: dict, stream: StreamingPersonalizer, rec: _Record) -> None:
        from safetensors.numpy import load_file as load_numpy
        from safetensors.torch import load_file, safe_open

        from ttpose.checkpoint import unflatten_state

        weights = self.folder / doc["weights"]
        with safe_open(str(weights), framework="pt") as f:
            skeleton = json.loads(f.metadata()["state"])
        state = unflatten_state(skeleton, load_file(str(weights)))
        tuner = stream.tuner
        tuner.model.load_state_dict(state["model"])
        tuner.optimizer.load_state_dict(state["optimizer"])
        if tuner.loss is not None and state["loss"] is not None:
            tuner.loss.load_state_dict(state["loss"])
        torch.set_rng_state(state["torch_rng"])
        tuner.updates, stream.first = int(doc["updates"]), int(doc["first"])
        stream.rng.bit_generator.state = json.loads(doc["rng"])
        items = []
        for name in doc["crops"]:
            arrays = load_numpy(str(self.folder / name))
            data, lengths = arrays["bytes"], arrays["lengths"]
            items += np.split(data, np.cumsum(lengths)[:-1])
        if stream.store.jpeg_quality is None:
            side = stream.store.side
            items = [item.reshape(side, side, 3) for item in items]
        if len(items) != doc["stored"]:
            raise ResumeError(f"{self.folder}: {len(items)} stored crops, state says {doc['stored']}; "
                              "run without --resume to start over")
        stream.store.items = items
        with np.load(self.folder / doc["arrays"], allow_pickle=False) as arrays:
            rec.load_arrays(dict(arrays))
        rec.phase, rec.steps_done, rec.crops_saved = doc["phase"], int(doc["steps_done"]), len(items)
        rec.skipped, rec.notes = [int(i) for i in doc["skipped"]], [str(n) for n in doc["notes"]]
        self.generation, self.crop_files = int(doc["generation"]), list(doc["crops"])

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _source_fingerprint(path: Path) -> dict:
    if path.is_dir():
        files = sorted((p.name, p.stat().st_size) for p in path.iterdir() if p.is_file())
        return {"path": str(path.resolve()), "files": hashlib.sha1(repr(files).encode()).hexdigest()}
    stat = path.stat()
    return {"path": str(path.resolve()), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}


# ---------------------------------------------------------------------------------------------- the run


def personalize_video(
    source: str | Path,
    checkpoint_or_model: str | Path | TTPModel | LoadedModel,
    out_dir: str | Path,
    mode: str = "online",
    boxes: str | Path | None = None,
    box: str | Sequence[float] | None = None,
    smooth: int | None = None,
    resume: bool = False,
    config: TTPConfig | None = None,
    progress: bool = True,
    *,
    overrides: Sequence[str] = (),
    seed: int = 0,
    box_smooth: int | None = None,
    save_every: int = 256,
    overlay: bool = True,
    margin: float = 1.5,
    jpeg_quality: int | None = 95,
    tracking: TrackingOptions | None = TrackingOptions(),  # noqa: B008 (frozen)
    log: Callable[[str], None] | None = _stderr,
    on_frame: Callable[[int], None] | None = None,
) -> VideoResult:
    """Personalize the model to the person in ``source`` (a video file or a folder of images) and write the
    outputs to ``out_dir`` (module docstring).

    ``boxes`` is a box file (JSON or CSV, `ttpose.boxes`), ``box`` a fixed x1,y1,x2,y2 box; with neither,
    the person is tracked by the model (`ttpose.tracking`, with ``tracking``'s options), or with
    ``tracking=None`` the whole frame is the box. ``smooth`` is an odd Savitzky-Golay window (None: no
    smoothing). ``config`` defaults to the checkpoint's saved TTP settings; ``overrides`` are ``ttp.KEY=VALUE``
    strings applied on top.
    ``save_every`` frames (rounded up to a multiple of 16) the state is saved for ``resume``. ``log``
    receives one-line messages (the box source, skipped frames); ``on_frame(index)`` is called after each
    frame of pass 1 (e.g. a test may raise KeyboardInterrupt there).
    """
    started = time.time()
    source, out_dir = Path(source), Path(out_dir)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if smooth is not None and (int(smooth) < SMOOTH_ORDER + 2 or int(smooth) % 2 == 0):
        raise ValueError(f"smoothing window must be an odd number of frames >= {SMOOTH_ORDER + 2} (a quadratic "
                         f"fit over fewer points changes nothing), got {smooth}")
    if box_smooth is not None and int(box_smooth) < 1:
        raise ValueError(f"box smoothing window must be at least 1 frame, got {box_smooth}")
    created = check_writable(out_dir)
    try:
        if input_kind(source) == "videos":
            raise VideoError(f"{source}: a folder of videos; use personalize_many (one run per video)")
        reader = open_frames(source)
        loaded = LoadedModel.of(checkpoint_or_model, log)
        model = loaded.model
        if model.config.self_task == "none":
            raise ValueError(f"{loaded.checkpoint}: this model has no self-supervised task (the supervised-only "
                             "baseline): nothing to personalize")
        cfg = _ttp_config(loaded, config, overrides, mode)
        info = reader.info
        count = count_frames(reader)
        names = reader.names if hasattr(reader, "names") else None
        track = resolve_boxes(count, info.width, info.height, boxes, box, frame_names=names)
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                out_dir.rmdir()  # only if still empty
        raise
    whole = boxes is None and box is None
    if whole and tracking is not None:
        if log:
            log(f"{source}: no box given; tracking the person with the model (--whole-frame to use the whole frame)")
        track = _track(reader, loaded.generic(cfg.speed), cfg.speed, tracking, count, progress, source.name)
        whole = False
        if box_smooth is None and mode == "online":  # the tracker's own box follows the person; a trailing
            box_smooth = 1  # average lags behind one who moves (val people: benchmarks/TRACKING.md, "tracked + ")
    box_smooth = BOX_SMOOTH if box_smooth is None else int(box_smooth)
    # online: a trailing average (no crop may depend on a later frame); an unordered set of photos (a folder
    # of images, offline) is no time series: not smoothed
    if mode == "offline" and source.is_dir():
        box_smooth = 1
    track_boxes = clamp_boxes(smooth_boxes(track.boxes, box_smooth, causal=mode == "online"), info.width,
                              info.height)
    if log:
        log(f"{source}: {info.width}x{info.height}, {info.codec}, ~{count} frames; "
            f"person box: {track.source}")
    save_every = max(GENERIC_BATCH, -(-int(save_every) // GENERIC_BATCH) * GENERIC_BATCH)

    stream = StreamingPersonalizer(model, cfg, seed=seed, margin=margin, jpeg_quality=jpeg_quality, padding=BOX_PADDING)
    rec = _Record()
    # what the user chose, most telling first (a refusal names the first difference): the boxes before
    # smoothing and the window, not the smoothed track, which also depends on the mode (trailing online,
    # centred offline), so that another mode is refused as "different mode"
    raw = np.ascontiguousarray(track.boxes, np.float32).tobytes() + (b"whole frame" if whole else b"")
    fingerprint = {"source": _source_fingerprint(source), "model": loaded.digest, "mode": mode,
                   "ttp": to_dict(cfg), "seed": seed, "margin": margin, "jpeg_quality": jpeg_quality,
                   "boxes": hashlib.sha1(raw).hexdigest(), "box_smooth": int(box_smooth)}
    state = _Resume(out_dir, fingerprint)
    resumed_at = 0
    if resume:
        if state.load(stream, rec):
            resumed_at = len(rec.frame_ids)
            if log:
                log(f"resuming from {state.folder}: {resumed_at} frames done ({rec.phase})")
        elif log:
            log(f"nothing to resume in {state.folder}; starting from the first frame")
    elif (state.folder / "state.json").exists():
        if log:
            log(f"starting over; the unfinished run saved in {state.folder} is discarded (--resume continues one)")
        state.remove()

    k = model.skeleton.num_joints
    if log and rec.phase == "frames":  # offline: every update comes after all the frames
        log(_expected_time(model, cfg, mode, count - resumed_at if mode == "online" else count))
    pass1_started = time.time()
    if rec.phase == "frames":
        notes: list[str] = []
        _pass1(reader, loaded.generic(cfg.speed), cfg.speed, stream, rec, track_boxes, whole, mode, state,
               save_every, count, notes, log, progress, on_frame, k, source.name)
        rec.phase = "updates" if mode == "offline" else "done"
        rec.skipped, rec.notes = sorted(set(reader.skipped)), rec.notes + notes
        state.save(stream, rec, k)
    if rec.phase == "updates":
        _offline(stream, rec, state, save_every, progress, k, source.name)
        rec.phase = "done"
        state.save(stream, rec, k)
    pass1_seconds = time.time() - pass1_started

    a = rec.arrays(k)
    generic = Predictions(a["frame_ids"], a["generic_joints"], a["generic_scores"])
    personalized = Predictions(a["frame_ids"], a["pers_joints"], a["pers_scores"])
    if smooth is not None:
        generic.joints = savgol_smooth(generic.joints, smooth).astype(np.float32)
        personalized.joints = savgol_smooth(personalized.joints, smooth).astype(np.float32)
    result = VideoResult(source, out_dir, mode, a["frame_ids"], generic, personalized, a["boxes"], track.source,
                         rec.skipped, a["losses"], 0.0, {},
                         box_sources=[track.kinds[min(int(i), len(track.kinds) - 1)] for i in a["frame_ids"]])
    _write_outputs(result, reader, model, names, overlay, progress)
    result.seconds = time.time() - started
    processed = len(rec.frame_ids) - resumed_at
    result.summary = _summary(result, loaded, cfg, info, count, rec.notes, smooth, box_smooth, seed, margin,
                              jpeg_quality, resumed_at, processed, pass1_seconds, track)
    atomic_write_text(out_dir / "summary.json", json.dumps(result.summary, indent=1))
    result.files["summary"] = out_dir / "summary.json"
    state.remove()
    return result


def _expected_time(model: TTPModel, cfg: TTPConfig, mode: str, frames: int) -> str:
    """One line: the updates ahead and the time they will take, from one timed trial update (decoding,
    prediction and writing come on top)."""
    updates = cfg.total_updates(frames, mode)
    seconds = seconds_per_update(model, cfg)
    total = updates * seconds
    when = f"{total / 3600:.1f} h" if total >= 3600 else f"{total / 60:.1f} min" if total >= 60 else f"{total:.0f} s"
    return (f"expected time: about {when} for {updates} updates ({seconds:.2f} s each, timed on a trial update; "
            f"decoding and predicting the frames come on top)")


def _track(reader: FrameReader, model: TTPModel, speed: SpeedConfig, options: TrackingOptions, count: int,
           progress: bool, name: str) -> Boxes:
    """The person's boxes tracked by the generic model (`ttpose.tracking`), one decode pass; frames that do not
    decode hold the box before them (their decode warnings are reported by pass 1)."""
    bar = tqdm(total=count, unit="frame", desc=f"{name} tracking", disable=not progress, dynamic_ncols=True)
    frames: list[int] = []

    def images():
        for index, image in _frames(reader, None, None):
            frames.append(int(index))
            bar.update(1)
            yield image

    try:
        track = track_frames(model, images(), options, speed)
    except ValueError:
        if frames:
            raise
        raise VideoError(f"{reader.info.path}: no decodable video frames") from None
    finally:
        bar.close()
    return tracked_boxes(track, frames, count)


def _pass1(reader, generic_model, speed, stream, rec, track_boxes, whole, mode, state, save_every, count, notes,
           log, progress, on_frame, k, name) -> None:
    done_before = len(rec.frame_ids)
    last_done = rec.frame_ids[-1] if rec.frame_ids else -1
    size = generic_model.config.input_size
    bar = tqdm(total=count, unit="frame", desc=f"{name} {mode}", disable=not progress, dynamic_ncols=True)
    try:
        for index, image in _frames(reader, notes, log):
            bar.update(1)
            if index <= last_done:
                continue  # done before the resume: decoded (to keep the numbering) but not run
            box = track_boxes[min(index, len(track_boxes) - 1)]
            center, side = _crop_region(box, whole)
            if mode == "online":
                pred = stream.step(image, None if whole else box)
                rec.pers_joints.append(pred.joints)
                rec.pers_scores.append(pred.scores)
                rec.losses += pred.losses  # every update (ttp.steps_per_frame of them)
            else:
                stream.store.add(image, center, side)
            rec.frame_ids.append(int(index))
            rec.boxes.append(np.asarray(box, np.float32))
            rec.centers.append(np.asarray(center, np.float32))
            rec.sizes.append(float(side))
            rec.pending.append(crop_frame(image, center, side, size)[0])
            processed = len(rec.frame_ids)
            if processed % GENERIC_BATCH == 0:
                rec.flush_generic(generic_model, speed)
            if processed % save_every == 0 and processed > done_before:
                state.save(stream, rec, k)
            if on_frame is not None:
                on_frame(index)
        rec.flush_generic(generic_model, speed)
    finally:
        bar.close()
    if not rec.frame_ids:
        raise VideoError(f"{reader.info.path}: no decodable video frames")


def _offline(stream: StreamingPersonalizer, rec: _Record, state: _Resume, save_every: int, progress: bool, k: int,
             name: str) -> None:
    """Offline updates on random pairs of stored crops, then every stored crop is predicted (Sec. 3.2)."""
    tuner, cfg, size = stream.tuner, stream.tuner.config, stream.tuner.model.config.input_size
    video = stream.store.as_video(tuner.model.skeleton, video_id=name)
    n = len(video)
    chunk = cfg.reset_every or n
    centers, sizes = np.array(rec.centers), np.array(rec.sizes)
    g = 0  # updates before the current chunk
    for first in range(0, n, chunk):
        indices = np.arange(first, min(first + chunk, n))
        steps = cfg.offline_updates(len(indices))
        if len(rec.pers_joints) >= indices[-1] + 1:  # predicted before a resume
            g += steps
            continue
        if first > 0 and rec.steps_done == g:
            tuner.reset()
        bar = tqdm(total=steps, initial=rec.steps_done - g, unit="step", desc=f"{name} offline updates",
                   disable=not progress, dynamic_ncols=True)
        try:
            while rec.steps_done < g + steps:
                batch = offline_batch(video, cfg.batch_size, stream.rng, size, tuner.augmentation, indices=indices)
                rec.losses.append(tuner.update(batch))
                rec.steps_done += 1
                bar.update(1)
                if rec.steps_done % save_every == 0:
                    state.save(stream, rec, k)
        finally:
            bar.close()
        g += steps
        for start in range(0, len(indices), 256):  # predicted in the store's coordinates, mapped to the frame
            part = indices[start:start + 256]
            pred = tuner.predict(video, part)
            region = sizes[part] * stream.store.margin
            for j, i in enumerate(part):
                rec.pers_joints.append(uncrop_points(pred.joints[j], centers[i], region[j], stream.store.side)
                                       .astype(np.float32))
                rec.pers_scores.append(pred.scores[j])
        state.save(stream, rec, k)


def _write_outputs(result: VideoResult, reader: FrameReader, model: TTPModel, names, overlay: bool,
                   progress: bool) -> None:
    from ttpose.export import OverlayVideoWriter, write_coco_keypoints, write_keypoints_csv
    from ttpose.viz import overlay_two

    out, info, skeleton = result.out_dir, reader.info, model.skeleton
    (out / "summary.json").unlink(missing_ok=True)  # written last: present = one complete run
    ids = result.frame_ids
    files = names and [names[i] for i in ids]
    for which, pred in (("generic", result.generic), ("personalized", result.personalized)):
        result.files[f"{which}_json"] = write_coco_keypoints(out / f"{which}.json", pred.joints, pred.scores,
                                                             skeleton, (info.width, info.height), ids, files,
                                                             result.boxes)
        result.files[f"{which}_csv"] = write_keypoints_csv(out / f"{which}.csv", pred.joints, pred.scores,
                                                           skeleton, ids)
    if not overlay:
        (out / "overlay.mp4").unlink(missing_ok=True)  # an earlier run's overlay would not match these outputs
        return
    at = {int(i): j for j, i in enumerate(ids)}
    labels = ("generic", f"personalized ({result.mode})")
    fps = info.fps or FOLDER_FPS
    bar = tqdm(total=len(ids), unit="frame", desc=f"{result.source.name} overlay", disable=not progress,
               dynamic_ncols=True)
    try:
        with OverlayVideoWriter(out / "overlay.mp4", fps, info.width, info.height) as writer:
            for index, image in _frames(reader, None, None):
                j = at.get(int(index))
                if j is not None:
                    writer.write(overlay_two(image, result.generic.joints[j], result.personalized.joints[j],
                                             skeleton, labels))
                    bar.update(1)
    finally:
        bar.close()
    result.files["overlay"] = out / "overlay.mp4"


def _summary(result: VideoResult, loaded: LoadedModel, cfg: TTPConfig, info, count: int, notes: list[str],
             smooth, box_smooth, seed, margin, jpeg_quality, resumed_at: int, processed: int, pass1_seconds: float,
             track: Boxes) -> dict:
    from ttpose import __version__

    online = result.mode == "online"
    return {
        "ttpose_version": __version__,
        "source": str(result.source),
        "video": {"width": info.width, "height": info.height, "fps": info.fps, "codec": info.codec,
                  "frames_counted": count},
        "checkpoint": loaded.checkpoint,
        "model": {"backbone": loaded.model.config.backbone, "input_size": loaded.model.config.input_size,
                  "sup_head": loaded.model.config.sup_head, "self_task": loaded.model.config.self_task,
                  "skeleton": loaded.model.skeleton.name},
        "mode": result.mode,
        "frames": int(len(result.frame_ids)),
        "skipped_frames": result.skipped,
        "warnings": notes,
        "box_source": result.box_source,
        "box_sources": kind_runs(result.box_sources, result.frame_ids),  # each frame's box: where it came from
        "boxes_interpolated": int(track.interpolated.sum()),
        "settings": {"ttp": to_dict(cfg), "seed": seed, "smooth": smooth, "box_smooth": box_smooth,
                     "crop_margin": margin, "crop_jpeg_quality": jpeg_quality, "crop_padding": BOX_PADDING},
        "box_smoothing": (f"moving average, {'trailing' if online else 'centred'}, window {box_used}"
                          if (box_used := box_window(box_smooth, len(track.boxes), online)) > 1 else "none"),
        "smoothing": (f"Savitzky-Golay, window {used}, order {SMOOTH_ORDER}, applied to generic and "
                      "personalized joints" if (used := smooth and smoothing_window(smooth, len(result.frame_ids)))
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


def personalize_many(
    folder: str | Path,
    checkpoint_or_model: str | Path | TTPModel,
    out_dir: str | Path,
    mode: str = "online",
    boxes: str | Path | None = None,
    rank: int | None = None,
    world_size: int | None = None,
    log: Callable[[str], None] | None = _stderr,
    **kwargs,
) -> ManyResult:
    """`personalize_video` for each video of ``folder`` (this rank's share) into ``out_dir/<video name>/``.

    ``boxes``, if given, is a folder of box files named after the videos (``<stem>.json`` or ``.csv``).
    A video that fails (bad file, bad box file) is reported in ``failed`` and the others go on. With
    ``resume=True``, videos whose output folder has a summary.json (a complete run) are not run again.
    """
    folder, out_dir = Path(folder), Path(out_dir)
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
        if kwargs.get("resume") and (out_dir / name / "summary.json").is_file():
            result.finished_before.append(video)
            if log:
                log(f"{video.name}: already done in {out_dir / name}")
            continue
        try:
            box_file = _box_file_for(Path(boxes), video) if boxes is not None else None
            result.done.append(personalize_video(video, loaded, out_dir / name, mode, boxes=box_file, log=log,
                                                 **kwargs))
        except (VideoError, BoxError, ResumeError) as exc:  # this video's problem: the others go on
            result.failed.append((video, str(exc).splitlines()[0]))
            if log:
                log(f"error: {result.failed[-1][1]}")
    return result


__all__ = ["LoadedModel", "ManyResult", "OutputError", "ResumeError", "VideoResult", "check_writable",
           "count_frames", "input_kind", "list_videos", "personalize_many", "personalize_video", "rank_and_world"]
