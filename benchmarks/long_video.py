"""Long videos: frames/s and peak memory of `ttpose personalize` on a synthetic 720p H.264 video.

    OMP_NUM_THREADS=1 python benchmarks/long_video.py                 # 10 minutes of 30 fps 1280 x 720
    OMP_NUM_THREADS=1 python benchmarks/long_video.py --minutes 2     # what fits a busy 2-core machine

Makes a video of one synthetic person (`ttpose.data.synthetic`, rendered at 360 x 360, upscaled to 720 x 720
and padded to 1280 x 720) with a box file (the renderer's person boxes, standing in for a detector), encodes
it with PyAV (libx264) into a temporary folder, then runs `personalize_video` on it (online by default) with
a tiny untrained model, in a fresh process so that the peak memory is the run's alone. At the end of every
minute of video the run's resident memory (VmRSS) and its peak so far (ru_maxrss) are recorded: bounded
memory means these stay flat while the frames go by (only JPEG crops of ~2 kB and a few numbers per frame
are kept). Writes the "long_video" section of benchmarks/LONG_VIDEO.md. The model is tiny on purpose: this
measures the pipeline (decode, crop, store, update, overlay), not a pose network's speed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import LONG_VIDEO, cpu_model, memory_mib, write_section  # noqa: E402

WIDTH, HEIGHT, RENDER = 1280, 720, 360


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


def make_video(path: Path, boxes_csv: Path, minutes: float, fps: int) -> int:
    """Render and encode the test video and its box file; returns the number of frames."""
    import av
    import cv2

    from ttpose.data.synthetic import SyntheticConfig, make_video

    n = int(round(minutes * 60 * fps))
    video = make_video("test", 0, seed=7, config=SyntheticConfig(frame_size=RENDER, frames_per_video=n))
    scale, left = HEIGHT / RENDER, (WIDTH - HEIGHT) // 2
    rows = ["frame,x1,y1,x2,y2"]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "23"}
        for i in range(n):
            frame = cv2.resize(video.images[i], (HEIGHT, HEIGHT), interpolation=cv2.INTER_LINEAR)
            frame = cv2.copyMakeBorder(frame, 0, 0, left, WIDTH - HEIGHT - left, cv2.BORDER_REPLICATE)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
            x1, y1, x2, y2 = video.boxes[i] * scale + np.array([left, 0, left, 0])
            rows.append(f"{i},{x1:.1f},{y1:.1f},{x2:.1f},{y2:.1f}")
        for packet in stream.encode(None):
            container.mux(packet)
    boxes_csv.write_text("\n".join(rows) + "\n")
    return n


def run(video: Path, boxes: Path, out: Path, fps: int, mode: str, batch_size: int) -> dict:
    """Personalize (in this process) and return the measurements."""
    import torch

    from ttpose.config import LossConfig, ModelConfig, TTPConfig
    from ttpose.model import TTPModel
    from ttpose.personalization import CropStore
    from ttpose.video_personalize import PersonalizeOptions, personalize_video

    torch.manual_seed(0)
    config = ModelConfig(backbone="resnet18", backbone_width=8, deconv_channels=16, input_size=32, num_maps=6,
                         encoder_widths=(4, 4, 8, 8), renderer_widths=(8, 4, 4, 4), transformer_heads=2,
                         transformer_ff=32)
    model = TTPModel(config).eval()
    model.loss_config = LossConfig(perceptual="pixel")
    crop_bytes = []  # instrumentation: the size of every crop the store keeps
    add = CropStore.add

    def counting_add(self, *args, **kwargs):
        add(self, *args, **kwargs)
        crop_bytes.append(self.items[-1].nbytes)

    CropStore.add = counting_add
    samples = [{"minute": 0, "frames": 0, "seconds": 0.0, "cpu_seconds": 0.0, "rss_mb": memory_mib(),
                "peak_mb": peak_mb()}]
    started, cpu_started = time.perf_counter(), time.process_time()
    per_minute = fps * 60

    last = {}

    def on_frame(index: int) -> None:  # after each frame of pass 1
        last.update(frames=index + 1, seconds=time.perf_counter() - started,
                    cpu_seconds=time.process_time() - cpu_started, rss_mb=memory_mib(), peak_mb=peak_mb())
        if (index + 1) % per_minute == 0:
            samples.append({"minute": (index + 1) / per_minute, **last})

    options = PersonalizeOptions(mode=mode, boxes=boxes, config=TTPConfig(batch_size=batch_size), progress=False,
                                 on_frame=on_frame)
    result = personalize_video(video, model, out, options)
    total, total_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    if samples[-1]["frames"] != last["frames"]:  # the last frame of pass 1
        samples.append({"minute": last["frames"] / per_minute, **last})
    pass1 = samples[-1]["seconds"]
    return {"samples": samples, "frames": int(len(result.frame_ids)), "total_seconds": total,
            "pass1_seconds": pass1, "pass1_fps": samples[-1]["frames"] / pass1,
            "outputs_seconds": total - pass1, "total_cpu_seconds": total_cpu,
            "pass1_cpu_seconds": samples[-1]["cpu_seconds"], "final_peak_mb": peak_mb(), "final_rss_mb": memory_mib(),
            "overlay_mb": (out / "overlay.mp4").stat().st_size / 1e6, "box_source": result.box_source,
            "crop_side": round(config.input_size * 1.5), "crop_bytes_mean": float(np.mean(crop_bytes)),
            "crop_bytes_total": int(np.sum(crop_bytes)), "threads": torch.get_num_threads()}


def report(args, n: int, video_mb: float, make_seconds: float, m: dict) -> str:
    import av
    import cv2
    import torch

    minutes = n / (args.fps * 60)
    command = "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/long_video.py" + (
        f" --minutes {args.minutes:g}" if args.minutes != 10 else "") + (
        f" --mode {args.mode}" if args.mode != "online" else "") + (
        f" --batch-size {args.batch_size}" if args.batch_size != 8 else "")
    lines = [
        f"A {minutes:g}-minute synthetic video ({n:,} frames, {WIDTH} x {HEIGHT}, {args.fps} fps, H.264, "
        f"{video_mb:.0f} MB; made in {make_seconds:.0f} s, not counted below), one synthetic person with a "
        f"box file, personalized **{args.mode}** with a tiny untrained model (ResNet-18 of width 8, 32 x 32 "
        f"input) and TTP batch size {args.batch_size}, one update per frame. The model is tiny on purpose: "
        "this measures the pipeline (decode, crop, JPEG crop store, update, predict, overlay), not a pose "
        "network. Memory is that of the personalizing process alone (a fresh process).",
        "",
        f"Command: `{command}`",
        "",
        "| video minute | frames done | time (s) | CPU time (s) | frames/s so far | resident memory (MB) "
        "| peak so far (MB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in m["samples"]:
        rate = f"{s['frames'] / s['seconds']:.1f}" if s["seconds"] else "-"
        label = "start" if s["minute"] == 0 else f"{s['minute']:.2f}".rstrip("0").rstrip(".")
        mem = "- | -" if np.isnan(s["rss_mb"]) else f"{s['rss_mb']:.0f} | {s['peak_mb']:.0f}"
        lines.append(f"| {label} | {s['frames']:,} | {s['seconds']:.0f} | {s['cpu_seconds']:.0f} | {rate} | {mem} |")
    last = m["samples"][-1]
    measured = [s for s in m["samples"] if s["minute"] >= 1 and not np.isnan(s["peak_mb"])]
    peak = f"Peak resident memory of the whole run (pass 2 included): **{m['final_peak_mb']:.0f} MB**"
    if len(measured) >= 2:
        first, end = measured[0], measured[-1]
        peak += (f"; peak after minute {first['minute']:g} of video: {first['peak_mb']:.0f} MB, after minute "
                 f"{end['minute']:g}: {end['peak_mb']:.0f} MB")
    what = "online update and prediction per frame" if args.mode == "online" else "crop stored"
    after = "" if args.mode == "online" else "Offline updates and predictions, then "
    outputs_rate = n / m["outputs_seconds"] if m["outputs_seconds"] > 0 else float("nan")
    lines += [
        "",
        f"- Pass 1 (decode, box, generic prediction, {what}): "
        f"**{m['pass1_fps']:.1f} frames/s** over {last['frames']:,} frames ({m['pass1_seconds']:.0f} s; "
        f"{m['pass1_cpu_seconds'] / last['frames'] * 1e3:.0f} ms of CPU time per frame).",
        f"- {after}Outputs (keypoint JSON/CSV, then pass 2: decode again, draw both skeletons and encode the "
        f"{m['overlay_mb']:.0f} MB overlay MP4): {m['outputs_seconds']:.0f} s ({outputs_rate:.1f} frames/s; "
        f"{(m['total_cpu_seconds'] - m['pass1_cpu_seconds']) / n * 1e3:.0f} ms of CPU time per frame).",
        f"- {peak}. Keeping the decoded frames instead would take {n * WIDTH * HEIGHT * 3 / 1e9:.1f} GB.",
        f"- What grows with the video: the stored crops ({m['crop_side']} x {m['crop_side']} px JPEG, "
        f"{m['crop_bytes_mean'] / 1e3:.1f} kB a frame on average, {m['crop_bytes_total'] / 1e6:.1f} MB in all) "
        "and a few numbers per frame; everything else is constant.",
        "",
        f"Machine: {platform.platform()}; CPU {cpu_model()} ({os.cpu_count()} logical cores, shared with other "
        f"work while this ran: wall-clock times and frames/s depend on that load, the CPU times of this "
        f"process much less); Python {platform.python_version()}, torch "
        f"{torch.__version__} ({m['threads']} thread(s)), PyAV {av.__version__}, OpenCV {cv2.__version__}.",
    ]
    if args.minutes < 10:
        lines += ["", f"Only {args.minutes:g} minutes of video were run here (a busy, shared 2-core machine). "
                  "The 10-minute benchmark is `OMP_NUM_THREADS=1 .venv/bin/python benchmarks/long_video.py`; "
                  "its figures are not in this file because it was not run."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the video (default 10)")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--mode", choices=["online", "offline"], default="online")
    parser.add_argument("--batch-size", type=int, default=8, help="TTP batch size (pairs per update)")
    parser.add_argument("--out", type=Path, default=LONG_VIDEO)
    parser.add_argument("--work", type=Path, help="folder for the video and outputs (default: a temporary one)")
    parser.add_argument("--child", nargs=3, metavar=("VIDEO", "BOXES", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--make", nargs=2, metavar=("VIDEO", "BOXES"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.make:  # child process: make the video
        print(json.dumps({"frames": make_video(Path(args.make[0]), Path(args.make[1]), args.minutes, args.fps)}))
        return
    if args.child:  # child process: personalize and measure
        video, boxes, out = (Path(p) for p in args.child)
        print(json.dumps(run(video, boxes, out, args.fps, args.mode, args.batch_size)))
        return
    with tempfile.TemporaryDirectory(prefix="ttpose-long-video-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        video, boxes = work / "long.mp4", work / "long_boxes.csv"
        common = [sys.executable, __file__, "--minutes", str(args.minutes), "--fps", str(args.fps),
                  "--mode", args.mode, "--batch-size", str(args.batch_size)]
        t = time.perf_counter()
        made = subprocess.run([*common, "--make", str(video), str(boxes)], check=True, capture_output=True,
                              text=True)
        make_seconds = time.perf_counter() - t
        n = json.loads(made.stdout.strip().splitlines()[-1])["frames"]
        print(f"made {video} ({n} frames, {video.stat().st_size / 1e6:.0f} MB) in {make_seconds:.0f} s", flush=True)
        done = subprocess.run([*common, "--child", str(video), str(boxes), str(work / "out")], check=True,
                              stdout=subprocess.PIPE, text=True)
        measured = json.loads(done.stdout.strip().splitlines()[-1])
        text = report(args, n, video.stat().st_size / 1e6, make_seconds, measured)
    write_section("long_video", text, args.out)
    print(text)


if __name__ == "__main__":
    main()
