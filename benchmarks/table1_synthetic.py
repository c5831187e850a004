"""Table 1 on synthetic people: the paper's four methods, each without TTP, online and offline, over seeds.

Trains every (method, seed) on the synthetic training population, evaluates on the unseen, shifted TEST
population (never used for a choice: the TTP settings in the config were chosen on the val population by
benchmarks/tune_ttp.py), and writes the "table1" section of benchmarks/RESULTS.md: mean PCK@0.2 +- std over
seeds per cell, the improvement over the baseline as in the paper, wall times, the command and the machine.

    python benchmarks/table1_synthetic.py                      # ~2 h on 2 CPU cores
    python benchmarks/table1_synthetic.py --seeds 0 --quick    # a smoke run (minutes, tiny sizes)

Finished trainings and evaluations are reused (runs/table1/<method>-seed<k>/model.safetensors and
test-eval-<mode>.json, the latter only for identical TTP and data settings), so an interrupted run resumes and
several processes can share the work (e.g. one per method), a last plain run then collecting the table.
Each evaluation's test predictions are kept beside the model (test-predictions-<none|online|offline>.npz) for
benchmarks/analyses_synthetic.py (Fig. 3, Table 5).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import TITLES, command, machine, mean_std, save_predictions, trained, write_section  # noqa: E402
from ttpose.atomic import atomic_write_text  # noqa: E402
from ttpose.config import load_config, to_dict  # noqa: E402
from ttpose.data.build import load_videos  # noqa: E402
from ttpose.evaluate import evaluate  # noqa: E402

METHODS = {  # the paper's Table 1 rows (Sec. 4.3) as config overrides
    "baseline": ["model.sup_head=conv", "model.self_task=none"],
    "rotation": ["model.sup_head=conv", "model.self_task=rotation", "loss.lam=1e-4"],
    "keypoint": ["model.sup_head=conv", "model.self_task=keypoint"],
    "transformer": ["model.sup_head=transformer", "model.self_task=keypoint"],
}
QUICK = ["train.steps=30", "train.lr_steps=[20]", "data.train_videos=6", "data.test_videos=2",
         "data.frames_per_video=6", "train.val_every=0", "ttp.batch_size=4"]


def evaluated(cfg, model, videos, mode: str, progress: bool) -> tuple[float, float]:
    """(PCK, seconds) of one cell; reuses the run folder's earlier result for the same TTP settings and test set.

    Keeps the test predictions beside the model (test-predictions-<mode>.npz) for the analyses."""
    out = Path(cfg.output_dir)
    key = {"mode": mode, "ttp": to_dict(cfg.ttp), "data": to_dict(cfg.data), "seed": cfg.seed}
    cache = out / f"test-eval-{mode}.json"
    if cache.is_file():
        saved = json.loads(cache.read_text())
        if saved["key"] == json.loads(json.dumps(key)):
            return saved["pck"], saved["seconds"]
    started = time.time()
    ev, preds = evaluate(model, videos, mode, cfg.ttp, seed=cfg.seed, progress=progress)
    seconds = time.time() - started
    save_predictions(out / f"test-predictions-{mode}.npz", preds)
    atomic_write_text(cache, json.dumps({"key": key, "pck": ev.mean, "seconds": seconds}, indent=1))
    return ev.mean, seconds


def run(args) -> dict:
    results: dict = {}
    for method in args.methods:
        for seed in args.seeds:
            overrides = [*METHODS[method], f"seed={seed}", f"output_dir={args.runs}/{method}-seed{seed}",
                         *(QUICK if args.quick else []), *args.overrides]
            cfg = load_config(args.config, overrides)
            model, train_seconds = trained(cfg, progress=not args.quiet)
            if args.train_only:
                continue
            videos = load_videos(cfg.data, "test")
            modes = ["none"] if cfg.model.self_task == "none" else ["none", "online", "offline"]
            for mode in modes:
                pck, seconds = evaluated(cfg, model, videos, mode, progress=not args.quiet)
                cell = results.setdefault(method, {}).setdefault(mode, {"pck": [], "seconds": []})
                cell["pck"].append(pck)
                cell["seconds"].append(seconds)
                print(f"{method} seed {seed} TTP {mode}: PCK {pck:.2f}", flush=True)
            results[method].setdefault("train_seconds", []).append(train_seconds)
            (Path(args.runs) / "table1.json").write_text(json.dumps(results, indent=1))
    return results


def aims(results: dict) -> list[str]:
    """The issue's aims, checked on the numbers of this run (met / not met), one line each."""
    def gains(method: str, mode: str) -> np.ndarray | None:
        cells = results.get(method, {})
        if mode not in cells or "none" not in cells:
            return None
        return np.subtract(cells[mode]["pck"], cells["none"]["pck"])

    out = ["Aims (checked by the script on the numbers above):", ""]
    for mode in ("online", "offline"):
        tf, kp = gains("transformer", mode), gains("keypoint", mode)
        if tf is None:
            continue
        std = tf.std(ddof=1) if len(tf) > 1 else float("nan")
        met = tf.mean() >= 2 and tf.mean() > 2 * std
        out.append(f"- Transformer, {mode} TTP gains >= 2 PCK and more than twice the seed std: "
                   f"{tf.mean():+.2f} (std {std:.2f}): {'met' if met else 'NOT met'}")
        if kp is not None:
            out.append(f"- Transformer gains more from {mode} TTP than the feature-shared keypoint method: "
                       f"{tf.mean():+.2f} vs {kp.mean():+.2f}: {'met' if tf.mean() > kp.mean() else 'NOT met'}")
    return out


def markdown(results: dict, args, seconds: float) -> str:
    base = np.mean(results["baseline"]["none"]["pck"]) if "baseline" in results else None
    lines = ["## Table 1 on synthetic people (test population, PCK@0.2 torso, mean ± std over seeds)", "",
             "| Method | TTP scenario | PCK | vs. baseline | TTP gain (same model) | eval time / seed (s) |",
             "|---|---|---|---|---|---|"]
    for method, cells in results.items():
        none = np.asarray(cells["none"]["pck"])
        for mode in ("none", "online", "offline"):
            if mode not in cells:
                continue
            pck = np.asarray(cells[mode]["pck"])
            delta = f"{pck.mean() - base:+.2f}" if base is not None and method != "baseline" else ""
            gain = "" if mode == "none" else mean_std(pck - none)
            label = {"none": "w/o TTP", "online": "Online", "offline": "Offline"}[mode]
            lines.append(f"| {TITLES[method]} | {label} | {mean_std(pck)} | {delta} | {gain} | "
                         f"{np.mean(cells[mode]['seconds']):.0f} |")
    lines += ["", *aims(results)]
    train_times = ", ".join(f"{m} {np.nanmean(c['train_seconds']) / 60:.1f} min" for m, c in results.items())
    train_total = sum(np.nansum(c["train_seconds"]) for c in results.values())
    eval_total = sum(sum(c[m]["seconds"]) for c in results.values() for m in ("none", "online", "offline") if m in c)
    lines += ["", f"Seeds: {', '.join(map(str, args.seeds))}. Training time per run: {train_times}. "
              f"Recorded compute: {train_total / 60:.0f} min of training and {eval_total / 60:.0f} min of evaluation "
              f"(one torch thread per process; the cells may have been computed by several processes at once, "
              f"and a cell computed earlier is reused, so this run itself took {seconds / 60:.1f} min).",
              f"Config: `{args.config}` {' '.join(args.overrides)}", f"Command: `{command()}`", f"Machine: {machine()}"]
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/synthetic/cpu.yaml")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--runs", default="runs/table1")
    parser.add_argument("--section", default="table1", help="RESULTS.md section to write")
    parser.add_argument("--results", type=Path, default=None, help="results file (default benchmarks/RESULTS.md)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for smoke tests")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--train-only", action="store_true", help="train (or reuse) the models, evaluate nothing")
    parser.add_argument("overrides", nargs="*", help="extra config overrides for every run")
    args = parser.parse_args(argv)
    started = time.time()
    results = run(args)
    if args.train_only:
        return
    text = markdown(results, args, time.time() - started)
    print(text)
    kwargs = {"path": args.results} if args.results else {}
    write_section(args.section, text, **kwargs)


if __name__ == "__main__":
    main()
