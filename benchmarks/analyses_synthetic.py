"""The paper's analyses on the synthetic benchmark, each writing its own section of benchmarks/RESULTS.md.

    python benchmarks/analyses_synthetic.py fig3 table5 people  # from Table 1's saved test predictions
    python benchmarks/analyses_synthetic.py table2 fig4       # new online TTP runs on the Table 1 models

- fig3:   online gain vs. frame index (the paper's Fig. 3): per-frame PCK of online TTP minus that of the
          same model without TTP, over the test people, mean ± std over seeds -> benchmarks/fig3_online_gain.png.
- table5: Savitzky-Golay smoothing (`ttpose.smoothing`, quadratic) on top of each setting (Table 5).
- table2: online TTP with 1-4 update iterations per frame (Table 2).
- fig4:   online TTP on shorter videos, simulated as the paper does by resetting to the trained model every N
          frames (Fig. 4), evaluated on the same frames.
- people: the TTP gain person by person (not in the paper), from Table 1's saved test predictions: how many
          people it helps and hurts, the median, the spread over people and what that spread makes of the noise
          of a mean over this many people.
All use the test population and the TTP settings of the config (chosen on val by benchmarks/tune_ttp.py) and
the models and predictions of benchmarks/table1_synthetic.py (run it first); each section ends with the SHA-256
of the models its numbers come from (those that made the saved predictions, for fig3 and table5).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (  # noqa: E402
    TITLES,
    checkpoint_digests,
    command,
    finished_model,
    load_predictions,
    machine,
    mean_std,
    write_section,
)
from benchmarks.table1_synthetic import run_overrides, saved_cell  # noqa: E402
from ttpose.checkpoint import load_checkpoint  # noqa: E402
from ttpose.config import load_config  # noqa: E402
from ttpose.data.build import load_videos  # noqa: E402
from ttpose.evaluate import evaluate, evaluate_predictions  # noqa: E402
from ttpose.inference import Predictions  # noqa: E402
from ttpose.metrics import torso_size  # noqa: E402
from ttpose.skeletons import PENN_ACTION  # noqa: E402
from ttpose.smoothing import savgol_smooth  # noqa: E402

MODES = {"none": "w/o TTP", "online": "Online", "offline": "Offline"}


def _footer(args, started: float, checkpoints: list[Path]) -> list[str]:
    return ["", f"Seeds: {', '.join(map(str, args.seeds))}. Config: `{args.config}` {' '.join(args.overrides)}",
            f"Command: `{command()}`", f"Machine: {machine()}", f"Wall time: {(time.time() - started) / 60:.1f} min",
            "", *checkpoint_digests(checkpoints)]


def _run_dir(args, method: str, seed: int) -> Path:
    return Path(args.runs) / f"{method}-seed{seed}"


def _checkpoint(args, method: str, seed: int) -> Path:
    """The Table 1 model of (method, seed); its run folder also holds its saved test predictions."""
    return finished_model(_run_dir(args, method, seed))


def _saved(args, method: str, seed: int, mode: str) -> list[Predictions] | None:
    """Table 1's saved test predictions of (method, seed, mode), if its cell was computed with this run's settings
    (the key in the run folder's test-eval-<mode>.json, as Table 1 reuses it); None, with a note, otherwise."""
    run = _run_dir(args, method, seed)
    path = run / f"test-predictions-{mode}.npz"
    if not path.is_file():
        return None
    cfg = load_config(args.config, run_overrides(args.runs, method, seed, args.overrides))
    if saved_cell(cfg, mode) is None:
        print(f"note: {path} was not made with these settings (config, overrides, TTP options); skipped",
              file=sys.stderr)
        return None
    return [Predictions(f, j, s) for f, j, s in load_predictions(path)]


def tagged(name: str, tag: str | None) -> str:
    """A section's (or plot's) name with ``--tag``: the same analysis of other runs beside the config's."""
    return f"{name}_{tag}" if tag else name


def fig3_plot(args) -> str:
    return tagged("fig3_online_gain", args.tag) + ".png"


def pck_per_frame_index(videos, preds: list[Predictions]) -> np.ndarray:
    """PCK@0.2 (authors' convention) at each frame index, pooled over the videos: (frames,)."""
    hits, counts = 0, 0
    for video, p in zip(videos, preds, strict=True):
        gt, vis = video.joints[p.frame_index], video.visible[p.frame_index]
        norm = torso_size(gt, PENN_ACTION)
        valid = vis.astype(bool) & (norm > 0)[:, None]
        ratio = np.linalg.norm(p.joints - gt, axis=-1) / np.maximum(norm, 1e-12)[:, None]
        hits = hits + ((ratio <= 0.2) & valid).sum(1)
        counts = counts + valid.sum(1)
    return 100.0 * hits / np.maximum(counts, 1)


def fig3(args, videos) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    started = time.time()
    fig = Figure(figsize=(6, 3.5), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    lines = ["## Online gain vs. frame index (Fig. 3 on synthetic people)", "",
             "Per-frame PCK@0.2 of online TTP minus the same model without TTP, pooled over the test people; "
             f"mean ± std over seeds. Plot: `benchmarks/{fig3_plot(args)}`.", ""]
    rows: list[str] = []
    header = None
    used: list[Path] = []
    for method in ("keypoint", "transformer"):
        gains = []
        for seed in args.seeds:
            none, online = _saved(args, method, seed, "none"), _saved(args, method, seed, "online")
            if none is None or online is None:
                continue
            gains.append(pck_per_frame_index(videos, online) - pck_per_frame_index(videos, none))
            used.append(_checkpoint(args, method, seed))
        if not gains:
            continue
        gains = np.asarray(gains)  # seeds x frames
        t = np.arange(1, gains.shape[1] + 1)
        mean, std = gains.mean(0), gains.std(0, ddof=1) if len(gains) > 1 else np.zeros(gains.shape[1])
        ax.plot(t, mean, label=TITLES[method])
        ax.fill_between(t, mean - std, mean + std, alpha=0.2)
        thirds = np.array_split(np.arange(gains.shape[1]), 3)
        header = header or ("| Method | " + " | ".join(f"frames {i[0] + 1}-{i[-1] + 1}" for i in thirds)
                            + " | all |\n|---|---|---|---|---|")
        cells = [mean_std(gains[:, idx].mean(1)) for idx in thirds] + [mean_std(gains.mean(1))]
        rows.append(f"| {TITLES[method]} | " + " | ".join(cells) + " |")
    lines += [header or "No saved online predictions.", *rows]
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("frame index in the test video")
    ax.set_ylabel("online TTP gain (PCK points)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(Path(__file__).resolve().parent / fig3_plot(args))
    return "\n".join(lines + _footer(args, started, used))


def pck_per_person(videos, preds: list[Predictions]) -> np.ndarray:
    """PCK@0.2 (authors' convention) of each video's frames: (people,)."""
    return np.array([evaluate_predictions([(v, p.frame_index, p)], PENN_ACTION).mean
                     for v, p in zip(videos, preds, strict=True)])


def gain_spread(gains: np.ndarray, margin: float = 1.0) -> dict[str, float]:
    """Summary of per-person gains (seeds x people): the mean and median over people (mean over seeds), the
    share of person-seed pairs helped / hurt by more than ``margin`` PCK, the std over people (pooled over
    seeds) and the standard error of a mean over this many people (that std / sqrt(people))."""
    std = float(np.sqrt(np.mean(gains.var(axis=1, ddof=1))))
    return {"mean": float(gains.mean()), "median": float(np.median(gains, axis=1).mean()),
            "helped": float((gains > margin).mean()), "hurt": float((gains < -margin).mean()),
            "std": std, "se": std / np.sqrt(gains.shape[1]), "max": float(gains.max()), "min": float(gains.min())}


BANDS = (50.0, 80.0)  # PCK without TTP: people the model fails on, half gets, gets right


def gain_by_band(base: np.ndarray, gains: np.ndarray, edges: tuple[float, ...] = BANDS) -> list[tuple[int, float]]:
    """(pairs, mean gain) of the (person, seed) pairs in each band of the person's PCK without TTP: below
    edges[0], [edges[0], edges[1]), ..., at or above edges[-1]. ``base`` and ``gains``: seeds x people."""
    band = np.digitize(base.ravel(), edges)
    flat = gains.ravel()
    return [(int((band == b).sum()), float(flat[band == b].mean()) if (band == b).any() else float("nan"))
            for b in range(len(edges) + 1)]


def oracle_gate(base: np.ndarray, gains: np.ndarray, skip_at: float) -> float:
    """The mean gain over all (person, seed) pairs if TTP were skipped (gain 0) for every pair whose PCK without
    TTP is at least ``skip_at``: an upper bound for a gate that personalizes only people the model fails on.
    An oracle (it reads the labels), not a method. ``base`` and ``gains``: seeds x people."""
    return float(np.where(base < skip_at, gains, 0.0).mean())


def people(args, videos) -> str:
    started = time.time()
    lines = ["## The TTP gain person by person (synthetic test people)", "",
             "Per person: PCK@0.2 of the person's frames with TTP minus without, same model; over the seeds found. "
             "Helped / hurt: share of (person, seed) pairs with a gain above +1 / below -1 PCK. Std: over people "
             "(pooled over seeds); se: that std / sqrt(people), the noise of a mean over this many people.", "",
             "| Method | TTP scenario | seeds | mean | median | helped | hurt | std over people | se of the mean | "
             "largest gain | largest loss |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    used: list[Path] = []
    bands = [f"{lo:g}-{hi:g}" for lo, hi in zip((0, *BANDS), (*BANDS, 100), strict=True)]
    by_band = ["", "The mean gain by the person's PCK without TTP (pairs in the band; where the gain comes from), and "
               "the mean gain over all pairs if an oracle skipped TTP for the people at or above a band edge (an "
               "upper bound for any gate that personalizes only the people the model fails on):", "",
               "| Method | TTP scenario | " + " | ".join(f"PCK {b} w/o TTP" for b in bands) + " | "
               + " | ".join(f"oracle: skip >= {e:g}" for e in reversed(BANDS)) + " |",
               "|---|---|" + "---|" * (len(bands) + len(BANDS))]
    for method in ("keypoint", "transformer"):
        without = {}  # seed -> PCK per person without TTP, shared by both modes
        for seed in args.seeds:
            none = _saved(args, method, seed, "none")
            if none is not None:
                without[seed] = pck_per_person(videos, none)
        for mode in ("online", "offline"):
            gains, bases, seeds = [], [], []
            for seed in without:
                ttp = _saved(args, method, seed, mode)
                if ttp is None:
                    continue
                bases.append(without[seed])
                gains.append(pck_per_person(videos, ttp) - bases[-1])
                seeds.append(seed)
                used.append(_checkpoint(args, method, seed))
            if not gains:
                continue
            gains, bases = np.asarray(gains), np.asarray(bases)  # seeds x people
            g = gain_spread(gains)
            lines.append(f"| {TITLES[method]} | {MODES[mode]} | {', '.join(map(str, seeds))} | {g['mean']:+.2f} | "
                         f"{g['median']:+.2f} | {100 * g['helped']:.0f} % | {100 * g['hurt']:.0f} % | "
                         f"{g['std']:.1f} | {g['se']:.1f} | {g['max']:+.1f} | {g['min']:+.1f} |")
            band = [f"{mean:+.2f} ({n})" if n else "- (0)" for n, mean in gain_by_band(bases, gains)]
            oracle = [f"{oracle_gate(bases, gains, e):+.2f}" for e in reversed(BANDS)]
            by_band.append(f"| {TITLES[method]} | {MODES[mode]} | " + " | ".join(band + oracle) + " |")
    return "\n".join(lines + by_band + _footer(args, started, used))


def table5(args, videos) -> str:
    started = time.time()
    lines = [f"## Savitzky-Golay smoothing on top of each setting (Table 5 on synthetic people, window "
             f"{args.window}, quadratic)", "", "| Method | TTP scenario | PCK | w/ smoothing | gain |",
             "|---|---|---|---|---|"]
    used: list[Path] = []
    for method in TITLES:
        for mode in MODES:
            raw, smooth = [], []
            for seed in args.seeds:
                preds = _saved(args, method, seed, mode)
                if preds is None:
                    continue
                items = [(v, p.frame_index, p) for v, p in zip(videos, preds, strict=True)]
                raw.append(evaluate_predictions(items, PENN_ACTION).mean)
                smoothed = [(v, p.frame_index, Predictions(p.frame_index, savgol_smooth(p.joints, args.window),
                                                           p.scores)) for v, p in zip(videos, preds, strict=True)]
                smooth.append(evaluate_predictions(smoothed, PENN_ACTION).mean)
                used.append(_checkpoint(args, method, seed))
            if raw:
                lines.append(f"| {TITLES[method]} | {MODES[mode]} | {mean_std(raw)} | {mean_std(smooth)} | "
                             f"{mean_std(np.subtract(smooth, raw))} |")
    return "\n".join(lines + _footer(args, started, used))


def _online_variants(args, videos, name: str, variants: dict[str, list[str]]) -> tuple[list[str], dict]:
    """Online TTP PCK (mean ± std over seeds) of the transformer models for each override set."""
    results: dict[str, list[float]] = {}
    for seed in args.seeds:
        model = load_checkpoint(_checkpoint(args, "transformer", seed))
        for label, overrides in variants.items():
            cfg = load_config(args.config, [*args.overrides, *overrides, f"seed={seed}"])
            mode = "none" if label == "w/o TTP" else "online"
            ev, _ = evaluate(model, videos, mode, cfg.ttp, seed=seed, progress=not args.quiet)
            results.setdefault(label, []).append(ev.mean)
            print(f"{name} seed {seed} {label}: PCK {ev.mean:.2f}", flush=True)
    base = np.asarray(results["w/o TTP"])
    rows = [f"| {label} | {mean_std(v)} | {'' if label == 'w/o TTP' else mean_std(np.subtract(v, base))} |"
            for label, v in results.items()]
    return rows, results


def table2(args, videos) -> str:
    started = time.time()
    variants = {"w/o TTP": [], **{f"{k} iteration{'s' if k > 1 else ''}": [f"ttp.steps_per_frame={k}"]
                                  for k in range(1, 5)}}
    rows, _ = _online_variants(args, videos, "table2", variants)
    lines = [f"## Online TTP with 1-4 update iterations per frame (Table 2 on synthetic people; Transformer, "
             f"first {len(videos)} test videos)", "", "| Update iterations | PCK | gain over w/o TTP |",
             "|---|---|---|", *rows]
    return "\n".join(lines + _footer(args, started, [_checkpoint(args, "transformer", s) for s in args.seeds]))


def fig4(args, videos) -> str:
    started = time.time()
    n = len(videos[0])
    lengths = [k for k in (6, 12, 24) if k < n]
    variants = {"w/o TTP": [], **{f"{k} frames": [f"ttp.reset_every={k}"] for k in lengths}, f"{n} frames": []}
    rows, _ = _online_variants(args, videos, "fig4", variants)
    lines = [f"## Online TTP with shorter videos (Fig. 4 on synthetic people; Transformer, first {len(videos)} test "
             "videos)", "", "Shorter videos are simulated as in the paper: the model is reset to the trained "
             "weights every N frames; every frame is still predicted and scored.", "",
             "| Video length used for personalization | PCK | gain over w/o TTP |", "|---|---|---|", *rows]
    return "\n".join(lines + _footer(args, started, [_checkpoint(args, "transformer", s) for s in args.seeds]))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("analyses", nargs="+", choices=["fig3", "table5", "table2", "fig4", "people"])
    parser.add_argument("--config", default="configs/synthetic/cpu.yaml")
    parser.add_argument("--runs", default="runs/table1")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--videos", type=int, default=None, help="table2/fig4: first N test videos only")
    parser.add_argument("--window", type=int, default=7, help="table5: Savitzky-Golay window (frames)")
    parser.add_argument("--results", type=Path, default=None, help="results file (default benchmarks/RESULTS.md)")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--tag", default=None,
                        help="write the sections <analysis>_<tag> (and fig3_online_gain_<tag>.png), e.g. for the "
                             "runs of another TTP setting, and name the tag in each heading")
    parser.add_argument("overrides", nargs="*", help="config overrides (the same as for Table 1)")
    args = parser.parse_args(argv)
    cfg = load_config(args.config, args.overrides)
    videos = load_videos(cfg.data, "test")
    kwargs = {"path": args.results} if args.results else {}
    for name in args.analyses:
        subset = videos[: args.videos] if name in ("table2", "fig4") else videos
        text = {"fig3": fig3, "table5": table5, "table2": table2, "fig4": fig4, "people": people}[name](args, subset)
        if args.tag:
            heading, rest = text.split("\n", 1)
            text = f"{heading} [{args.tag}: runs {args.runs}]\n{rest}"
        print(text, flush=True)
        write_section(tagged(name, args.tag), text, **kwargs)


if __name__ == "__main__":
    main()
