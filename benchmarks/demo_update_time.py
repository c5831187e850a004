"""Seconds per TTP update of the demo's model (`ttpose demo`'s shipped checkpoint and TTP settings) under each
set of speed options, timed side by side in one process.

    python benchmarks/demo_update_time.py          # torch's default threads; --repeats N
    python benchmarks/demo_update_time.py --compile    # + the demo's options with torch.compile (a C++ compiler)

The demo's time is almost all TTP updates (16 test people x 48 frames, online then offline), so these ratios
are what a speed option changes in `make demo`. Variants: the demo's options on this machine
(`ttpose.demo.demo_config`: channels-last, folded BatchNorm, separable Gaussians, bf16 where the CPU has bf16
units), the same without ``separable_gaussians``, every option off, and with ``--compile`` the demo's options
with ``torch.compile`` (its compilation, the first update, is timed apart). Each round times one update of every
variant, the order rotated every round; a variant's figure is its median over the rounds (after one untimed
warm-up update each). Writes the "demo_update_time" section of benchmarks/SPEED.md (or ``--section``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import SPEED, command, interleaved_seconds, machine, write_section  # noqa: E402
from ttpose.config import SpeedConfig  # noqa: E402
from ttpose.data.pairs import online_batch  # noqa: E402
from ttpose.demo import SHIPPED_MODEL, demo_config, shipped_model  # noqa: E402
from ttpose.personalization import Personalizer, stream_frame  # noqa: E402
from ttpose.speed import bf16_units, describe  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed rounds")
    parser.add_argument("--compile", action="store_true", help="add the demo's options with torch.compile")
    parser.add_argument("--section", default="demo_update_time",
                        help="the results section to write (e.g. one per kind of CPU, keeping the others)")
    args = parser.parse_args()
    started = time.time()
    cfg = demo_config("runs/demo-update-time")
    model = shipped_model(cfg)
    demo = cfg.ttp.speed
    variants = {"demo's options": demo, "demo's options without separable_gaussians":
                replace(demo, separable_gaussians=False), "every option off": SpeedConfig()}
    if args.compile:  # compiled into an empty cache, as on a new user's machine (inductor caches on disk)
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="ttpose-inductor-")
        variants["demo's options with torch.compile"] = replace(demo, compile=True)
    tuners = {name: Personalizer(model, replace(cfg.ttp, speed=speed)) for name, speed in variants.items()}
    size = model.config.input_size
    video = stream_frame(np.zeros((size, size, 3), np.uint8), None, model.skeleton)
    rng = np.random.default_rng(0)
    batch = online_batch(video, 0, cfg.ttp.batch_size, rng, size, next(iter(tuners.values())).augmentation)
    compiled = []  # the first update compiles (the warm-up of interleaved_seconds would hide its cost)
    for name in (n for n, speed in variants.items() if speed.compile):
        t0 = time.perf_counter()
        tuners[name].update(batch)
        compiled.append(f"First update (compilation into an empty inductor cache included) of {name}: "
                        f"{time.perf_counter() - t0:.1f} s.")
    seconds = interleaved_seconds({name: (lambda t=t: t.update(batch)) for name, t in tuners.items()}, args.repeats)
    ref = statistics.median(seconds["every option off"])
    rows = [f"| {name} | {describe(variants[name])} | {statistics.median(s):.3f} | {min(s):.3f}-{max(s):.3f} | "
            f"{ref / statistics.median(s):.2f}x |" for name, s in seconds.items()]
    text = "\n".join([
        "Written by `benchmarks/demo_update_time.py` from one run; nothing edited by hand.", "",
        f"Command: `{command()}`  ", f"Machine: {machine()}; bf16 units: {'yes' if bf16_units() else 'no'}  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M')}; took {time.time() - started:.0f} s.", "",
        f"One TTP update (batch {cfg.ttp.batch_size}, the demo's settings) of the demo's shipped model "
        f"(`{SHIPPED_MODEL.name}`), {args.repeats} rounds, variants interleaved:", "",
        "| variant | options | median s | range s | speed-up vs every option off |", "|---|---|---:|---:|---:|", *rows,
        *([""] + compiled if compiled else [])])
    write_section(args.section, text, SPEED)
    print(text)
    if args.compile:
        shutil.rmtree(os.environ["TORCHINDUCTOR_CACHE_DIR"], ignore_errors=True)


if __name__ == "__main__":
    main()
