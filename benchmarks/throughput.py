"""Online personalization: gain against frames/s for cheaper update schedules (issue 16, points 1 and 2).

    python benchmarks/throughput.py                   # timing alone first, then 2 one-thread worker processes
    python benchmarks/throughput.py --collect         # rewrite the section from the cached cells

Two measurements, kept apart because the paper-size model cannot be trained here:

- **Gain** (synthetic benchmark): the Transformer models of the synthetic Table 1 (`<--runs>/transformer-seed*`,
  configs/synthetic/cpu.yaml, trained by benchmarks/table1_synthetic.py), personalized online to the shifted
  people with the config's TTP settings and the speed options of this machine (`ttpose.speed.fast_speed`),
  under each schedule of ``SCHEDULES``: an update on every k-th frame (``ttp.update_every``, the frames between
  predicted with the current weights), a smaller TTP batch, a larger TTP learning rate for fewer updates, and
  the cheaper update (`Schedule.cheap`: the reconstruction path frozen, L_self at half resolution), and targets
  taken from every frame since the previous update (`Schedule.recent`, same cost) instead of frame t alone. Fewer VGG-16
  slices are not a schedule: the late slices run at 1/8-1/16 of the resolution and cost little (a profile made
  while designing this study, not recorded here). Every schedule is scored on the validation
  people; the preset is chosen there (the schedule with the largest val gain among those that reach
  ``TARGET_FPS``, kept only if it holds ``KEEP`` of the full protocol's val gain); the test people are scored
  with the full protocol and the preset only, for every seed.
- **Frames/s** (paper-size model: ResNet-50, 128 x 128 crops, 256-channel deconvolutions, VGG-16 perceptual
  loss at random weights, which cost the same as ImageNet ones): one online update per batch size and one
  prediction at batch 1 are timed in this process alone (2 torch threads, nothing else running, the same speed
  options), and a schedule's frames/s is 1 / (prediction + update(batch) / k), amortized over a video. The
  gain of the half-resolution loss is measured on the synthetic benchmark's L_self (pixel L2; it has no VGG-16
  term), so what half-resolution VGG-16 features would cost in gain is not measured here.

Writes the "throughput" section of benchmarks/RESULTS.md (or ``--section``; ending with the SHA-256 of the Table 1
models it used) and docs/images/throughput.png (or docs/images/<section>.png: val gain against frames/s). Cells
are cached under runs/throughput/, so a stopped run resumes; a cell is reused only for the data and TTP settings
and the checkpoint (SHA-256) it was computed with, the timing only for the TTP settings and the machine it was
timed on.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (  # noqa: E402
    cached,
    cell_key,
    checkpoint_digests,
    command,
    evaluation_cell,
    finished_model,
    machine,
    mean_std,
    run_cells,
    shown_path,
    write_section,
)
from ttpose.weights import file_sha256  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "runs" / "throughput"
CONFIG = ROOT / "configs" / "synthetic" / "cpu.yaml"
PLOT = ROOT / "docs" / "images" / "throughput.png"
class Schedule(NamedTuple):
    """An online schedule: TTP overrides on top of the benchmark's config."""

    every: int  # ttp.update_every: an update on every k-th frame
    batch: int  # ttp.batch_size
    lr: float | None = None  # ttp.lr (None: the config's); fewer updates may take larger steps
    cheap: bool = False  # the cheaper update: reconstruction path frozen, L_self at half resolution
    recent: bool = False  # ttp.online_targets=recent: the targets are the frames since the previous update
    gate: bool = False  # ttp.relative_gate (ttpose.confidence_gate): one more prediction per frame, the trained model's

    def overrides(self) -> list[str]:
        return [f"ttp.update_every={self.every}", f"ttp.batch_size={self.batch}",
                *([f"ttp.lr={self.lr:g}"] if self.lr is not None else []),
                *(["ttp.update_reconstruction=false", f"ttp.loss_pool={CHEAP_POOL}"] if self.cheap else []),
                *(["ttp.online_targets=recent"] if self.recent else []),
                *(["ttp.relative_gate=true"] if self.gate else [])]

    @property
    def timed(self) -> str:
        """Its update's entry in the paper-size timing (the learning rate costs nothing)."""
        return f"{self.batch}{' cheap' if self.cheap else ''}"


CHEAP_POOL = 2
SCHEDULES = {  # name -> Schedule; "full" is the synthetic benchmark's own protocol
    "full": Schedule(1, 16),
    "every 2": Schedule(2, 16),
    "every 4": Schedule(4, 16),
    "every 8": Schedule(8, 16),
    "batch 8": Schedule(1, 8),
    "every 4, batch 8": Schedule(4, 8),
    "every 8, batch 8": Schedule(8, 8),
    "every 4, batch 4": Schedule(4, 4),
    "every 8, batch 4": Schedule(8, 4),
    "every 12, batch 8": Schedule(12, 8),
    "every 16, batch 8": Schedule(16, 8),
    # larger steps for fewer updates
    "every 8, batch 8, lr 3e-4": Schedule(8, 8, 3e-4),
    "every 12, batch 8, lr 3e-4": Schedule(12, 8, 3e-4),
    "every 16, batch 8, lr 3e-4": Schedule(16, 8, 3e-4),
    "every 12, batch 8, lr 1e-3": Schedule(12, 8, 1e-3),
    "every 8, batch 4, lr 3e-4": Schedule(8, 4, 3e-4),
    # the cheaper update (ttp.update_reconstruction=false, ttp.loss_pool=2)
    "every 2, batch 4, cheap": Schedule(2, 4, cheap=True),
    "every 3, batch 4, cheap": Schedule(3, 4, cheap=True),
    "every 4, batch 4, cheap": Schedule(4, 4, cheap=True),
    "every 4, batch 8, cheap": Schedule(4, 8, cheap=True),
    "every 6, batch 8, cheap": Schedule(6, 8, cheap=True),
    "every 8, batch 8, cheap": Schedule(8, 8, cheap=True),
    "every 4, batch 16, cheap": Schedule(4, 16, cheap=True),
    "every 4, batch 4, cheap, lr 3e-4": Schedule(4, 4, 3e-4, cheap=True),
    "every 8, batch 8, cheap, lr 3e-4": Schedule(8, 8, 3e-4, cheap=True),
    # the targets of an update are the frames since the previous one (ttp.online_targets=recent), not frame t alone
    "every 8, batch 4, recent": Schedule(8, 4, recent=True),
    "every 12, batch 8, recent": Schedule(12, 8, recent=True),
    "every 4, batch 4, cheap, recent": Schedule(4, 4, cheap=True, recent=True),
    "every 4, batch 8, cheap, recent": Schedule(4, 8, cheap=True, recent=True),
    "every 6, batch 8, cheap, recent": Schedule(6, 8, cheap=True, recent=True),
    "every 8, batch 8, cheap, recent": Schedule(8, 8, cheap=True, recent=True),
    "every 4, batch 16, cheap, recent": Schedule(4, 16, cheap=True, recent=True),
}
PAPER_BATCH = 32  # the paper's online protocol: batch 32, an update on every frame
TARGET_FPS, KEEP = 2.0, 0.8  # the preset's aims (issue 16, point 2)


# ------------------------------------------------------------------------------------------------ gains


def table1_model(runs: str | Path, seed: int) -> Path:
    """The synthetic Table 1 Transformer of ``seed`` in the Table 1 runs folder ``runs`` (trained by
    benchmarks/table1_synthetic.py --runs)."""
    return finished_model(Path(runs) / f"transformer-seed{seed}")


def schedule_config(schedule: str | Schedule):
    """The benchmark's config with this machine's speed options and the schedule's TTP settings (a `Schedule`, or
    a SCHEDULES name; "none": the full protocol's, unused without TTP)."""
    from ttpose.config import load_config
    from ttpose.speed import fast_speed, speed_overrides

    sch = schedule if isinstance(schedule, Schedule) else SCHEDULES.get(schedule, SCHEDULES["full"])
    return load_config(CONFIG, [*speed_overrides(fast_speed("cpu")), *sch.overrides()])


def cell_path(split: str, seed: int, schedule: str) -> Path:
    return CACHE / f"{split}-seed{seed}-{schedule.replace(', ', '-').replace(' ', '')}.json"


def schedule_key(schedule: str, digest: str) -> dict:
    """The cache key of a schedule's cell for the checkpoint of SHA-256 ``digest``."""
    return cell_key(schedule_config(schedule), "none" if schedule == "none" else "online", checkpoint=digest)


def cached_cell(split: str, seed: int, schedule: str, checkpoint: str, digest: str) -> dict:
    """The cached `cell` (same arguments), an error where it is missing or stale (--collect)."""
    saved = cached(cell_path(split, seed, schedule), schedule_key(schedule, digest))
    if saved is None:
        raise SystemExit(f"no up-to-date cell {split} seed {seed} {schedule!r} for {checkpoint} in {CACHE}; run "
                         "without --collect")
    return saved


def cell(split: str, seed: int, schedule: str, checkpoint: str, digest: str) -> dict:
    """PCK of one model (seed; its file and SHA-256 ``digest``) on one split without TTP ("none") or online
    under a schedule (cached in runs/throughput/, keyed by the settings and the digest)."""
    key = schedule_key(schedule, digest)
    path = cell_path(split, seed, schedule)
    cfg = schedule_config(schedule)
    from ttpose.data.build import load_videos

    return evaluation_cell(path, key, checkpoint, lambda: load_videos(cfg.data, split), cfg, key["mode"], seed,
                           f"{split} seed {seed} {schedule}")



# ---------------------------------------------------------------------------------------------- frames/s


def timing_key() -> dict:
    """What the paper-size timing depends on besides the batch sizes: the config's TTP update (lr, drift
    control), this machine's speed options and the machine itself (a timing from another CPU is not reused)."""
    from ttpose.speed import describe, fast_speed

    ttp = schedule_config("full").ttp
    return {"lr": ttp.lr, "pull_back": ttp.pull_back, "speed": describe(fast_speed("cpu")), "machine": machine()}


def paper_timing(updates: list[Schedule], repeats: int = 3) -> dict:
    """Seconds of one online update per `Schedule.timed` entry of ``updates`` (TTP batch size, cheaper update or
    not) and of one prediction at batch 1, paper-size model, with the config's TTP update (lr and drift control,
    `timing_key`), all in this one run."""
    import torch

    from benchmarks.speed import our_loss, vgg_state
    from ttpose.config import ModelConfig, TTPConfig
    from ttpose.data.synthetic import SyntheticConfig, make_video, materialize
    from ttpose.model import TTPModel
    from ttpose.personalization import Personalizer
    from ttpose.speed import describe, fast_speed

    torch.set_num_threads(2)
    torch.manual_seed(0)
    model = TTPModel(ModelConfig(backbone="resnet50", input_size=128)).eval()
    video = materialize(make_video("test", 0, config=SyntheticConfig(frame_size=160, frames_per_video=8)))
    speed = fast_speed("cpu")
    key = timing_key()
    out = {"speed": describe(speed), "update_s": {}, "threads": torch.get_num_threads(), "key": key}
    rng = np.random.default_rng(0)
    for u in updates:
        b = u.batch
        ttp = TTPConfig(batch_size=b, lr=key["lr"], pull_back=key["pull_back"], speed=speed,
                        update_reconstruction=not u.cheap, loss_pool=CHEAP_POOL if u.cheap else 1)
        tuner = Personalizer(model, ttp, loss=our_loss(vgg_state()))
        tuner.online_update(video, 1, rng)  # warm-up (oneDNN primitives, first allocations)
        seconds = []
        for t in range(repeats):
            t0 = time.perf_counter()
            tuner.online_update(video, 2 + t, rng)
            seconds.append(time.perf_counter() - t0)
        out["update_s"][u.timed] = statistics.median(seconds)
        print(f"paper-size model, batch {u.timed}: {out['update_s'][u.timed]:.2f} s per update", flush=True)
    tuner.predict(video, [0])  # warm-up
    seconds = []
    for t in range(10):
        t0 = time.perf_counter()
        tuner.predict(video, [t % len(video)])
        seconds.append(time.perf_counter() - t0)
    out["predict_s"] = statistics.median(seconds)
    return out


def machine_timing(collect: bool = False) -> dict:
    """The paper-size timing of every `timed_updates` entry on this machine: cached in runs/throughput/timing.json,
    timed now (this process alone should run) where the cache is missing or was timed with other TTP settings,
    updates or on another machine; with ``collect`` that is a LookupError instead."""
    timing_file = CACHE / "timing.json"
    timing = json.loads(timing_file.read_text()) if timing_file.is_file() else {}
    if timing.get("key") == timing_key() and set(timing["update_s"]) == {u.timed for u in timed_updates()}:
        return timing
    if collect:
        raise LookupError(f"{timing_file} is missing or was timed with other TTP settings or updates; run without "
                          "--collect")
    from ttpose.atomic import atomic_write_text

    timing = paper_timing(timed_updates())
    CACHE.mkdir(parents=True, exist_ok=True)
    atomic_write_text(timing_file, json.dumps(timing))
    return timing


def fps(timing: dict, schedule: Schedule) -> float:
    """Paper-size frames/s of ``schedule``, amortized over a video: 1 / (prediction + update / k); with the gate,
    two predictions per frame (the personalized and the trained model's)."""
    predictions = 2 if schedule.gate else 1
    return 1.0 / (predictions * timing["predict_s"] + timing["update_s"][schedule.timed] / schedule.every)


def timed_updates() -> list[Schedule]:
    """One schedule per distinct `Schedule.timed` entry, the paper's batch first, then by batch, largest first."""
    found = {u.timed: Schedule(1, u.batch, cheap=u.cheap) for u in [Schedule(1, PAPER_BATCH), *SCHEDULES.values()]}
    return sorted(found.values(), key=lambda u: (u.cheap, -u.batch))


# ------------------------------------------------------------------------------------------------ report


def plot_path(section: str) -> Path:
    """docs/images/throughput.png for the "throughput" section, docs/images/<section>.png for another one."""
    return PLOT if section == "throughput" else PLOT.with_name(f"{section}.png")


def report(timing: dict, val: dict, test: dict, seeds: list[int], val_seeds: list[int], preset: str | None,
           wall_min: float, checkpoints: list[Path], picture: Path = PLOT) -> str:
    def gain(cells, split, s, name):
        return cells[(split, s, name)]["pck"] - cells[(split, s, "none")]["pck"]

    def seeds_of(name):  # the val seeds a schedule was scored with (the first for all, the others for some)
        return [s for s in val_seeds if ("val", s, name) in val]
    ttp = schedule_config("full").ttp
    lines = ["## Online TTP: gain against frames/s for cheaper update schedules (issue 16)", "",
             f"Gain: the synthetic Table 1 Transformer ({shown_path(checkpoints[0].parent.parent)}, "
             f"configs/synthetic/cpu.yaml, lr {ttp.lr:g}, pull back {ttp.pull_back:g}, speed options "
             f"{timing['speed']}), online, paired with the same model without TTP; validation people (model "
             f"seed {val_seeds[0]} for every schedule; seeds {', '.join(map(str, val_seeds))} for the full protocol "
             f"and every schedule at {TARGET_FPS:g} frames/s or more, among which the preset is chosen by the mean "
             "gain), "
             f"test people (seeds {', '.join(map(str, seeds))}) for the full protocol and the preset. Frames/s: the "
             f"paper-size model (ResNet-50, 128 x 128, VGG-16 perceptual loss) on this machine, {timing['threads']} "
             "torch threads, nothing else running: 1 / (prediction + update / k), amortized over a video.", "",
             f"Paper-size model: prediction {timing['predict_s'] * 1000:.0f} ms per frame; one update "
             + ", ".join(f"batch {b}: {s:.2f} s" for b, s in timing["update_s"].items())
             + f". The paper's own protocol (batch {PAPER_BATCH}, every frame): "
             f"{fps(timing, Schedule(1, PAPER_BATCH)):.2f} frames/s. \"cheap\": the cheaper update "
             f"(ttp.update_reconstruction=false: the reconstruction path stays as trained; ttp.loss_pool={CHEAP_POOL}: "
             "L_self on the images average-pooled by 2).", "",
             "\"recent\": the targets of an update are the frames since the previous update (ttp.online_targets="
             "recent), not frame t alone (the sources are drawn from frames 0..t either way); it costs the same.", "",
             "| schedule | update every k frames | TTP batch | TTP lr | update | targets | updates per frame | "
             "paper-size frames/s | val seeds | val gain | share of the full protocol's val gain (same seeds) | "
             "val time (s) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, sch in SCHEDULES.items():
        on = seeds_of(name)
        g = np.mean([gain(val, "val", s, name) for s in on])
        full_val = np.mean([gain(val, "val", s, "full") for s in on])
        secs = np.mean([val[("val", s, name)]["seconds"] for s in on])
        share = f"{100 * g / full_val:.0f} %" if full_val > 0 else "n/a"
        each = np.array([gain(val, "val", s, name) for s in on])
        shown_g = f"{g:+.2f}" + (f" ± {each.std(ddof=1):.2f}" if len(on) > 1 else "")
        lines.append(f"| {name} | {sch.every} | {sch.batch} | {sch.lr or ttp.lr:g} | "
                     f"{'cheap' if sch.cheap else 'paper'} | {'recent' if sch.recent else 'frame t'} | "
                     f"{1 / sch.every:.3g} | {fps(timing, sch):.2f} | "
                     f"{', '.join(map(str, on))} | {shown_g} | "
                     f"{share} | {secs:.0f} |")
    lines += ["", "No TTP on val: PCK " + ", ".join(f"seed {s} {val[('val', s, 'none')]['pck']:.2f}"
                                                 for s in val_seeds) + "."]
    lines += ["", "Test people (never used for a choice), mean ± std over seeds of the paired gains:", "",
              "| schedule | PCK w/o TTP | PCK online | gain | paper-size frames/s |", "|---|---|---|---|---|"]
    shown = ["full"] + ([preset] if preset and preset != "full" else [])
    none = [test[("test", s, "none")]["pck"] for s in seeds]
    for name in shown:
        pcks = [test[("test", s, name)]["pck"] for s in seeds]
        gains = [p - n for p, n in zip(pcks, none, strict=True)]
        lines.append(f"| {name} | {mean_std(none)} | {mean_std(pcks)} | {mean_std(gains)} | "
                     f"{fps(timing, SCHEDULES[name]):.2f} |")
    if preset:
        full_test = np.mean([gain(test, "test", s, "full") for s in seeds])
        preset_test = np.mean([gain(test, "test", s, preset) for s in seeds])
        sch = SCHEDULES[preset]
        share = 100 * preset_test / full_test if full_test > 0 else float("nan")
        ok = fps(timing, sch) >= TARGET_FPS and full_test > 0 and preset_test >= KEEP * full_test
        lines += ["", f"Preset chosen on val: **{preset}** (`{' '.join(sch.overrides())}`). On the test "
                  f"people it keeps {share:.0f} % of the full protocol's online gain ({preset_test:+.2f} vs "
                  f"{full_test:+.2f}) at {fps(timing, sch):.2f} paper-size frames/s. Aim (at least "
                  f"{TARGET_FPS:g} frames/s and {100 * KEEP:.0f} % of the gain): **{'met' if ok else 'NOT met'}**."]
    else:
        lines += ["", f"No schedule reaches {TARGET_FPS:g} paper-size frames/s: no preset."]
    lines += ["", f"Command: `{command()}`", f"Machine: {machine()} (gains: 2 worker processes of 1 torch thread; "
              "timing: this process alone, 2 threads)", f"Wall time of this run: {wall_min:.1f} min (cached cells "
              "are reused)", f"Plot: docs/images/{picture.name}", "",
              *checkpoint_digests(checkpoints)]
    return "\n".join(lines)


def plot(timing: dict, val: dict, val_seeds: list[int], preset: str | None, picture: Path = PLOT) -> None:
    """Val gain of the first val seed's model (the one that scores every schedule) against paper-size frames/s:
    the paper's update in blue, the cheaper one in orange, a larger TTP lr hollow, recent targets square; gains
    below the axis are drawn at its bottom edge (their values are in the section's table). Labels: the full
    protocol and the preset."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FormatStrFormatter

    from ttpose.atomic import atomic_path

    points = {}
    for name, sch in SCHEDULES.items():
        first = val_seeds[0]
        points[name] = (fps(timing, sch), val[("val", first, name)]["pck"] - val[("val", first, "none")]["pck"], sch)
    best = max(g for _, g, _ in points.values())
    floor = -2.0
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, (x, g, sch) in points.items():
        colour = "C1" if sch.cheap else "C0"
        ax.scatter(x, max(g, floor), s=30, marker="v" if g < floor else "s" if sch.recent else "o",
                   facecolors="none" if sch.lr is not None else colour, edgecolors=colour)
        if name == "full" or name == preset:
            ax.annotate(f"{name} ({g:+.2f})", (x, g), fontsize=8, xytext=(4, 4), textcoords="offset points")
    ax.axvline(TARGET_FPS, color="grey", lw=0.8, ls="--")
    ax.axhline(KEEP * points["full"][1], color="grey", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(FormatStrFormatter(""))
    ax.set_ylim(floor - 0.3, best + 1.0)
    ax.set_xlabel("paper-size model, frames/s on this CPU (log)")
    ax.set_ylabel(f"online TTP gain on val people, seed-{val_seeds[0]} model")
    ax.set_title(f"Cheaper updates: gain vs. speed (dashed: {TARGET_FPS:g} frames/s; dotted: {100 * KEEP:.0f} % "
                 "of full)\nblue: paper's update, orange: cheaper update, hollow: larger lr, square: recent targets",
                 fontsize=9)
    fig.tight_layout()
    picture.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(picture) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def val_cells(timing: dict, val_seeds: list[int]) -> list[tuple[str, int, str]]:
    """The val cells to score, keyed as `report` reads them: every schedule with the first seed's model; the no-TTP
    pass, the full protocol and every schedule that `choose` may pick (TARGET_FPS or more) with the others."""
    fast = [n for n, sch in SCHEDULES.items() if fps(timing, sch) >= TARGET_FPS]
    return ([("val", val_seeds[0], n) for n in ("none", *SCHEDULES)]
            + [("val", s, n) for s in val_seeds[1:] for n in dict.fromkeys(("none", "full", *fast))])


def choose(timing: dict, val: dict, val_seeds: list[int]) -> str | None:
    """The schedule with the largest val gain (mean over ``val_seeds``, all of which score every schedule this fast)
    among those at TARGET_FPS or more (None: none is that fast)."""
    fast = [n for n, sch in SCHEDULES.items() if fps(timing, sch) >= TARGET_FPS]
    if not fast:
        return None
    return max(fast, key=lambda n: np.mean([val[("val", s, n)]["pck"] - val[("val", s, "none")]["pck"]
                                            for s in val_seeds]))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="model seeds for the test people")
    parser.add_argument("--val-seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="model seeds for the choice on val: the first scores every schedule, all of them the "
                             "full protocol and the schedules fast enough to be chosen")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--runs", default="runs/table1", help="the Table 1 runs folder whose Transformers are used")
    parser.add_argument("--collect", action="store_true",
                        help="only cached cells and timing: stop with an error where one is missing or stale")
    parser.add_argument("--section", default="throughput",
                        help="the results section to write (e.g. one per kind of CPU, keeping the others); its plot "
                             "is docs/images/<section>.png")
    args = parser.parse_args(argv)
    started = time.time()
    models = {s: table1_model(args.runs, s) for s in dict.fromkeys([*args.val_seeds, *args.seeds])}
    missing = [str(m) for m in models.values() if not m.is_file()]
    if missing:
        parser.error(f"no trained Table 1 Transformer at {', '.join(missing)} (benchmarks/table1_synthetic.py "
                     "--runs trains them)")
    digests = {s: file_sha256(m) for s, m in models.items()}  # once: every cell's cache key holds one
    try:
        timing = machine_timing(collect=args.collect)
    except LookupError as e:
        parser.error(str(e))

    def cells(names: list[tuple[str, int, str]]) -> dict:  # keyed (split, seed, schedule), as `report` reads
        tasks = [(split, s, n, str(models[s]), digests[s]) for split, s, n in names]
        found = run_cells(cached_cell, tasks, 1) if args.collect else run_cells(cell, tasks, args.processes)
        return {t[:3]: r for t, r in found.items()}

    val = cells(val_cells(timing, args.val_seeds))
    preset = choose(timing, val, args.val_seeds)
    test = cells([("test", s, n) for s in args.seeds for n in dict.fromkeys(("none", "full", preset or "full"))])
    picture = plot_path(args.section)
    text = report(timing, val, test, args.seeds, args.val_seeds, preset, (time.time() - started) / 60,
                  list(models.values()), picture)
    plot(timing, val, args.val_seeds, preset, picture)
    print(text)
    write_section(args.section, text)


if __name__ == "__main__":
    main()
