"""Choose the test-time personalization settings on the VALIDATION people (never the test people).

Evaluates a trained checkpoint on the synthetic val population (shifted people disjoint from the test
population) without TTP and with each candidate setting, online and/or offline, and writes the "tune_ttp"
section of benchmarks/RESULTS.md: PCK, gain over no TTP, how much L_self fell during the updates, time, and the
checkpoint's SHA-256.
The chosen setting goes into the ``ttp`` section of configs/synthetic/cpu.yaml, which Table 1 reads; the gains
of the plain learning rates (and the checkpoint's SHA-256) also go to benchmarks/tune_ttp.json, which Table 1
quotes beside its aims when they were measured on one of its own Transformers.

    python benchmarks/tune_ttp.py --checkpoint runs/table1/transformer-seed0/model.safetensors
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import PAPER_TTP, checkpoint_digests, command, machine, write_section  # noqa: E402
from ttpose.atomic import atomic_write_text  # noqa: E402
from ttpose.checkpoint import load_checkpoint  # noqa: E402
from ttpose.config import load_config  # noqa: E402
from ttpose.data.build import load_videos  # noqa: E402
from ttpose.evaluate import evaluate  # noqa: E402
from ttpose.weights import file_sha256  # noqa: E402

TUNED = Path(__file__).with_name("tune_ttp.json")
FAST = ["ttp.speed.precision=bf16", "ttp.speed.channels_last=true", "ttp.speed.fold_bn=true"]
CANDIDATES = {  # name -> TTPConfig overrides (on top of the config's ttp section and PAPER_TTP)
    "lr 3e-4": ["ttp.lr=3e-4"],
    "lr 1e-4 (paper)": ["ttp.lr=1e-4"],
    "lr 3e-5": ["ttp.lr=3e-5"],
    "lr 1e-5": ["ttp.lr=1e-5"],
    "lr 3e-6": ["ttp.lr=3e-6"],
    "lr 5e-5": ["ttp.lr=5e-5"],
    "lr 1e-5, 2 steps/frame": ["ttp.lr=1e-5", "ttp.steps_per_frame=2"],
    "lr 3e-5, 2 steps/frame": ["ttp.lr=3e-5", "ttp.steps_per_frame=2"],
    "lr 3e-5, batch 32": ["ttp.lr=3e-5", "ttp.batch_size=32"],
    # the drift control of issue 16 (benchmarks/drift.py): weights pulled back towards the trained ones
    "lr 1e-4, pull back 1e-2": ["ttp.lr=1e-4", "ttp.pull_back=1e-2"],
    "lr 3e-5, pull back 1e-2": ["ttp.lr=3e-5", "ttp.pull_back=1e-2"],
    "lr 1e-4, pull back 3e-2": ["ttp.lr=1e-4", "ttp.pull_back=3e-2"],
    "lr 1e-4, pull back 1e-1": ["ttp.lr=1e-4", "ttp.pull_back=1e-1"],
    # a larger step with the pull-back bounding the drift (lr 3e-4 without it lost -10.51 on 48-frame clips)
    "lr 3e-4, pull back 3e-2": ["ttp.lr=3e-4", "ttp.pull_back=3e-2"],
    "lr 3e-4, pull back 1e-1": ["ttp.lr=3e-4", "ttp.pull_back=1e-1"],
    # the cheaper update of issue 16 (benchmarks/throughput.py): the reconstruction path stays as trained, and
    # also L_self at half resolution
    "lr 1e-4, pull back 3e-2, reconstruction frozen": ["ttp.lr=1e-4", "ttp.pull_back=3e-2",
                                                       "ttp.update_reconstruction=false"],
    "lr 1e-4, pull back 3e-2, cheap update": ["ttp.lr=1e-4", "ttp.pull_back=3e-2", "ttp.update_reconstruction=false",
                                              "ttp.loss_pool=2"],
    # the speed options (bf16 autocast, channels-last, folded BatchNorm; for the demo's model on val the online
    # pass took 249 s with them against 552 s without, sections tune_demo_fast and tune_demo_16x48) and what the
    # saved time buys: more updates per frame
    "lr 3e-5, speed options": ["ttp.lr=3e-5", *FAST],
    "lr 1e-4, speed options": ["ttp.lr=1e-4", *FAST],
    "lr 1e-5, speed options": ["ttp.lr=1e-5", *FAST],
    "lr 3e-5, speed options, 2 steps/frame online": ["ttp.lr=3e-5", *FAST, "ttp.steps_per_frame=2",
                                                     "ttp.offline_steps=48"],
    "lr 3e-5, speed options, 2 steps/frame": ["ttp.lr=3e-5", *FAST, "ttp.steps_per_frame=2"],
    "lr 3e-5, speed options, 3 steps/frame": ["ttp.lr=3e-5", *FAST, "ttp.steps_per_frame=3"],
}


def candidate_overrides(name: str) -> list[str]:
    """The TTP overrides of candidate ``name``: the paper's protocol (``PAPER_TTP``), then the candidate's own, so
    what a candidate leaves unset is the paper's, not the config's choice ("lr 1e-4 (paper)" stays the paper's)."""
    return [*PAPER_TTP, *CANDIDATES[name]]


def loss_drop(losses: list[np.ndarray]) -> float:
    """Mean over videos of (loss over the first 10 % of updates) / (over the last 10 %) - 1, in percent: of
    L_self, or of the plain reconstruction MSE (`Personalized.recon_errors`), which L_self's running-mean
    normalisation does not hide."""
    drops = []
    for x in losses:
        k = max(1, len(x) // 10)
        drops.append(100 * (x[:k].mean() / max(x[-k:].mean(), 1e-12) - 1))
    return float(np.mean(drops))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default="runs/table1/transformer-seed0/model.safetensors")
    parser.add_argument("--config", default="configs/synthetic/cpu.yaml")
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES), choices=list(CANDIDATES))
    parser.add_argument("--modes", nargs="+", default=["online"], choices=["online", "offline"])
    parser.add_argument("--videos", type=int, default=None, help="use only the first N val videos")
    parser.add_argument("--section", default="tune_ttp")
    parser.add_argument("--results", type=Path, default=None, help="results file (default benchmarks/RESULTS.md)")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("overrides", nargs="*", help="extra config overrides (data.*, ttp.*)")
    args = parser.parse_args(argv)
    started = time.time()
    model = load_checkpoint(args.checkpoint)
    base_cfg = load_config(args.config, args.overrides)
    videos = load_videos(base_cfg.data, "val")[: args.videos]
    none, _ = evaluate(model, videos, "none", base_cfg.ttp, progress=False)
    rows = [("none", "-", none.mean, 0.0, float("nan"), float("nan"), 0.0)]
    plain: dict[str, dict[str, float]] = {}  # lr -> mode -> gain, of the candidates that only set the lr
    print(f"no TTP: PCK {none.mean:.2f}", flush=True)
    for name in args.candidates:
        cfg = load_config(args.config, [*args.overrides, *candidate_overrides(name)])
        for mode in args.modes:
            t0 = time.time()
            ev, preds = evaluate(model, videos, mode, cfg.ttp, seed=cfg.seed, progress=not args.quiet)
            drop = loss_drop([p.losses for p in preds])
            mse_drop = loss_drop([p.recon_errors for p in preds])
            rows.append((name, mode, ev.mean, ev.mean - none.mean, drop, mse_drop, time.time() - t0))
            if all(o.startswith("ttp.lr=") for o in CANDIDATES[name]):  # a plain learning rate
                plain.setdefault(f"{cfg.ttp.lr:g}", {})[mode] = ev.mean - none.mean
            print(f"{name} {mode}: PCK {ev.mean:.2f} ({ev.mean - none.mean:+.2f}), L_self fell {drop:.1f} %, "
                  f"reconstruction MSE fell {mse_drop:.1f} %", flush=True)
    best = max((r for r in rows if r[1] == "online"), key=lambda r: r[2], default=None)
    lines = [f"## TTP settings chosen on the validation people ({len(videos)} videos x "
             f"{base_cfg.data.frames_per_video} frames, shift {base_cfg.data.shift:g})", "",
             f"Checkpoint: `{args.checkpoint}`. PCK@0.2 (authors' convention), one seed of data and TTP.", "",
             "| Setting | TTP | PCK | gain | L_self fell (first vs last 10 % of updates) | reconstruction MSE fell "
             "(same) | time (s) |",
             "|---|---|---|---|---|---|---|"]

    def percent(x: float) -> str:
        return "" if np.isnan(x) else f"{x:.1f} %"

    for name, mode, pck, gain, drop, mse_drop, secs in rows:
        lines.append(f"| {name} | {mode} | {pck:.2f} | {gain:+.2f} | {percent(drop)} | {percent(mse_drop)} | "
                     f"{secs:.0f} |")
    if best is not None:
        lines += ["", f"Best online setting on val: **{best[0]}** ({best[3]:+.2f} PCK)."]
    lines += ["", f"Command: `{command()}`", f"Machine: {machine()}",
              f"Wall time: {(time.time() - started) / 60:.1f} min", "", *checkpoint_digests([args.checkpoint])]
    text = "\n".join(lines)
    print(text)
    write_section(args.section, text, **({"path": args.results} if args.results else {}))
    if args.section == "tune_ttp" and args.results is None:  # the gains per plain lr, read by table1_synthetic.py
        atomic_write_text(TUNED, json.dumps({"checkpoint": args.checkpoint, "sha256": file_sha256(args.checkpoint),
                                             "no_ttp": none.mean, **plain}, indent=1))


if __name__ == "__main__":
    main()
