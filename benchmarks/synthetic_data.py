"""Speed of the synthetic-people generator (ttpose.data.synthetic), and an example image strip.

    OMP_NUM_THREADS=1 python benchmarks/synthetic_data.py            # table -> benchmarks/SYNTHETIC_DATA.md,
                                                                     # section "generation_speed"
    python benchmarks/synthetic_data.py --strip                      # docs/images/synthetic_people.png

Frames/s are single-process, single-threaded (OpenCV limited to 1 thread). "render" times reading every
frame of already-made videos (first read of a video included, i.e. its background canvas); "end to end"
also includes `make_video` (sampling, kinematics, labels).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from ttpose.data.synthetic import SyntheticConfig, make_video, person_parameters
from ttpose.skeletons import PENN_ACTION

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import SYNTHETIC_DATA, cpu_model, write_section  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def measure(frame_size: int, videos: int, frames: int) -> tuple[float, float]:
    """(render frames/s, end-to-end frames/s) over ``videos`` train videos of ``frames`` frames."""
    cfg = SyntheticConfig(frame_size=frame_size, frames_per_video=frames)
    t0 = time.perf_counter()
    vids = [make_video("train", i, seed=123, config=cfg) for i in range(videos)]
    t1 = time.perf_counter()
    for v in vids:
        for i in range(len(v)):
            v.images[i]
    t2 = time.perf_counter()
    total = videos * frames
    return total / (t2 - t1), total / (t2 - t0)


def draw_skeleton(img: np.ndarray, joints: np.ndarray, visible: np.ndarray) -> np.ndarray:
    out = img.copy()
    for a, b in PENN_ACTION.limbs:
        if visible[a] and visible[b]:
            pa, pb = tuple(int(v) for v in joints[a]), tuple(int(v) for v in joints[b])
            cv2.line(out, pa, pb, (255, 255, 255), 1)
    for j, (x, y) in enumerate(joints):
        name = PENN_ACTION.joint_names[j]
        color = {"l": (255, 0, 0), "r": (0, 90, 255)}.get(name[0], (0, 200, 0))  # RGB: left red, right blue
        if visible[j]:
            cv2.circle(out, (int(x), int(y)), 2, color, -1)
    return out


def strip(path: Path, people: int = 8, frame_size: int = 128, seed: int = 0, overlay: bool = False) -> Path:
    """Rows: train people, test people (shift 1), and one test person over time (frames spread evenly)."""
    cfg = SyntheticConfig(frame_size=frame_size)
    rows = []
    for split in ("train", "test"):
        tiles = []
        for i in range(people):
            v = make_video(split, i, seed=seed, config=cfg)
            k = (7 * i) % len(v)
            img = v.images[k]
            tiles.append(draw_skeleton(img, v.joints[k], v.visible[k]) if overlay else img)
        rows.append(np.concatenate(tiles, axis=1))
    index = people  # first test person after those shown above doing a clear full-body motion
    while True:
        scene = person_parameters("test", index, seed, cfg)[1]
        if scene.motion == "jumping_jacks" and not scene.cutoff and scene.occluder is None:
            break
        index += 1
    v = make_video("test", index, seed=seed, config=cfg)
    idx = np.linspace(0, len(v) - 1, people).astype(int)
    tiles = [draw_skeleton(v.images[k], v.joints[k], v.visible[k]) if overlay else v.images[k] for k in idx]
    rows.append(np.concatenate(tiles, axis=1))
    label_h = max(14, frame_size // 8)
    labelled = []
    titles = ("train people", "test people (shift 1)", "one test video over time")
    for text, row in zip(titles, rows, strict=True):
        band = np.full((label_h, row.shape[1], 3), 255, np.uint8)
        font = cv2.FONT_HERSHEY_SIMPLEX
        cv2.putText(band, text, (4, label_h - 4), font, label_h / 30, (0, 0, 0), 1, cv2.LINE_AA)
        labelled += [band, row]
    image = np.concatenate(labelled, axis=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--strip", action="store_true", help="write the example image strip instead")
    parser.add_argument("--overlay", action="store_true", help="strip: draw the joint labels on top")
    parser.add_argument("--out", type=Path, default=None, help="output file (table .md or strip .png)")
    parser.add_argument("--videos", type=int, default=20)
    parser.add_argument("--frames", type=int, default=48)
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    if args.strip:
        path = strip(args.out or REPO / "docs" / "images" / "synthetic_people.png", overlay=args.overlay)
        print(f"wrote {path}")
        return
    import torch

    rows = []
    for size in (64, 128, 256):
        measure(size, 2, 4)  # warm-up
        render, end = measure(size, args.videos, args.frames)
        rows.append((size, render, end))
        print(f"{size:4d} px  render {render:8.0f} frames/s   end to end {end:8.0f} frames/s", flush=True)
    command = "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/synthetic_data.py" + (
        f" --videos {args.videos} --frames {args.frames}" if (args.videos, args.frames) != (20, 48) else ""
    )
    lines = [
        "Frames per second of `ttpose.data.synthetic` in one process, one thread (OpenCV: 1 thread),",
        f"over {args.videos} training videos of {args.frames} frames each. *render*: reading every frame of",
        "already-made videos (the first read of a video builds its background canvas and is included);",
        "*end to end*: `make_video` (parameters, kinematics, labels) plus rendering.",
        "",
        f"Command: `{command}`",
        "",
        "| frame size | render (frames/s) | end to end (frames/s) |",
        "|---|---|---|",
        *[f"| {s} x {s} | {r:,.0f} | {e:,.0f} |" for s, r, e in rows],
        "",
        "Machine: "
        f"{platform.platform()}; CPU {cpu_model()} ({os.cpu_count()} logical cores, shared); "
        f"Python {sys.version.split()[0]}, numpy {np.__version__}, OpenCV {cv2.__version__}, "
        f"torch {torch.__version__}.",
        "",
    ]
    out = args.out or SYNTHETIC_DATA
    write_section("generation_speed", "\n".join(lines), out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
