"""Many videos (`personalize_many`): a folder of video files, each personalized on its own by `personalize_video`
into ``OUT/<video name>/``, and the share of them a process takes under ``torchrun`` (`rank_and_world`): with
``RANK`` and ``WORLD_SIZE`` set, rank r takes the videos ``r, r + W, r + 2W, ...`` of the sorted list. No process
group is needed, and since each video's run depends only on the video, the checkpoint and the seed, the results
equal those of one process (with ``schedule="fast"`` each process times and chooses its own TTP update,
`ttpose.schedules`; give ``ttp.batch_size``, ``ttp.update_reconstruction``, ``ttp.loss_pool`` and
``ttp.relative_gate`` for results that cannot depend on the moment or the rank)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from ttpose.boxes import BoxError
from ttpose.data.video import VideoError, list_videos
from ttpose.model import TTPModel
from ttpose.resume import ResumeError
from ttpose.video_personalize.loaded_model import LoadedModel
from ttpose.video_personalize.options import PersonalizeOptions
from ttpose.video_personalize.outputs import check_writable
from ttpose.video_personalize.pipeline import personalize_video
from ttpose.video_personalize.run import VideoResult


@dataclass
class ManyResult:
    """What `personalize_many` did on this rank."""

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
    options = PersonalizeOptions.given(options)
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
