"""The demo's personalization of its test people in one process against several (`ttpose.people`), side by side.

    python benchmarks/demo_workers.py                  # all 16 test people, 2 rounds; --people N --rounds R
    python benchmarks/demo_workers.py ttp.speed.precision=fp32 --section demo_workers_fp32   # float32 updates

`ttpose demo` personalizes 16 test people online and offline; each person from the trained weights, so the people
can run in parallel processes. This times `ttpose.evaluate.evaluate` on the demo's test people with the demo's
model and TTP settings, online and offline, with ``workers=1`` (one process using all of this process's torch
threads: the demo before `ttpose.people`) and with one worker per torch thread (each with one thread: the demo
now), the four runs of a round in an order rotated every round; worker start-up is inside the timed call, as in
the demo. It also records each run's PCK@0.2, which must agree (the workers' arithmetic differs only in the
threads' share of each convolution). Writes the "demo_workers" section of benchmarks/SPEED.md (or ``--section``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import SPEED, command, machine, write_section  # noqa: E402
from ttpose.data.build import load_videos  # noqa: E402
from ttpose.demo import SHIPPED_MODEL, demo_config, shipped_model  # noqa: E402
from ttpose.evaluate import evaluate  # noqa: E402
from ttpose.people import auto_workers, threads_per_worker  # noqa: E402
from ttpose.speed import bf16_units, describe  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=0, help="only the first N test people (default: all)")
    parser.add_argument("--rounds", type=int, default=2, help="timed rounds (each: every mode with each worker count)")
    parser.add_argument("--section", default="demo_workers", help="the results section to write")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="demo config overrides that keep the shipped model (e.g. ttp.speed.precision=fp32)")
    args = parser.parse_args()
    started = time.time()
    cfg = demo_config("runs/demo-workers", args.overrides)
    model = shipped_model(cfg)
    videos = load_videos(cfg.data, "test")
    videos = videos[: args.people] if args.people else videos
    many = auto_workers(len(videos), model)
    runs = [(mode, w) for mode in ("online", "offline") for w in (1, many)]
    seconds, pck = {run: [] for run in runs}, {run: [] for run in runs}
    for r in range(args.rounds):
        for mode, w in runs[r % len(runs):] + runs[:r % len(runs)]:
            t0 = time.perf_counter()
            evaluation, _ = evaluate(model, videos, mode, cfg.ttp, seed=cfg.seed, progress=False, workers=w)
            seconds[mode, w].append(time.perf_counter() - t0)
            pck[mode, w].append(evaluation.mean)
            print(f"round {r}: {mode}, {w} worker(s): {seconds[mode, w][-1]:.1f} s, PCK@0.2 {evaluation.mean:.2f}",
                  flush=True)
    rows = []
    for mode, w in runs:
        one = statistics.median(seconds[mode, 1])
        s = statistics.median(seconds[mode, w])
        rows.append(f"| {mode} | {w} | {threads_per_worker(w)} each | "
                    f"{s:.1f} | {', '.join(f'{x:.1f}' for x in seconds[mode, w])} | {one / s:.2f}x | "
                    f"{', '.join(f'{x:.2f}' for x in pck[mode, w])} |")
    text = "\n".join([
        "Written by `benchmarks/demo_workers.py` from one run; nothing edited by hand.", "",
        f"Command: `{command()}`  ", f"Machine: {machine()}; bf16 units: {'yes' if bf16_units() else 'no'}  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M')}; took {time.time() - started:.0f} s; nothing else of ours ran.", "",
        f"`evaluate` of the demo's shipped model (`{SHIPPED_MODEL.name}`) on {len(videos)} test people x "
        f"{len(videos[0])} frames, the demo's TTP settings ({describe(cfg.ttp.speed)}, batch {cfg.ttp.batch_size}), "
        f"{args.rounds} round(s), runs rotated; 1 worker = this process alone, {many} workers = "
        f"`ttpose.people.personalize_people` processes sharing this process's torch threads (start-up included):", "",
        "| mode | workers | torch threads | median s | each round s | speed-up vs 1 worker | PCK@0.2 each round |",
        "|---|---:|---|---:|---|---:|---|", *rows])
    write_section(args.section, text, SPEED)
    print(text)


if __name__ == "__main__":
    main()
