"""`ttpose personalize`: exit codes, one-line errors, Ctrl-C and --resume, folders of videos under torchrun."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from test_video_personalize import FAST, MODEL, N, person_frames, write_video

from conftest import TINY_MODEL
from ttpose.checkpoint import save_checkpoint
from ttpose.cli import main
from ttpose.config import Config, LossConfig, SpeedConfig
from ttpose.export import read_coco_keypoints
from ttpose.personalization import StreamingPersonalizer
from ttpose.resume import RESUME_DIR
from ttpose.schedules import schedule_overrides


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli")
    checkpoint = save_checkpoint(root / "tiny.safetensors", MODEL,
                                 Config(model=TINY_MODEL, loss=LossConfig(perceptual="pixel"), ttp=FAST))
    return {"clip": write_video(root / "clip.mp4", person_frames()), "checkpoint": checkpoint,
            "long": write_video(root / "long.mp4", person_frames(20))}


def cli(capsys, *args) -> tuple[int, str, str]:
    code = main(["personalize", *map(str, args), "--quiet"])
    out, err = capsys.readouterr()
    return code, out, err


def test_personalize_a_video(files, tmp_path, capsys):
    out = tmp_path / "out"
    code, stdout, stderr = cli(capsys, files["clip"], "ttp.lr=1e-4", "--checkpoint", files["checkpoint"], "--out",
                               out, "--mode", "offline", "--smooth", "5", "--box", "4,2,44,46")
    assert code == 0, stderr
    assert f"{N} frames (0 skipped), offline personalization" in stdout and str(out) in stdout
    assert "fixed box (4, 2, 44, 46)" in stderr  # the box source is always said
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["ttp"]["lr"] == 1e-4 and summary["settings"]["smooth"] == 5
    assert summary["mode"] == "offline" and summary["checkpoint"] == str(files["checkpoint"])
    joints, _, frames = read_coco_keypoints(out / "personalized.json")
    assert joints.shape == (N, 13, 2) and frames.tolist() == list(range(N))


def test_fast_schedule_and_the_expected_time(files, tmp_path, capsys, monkeypatch):
    import ttpose.schedules as schedules

    monkeypatch.setattr(schedules, "fast_speed", lambda device: SpeedConfig(fold_bn=True))
    out = tmp_path / "fast"
    code, _, stderr = cli(capsys, files["clip"], "ttp.batch_size =3", "--checkpoint", files["checkpoint"], "--out", out,
                          "--box", "4,2,44,46", "--schedule", "fast")
    assert code == 0, stderr
    settings = json.loads((out / "summary.json").read_text())["settings"]
    ttp = settings["ttp"]
    assert ttp["update_every"] == 4 and ttp["speed"]["fold_bn"] is True
    assert ttp["update_reconstruction"] is False and ttp["loss_pool"] == 2  # the cheaper update
    assert ttp["batch_size"] == 3  # the user's override wins over the preset's choice, and nothing is timed for it
    assert "fast schedule:" not in stderr and settings["schedule"] == "fast" and settings["fast_schedule"] is None
    assert f"for {-(-N // 4)} updates" in stderr and "expected time" in stderr


def test_fast_schedule_times_its_update_here_and_a_resume_keeps_the_saved_one(files, tmp_path, capsys,
                                                                             monkeypatch):
    """--schedule fast without an override of its update: the update is chosen by timing on this machine (said,
    recorded in summary.json); a resumed run keeps the update it was saved with, however fast this moment is."""
    import ttpose.schedules as schedules

    # seconds per update by (batch, cheaper update), timed without the gate: the paper's update (with the gate or
    # without) and 16 cheap pairs too slow for 2 frames/s
    update = {(16, False): 9.0, (16, True): 5.0, (8, True): 1.0, (4, True): 0.2}
    monkeypatch.setattr(schedules, "seconds_per_update",
                        lambda model, cfg, repeats=3: update[cfg.batch_size, not cfg.update_reconstruction])
    monkeypatch.setattr(schedules, "seconds_per_prediction", lambda model, cfg, repeats=3: 0.1)
    out = tmp_path / "fast"
    code, _, stderr = cli(capsys, files["long"], "--checkpoint", files["checkpoint"], "--out", out,
                          "--box", "4,2,44,46", "--schedule", "fast", "--save-every", "16")
    assert code == 0, stderr
    settings = json.loads((out / "summary.json").read_text())["settings"]
    ttp = settings["ttp"]
    assert (ttp["batch_size"], ttp["update_reconstruction"], ttp["loss_pool"], ttp["relative_gate"]) == (8, False, 2,
                                                                                                        False)
    assert "fast schedule: updates of 8 pairs, the cheaper update, one every 4 frames" in stderr
    assert "16 pairs, the paper's update, with the relative gate 9.00 s" in settings["fast_schedule"]  # why
    assert "16 pairs, the paper's update 9.00 s" in settings["fast_schedule"]
    assert "16 pairs, the cheaper update 5.00 s" in settings["fast_schedule"] and "1.00 s per update" in stderr
    assert "for 5 updates (1.00 s each" in stderr  # the expected time from the choice's own timing

    from ttpose.video_personalize import PersonalizeOptions, personalize_video

    def stop(index):
        if index == 17:
            raise KeyboardInterrupt

    stopped = tmp_path / "stopped"  # interrupted after the first save, then resumed when the paper's update fits
    with pytest.raises(KeyboardInterrupt):
        personalize_video(files["long"], files["checkpoint"], stopped,
                          PersonalizeOptions(box="4,2,44,46", schedule="fast", save_every=16, progress=False,
                                             on_frame=stop, log=None))
    update[16, False] = 0.2
    older = tmp_path / "older"  # the same, as saved before the gate was one of the candidates
    shutil.copytree(stopped, older)
    state = older / RESUME_DIR / "state.json"
    doc = json.loads(state.read_text())
    del doc["fingerprint"]["ttp"]["relative_gate"]
    state.write_text(json.dumps(doc))
    for resumed in (stopped, older):
        code, _, stderr = cli(capsys, files["long"], "--checkpoint", files["checkpoint"], "--out", resumed,
                              "--box", "4,2,44,46", "--schedule", "fast", "--resume")
        assert code == 0, stderr
        settings = json.loads((resumed / "summary.json").read_text())["settings"]
        ttp = settings["ttp"]
        assert (ttp["batch_size"], ttp["update_reconstruction"], ttp["loss_pool"], ttp["relative_gate"]) == (
            8, False, 2, False)
        assert settings["fast_schedule"] == "the update of the resumed run"
        assert (resumed / "personalized.json").read_text() == (out / "personalized.json").read_text()  # as whole


def test_fast_schedule_takes_the_relative_gate_where_its_prediction_fits(files, tmp_path, capsys, monkeypatch):
    """The first candidate, the paper's update of 16 pairs with the relative gate, is taken where the gate's extra
    prediction still leaves 2 frames/s (its prediction timed with the gate on); a user's threshold gate rules it
    out."""
    import ttpose.schedules as schedules

    monkeypatch.setattr(schedules, "seconds_per_update", lambda model, cfg, repeats=3: 1.0)
    predicted = []

    def seconds_per_prediction(model, cfg, repeats=3):
        predicted.append(cfg.relative_gate)
        return 0.2 if cfg.relative_gate else 0.1  # with the gate 1 / (0.2 + 1 / 4) = 2.2 frames/s

    monkeypatch.setattr(schedules, "seconds_per_prediction", seconds_per_prediction)
    for own, gated in (((), True), (("ttp.confidence_gate=0.5",), False)):
        predicted.clear()
        out = tmp_path / ("own" if own else "none")
        code, _, stderr = cli(capsys, files["clip"], *own, "--checkpoint", files["checkpoint"], "--out", out,
                              "--box", "4,2,44,46", "--schedule", "fast")
        assert code == 0, stderr
        ttp = json.loads((out / "summary.json").read_text())["settings"]["ttp"]
        assert (ttp["batch_size"], ttp["update_reconstruction"], ttp["relative_gate"]) == (16, True, gated)
        assert predicted == [gated]  # the first candidate fits: one prediction timing, of its own kind
        assert ttp["confidence_gate"] == (0.0 if gated else 0.5)
        assert ("with the relative gate, one every 4 frames" in stderr) == gated
        assert f"{200 if gated else 100} ms per prediction" in stderr


def test_a_resumed_fast_run_keeps_its_gate_and_refuses_a_threshold_gate(files, tmp_path, capsys, monkeypatch):
    """A run that took the update with the relative gate resumes with it, however the timing would fall now; asked
    to resume it under a threshold gate (exclusive with the relative one), ttpose refuses in one line."""
    import ttpose.schedules as schedules
    from ttpose.video_personalize import PersonalizeOptions, personalize_video

    monkeypatch.setattr(schedules, "seconds_per_update", lambda model, cfg, repeats=3: 0.2)
    monkeypatch.setattr(schedules, "seconds_per_prediction", lambda model, cfg, repeats=3: 0.1)

    def stop(index):
        if index == 17:
            raise KeyboardInterrupt

    stopped = tmp_path / "stopped"
    with pytest.raises(KeyboardInterrupt):
        personalize_video(files["long"], files["checkpoint"], stopped,
                          PersonalizeOptions(box="4,2,44,46", schedule="fast", save_every=16, progress=False,
                                             on_frame=stop, log=None))
    code, _, stderr = cli(capsys, files["long"], "ttp.confidence_gate=0.5", "--checkpoint", files["checkpoint"],
                          "--out", stopped, "--box", "4,2,44,46", "--schedule", "fast", "--resume")
    assert code != 0 and "Traceback" not in stderr
    assert "saved by a run with a different ttp" in stderr.strip().splitlines()[-1]
    monkeypatch.setattr(schedules, "seconds_per_update", lambda model, cfg, repeats=3: 9.0)  # would not fit now
    code, _, stderr = cli(capsys, files["long"], "--checkpoint", files["checkpoint"], "--out", stopped,
                          "--box", "4,2,44,46", "--schedule", "fast", "--resume")
    assert code == 0, stderr
    settings = json.loads((stopped / "summary.json").read_text())["settings"]
    assert settings["ttp"]["relative_gate"] is True and settings["fast_schedule"] == "the update of the resumed run"
    assert settings["ttp"]["batch_size"] == 16 and settings["ttp"]["update_reconstruction"] is True


def test_fast_schedule_times_only_the_candidates_that_agree_with_the_users_settings(files, tmp_path, capsys,
                                                                                    monkeypatch):
    """A user's own ttp.update_reconstruction / loss_pool / batch_size / relative_gate narrows the timed candidates
    to those that agree with it, and a threshold gate (ttp.confidence_gate) leaves out those with the relative gate;
    where none agrees nothing is timed and the schedule's cheaper update of 16 pairs stands under the user's
    setting."""
    import ttpose.schedules as schedules

    timed = []

    def seconds_per_update(model, cfg, repeats=3):
        timed.append((cfg.batch_size, cfg.update_reconstruction, cfg.loss_pool, cfg.relative_gate))
        return 9.0  # too slow for 2 frames/s: the last candidate timed is taken

    monkeypatch.setattr(schedules, "seconds_per_update", seconds_per_update)
    monkeypatch.setattr(schedules, "seconds_per_prediction", lambda model, cfg, repeats=3: 0.1)
    cheap = [(16, False, 2, False), (8, False, 2, False), (4, False, 2, False)]
    for own, tried, expected in (
            (("ttp.update_reconstruction=true",), [(16, True, 1, False)],
             (16, True, 1, False)),  # the paper's update only, with and without the gate: timed once
            (("ttp.batch_size=8",), [(8, False, 2, False)], (8, False, 2, False)),
            (("ttp.relative_gate=true",), [(16, True, 1, False)], (16, True, 1, True)),
            (("ttp.relative_gate=false",), [(16, True, 1, False), *cheap], (4, False, 2, False)),
            (("ttp.confidence_gate=0.5",), [(16, True, 1, False), *cheap], (4, False, 2, False)),
            (("ttp.update_reconstruction=false", "ttp.loss_pool=1"), [],
             (16, False, 1, False))):  # no candidate: untimed
        timed.clear()
        out = tmp_path / "-".join(own)
        code, _, stderr = cli(capsys, files["clip"], *own, "--checkpoint", files["checkpoint"], "--out", out,
                              "--box", "4,2,44,46", "--schedule", "fast")
        assert code == 0, stderr
        settings = json.loads((out / "summary.json").read_text())["settings"]
        ttp = settings["ttp"]
        assert timed == tried  # each candidate timed once (its median of 3), none other
        assert (ttp["batch_size"], ttp["update_reconstruction"], ttp["loss_pool"], ttp["relative_gate"]) == expected
        assert (settings["fast_schedule"] is None) == (not tried) and ("fast schedule:" in stderr) == bool(tried)


def test_whole_frame_flag_replaces_the_model_s_track(files, tmp_path, capsys):
    short = write_video(tmp_path / "short.mp4", person_frames(3))
    runs = {}
    for name, flags in (("tracked", ()), ("whole", ("--whole-frame",)), ("alone", ("--moving-camera",))):
        code, _, stderr = cli(capsys, short, "--checkpoint", files["checkpoint"], "--out", tmp_path / name, *flags)
        assert code == 0, stderr
        runs[name] = stderr, json.loads((tmp_path / name / "summary.json").read_text())
    stderr, summary = runs["tracked"]  # the default: the person tracked by the model
    assert "tracking the person with the model" in stderr and summary["box_source"].startswith("tracked by")
    stderr, summary = runs["whole"]
    assert "tracking" not in stderr and summary["box_source"].startswith("whole frame (48x48")
    assert summary["box_sources"] == [{"frames": [0, 2], "source": "whole-frame"}]
    stderr, summary = runs["alone"]  # tracked by the model without the still scene's guidance
    assert summary["box_source"].startswith("tracked by") and "guided" not in summary["box_source"]
    assert not {"guided", "background"} & {s["source"] for s in summary["box_sources"]}


def _one_line_error(code: int, stderr: str, name: str, message: str) -> None:
    lines = stderr.strip().splitlines()
    assert code == 2
    assert lines[-1].startswith("ttpose: error: ") and name in lines[-1] and message in lines[-1], stderr


def test_errors_are_one_line_with_exit_code_2(files, tmp_path, capsys):
    out = tmp_path / "out"
    ckpt = ("--checkpoint", files["checkpoint"], "--out", out)
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n" * 30)
    code, _, err = cli(capsys, text, *ckpt)
    _one_line_error(code, err, "notes.mp4", "not a readable video")
    code, _, err = cli(capsys, tmp_path / "missing.avi", *ckpt)
    _one_line_error(code, err, "missing.avi", "no such file")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 64)
    code, _, err = cli(capsys, files["clip"], "--checkpoint", bad, "--out", out)
    _one_line_error(code, err, "bad.safetensors", "not a readable safetensors file")
    boxes = tmp_path / "boxes.csv"
    boxes.write_text("frame,x1,y1,x2,y2\n" + "".join(f"{i},1,1,30,40\n" for i in range(50)))
    code, _, err = cli(capsys, files["clip"], *ckpt, "--boxes", boxes)
    _one_line_error(code, err, "boxes.csv", f"the video has {N} frames")
    code, _, err = cli(capsys, files["clip"], "model.backbone=resnet50", *ckpt)
    _one_line_error(code, err, "model.backbone", "only ttp.* and loss.* settings")
    # bugs: a text file FFmpeg draws as a "video" of its text was personalized; ttp.mode was silently replaced
    prose = tmp_path / "notes.txt"
    prose.write_text("A line of prose that FFmpeg's tty demuxer would render as an image of text.\n" * 200)
    code, _, err = cli(capsys, prose, *ckpt)
    _one_line_error(code, err, "notes.txt", "a text file")
    code, _, err = cli(capsys, files["clip"], "ttp.mode=offline", *ckpt)
    _one_line_error(code, err, "ttp.mode=offline", "--mode")
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = cli(capsys, files["clip"], "--checkpoint", files["checkpoint"], "--out", blocker / "out")
    _one_line_error(code, err, "file/out", "not writable")
    assert not out.exists()  # nothing was written by any of them


def test_ctrl_c_exits_130_and_resume_finishes(files, tmp_path, capsys, monkeypatch):
    args = (files["long"], "--checkpoint", files["checkpoint"], "--save-every", "16")
    code, _, _ = cli(capsys, *args, "--out", tmp_path / "full")
    assert code == 0
    original, calls = StreamingPersonalizer.step, []

    def step(self, image, box=None):
        calls.append(1)
        if len(calls) == 19:
            raise KeyboardInterrupt  # as if Ctrl-C was pressed at frame 18
        return original(self, image, box)

    monkeypatch.setattr(StreamingPersonalizer, "step", step)
    out = tmp_path / "out"
    code, _, err = cli(capsys, *args, "--out", out)
    assert code == 130
    assert err.strip().splitlines()[-1] == ("ttpose: interrupted; no output file is half-written; run again with "
                                            "--resume to continue")
    assert sorted(p.name for p in out.iterdir()) == [RESUME_DIR]
    calls.clear()
    code, _, err = cli(capsys, *args, "--out", out, "--resume")
    assert code == 0 and len(calls) == 4 and "resuming" in err  # frames 16..19 only
    for name in ("generic.json", "personalized.json", "personalized.csv"):
        assert (out / name).read_text() == (tmp_path / "full" / name).read_text()
    assert not (out / RESUME_DIR).exists()


def test_folder_of_videos_sharded_with_torchrun_equals_one_process(files, tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    for i in range(3):
        write_video(videos / f"v{i}.mp4", person_frames(3, index=i))
    args = ["personalize", str(videos), "--checkpoint", str(files["checkpoint"]), "--quiet"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the workers
    try:
        assert main([*args, "--out", str(tmp_path / "one")]) == 0
    finally:
        torch.set_num_threads(threads)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
              "-m", "ttpose.cli", *args, "--out", str(tmp_path / "two")]
    done = subprocess.run(launch, env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "rank 0 of 2: 2 of 2 videos done" in done.stdout and "rank 1 of 2: 1 of 1 videos done" in done.stdout
    for i in range(3):
        for name in ("generic.json", "personalized.json", "personalized.csv"):
            one, two = tmp_path / "one" / f"v{i}" / name, tmp_path / "two" / f"v{i}" / name
            assert one.read_text() == two.read_text(), (i, name)
    joints, _, _ = read_coco_keypoints(tmp_path / "two" / "v2" / "personalized.json")
    assert joints.shape == (3, 13, 2) and np.isfinite(joints).all()


def test_schedule_overrides():
    assert schedule_overrides("paper") == []
    fast = schedule_overrides("fast")
    assert {"ttp.update_every=4", "ttp.update_reconstruction=false", "ttp.loss_pool=2",
            "ttp.speed.fold_bn=true"} <= set(fast)
    assert "ttp.batch_size=16" in fast  # where `choose_fast_update` times nothing (the user's own update)
    with pytest.raises(ValueError, match="schedule"):
        schedule_overrides("turbo")

