"""Accuracy of fast inference: the Table 1 Transformer models without TTP, plain float32 against the
inference speed options (issue 8), on the unseen synthetic test people.

    python benchmarks/inference_accuracy.py        # after benchmarks/table1_synthetic.py (reuses its models)

For each seed, the model of runs/table1/transformer-seed<k> (trained by table1_synthetic.py when missing)
predicts every test frame twice: as it is (float32) and through `ttpose.speed.inference_model` with the
options given (default: bf16 + channels_last + fold_bn + compile_frozen, the fastest batch-1 setting of
benchmarks/SPEED.md). Writes the "accuracy_fast_inference" section of benchmarks/SPEED.md: PCK@0.2 of both,
their difference per seed, how far the joints moved (full-frame pixels) and the SHA-256 of each model.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (  # noqa: E402
    SPEED,
    checkpoint_digests,
    command,
    finished_model,
    machine,
    mean_std,
    trained,
    write_section,
)
from benchmarks.table1_synthetic import METHODS  # noqa: E402
from ttpose.config import SpeedConfig, TTPConfig, load_config  # noqa: E402
from ttpose.data.build import load_videos  # noqa: E402
from ttpose.evaluate import evaluate  # noqa: E402
from ttpose.speed import describe  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/synthetic/cpu.yaml")
    parser.add_argument("--runs", default="runs/table1")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--precision", choices=("bf16", "fp32"), default="bf16")
    parser.add_argument("--no-frozen", action="store_true", help="leave out compile_frozen (no C++ compiler)")
    parser.add_argument("--out", type=Path, default=SPEED)
    args = parser.parse_args(argv)
    speed = SpeedConfig(precision=args.precision, channels_last=True, fold_bn=True, compile_frozen=not args.no_frozen)
    started = time.time()
    rows, pck, frame_size, used = [], {"fp32": [], "fast": []}, None, []
    for seed in args.seeds:
        cfg = load_config(args.config, [*METHODS["transformer"], f"seed={seed}",
                                        f"output_dir={args.runs}/transformer-seed{seed}"])
        model, _ = trained(cfg)
        used.append(finished_model(cfg.output_dir))
        videos, frame_size = load_videos(cfg.data, "test"), cfg.data.frame_size
        timings, results = {}, {}
        for name, sp in (("fp32", SpeedConfig()), ("fast", speed)):
            t0 = time.time()
            results[name] = evaluate(model, videos, "none", TTPConfig(speed=sp), progress=False)
            timings[name] = time.time() - t0
            pck[name].append(results[name][0].mean)
        moved = np.concatenate([np.linalg.norm(f.joints - p.joints, axis=-1).ravel()
                                for p, f in zip(results["fp32"][1], results["fast"][1], strict=True)])
        rows.append(f"| {seed} | {pck['fp32'][-1]:.2f} | {pck['fast'][-1]:.2f} | "
                    f"{pck['fast'][-1] - pck['fp32'][-1]:+.2f} | {moved.mean():.3f} | {np.mean(moved > 0):.3f} | "
                    f"{moved.max():.2f} | {timings['fp32']:.1f} | {timings['fast']:.1f} |")
        print(rows[-1], flush=True)
    diff = np.subtract(pck["fast"], pck["fp32"])
    text = "\n".join([
        "## Fast inference: accuracy on synthetic people (Transformer, w/o TTP, test population)", "",
        f"Options: `{describe(speed)}` through `ttpose.speed.inference_model` (what `ttpose evaluate --ttp none` "
        f"uses with `ttp.speed.*`), against the plain float32 model; PCK@0.2 (torso); `moved` = distance between "
        f"the two predictions of a joint, in full-frame pixels (frames {frame_size} px). Wall seconds include "
        "building the copy and, with compile_frozen, compiling.", "",
        "| seed | PCK fp32 | PCK fast | difference | mean moved px | share of joints moved | max moved px | "
        "fp32 s | fast s |", "|---|---|---|---|---|---|---|---|---|", *rows, "",
        f"Mean ± std over seeds: fp32 {mean_std(pck['fp32'])}, fast {mean_std(pck['fast'])}, difference "
        f"{mean_std(diff)}.", "",
        f"Command: `{command()}`", f"Machine: {machine()}. Wall time: {(time.time() - started) / 60:.1f} min.",
        "", *checkpoint_digests(used),
    ])
    write_section("accuracy_fast_inference", text, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
