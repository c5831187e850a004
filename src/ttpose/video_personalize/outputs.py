"""The output folder of a run: checked writable before any work (`check_writable`), then filled at the end of
`personalize_video` (step 6): the keypoints of both models (COCO JSON and CSV, `ttpose.export`), the overlay video
with both skeletons (pass 2: the input is decoded again, so no frame has to be kept) and summary.json, written
last, so that its presence means one complete run. Every file is written atomically (`ttpose.atomic`)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from tqdm.auto import tqdm

from ttpose import __version__
from ttpose.atomic import atomic_write_text
from ttpose.boxes import box_window, kind_runs
from ttpose.config import to_dict
from ttpose.data.crops import BOX_PADDING
from ttpose.data.video import read_frames
from ttpose.export import OverlayVideoWriter, write_coco_keypoints, write_keypoints_csv
from ttpose.smoothing import SMOOTH_ORDER, smoothing_window
from ttpose.video_personalize.run import VideoResult, VideoRun
from ttpose.viz import overlay_two

FOLDER_FPS = 10.0  # frame rate of the overlay video of an image folder


class OutputError(ValueError):
    """An output folder that cannot be written; one line naming the folder."""


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


def write_outputs(result: VideoResult, run: VideoRun) -> None:
    """The keypoint files of both models, then the overlay video (pass 2); each file's path into ``result.files``."""
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


def write_summary(result: VideoResult, run: VideoRun, notes: list[str], resumed_at: int,
                  pass1_seconds: float) -> None:
    """summary.json, the last file of a run: what was read, with which model and settings, and what came out."""
    result.summary = _summary(result, run, notes, resumed_at, pass1_seconds)
    atomic_write_text(run.out_dir / "summary.json", json.dumps(result.summary, indent=1))
    result.files["summary"] = run.out_dir / "summary.json"


def _summary(result: VideoResult, run: VideoRun, notes: list[str], resumed_at: int, pass1_seconds: float) -> dict:
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
        "settings": {"ttp": to_dict(run.cfg), "schedule": o.schedule, "fast_schedule": run.fast_schedule,
                     "seed": o.seed, "smooth": o.smooth, "box_smooth": run.box_smooth,
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
