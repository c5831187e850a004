"""Where the personalization gain is won or lost: each change of the recipe, measured on the VALIDATION people.

Trains the synthetic Transformer model once per variant (the variants are cumulative: each row adds one change
to the row above it, starting from the recipe ttpose used before issue 13), evaluates it on the shifted
validation people without TTP, online and offline (the paired gains are what TTP adds to that very model),
and on new people of the training look (``data.shift=0``, no TTP) to show how much the appearance shift costs.
Writes the "gain_ablation" section of benchmarks/RESULTS.md, which ends with the SHA-256 of every variant's model.
The test people are never touched here.

    python benchmarks/gain_ablation.py                          # every variant, one process
    python benchmarks/gain_ablation.py --variants prev sigma    # a share of them (cached; run the rest elsewhere)

Finished trainings and evaluations are reused (runs/ablation/<variant>/), so several processes can share the
variants and a last plain run collects the table.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (  # noqa: E402
    cell_key,
    checkpoint_digests,
    command,
    finished_model,
    machine,
    same_key,
    trained,
    write_section,
)
from ttpose.atomic import atomic_write_text  # noqa: E402
from ttpose.config import load_config, to_dict  # noqa: E402
from ttpose.data.build import load_videos  # noqa: E402
from ttpose.evaluate import evaluate  # noqa: E402

PREVIOUS = ["model.sigma=2", "data.heatmap_sigma=2", "model.head_init=small", "model.backbone_width=16",
            "model.encoder_widths=[16,32,64,64]", "model.renderer_widths=[64,32,16,16]", "data.source_crop=own",
            "ttp.source_crop=own", "loss.lam=1e-3"]
# (key, label, overrides added to the row above): cumulative
VARIANTS = [
    ("prev", "recipe before issue 13 (sigma 2 on the 16 x 16 grid, P and H_self init N(0, 0.001))", PREVIOUS),
    ("sigma", "+ sigma scaled to the grid (1 heatmap pixel)", ["model.sigma=null", "data.heatmap_sigma=null"]),
    ("init", "+ the authors' initialisation (P and H_self PyTorch default, decoder Linear N(0, 0.001))",
     ["model.head_init=authors"]),
    ("balance", "+ compute moved to the pose path (backbone width 32, encoders/renderer halved)",
     ["model.backbone_width=32", "model.encoder_widths=[8,16,32,64]", "model.renderer_widths=[64,32,16,8]"]),
    ("crop", "+ source cropped with the target's box (the authors' pair rule)",
     ["data.source_crop=target", "ttp.source_crop=target"]),
    ("lam", "+ lambda x 6 (lambda L_self at the paper's size with 1 loss term instead of 6)", ["loss.lam=6e-3"]),
]
# The section's "keypoints" row (Eq. 8 on the bottleneck's Gaussians, model.affinity_on=keypoints: online -1.41,
# offline -4.29 on val) was measured at commit 99219c3 with this script; the option lost and was removed
# (issue 15), and "lam" was measured on top of it there. "lam" now adds to "crop" directly.


def overrides_of(key: str) -> list[str]:
    """The cumulative overrides of variant ``key``."""
    out = []
    for k, _, extra in VARIANTS:
        out += extra
        if k == key:
            return out
    raise KeyError(key)


def evaluated(cfg, model, videos, mode: str, tag: str, progress: bool) -> dict:
    """{pck, recon_drop, seconds} of one cell, cached in the run folder for identical settings."""
    out = Path(cfg.output_dir)
    key = cell_key(cfg, mode, tag=tag)
    cache = out / f"val-eval-{tag}-{mode}.json"
    if cache.is_file():
        saved = json.loads(cache.read_text())
        if same_key(saved["key"], key):
            return saved["result"]
    started = time.time()
    ev, preds = evaluate(model, videos, mode, cfg.ttp, seed=cfg.seed, progress=progress)
    drops = []  # how much the reconstruction's pixel MSE fell over the updates (first vs last 10 %), per video
    for p in preds:
        e = p.recon_errors
        if e is not None and len(e) >= 10:
            k = len(e) // 10
            drops.append(100 * (1 - e[-k:].mean() / max(e[:k].mean(), 1e-12)))
    result = {"pck": ev.mean, "recon_drop": float(np.mean(drops)) if drops else None,
              "seconds": time.time() - started}
    atomic_write_text(cache, json.dumps({"key": key, "result": result}, indent=1))
    return result


def run_variant(key: str, args) -> dict:
    cfg = load_config(args.config, [*overrides_of(key), f"output_dir={args.runs}/{key}", *args.overrides])
    model, train_seconds = trained(cfg, progress=not args.quiet)
    row = {"train_seconds": train_seconds, "checkpoint": str(finished_model(cfg.output_dir))}
    shifted = load_videos(cfg.data, "val")
    for mode in ("none", "online", "offline"):
        row[mode] = evaluated(cfg, model, shifted, mode, "shifted", not args.quiet)
        print(f"{key} val TTP {mode}: PCK {row[mode]['pck']:.2f}", flush=True)
    same_look = load_config(args.config, [*overrides_of(key), f"output_dir={args.runs}/{key}", *args.overrides,
                                          "data.shift=0"])
    row["training_look"] = evaluated(same_look, model, load_videos(same_look.data, "val"), "none", "look",
                                     not args.quiet)
    log = Path(cfg.output_dir) / "log.csv"
    if log.is_file():  # the raw reconstruction error at the end of training (mean of the last logged rows)
        with open(log, newline="") as f:
            values = [float(r["recon_mse"]) for r in csv.DictReader(f) if r.get("recon_mse")]
        row["recon_mse_end"] = float(np.mean(values[-3:])) if values else None
    return row


def markdown(results: dict, args, seconds: float) -> str:
    cfg = load_config(args.config, args.overrides)
    d = cfg.data
    shown = ("lr", "batch_size", "steps_per_frame")
    ttp_settings = ", ".join(f"{k} {v}" for k, v in to_dict(cfg.ttp).items() if k in shown)
    lines = [f"## Effect of each change on the validation people ({d.val_videos} people x {d.frames_per_video} "
             f"frames, shift {d.shift:g}; {cfg.train.steps} training steps; one seed)", "",
             "Cumulative: each row adds one change to the row above. Gains are paired (the same model with and "
             "without TTP). \"Training look\": new people drawn like the training people (shift 0), no TTP. "
             "\"Recon. MSE fell\": how much lower the reconstruction's plain pixel MSE is over the last 10 % of the "
             "offline updates than over the first 10 % (online it rises by construction: the first frames are "
             "reconstructed from themselves). TTP settings: " + ttp_settings + ".", "",
             "| Variant | change | training look | w/o TTP | online | online gain | offline | offline gain | "
             "recon. MSE fell (offline) | train recon. MSE | train min |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, label, _ in VARIANTS:
        r = results.get(key)
        if r is None:
            continue
        none, on, off = r["none"]["pck"], r["online"]["pck"], r["offline"]["pck"]
        drop = r["offline"].get("recon_drop")
        mse = r.get("recon_mse_end")
        lines.append(f"| {key} | {label} | {r['training_look']['pck']:.2f} | {none:.2f} | {on:.2f} | {on - none:+.2f} "
                     f"| {off:.2f} | {off - none:+.2f} | {'' if drop is None else f'{drop:.1f} %'} | "
                     f"{'' if mse is None else f'{mse:.4f}'} | {r['train_seconds'] / 60:.1f} |")
    missing = [key for key, _, _ in VARIANTS if key not in results]
    if missing:
        lines += ["", f"Not measured in this run: {', '.join(missing)}."]
    lines += ["", f"Config: `{args.config}` {' '.join(args.overrides)}", f"Command: `{command()}`",
              f"Machine: {machine()} (each variant trained and evaluated in one process of 1 torch thread; "
              f"{args.processes} such processes shared the machine)",
              f"Wall time of this collecting run: {seconds / 60:.1f} min (cached cells are reused)",
              "", *checkpoint_digests(results[key]["checkpoint"] for key, _, _ in VARIANTS if key in results)]
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/synthetic/cpu.yaml")
    parser.add_argument("--variants", nargs="+", default=[k for k, _, _ in VARIANTS],
                        choices=[k for k, _, _ in VARIANTS])
    parser.add_argument("--runs", default="runs/ablation")
    parser.add_argument("--processes", type=int, default=1, help="how many processes shared the work (recorded)")
    parser.add_argument("--no-write", action="store_true", help="compute (and cache) only; write no section")
    parser.add_argument("--section", default="gain_ablation")
    parser.add_argument("--results", type=Path, default=None, help="results file (default benchmarks/RESULTS.md)")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("overrides", nargs="*", help="extra config overrides for every variant")
    args = parser.parse_args(argv)
    started = time.time()
    results = {}
    for key in args.variants:
        results[key] = run_variant(key, args)
    if args.no_write:
        return
    text = markdown(results, args, time.time() - started)
    print(text)
    write_section(args.section, text, **({"path": args.results} if args.results else {}))


if __name__ == "__main__":
    main()
