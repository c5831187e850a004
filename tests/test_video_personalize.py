"""Personalizing to the person in a user's video (ttpose.video_personalize): outputs, resume, bad inputs.

Tiny model (32 x 32 input), 8-frame 48 x 48 videos made with PyAV here, plus the real JHMDB clip.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from conftest import TINY_MODEL, tiny_model
from ttpose.boxes import BoxError
from ttpose.checkpoint import CheckpointError, save_checkpoint
from ttpose.config import Config, LossConfig, SpeedConfig, TTPConfig
from ttpose.data.synthetic import SyntheticConfig, make_video, materialize
from ttpose.data.types import unlabeled_video
from ttpose.data.video import VideoError, input_kind
from ttpose.export import read_coco_keypoints, read_keypoints_csv
from ttpose.inference import predict_video
from ttpose.model import TTPModel
from ttpose.personalization import Personalizer, StreamingPersonalizer
from ttpose.resume import RESUME_DIR, ResumeError
from ttpose.smoothing import savgol_smooth
from ttpose.tracking import TRACK_SOURCES
from ttpose.video_personalize import (
    LoadedModel,
    OutputError,
    PersonalizeOptions,
    personalize_many,
    personalize_video,
)

FAST = TTPConfig(batch_size=2, lr=1e-3)
N, SIZE = 8, 48


def person_frames(n: int = N, size: int = SIZE, index: int = 0) -> np.ndarray:
    video = materialize(make_video("test", index, config=SyntheticConfig(frame_size=size, frames_per_video=n)))
    return np.asarray(video.images)


def write_video(path: Path, frames: np.ndarray, codec: str = "libx264", pix_fmt: str = "yuv420p",
                fps: int = 10) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def run(source, out, mode="online", model=None, **kw):
    options = PersonalizeOptions(mode=mode, **{"config": FAST, "progress": False, "log": None, **kw})
    return personalize_video(source, model or MODEL, out, options)


MODEL = tiny_model()


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("clip") / "clip.mp4", person_frames())


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("long") / "long.mp4", person_frames(20))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    return save_checkpoint(path, MODEL, Config(model=TINY_MODEL, loss=LossConfig(perceptual="pixel"), ttp=FAST))


def leftovers(folder: Path) -> list[str]:
    """Temporary files of atomic writes (.NAME.*.tmp*) anywhere under ``folder``."""
    return [p.name for p in folder.rglob("*") if ".tmp" in p.name]


# ---------------------------------------------------------------------------------------------- outputs


def test_online_run_writes_every_output(clip, checkpoint, tmp_path):
    out = tmp_path / "out"
    r = run(clip, out, model=checkpoint)
    assert r.personalized.joints.shape == (N, 13, 2) and r.generic.scores.shape == (N, 13)
    assert r.frame_ids.tolist() == list(range(N)) and r.skipped == []
    # personalization changed something: the scores (the joints are heatmap peaks, which 8 small updates of this
    # untrained model need not move: with 2 torch threads and other tests first, none moved, and this check failed)
    assert not np.array_equal(r.personalized.scores, r.generic.scores)
    names = {"generic.json", "personalized.json", "generic.csv", "personalized.csv", "overlay.mp4", "summary.json"}
    assert {p.name for p in out.iterdir()} == names  # and no resume folder, no temporary files
    for which, pred in (("generic", r.generic), ("personalized", r.personalized)):
        joints, scores, frames = read_coco_keypoints(out / f"{which}.json")
        np.testing.assert_allclose(joints, pred.joints, atol=0.006)
        np.testing.assert_allclose(scores, pred.scores, atol=6e-5)
        assert frames.tolist() == list(range(N))
        joints, _, frames = read_keypoints_csv(out / f"{which}.csv", MODEL.skeleton)
        np.testing.assert_allclose(joints, pred.joints, atol=0.006)
    video = decoded(out / "overlay.mp4")
    assert len(video) == N and video[0].shape == (SIZE, SIZE, 3)
    with av.open(str(out / "overlay.mp4")) as container:
        assert container.streams.video[0].codec_context.name == "h264"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == N and summary["mode"] == "online" and summary["skipped_frames"] == []
    assert summary["checkpoint"] == str(checkpoint) and summary["ttpose_version"]
    assert summary["box_source"].startswith("tracked by the pose model")
    assert summary["settings"]["ttp"]["batch_size"] == 2
    # the still scene guides the model's looks (guided, or the scene's region itself when no look agrees);
    # frames where it finds nothing are tracked by the model alone (start, tracked, widened, restart)
    assert summary["box_sources"][0]["frames"][0] == 0
    assert {s["source"] for s in summary["box_sources"]} <= set(TRACK_SOURCES)
    assert summary["box_sources"][-1]["frames"][1] == N - 1 and len(r.box_sources) == N
    assert summary["updates"] == N and summary["smoothing"] == "none"


def test_online_equals_streaming_personalizer_and_generic_equals_predict(clip, tmp_path):
    r = run(clip, tmp_path / "out", overlay=False, box_smooth=1, tracking=None)  # the whole frame
    assert r.box_sources == ["whole-frame"] * N and r.summary["box_sources"] == [
        {"frames": [0, N - 1], "source": "whole-frame"}]
    frames = decoded(clip)
    stream = StreamingPersonalizer(MODEL, FAST, seed=0, padding=1.25)
    expected = np.stack([stream.step(f).joints for f in frames])  # box None: the whole frame, padding 1
    np.testing.assert_array_equal(r.personalized.joints, expected)
    video = unlabeled_video(frames, MODEL.skeleton, np.tile([0, 0, SIZE - 1, SIZE - 1], (N, 1)), padding=1.0)
    np.testing.assert_allclose(r.generic.joints, predict_video(MODEL, video).joints, atol=1e-4)


def test_without_boxes_the_person_is_tracked_by_the_generic_model(clip, tmp_path):
    from ttpose.background import Background
    from ttpose.tracking import track_frames

    r = run(clip, tmp_path / "out", overlay=False)
    scene = Background.of_frames(decoded(clip))  # N frames < 48 samples: every frame makes the still scene
    track = track_frames(MODEL, decoded(clip), background=scene)
    np.testing.assert_allclose(r.boxes, np.clip(track.boxes, 0, SIZE - 1), atol=1e-4)  # the track, clamped
    assert r.box_sources == track.sources
    alone = run(clip, tmp_path / "alone", overlay=False, background=None)  # --moving-camera: the model alone
    track = track_frames(MODEL, decoded(clip))
    np.testing.assert_allclose(alone.boxes, np.clip(track.boxes, 0, SIZE - 1), atol=1e-4)
    assert alone.box_sources == track.sources and not {"guided", "background"} & set(track.sources)
    # online, tracked boxes are not averaged by default (a trailing average lags a moving person), unless asked
    assert r.summary["settings"]["box_smooth"] == 1 and r.summary["box_smoothing"] == "none"
    asked = run(clip, tmp_path / "asked", overlay=False, box_smooth=3)
    assert asked.summary["box_smoothing"] == "moving average, trailing, window 3"


def test_checkpoint_weights_are_read_once_and_known_by_the_file_s_sha256(checkpoint, monkeypatch):
    """Issue 15: the checkpoint file was read twice, then every weight hashed, to tell a resume which model ran."""
    import hashlib

    import ttpose.weights

    reads, load_file = [], ttpose.weights.load_file
    monkeypatch.setattr(ttpose.weights, "load_file", lambda *a, **k: reads.append(1) or load_file(*a, **k))
    loaded = LoadedModel.of(checkpoint)
    assert len(reads) == 1 and loaded.digest == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert loaded.ttp == FAST and loaded.checkpoint == str(checkpoint)


def test_options_are_one_object(clip, tmp_path):
    with pytest.raises(TypeError, match="PersonalizeOptions"):
        personalize_video(clip, MODEL, tmp_path / "out", "offline")  # the mode where the options go
    assert not (tmp_path / "out").exists()


def test_generic_predictions_use_the_ttp_speed_options_once_per_model(clip, tmp_path):
    speed = SpeedConfig(channels_last=True, fold_bn=True)
    loaded = LoadedModel.of(MODEL)
    assert loaded.generic(SpeedConfig()) is MODEL  # every option off: the model itself, no copy
    base = run(clip, tmp_path / "base", overlay=False)
    fast = run(clip, tmp_path / "fast", overlay=False, model=loaded, config=replace(FAST, speed=speed))
    again = run(clip, tmp_path / "again", overlay=False, model=loaded, config=replace(FAST, speed=speed))
    np.testing.assert_allclose(fast.generic.joints, base.generic.joints, atol=1e-3)
    np.testing.assert_array_equal(again.generic.joints, fast.generic.joints)
    generic = loaded.generic(speed)
    assert generic is not MODEL and type(generic.encoder.backbone.bn1).__name__ == "_BakedBatchNorm2d"
    assert set(loaded._generic) == {"fp32", "fp32+channels_last+fold_bn"}  # one copy, shared by both runs
    assert type(MODEL.encoder.backbone.bn1) is torch.nn.BatchNorm2d


def test_online_records_every_update_with_several_steps_per_frame(clip, tmp_path):
    """Regression: online runs kept one loss per frame (the last), so summary.json undercounted updates."""
    r = run(clip, tmp_path / "out", overlay=False, config=replace(FAST, steps_per_frame=2))
    assert len(r.losses) == 2 * N and r.summary["updates"] == 2 * N


def test_expected_time_is_printed_first_and_counts_the_updates_ahead(clip, tmp_path):
    messages = []
    cfg = replace(FAST, steps_per_frame=2, update_every=3)
    r = run(clip, tmp_path / "out", overlay=False, config=cfg, log=messages.append)
    expected = [m for m in messages if m.startswith("expected time")]
    updates = 2 * -(-N // 3)  # every 3rd frame, 2 updates each
    assert len(expected) == 1 and f"for {updates} updates" in expected[0]
    assert len(r.losses) == r.summary["updates"] == updates  # the estimate counts what the run then does
    messages.clear()
    run(clip, tmp_path / "off", "offline", overlay=False, config=replace(FAST, offline_steps=7), log=messages.append)
    assert any("for 7 updates" in m for m in messages)


def test_total_updates_with_resets():
    assert replace(FAST, reset_every=4, update_every=3).total_updates(10, "online") == 2 + 2 + 1  # chunks 4, 4, 2
    assert replace(FAST, reset_every=4, steps_per_frame=2).total_updates(10, "offline") == 2 * 10
    assert FAST.total_updates(10, "none") == 0


def test_offline_maps_store_predictions_back_to_the_frame(clip, tmp_path):
    # margin 1 and raw crops: the stored crop is exactly the model's input, so without updates the
    # personalized prediction must equal the generic one: this checks the store -> frame mapping
    r = run(clip, tmp_path / "a", "offline", config=TTPConfig(batch_size=2, offline_steps=0), margin=1.0,
            jpeg_quality=None, overlay=False)
    np.testing.assert_allclose(r.personalized.joints, r.generic.joints, atol=1e-3)
    assert len(r.losses) == 0
    r = run(clip, tmp_path / "b", "offline", overlay=False)  # default: as many updates as online makes
    assert len(r.losses) == N and not np.array_equal(r.personalized.joints, r.generic.joints)


def test_box_file_is_used_smoothed_and_clamped(clip, tmp_path):
    boxes = tmp_path / "people.csv"
    rows = ["frame,x1,y1,x2,y2"] + [f"{i},{-6 + i},4,{30 + i},{60}" for i in range(0, N, 2)]  # every 2nd frame
    boxes.write_text("\n".join(rows) + "\n")
    r = run(clip, tmp_path / "out", boxes=boxes, box_smooth=3, overlay=False)
    assert "people.csv" in r.box_source and "4 interpolated" in r.box_source
    assert (r.boxes[:, :2] >= 0).all() and (r.boxes[:, 2:] <= SIZE - 1).all()  # clamped to the frame
    assert r.boxes[0, 0] == 0 and r.boxes[-1, 2] > r.boxes[0, 2]
    data = json.loads((tmp_path / "out" / "personalized.json").read_text())
    x1, y1, w, h = data["annotations"][3]["bbox"]
    np.testing.assert_allclose([x1, y1, x1 + w, y1 + h], r.boxes[3], atol=0.02)
    fixed = run(clip, tmp_path / "fixed", box="5,2,40,46", overlay=False)
    assert fixed.box_source.startswith("fixed box") and np.all(fixed.boxes == [5, 2, 40, 46])
    with pytest.raises(BoxError, match="not both"):
        run(clip, tmp_path / "both", boxes=boxes, box="5,2,40,46")


def test_progress_bar_shows_frames_per_second_and_time_left(clip, tmp_path, capsys):
    run(clip, tmp_path / "out", progress=True)
    err = capsys.readouterr().err
    assert f"0/{N} [" in err  # the total is known before the first frame, so time left can be shown
    final = re.findall(rf"clip\.mp4 online: 100%.*?{N}/{N} \[(\d\d:\d\d)<(\d\d:\d\d), *([\d.]+)(frame/s|s/frame)\]",
                       err)
    assert final and final[-1][1] == "00:00" and float(final[-1][2]) > 0  # elapsed<left, rate
    assert re.search(rf"clip\.mp4 overlay: 100%.*?{N}/{N} \[", err)


def test_savitzky_golay_smoothing(clip, tmp_path):
    raw = run(clip, tmp_path / "raw", overlay=False)
    smooth = run(clip, tmp_path / "smooth", smooth=5, overlay=False)
    np.testing.assert_allclose(smooth.personalized.joints, savgol_smooth(raw.personalized.joints, 5), atol=1e-5)
    np.testing.assert_allclose(smooth.generic.joints, savgol_smooth(raw.generic.joints, 5), atol=1e-5)
    assert not np.allclose(smooth.personalized.joints, raw.personalized.joints)
    assert "Savitzky-Golay, window 5" in json.loads((tmp_path / "smooth" / "summary.json").read_text())["smoothing"]
    for bad in (4, 1, 3):  # 3: a quadratic fit over 3 points is the identity (bug: accepted, "applied", no change)
        with pytest.raises(ValueError, match="odd"):
            run(clip, tmp_path / "bad", smooth=bad)


def test_online_crops_do_not_look_ahead_and_photo_sets_are_not_smoothed(clip, tmp_path):
    """Regressions: online runs smoothed the box track with a centred window (frame t's crop used boxes up
    to t+4); offline photo folders averaged unrelated photos' boxes."""
    boxes = np.tile(np.array([[4.0, 2.0, 40.0, 46.0]]), (N, 1))
    later = boxes.copy()
    later[N // 2:] += [6, 0, 6, 0]  # the person moves in the second half
    files = []
    for name, track in (("early.csv", boxes), ("moved.csv", later)):
        rows = ["frame,x1,y1,x2,y2", *(f"{i},{','.join(map(str, b))}" for i, b in enumerate(track))]
        (tmp_path / name).write_text("\n".join(rows))
        files.append(tmp_path / name)
    a = run(clip, tmp_path / "a", boxes=files[0], overlay=False)
    b = run(clip, tmp_path / "b", boxes=files[1], overlay=False)
    np.testing.assert_array_equal(a.personalized.joints[: N // 2], b.personalized.joints[: N // 2])
    assert a.summary["settings"]["box_smooth"] == 9 and "trailing" in a.summary["box_smoothing"]  # given boxes
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, frame in enumerate(person_frames(3)):
        cv2.imwrite(str(folder / f"{i}.png"), frame[..., ::-1])
    photo_boxes = np.array([[4, 2, 40, 46], [10, 2, 46, 46], [2, 4, 38, 46]], np.float64)
    (tmp_path / "photos.csv").write_text("\n".join(["frame,x1,y1,x2,y2", *(
        f"{i},{','.join(map(str, b))}" for i, b in enumerate(photo_boxes))]))
    r = run(folder, tmp_path / "set", "offline", boxes=tmp_path / "photos.csv", overlay=False)
    assert r.summary["box_smoothing"] == "none" and r.summary["settings"]["box_smooth"] == 1
    np.testing.assert_allclose(r.boxes, photo_boxes, atol=1e-4)
    with pytest.raises(ValueError, match="at least 1 frame"):
        run(clip, tmp_path / "bad", box_smooth=0)


def test_summary_records_the_windows_used_and_no_stale_overlay(clip, tmp_path):
    run(clip, tmp_path / "out")
    assert (tmp_path / "out" / "overlay.mp4").is_file()
    r = run(clip, tmp_path / "out", smooth=31, overlay=False)  # capped to the 8-frame track
    assert r.summary["smoothing"].startswith(f"Savitzky-Golay, window {N - 1},")
    assert not (tmp_path / "out" / "overlay.mp4").exists()  # the earlier run's overlay is gone


def test_folder_of_images_sequence_and_set(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    frames = person_frames(5)
    names = ["b.png", "a10.png", "a2.png", "c.jpg", "a1.png"]
    for name, frame in zip(names, frames, strict=True):
        cv2.imwrite(str(folder / name), frame[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 100])
    assert input_kind(folder) == "images"
    for mode in ("online", "offline"):
        r = run(folder, tmp_path / mode, mode)
        data = json.loads((tmp_path / mode / "personalized.json").read_text())
        assert [im["file_name"] for im in data["images"]] == ["a1.png", "a2.png", "a10.png", "b.png", "c.jpg"]
        assert len(r.frame_ids) == 5 and len(decoded(tmp_path / mode / "overlay.mp4")) == 5


def test_input_kind_tells_videos_from_images(clip, tmp_path):
    assert input_kind(clip) == "video"
    (tmp_path / "v").mkdir()
    write_video(tmp_path / "v" / "one.mp4", person_frames(2))
    assert input_kind(tmp_path / "v") == "videos"
    cv2.imwrite(str(tmp_path / "v" / "x.png"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(VideoError, match="both video files") as e:
        input_kind(tmp_path / "v")
    assert "\n" not in str(e.value)
    (tmp_path / "v" / "x.png").unlink()
    with pytest.raises(VideoError, match="personalize_many"):
        run(tmp_path / "v", tmp_path / "out")  # a folder of videos is not one person


def test_many_videos_shard_by_rank(checkpoint, tmp_path):
    folder = tmp_path / "videos"
    folder.mkdir()
    for i in range(3):
        write_video(folder / f"person{i}.mp4", person_frames(4, index=i))
    options = PersonalizeOptions(config=FAST, progress=False, log=None, overlay=False)
    ranks = [personalize_many(folder, checkpoint, tmp_path / f"rank{r}", options, rank=r, world_size=2)
             for r in (0, 1)]
    assert [v.name for v in ranks[0].videos] == ["person0.mp4", "person2.mp4"]
    assert [v.name for v in ranks[1].videos] == ["person1.mp4"]
    personalize_many(folder, checkpoint, tmp_path / "one", options, rank=0, world_size=1)
    for i in range(3):
        shard = tmp_path / f"rank{i % 2}" / f"person{i}"
        for name in ("generic.json", "personalized.json"):
            assert (shard / name).read_text() == (tmp_path / "one" / f"person{i}" / name).read_text()


def test_many_videos_go_on_after_a_bad_one_and_resume_skips_finished(checkpoint, tmp_path):
    folder, boxes = tmp_path / "videos", tmp_path / "boxes"
    folder.mkdir()
    boxes.mkdir()
    write_video(folder / "good.mp4", person_frames(3))
    (folder / "bad.mp4").write_text("not a video\n" * 20)
    (boxes / "good.csv").write_text("frame,x1,y1,x2,y2\n0,2,2,40,46\n1,2,2,40,46\n2,3,2,41,46\n")
    (boxes / "bad.csv").write_text("frame,x1,y1,x2,y2\n0,2,2,40,46\n")
    options = PersonalizeOptions(config=FAST, progress=False, log=None, overlay=False, boxes=boxes)
    kw = {"rank": 0, "world_size": 1}
    many = personalize_many(folder, checkpoint, tmp_path / "out", options, **kw)
    assert [r.source.name for r in many.done] == ["good.mp4"] and "good.csv" in many.done[0].box_source
    assert [(v.name, "bad.mp4" in m and "\n" not in m) for v, m in many.failed] == [("bad.mp4", True)]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good"]  # nothing written for bad.mp4
    again = personalize_many(folder, checkpoint, tmp_path / "out", replace(options, resume=True), **kw)
    assert [v.name for v in again.finished_before] == ["good.mp4"] and again.done == []
    (boxes / "good.csv").unlink()
    (folder / "bad.mp4").unlink()
    missing = personalize_many(folder, checkpoint, tmp_path / "other", options, **kw)
    assert "no box file good.json or good.csv" in missing.failed[0][1]


# --------------------------------------------------------------------------------------- Ctrl-C, resume


def _stop_at(frame: int):
    def hook(index: int) -> None:
        if index == frame:
            raise KeyboardInterrupt

    return hook


@pytest.mark.parametrize(("mode", "gate"), [("online", False), ("offline", False), ("online", True)])
def test_resume_after_ctrl_c_gives_the_uninterrupted_result(long_clip, tmp_path, mode, gate):
    """Also with the relative gate (bug fixed: its confidences so far were not saved, so a resumed run's gate
    started afresh at the resumed frame; `--schedule fast` can turn the gate on)."""
    import json
    from dataclasses import replace

    config = replace(FAST, relative_gate=gate)
    full = run(long_clip, tmp_path / "full", mode, save_every=16, overlay=False, config=config)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run(long_clip, out, mode, save_every=16, on_frame=_stop_at(18), config=config)
    assert sorted(p.name for p in out.iterdir()) == [RESUME_DIR]  # no output yet, nothing half-written
    saved_gate = json.loads((out / RESUME_DIR / "state.json").read_text())["gate"]
    assert (saved_gate["margin_frames"] if gate else saved_gate) == (16 if gate else None)  # frames 0..15 weighed
    seen = []
    r = run(long_clip, out, mode, save_every=16, on_frame=seen.append, resume=True, overlay=False, config=config)
    assert seen == [16, 17, 18, 19]  # frames 0..15 were restored, not run again
    for a, b in ((r.personalized, full.personalized), (r.generic, full.generic)):
        np.testing.assert_array_equal(a.joints, b.joints)
        np.testing.assert_array_equal(a.scores, b.scores)
    np.testing.assert_array_equal(r.losses, full.losses)
    assert r.summary["resumed_from_frame"] == 16
    assert (out / "personalized.json").read_text() == (tmp_path / "full" / "personalized.json").read_text()
    assert not (out / RESUME_DIR).exists() and leftovers(out) == []


def test_resume_of_offline_updates(clip, tmp_path, monkeypatch):
    config = TTPConfig(batch_size=2, lr=1e-3, offline_steps=24)
    full = run(clip, tmp_path / "full", "offline", config=config, save_every=16, overlay=False)
    original, calls = Personalizer.update, []

    def update(self, batch):
        calls.append(1)
        if len(calls) == 20:
            raise KeyboardInterrupt
        return original(self, batch)

    monkeypatch.setattr(Personalizer, "update", update)
    with pytest.raises(KeyboardInterrupt):
        run(clip, tmp_path / "out", "offline", config=config, save_every=16)
    monkeypatch.setattr(Personalizer, "update", original)
    r = run(clip, tmp_path / "out", "offline", config=config, save_every=16, resume=True, overlay=False)
    np.testing.assert_array_equal(r.personalized.joints, full.personalized.joints)
    np.testing.assert_array_equal(r.losses, full.losses)


def test_ctrl_c_while_writing_the_overlay(clip, tmp_path, monkeypatch):
    import ttpose.video_personalize.outputs

    full = run(clip, tmp_path / "full")
    original, calls = ttpose.video_personalize.outputs.overlay_two, []

    def overlay(*args, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(*args, **kw)

    monkeypatch.setattr(ttpose.video_personalize.outputs, "overlay_two", overlay)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run(clip, out)
    assert not (out / "overlay.mp4").exists() and not (out / "summary.json").exists() and leftovers(out) == []
    assert (out / "personalized.json").read_text() == (tmp_path / "full" / "personalized.json").read_text()
    monkeypatch.setattr(ttpose.video_personalize.outputs, "overlay_two", original)
    monkeypatch.setattr(StreamingPersonalizer, "step", lambda *a, **k: pytest.fail("resume ran the model"))
    r = run(clip, out, resume=True)  # pass 1 was complete: only the outputs are written
    np.testing.assert_array_equal(r.personalized.joints, full.personalized.joints)
    assert len(decoded(out / "overlay.mp4")) == N and (out / "summary.json").exists()


def test_resume_refuses_another_run_and_start_over_discards(long_clip, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run(long_clip, out, save_every=16, on_frame=_stop_at(17))
    with pytest.raises(ResumeError, match="different mode") as e:
        run(long_clip, out, "offline", resume=True)
    assert "\n" not in str(e.value) and RESUME_DIR in str(e.value)
    with pytest.raises(ResumeError, match="different box_smooth"):  # the window, not "different boxes"
        run(long_clip, out, box_smooth=3, resume=True)
    for weights in (out / RESUME_DIR).glob("weights-*"):
        weights.write_bytes(b"damaged")
    with pytest.raises(ResumeError, match="unreadable resume state") as e:
        run(long_clip, out, resume=True)
    assert "\n" not in str(e.value)
    messages = []
    run(long_clip, out, overlay=False, log=messages.append)  # no --resume: the saved state is discarded
    assert any("starting over" in m for m in messages) and not (out / RESUME_DIR).exists()


def test_resume_of_a_run_saved_before_a_ttp_option_existed(long_clip, tmp_path):
    """Bug fixed: a run saved before ttpose gained a TTP option (its fingerprint lacks it) was refused as "different
    ttp"; it resumes where the option holds its default, and is refused at another value."""
    import json
    from dataclasses import replace

    full = run(long_clip, tmp_path / "full", save_every=16, overlay=False)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run(long_clip, out, save_every=16, on_frame=_stop_at(17))
    state = out / RESUME_DIR / "state.json"
    doc = json.loads(state.read_text())
    del doc["fingerprint"]["ttp"]["relative_gate"], doc["fingerprint"]["ttp"]["speed"]["fold_bn"]  # as saved before
    state.write_text(json.dumps(doc))
    with pytest.raises(ResumeError, match="different ttp"):
        run(long_clip, out, save_every=16, resume=True, config=replace(FAST, relative_gate=True))
    r = run(long_clip, out, save_every=16, resume=True, overlay=False)
    assert r.summary["resumed_from_frame"] == 16
    np.testing.assert_array_equal(r.personalized.joints, full.personalized.joints)


# ------------------------------------------------------------------------------------------- bad inputs


def _missing(tmp_path: Path) -> Path:
    return tmp_path / "nothing.mp4"


def _empty(tmp_path: Path) -> Path:
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    return path


def _text(tmp_path: Path) -> Path:
    path = tmp_path / "notes.mov"
    path.write_text("hello\n" * 50)
    return path


def _truncated(tmp_path: Path) -> Path:
    path = write_video(tmp_path / "cut.mp4", person_frames(4))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


def _no_frames(tmp_path: Path) -> Path:
    path = write_video(tmp_path / "blank.avi", person_frames(3), "mjpeg", "yuvj420p")
    data = bytearray(path.read_bytes())
    with av.open(str(path)) as container:
        spans = [(p.pos, p.size) for p in container.demux(video=0) if p.size]
    for pos, size in spans:
        data[pos:pos + size] = bytes(size)
    path.write_bytes(bytes(data))
    return path


BAD_VIDEOS = {
    "missing": (_missing, "no such file"),
    "empty": (_empty, "empty file"),
    "not a video": (_text, "not a readable video"),
    "truncated": (_truncated, "truncated or damaged"),
    "no decodable frames": (_no_frames, "no decodable video frames"),
}


@pytest.mark.parametrize("case", list(BAD_VIDEOS))
def test_bad_video_is_one_line_error_and_nothing_written(tmp_path, case):
    make, message = BAD_VIDEOS[case]
    path = make(tmp_path)
    out = tmp_path / "out"
    with pytest.raises(VideoError, match=message) as e:
        run(path, out)
    assert "\n" not in str(e.value) and path.name in str(e.value)
    assert not out.exists()


def test_corrupt_frame_in_the_middle_is_skipped_and_recorded(tmp_path):
    path = write_video(tmp_path / "clip.avi", person_frames(), "mjpeg", "yuvj420p")
    data = bytearray(path.read_bytes())
    with av.open(str(path)) as container:
        pos, size = [(p.pos, p.size) for p in container.demux(video=0) if p.size][4]
    data[pos:pos + size] = bytes(size)  # MJPEG: the decoder rejects a zeroed packet
    path.write_bytes(bytes(data))
    messages = []
    r = run(path, tmp_path / "out", log=messages.append)
    assert r.skipped == [4] and r.frame_ids.tolist() == [0, 1, 2, 3, 5, 6, 7]
    assert any("skipped frame 4" in m and "\n" not in m for m in messages)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["skipped_frames"] == [4] and summary["frames"] == N - 1
    assert any("skipped frame 4" in w for w in summary["warnings"])
    _, _, frames = read_coco_keypoints(tmp_path / "out" / "generic.json")
    assert frames.tolist() == [0, 1, 2, 3, 5, 6, 7] and len(decoded(tmp_path / "out" / "overlay.mp4")) == N - 1


def test_box_file_that_does_not_match_the_video(clip, tmp_path):
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps([{"frame": i, "bbox": [2, 2, 30, 40]} for i in range(0, 3 * N)]))
    with pytest.raises(BoxError, match=f"the video has {N} frames") as e:
        run(clip, tmp_path / "out", boxes=boxes)
    assert "\n" not in str(e.value) and "boxes.json" in str(e.value) and not (tmp_path / "out").exists()
    boxes.write_text(json.dumps([{"frame": 0, "bbox": [100, 100, 30, 40]}] * 1))
    with pytest.raises(BoxError, match="outside"):
        run(clip, tmp_path / "out", boxes=boxes)


def test_bad_checkpoints(clip, checkpoint, tmp_path):
    cases = {}
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(checkpoint.read_bytes()[:300])
    cases[corrupt] = "not a readable safetensors"
    other = tmp_path / "resnet.safetensors"  # another model's weights, not a ttpose checkpoint
    save_file({"conv1.weight": torch.zeros(4, 3, 3, 3)}, str(other))
    cases[other] = "not a ttpose checkpoint"
    pth = tmp_path / "official.pth"
    torch.save({"conv1.weight": torch.zeros(2)}, pth)
    cases[pth] = "neither a ttpose .safetensors checkpoint nor the authors' .pth"
    for path, message in cases.items():
        with pytest.raises(CheckpointError, match=message) as e:
            run(clip, tmp_path / "out", model=path)
        assert "\n" not in str(e.value) and path.name in str(e.value)
        assert not (tmp_path / "out").exists()


def test_supervised_only_checkpoint_is_refused(clip, tmp_path):
    # a ttpose checkpoint of another kind of model: the supervised-only baseline has no L_self to update with
    from dataclasses import replace

    config = replace(TINY_MODEL, sup_head="conv", self_task="none")
    torch.manual_seed(0)
    path = save_checkpoint(tmp_path / "baseline.safetensors", TTPModel(config), Config(model=config))
    with pytest.raises(ValueError, match="nothing to personalize") as e:
        run(clip, tmp_path / "out", model=path)
    assert "\n" not in str(e.value) and path.name in str(e.value) and not (tmp_path / "out").exists()


def test_output_folder_not_writable(clip, tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    for out, message in ((blocker, "not a folder"), (blocker / "out", "not writable")):
        with pytest.raises(OutputError, match=message) as e:
            run(clip, out)
        assert "\n" not in str(e.value) and str(out) in str(e.value)


def test_read_only_output_folder(clip, tmp_path):
    import os

    if os.geteuid() == 0:
        pytest.skip("root can write to a read-only folder")
    out = tmp_path / "ro"
    out.mkdir(mode=0o500)
    with pytest.raises(OutputError, match="not writable"):
        run(clip, out)


def test_real_jhmdb_clip(shared_data, tmp_path):
    path = next((shared_data / "jhmdb_clip").glob("*.avi"))
    r = run(path, tmp_path / "out", box="95,40,319,239")  # where the goalkeeper moves
    assert r.frame_ids.tolist() == list(range(40)) and r.skipped == []
    assert np.isfinite(r.personalized.joints).all()
    assert r.summary["video"]["codec"] == "mpeg4" and r.summary["video"]["frames_counted"] == 40
    overlay = decoded(tmp_path / "out" / "overlay.mp4")
    assert len(overlay) == 40 and overlay[0].shape == (240, 320, 3)


def test_the_smoothing_window_error_names_the_smallest_window_accepted():
    """Bug: --smooth 4 said "an odd number of frames >= 4" while --help says >= 5."""
    from ttpose.video_personalize import PersonalizeOptions

    for window in (3, 4, 6):
        with pytest.raises(ValueError, match=rf"odd number of frames >= 5 .*got {window}"):
            PersonalizeOptions(smooth=window)
    assert PersonalizeOptions(smooth=5).smooth == 5
