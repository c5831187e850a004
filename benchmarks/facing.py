"""Where a model's accuracy goes when the synthetic people may turn their backs (issue 13's "backs" probe):
PCK without TTP on the VALIDATION people, split by which way each person faces, and with left/right swaps forgiven.

    python benchmarks/table1_synthetic.py data.yaw_range=3.141592653589793 --train-only --runs runs/backs \
        --methods baseline keypoint transformer --seeds 0
    python benchmarks/facing.py --runs runs/backs --seeds 0 --section facing_backs_val128 \
        data.yaw_range=3.141592653589793 data.val_videos=128 data.stratified=true

Why: the Transformer's affinity W (Eq. 7) maps the self-supervised keypoints to the joints. On the benchmark as
Table 1 has it every person faces the camera (yaw within about 57 deg), so the image side of a self-supervised
keypoint tells the body side of the joint it lies on and one W serves every frame - which is what training
learns (section affinity_source: W nearly constant). With ``data.yaw_range=pi`` a person may face away, and the
joint on the image's right is then the right one: only a W that reads the image can map both. This script shows
how each method copes: PCK over the people who face the camera (|yaw| < 90 deg) and over those who face away,
and "swap-forgiving" PCK, each frame scored with its prediction or the same prediction with the left and right
joints exchanged, whichever hits more joints (a model that only confuses the sides scores as if it did not).
W's spread (within a video, over all frames; `benchmarks.affinity_source.affinity_spread`) is given for the
Transformer. Writes the section ``--section`` of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common  # noqa: E402

CONFIG = Path("configs/synthetic/cpu.yaml")
METHODS = ("baseline", "keypoint", "transformer")
COLUMNS = ("all", "front", "back", "all_swap", "front_swap", "back_swap", "one_spot", "front_one_spot", "back_one_spot")


def faces_away(data, count: int) -> np.ndarray:
    """(count,) bool: whether each validation person's body yaw (the scene's, before the small idle wobble) turns
    the back to the camera (|yaw| > 90 deg)."""
    from ttpose.data.build import synthetic_config
    from ttpose.data.synthetic import person_parameters

    config = synthetic_config(data, data.test_frames or data.frames_per_video)
    return np.array([abs(person_parameters("val", i, data.seed, config)[1].yaw) > np.pi / 2 for i in range(count)])


def swapped(joints: np.ndarray, skeleton) -> np.ndarray:
    """N x K x 2 joints with each left/right pair of ``skeleton`` exchanged."""
    return joints[:, skeleton.flip_permutation()]


def one_spot(joints: np.ndarray, norm: np.ndarray, skeleton) -> np.ndarray:
    """(N x pairs) bool: whether a left joint and its right partner lie within 0.2 x the frame's ``norm`` (torso)
    of each other - the sides collapsed onto one place (False in frames without a positive norm, which the
    callers leave out)."""
    left, right = (np.array(side) for side in zip(*skeleton.flip_pairs, strict=True))
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.linalg.norm(joints[:, left] - joints[:, right], axis=-1) / norm[:, None]
    return (norm > 0)[:, None] & (ratio < 0.2)


def facing_pck(videos: list, preds: list, away: np.ndarray, skeleton) -> dict[str, float]:
    """PCK@0.2 (torso, the authors' convention: pooled over every scored joint) over all people, those facing the
    camera and those facing away, each as predicted and with left/right swaps forgiven per frame; and the share
    (%) of left/right pairs predicted on one spot (`one_spot`), with the ground truth's share ("one_spot_gt")."""
    from ttpose.evaluate import PCK_THRESHOLD
    from ttpose.metrics import pck_hits, torso_size

    hits, scored, spots, spots_gt = [], [], [], []
    for video, p in zip(videos, preds, strict=True):
        gt, vis = np.asarray(video.joints[p.frame_index], np.float64), video.visible[p.frame_index]
        norm = torso_size(gt, skeleton)  # in float64, as pck_table computes it
        hit, valid = pck_hits(p.joints, gt, vis, norm, PCK_THRESHOLD)
        hit_swap, _ = pck_hits(swapped(p.joints, skeleton), gt, vis, norm, PCK_THRESHOLD)
        better = ((hit_swap & valid).sum(1) > (hit & valid).sum(1))[:, None]
        hits.append((hit & valid, np.where(better, hit_swap, hit) & valid))
        scored.append(valid)
        spots.append(one_spot(p.joints, norm, skeleton)[norm > 0])  # frames x pairs, frames with a torso
        spots_gt.append(one_spot(gt, norm, skeleton)[norm > 0])
    out = {}
    for name, people in (("all", np.ones_like(away)), ("front", ~away), ("back", away)):
        chosen = np.flatnonzero(people)
        total = sum(int(scored[i].sum()) for i in chosen)
        for suffix, k in (("", 0), ("_swap", 1)):
            out[name + suffix] = 100.0 * sum(int(hits[i][k].sum()) for i in chosen) / total if total else float("nan")
        prefix = "" if name == "all" else name + "_"  # one_spot, front_one_spot, back_one_spot
        out[prefix + "one_spot"] = (100.0 * float(np.concatenate([spots[i] for i in chosen]).mean()) if len(chosen)
                                    else float("nan"))
    out["one_spot_gt"] = 100.0 * float(np.concatenate(spots_gt).mean())
    return out


def run(args) -> tuple[dict, dict, list[Path], np.ndarray]:
    """Per method, its per-seed values of each column (and the Transformer's W spread), the models used, and which
    validation people face away."""
    import torch

    from benchmarks.affinity_source import affinity_spread
    from benchmarks.table1_synthetic import METHODS as OVERRIDES
    from ttpose.checkpoint import load_checkpoint
    from ttpose.config import load_config
    from ttpose.data.build import load_videos
    from ttpose.evaluate import evaluate

    torch.set_num_threads(1)
    cfg = load_config(CONFIG, list(args.overrides))
    videos = load_videos(cfg.data, "val")
    away = faces_away(cfg.data, len(videos))
    values: dict[str, dict[str, list[float]]] = {}
    spread: dict[str, list[float]] = {"within": [], "across": []}
    used = []
    for method in args.methods:
        for seed in args.seeds:
            path = common.finished_model(Path(args.runs) / f"{method}-seed{seed}")
            if not path.is_file():
                raise SystemExit(f"no trained model at {path} (benchmarks/table1_synthetic.py trains it)")
            used.append(path)
            run_cfg = load_config(CONFIG, [*OVERRIDES[method], *args.overrides, f"seed={seed}"])
            model = load_checkpoint(path)
            _, preds = evaluate(model, videos, "none", run_cfg.ttp, progress=False)
            found = facing_pck(videos, preds, away, model.skeleton)
            for column, value in found.items():
                values.setdefault(method, {}).setdefault(column, []).append(value)
            print(f"{method} seed {seed}: " + ", ".join(f"{c} {v:.2f}" for c, v in found.items()), flush=True)
            if method == "transformer":
                w = affinity_spread(str(path), videos[:16])
                spread["within"].append(w["within"])
                spread["across"].append(w["across"])
    return values, spread, used, away


def _four(values: list[float]) -> str:
    return " / ".join(f"{v:.4f}" for v in values) + (" (per seed)" if len(values) > 1 else "")


def markdown(values: dict, spread: dict, away: np.ndarray, seeds: list[int], overrides: list[str], minutes: float,
             models: list[Path], trained_with: str = "") -> str:
    gt_spot = np.mean(next(iter(values.values()))["one_spot_gt"])
    trained = f" Models trained with `{trained_with}` (besides each method's own settings)." if trained_with else ""
    lines = [f"## PCK by facing direction, left/right swaps forgiven (validation people, {len(away)} x 96 frames, "
             "without TTP; mean ± std over seeds)", "",
             f"People: the config's validation people with `{' '.join(overrides) or 'no override'}`; "
             f"{int((~away).sum())} face the camera (|yaw| < 90 deg), {int(away.sum())} face away.{trained} \"swap "
             "forgiven\": each frame scored with its prediction or the same one with left and right exchanged, "
             "whichever hits more joints. \"L/R on one spot\": the share of left/right pairs (shoulders, elbows, "
             f"... ankles) predicted within 0.2 torso of each other, over every frame (ground truth: {gt_spot:.2f} %), "
             "visible or not.",
             "", "| Method | all | facing the camera | facing away | all, swap forgiven | facing, swap forgiven | "
             "away, swap forgiven | L/R on one spot (%) | on one spot, facing | on one spot, away |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for method, columns in values.items():
        cells = " | ".join(common.mean_std(columns[c]) for c in COLUMNS)
        lines.append(f"| {common.TITLES.get(method, method)} | {cells} |")
    if spread["within"]:
        lines += ["", f"The Transformer's W (Eq. 7) on the first 16 of these people: an entry's std within a video "
                  f"{_four(spread['within'])}, over all their frames {_four(spread['across'])} (entries "
                  "average 1/30 = 0.0333; section affinity_source has the same measure on Table 1's models)."]
    lines += ["", f"Seeds: {', '.join(map(str, seeds))}. Config: `configs/synthetic/cpu.yaml`.",
              f"Command: `{common.command()}`", f"Machine: {common.machine()} (one process, 1 torch thread)",
              f"Wall time: {minutes:.1f} min", "", *common.checkpoint_digests(models)]
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", default="runs/backs")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--section", default="facing")
    parser.add_argument("overrides", nargs="*", help="overrides of the validation people (data.*)")
    args = parser.parse_args(argv)
    bad = [o for o in args.overrides if not o.startswith("data.")]
    if bad:
        parser.error(f"only data.* overrides choose the validation people, got {' '.join(bad)}")
    started = time.time()
    values, spread, models, away = run(args)
    from benchmarks.recipe_val import change_of

    # what the runs' training changed from the config (read from the seed-0 Transformer's saved config)
    trained_with = change_of(args.runs) if (Path(args.runs) / "transformer-seed0" / "config.yaml").is_file() else ""
    text = markdown(values, spread, away, args.seeds, args.overrides, (time.time() - started) / 60, models,
                    trained_with)
    print(text)
    common.write_section(args.section, text)


if __name__ == "__main__":
    main()
