"""Table 1's TTP gains on enough synthetic test people to tell them from the people drawn (issue 13).

    python benchmarks/more_test_people.py --runs runs/table1avx512 --section more_test_people_avx512bf16
    python benchmarks/more_test_people.py --runs runs/table1avx512 --section ... --collect  # from the cache only

Why: one person's TTP gain differs from the next person's by 9-10 PCK (RESULTS.md, section people), so the mean
gain of Table 1's 16 test people moves by about 2.3 PCK with the people drawn, as much as the +3 aim itself: the
same models gained +5.40 online on the validation people and +1.08 on Table 1's test people (section
throughput_avx512bf16), and +4.73 / +2.29 on two further blocks of 16 test people (section more_test_people).

1. How many test people, decided on the VALIDATION people only: the Table 1 Transformers (each seed) without TTP
   and online on the 16 validation people; ``s``, the std of one person's online gain (pooled over people and
   seeds); the test people needed for a standard error of the mean gain of at most ``TARGET_SE`` (1 PCK, a third
   of the +3 online aim): ``s**2 / TARGET_SE**2``, rounded up to blocks of 16 people, at most ``--max-people``.
2. Blocks 0 .. n/16 - 1 of the test people scored (block b: test people 16 b .. 16 b + 15; the data's
   stratification works per block of 16, so a larger test split holds the same videos; block 0 is Table 1's test
   people, its cells reused from the Table 1 runs folder where they match): the baseline, the keypoint method and
   the Transformer without TTP, the keypoint method and the Transformer online and offline (Table 1's TTP
   settings), and the Transformer online with the cheaper schedules of benchmarks/throughput.py (``PRESETS``).
3. Table 1 over the n people (per seed the mean of the blocks' PCK, blocks being equal in frames) with Table 1's
   aims checked on it by `benchmarks.table1_synthetic.aims`, beside block 0 alone; the schedules' share of the full
   protocol's online gain (issue 16, point 2).

Writes the section ``--section`` of benchmarks/RESULTS.md. Cells are cached under
runs/more_test_people/<runs folder name>/, keyed by the data and TTP settings, the block and the checkpoint's SHA-256.
"""

from __future__ import annotations

import argparse
import math
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
from benchmarks.throughput import CONFIG, KEEP, SCHEDULES, schedule_config  # noqa: E402
from ttpose.weights import file_sha256  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "runs" / "more_test_people"
BLOCK = 16  # people per block: Table 1's test split size, and the data's stratification block
TARGET_SE = 1.0  # PCK: the standard error of the mean online gain the test people must allow (a third of +3)
METHODS = {  # method -> the TTP scenarios it is scored in (Table 1's rows)
    "baseline": ("none",), "keypoint": ("none", "online", "offline"), "transformer": ("none", "online", "offline")}
# throughput_avx512bf16's choice; the cheaper update of 4 pairs (what `--schedule fast` takes where the other
# candidates fall short of 2 frames/s, as on the Xeon of section throughput; the fixed preset before `ttpose.schedules`)
PRESETS = ["every 4, batch 16, cheap", "every 4, batch 4, cheap"]


def block_people(cfg, block: int, split: str = "test") -> list:
    """People ``BLOCK * block`` .. ``BLOCK * (block + 1) - 1`` of ``split`` (val / test: the same videos a larger
    split holds)."""
    return [split_person(cfg, split, i) for i in range(BLOCK * block, BLOCK * (block + 1))]


def split_person(cfg, split: str, index: int):
    """Person ``index`` of ``split`` as the config's split holds it (the same video whatever the split's size)."""
    from ttpose.data.build import synthetic_config
    from ttpose.data.synthetic import make_video

    synth = synthetic_config(cfg.data, cfg.data.test_frames or cfg.data.frames_per_video)
    return make_video(split, index, cfg.data.seed, synth)


def people_needed(person_std: float, target_se: float = TARGET_SE, block: int = BLOCK) -> int:
    """The fewest people, in whole blocks, whose mean has a standard error of at most ``target_se`` when one
    person's value varies with std ``person_std``."""
    return block * max(1, math.ceil((person_std / target_se) ** 2 / block - 1e-9))


def pooled_std(per_seed: list[list[float]]) -> float:
    """The std (ddof 1) of one person's value around its seed's mean, pooled over seeds (the model's own level
    is not the people's spread)."""
    resid = np.concatenate([np.asarray(x, dtype=float) - np.mean(x) for x in per_seed])
    return float(np.sqrt((resid ** 2).sum() / (len(resid) - len(per_seed))))


def cache_dir(runs: str | Path) -> Path:
    return CACHE / Path(runs).name


def val_cell(runs: str, seed: int, mode: str, checkpoint: str, digest: str, collect: bool = False) -> dict:
    """PCK of each validation person (the Transformer of ``seed``, without TTP or online with Table 1's settings)."""
    cfg = schedule_config("full")
    key = cell_key(cfg, mode, checkpoint=digest, split="val")
    path = cache_dir(runs) / f"val-seed{seed}-{mode}.json"
    from ttpose.data.build import load_videos

    return evaluation_cell(path, key, checkpoint, lambda: load_videos(cfg.data, "val"), cfg, mode, seed,
                           f"val transformer seed {seed} {mode}", collect)


def table1_cell(runs: str, method: str, seed: int, mode: str) -> dict | None:
    """Table 1's own result for block 0 (its test people) when it was computed with this script's settings."""
    from benchmarks.table1_synthetic import run_overrides, saved_cell
    from ttpose.config import load_config

    ours, cfg = cell_key(schedule_config("full"), mode), load_config(CONFIG, run_overrides(runs, method, seed, []))
    theirs = cell_key(cfg, mode)
    if (theirs["ttp"], theirs["data"]) != (ours["ttp"], ours["data"]):
        return None
    return saved_cell(cfg, mode)


def cell(runs: str, method: str, seed: int, block: int, mode: str, checkpoint: str, digest: str,
         collect: bool = False) -> dict:
    """PCK of one Table 1 model on one block: without TTP ("none"), "online" or "offline" with Table 1's TTP
    settings, or online with one of benchmarks/throughput.py's schedules (``mode`` a SCHEDULES name)."""
    schedule, ttp_mode = ("full", mode) if mode in ("none", "online", "offline") else (mode, "online")
    cfg = schedule_config(schedule)
    key = cell_key(cfg, ttp_mode, checkpoint=digest, block=block)
    name = mode.replace(", ", "-").replace(" ", "")
    path = cache_dir(runs) / f"{method}-seed{seed}-block{block}-{name}.json"
    if block == 0 and schedule == "full" and cached(path, key) is None:
        table1 = table1_cell(runs, method, seed, mode)
        if table1 is not None:
            return {"pck": table1["pck"], "seconds": table1["seconds"], "from": "table1"}
    return evaluation_cell(path, key, checkpoint, lambda: block_people(cfg, block), cfg, ttp_mode, seed,
                           f"{method} seed {seed} block {block} {mode}", collect)


class Sizing(NamedTuple):
    """How many test people, from the validation people's spread of the online gain."""

    person_std: float  # PCK: one person's gain around its model's mean, pooled over seeds
    needed: int  # people for a standard error of at most TARGET_SE, in whole blocks
    used: int  # needed, or fewer where --max-people caps it
    lines: list[str]  # the report's account of it


def sizing(val: dict, seeds: list[int], max_people: int) -> Sizing:
    """The `Sizing` from the validation cells ((seed, "none" / "online") -> per-person PCK)."""
    gains = [list(np.subtract(val[s, "online"]["people"], val[s, "none"]["people"])) for s in seeds]
    std = pooled_std(gains)
    needed = people_needed(std)
    used = min(needed, max_people - max_people % BLOCK)
    mean_gain = [float(np.mean(g)) for g in gains]
    lines = [f"**How many test people (decided on the validation people only).** The Transformers without TTP and "
             f"online on the {len(gains[0])} validation people: mean online gain "
             + ", ".join(f"seed {s} {g:+.2f}" for s, g in zip(seeds, mean_gain, strict=True))
             + f"; one person's gain varies around its model's mean with std {std:.2f} PCK (pooled over people and "
             f"seeds), so a mean over n people has a standard error of {std:.2f} / sqrt(n). A standard error of at "
             f"most {TARGET_SE:g} PCK (a third of the +3 online aim) needs {std ** 2 / TARGET_SE ** 2:.0f} people: "
             f"{needed} in blocks of {BLOCK}."]
    if used < needed:
        lines.append(f"Capped at {used} people by --max-people (standard error {std / math.sqrt(used):.2f} PCK).")
    lines.append(f"Test people used: {used} (blocks 0 .. {used // BLOCK - 1}; standard error of the mean online gain "
                 f"about {std / math.sqrt(used):.2f} PCK; with Table 1's 16 people {std / 4:.2f}).")
    return Sizing(std, needed, used, lines)


def pooled_results(cells: dict, seeds: list[int], blocks: list[int], methods: dict = METHODS) -> dict:
    """Table 1's results layout ({method: {mode: {"pck": per seed}}}) with each seed's PCK the mean over
    ``blocks``, for the (method -> modes) of ``methods``."""
    out: dict = {}
    for method, modes in methods.items():
        for mode in modes:
            out.setdefault(method, {})[mode] = {
                "pck": [float(np.mean([cells[method, s, b, mode]["pck"] for b in blocks])) for s in seeds]}
    return out


def table(results: dict, title: str) -> list[str]:
    """``title`` and Table 1's rows (`benchmarks.table1_synthetic.table_rows`) with each seed's paired gain."""
    from benchmarks.table1_synthetic import table_rows

    def per_seed_gain(cells: dict, mode: str) -> str:
        gains = np.subtract(cells[mode]["pck"], cells["none"]["pck"])
        return "" if mode == "none" else ", ".join(f"{g:+.2f}" for g in gains)

    return [title, "", "| Method | TTP scenario | PCK | vs. baseline | TTP gain (same model) | per seed gain |",
            "|---|---|---|---|---|---|", *table_rows(results, per_seed_gain)]


def report(cells: dict, seeds: list[int], size: Sizing, wall_min: float, checkpoints: list[Path],
           runs: str) -> str:
    from benchmarks.table1_synthetic import aims

    used = size.used
    blocks = list(range(used // BLOCK))
    ttp = schedule_config("full").ttp

    def gain(method, s, b, mode):
        return cells[method, s, b, mode]["pck"] - cells[method, s, b, "none"]["pck"]

    lines = ["## Table 1 on enough test people to resolve its aims (issue 13)", "",
             f"The synthetic Table 1 models of {shown_path(runs)} (seeds {', '.join(map(str, seeds))}; Table 1's "
             f"TTP settings: lr {ttp.lr:g}, pull back {ttp.pull_back:g}, batch {ttp.batch_size}, the speed options "
             f"of this machine) on blocks of {BLOCK} test people (block b: test people {BLOCK} b .. {BLOCK} b + "
             f"{BLOCK - 1}; block 0 is Table 1's test people). PCK@0.2 torso pooled over a block's frames; gains "
             "paired within a model and a block; over several blocks, per seed the mean of the blocks.", "",
             *size.lines, "",
             "| block | baseline w/o TTP | Transformer w/o TTP | Transformer online gain | Transformer offline gain "
             "| keypoint w/o TTP | keypoint online gain | keypoint offline gain |", "|---|---|---|---|---|---|---|---|"]
    for b in blocks:
        def pck(method, mode="none", b=b):
            return mean_std([cells[method, s, b, mode]["pck"] for s in seeds])

        def g(method, mode, b=b):
            return mean_std([gain(method, s, b, mode) for s in seeds])

        lines.append(f"| {b} | {pck('baseline')} | {pck('transformer')} | {g('transformer', 'online')} | "
                     f"{g('transformer', 'offline')} | {pck('keypoint')} | {g('keypoint', 'online')} | "
                     f"{g('keypoint', 'offline')} |")
    if len(blocks) > 1:
        for mode in ("online", "offline"):
            spread = [float(np.std([gain("transformer", s, b, mode) for b in blocks], ddof=1)) for s in seeds]
            lines.append(f"\nStd of the Transformer's {mode} gain from one block of {BLOCK} people to the next, same "
                         "model: " + ", ".join(f"seed {s} {x:.2f}" for s, x in zip(seeds, spread, strict=True)) + ".")
    every = pooled_results(cells, seeds, blocks)
    lines += ["", *table(every, f"**Table 1 over the {used} test people** (mean ± std over seeds):"), "",
              *aims(every, ttp, None)[:-1],  # its last line, the lr's choice, names Table 1's sections
              "- (The TTP learning rate and its choice on the validation people: Table 1's own section.)", "",
              *table(pooled_results(cells, seeds, [0]), "Block 0 alone (Table 1's 16 test people, for comparison):")]
    shares = []
    full = np.mean([np.mean([gain("transformer", s, b, "online") for b in blocks]) for s in seeds])
    for preset in PRESETS:
        ours = [float(np.mean([gain("transformer", s, b, preset) for b in blocks])) for s in seeds]
        share = np.mean(ours) / full if full > 0 else float("nan")
        shares.append(f"- {preset} (`{' '.join(SCHEDULES[preset].overrides())}`): online gain {mean_std(ours)} "
                      f"against the full protocol's {full:+.2f}: {100 * share:.0f} % (aim: at least "
                      f"{100 * KEEP:.0f} %, with 2 paper-size frames/s: section throughput_avx512bf16 for its "
                      f"frames/s): {'met' if share >= KEEP else 'NOT met'}")
    lines += ["", f"The cheaper online schedules of benchmarks/throughput.py on the same {used} test people (issue 16, "
              "point 2; the first was chosen on the validation people by section throughput_avx512bf16, the second "
              "is the library's `--schedule fast`):", "", *shares, "",
              f"Command: `{command()}`", f"Machine: {machine()} (cells: worker processes of 1 torch thread)",
              f"Wall time of this run: {wall_min:.1f} min (cached cells and Table 1's own block-0 cells are reused)",
              "", *checkpoint_digests(checkpoints)]
    return "\n".join(lines)


NO_TTP = {"baseline": ("none",), "transformer": ("none",)}  # --no-ttp: the on-par aim's cells alone


def report_no_ttp(cells: dict, seeds: list[int], people: int, wall_min: float, checkpoints: list[Path],
                  runs: str) -> str:
    """--no-ttp: the baseline and the Transformer without TTP on ``people`` test people, per block and pooled, with
    the aims that need no TTP (the baseline's 65, the Transformer on par with it)."""
    from benchmarks.table1_synthetic import aims

    blocks = list(range(people // BLOCK))
    lines = ["## Table 1 without TTP on more test people: the on-par aim (issue 13)", "",
             f"The synthetic Table 1 models of {shown_path(runs)} (seeds {', '.join(map(str, seeds))}) without TTP on "
             f"{people} test people in blocks of {BLOCK} (block b: test people {BLOCK} b .. {BLOCK} b + {BLOCK - 1}; "
             "block 0 is Table 1's test people); PCK@0.2 torso pooled over a block's frames, per seed the mean of "
             "the blocks. No TTP cell is computed (`--no-ttp`): the gain aims are not judged here.", "",
             "| block | baseline w/o TTP | Transformer w/o TTP | difference (same seed) |", "|---|---|---|---|"]
    for b in blocks:
        base = [cells["baseline", s, b, "none"]["pck"] for s in seeds]
        ours = [cells["transformer", s, b, "none"]["pck"] for s in seeds]
        lines.append(f"| {b} | {mean_std(base)} | {mean_std(ours)} | {mean_std(np.subtract(ours, base))} |")
    every = pooled_results(cells, seeds, blocks, NO_TTP)
    lines += ["", *table(every, f"**Over the {people} test people** (mean ± std over seeds):"), "",
              *aims(every, schedule_config("full").ttp, None)[:-1],  # its last line names Table 1's lr sections
              "", f"Command: `{command()}`", f"Machine: {machine()} (cells: worker processes of 1 torch thread)",
              f"Wall time of this run: {wall_min:.1f} min (cached cells are reused)", "",
              *checkpoint_digests(checkpoints)]
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default="runs/table1avx512", help="the Table 1 runs folder whose models are used")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--max-people", type=int, default=96, help="at most this many test people (time)")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--section", default="more_test_people")
    parser.add_argument("--collect", action="store_true", help="only cached cells: an error where one is missing")
    parser.add_argument("--no-ttp", action="store_true",
                        help="only the baseline and the Transformer without TTP on --max-people test people (the "
                             "on-par aim; minutes, not hours)")
    args = parser.parse_args(argv)
    if args.max_people < BLOCK:
        parser.error(f"--max-people must be at least {BLOCK}")
    started = time.time()
    methods = NO_TTP if args.no_ttp else METHODS
    models = {(m, s): finished_model(Path(args.runs) / f"{m}-seed{s}") for m in methods for s in args.seeds}
    missing = [str(m) for m in models.values() if not m.is_file()]
    if missing:
        parser.error(f"no trained Table 1 model at {', '.join(missing)} (benchmarks/table1_synthetic.py --runs "
                     "trains them)")
    digests = {k: file_sha256(m) for k, m in models.items()}
    processes = 1 if args.collect else args.processes
    if args.no_ttp:
        people = args.max_people - args.max_people % BLOCK
        tasks = [(args.runs, m, s, b, "none", str(models[m, s]), digests[m, s], args.collect)
                 for b in range(people // BLOCK) for m in NO_TTP for s in args.seeds]
        cells = {t[1:5]: r for t, r in run_cells(cell, tasks, processes).items()}
        text = report_no_ttp(cells, args.seeds, people, (time.time() - started) / 60, list(models.values()),
                             args.runs)
        print(text)
        write_section(args.section, text)
        return
    val_tasks = [(args.runs, s, mode, str(models["transformer", s]), digests["transformer", s], args.collect)
                 for mode in ("online", "none") for s in args.seeds]
    val = {(t[1], t[2]): r for t, r in run_cells(val_cell, val_tasks, processes).items()}
    size = sizing(val, args.seeds, args.max_people)
    print("\n".join(size.lines), flush=True)
    blocks = range(size.used // BLOCK)
    modes = {m: [*reversed(modes), *(PRESETS if m == "transformer" else [])] for m, modes in METHODS.items()}
    tasks = [(args.runs, m, s, b, mode, str(models[m, s]), digests[m, s], args.collect)
             for b in blocks for m in METHODS for mode in modes[m] for s in args.seeds]
    cells = {t[1:5]: r for t, r in run_cells(cell, tasks, processes).items()}
    text = report(cells, args.seeds, size, (time.time() - started) / 60, list(models.values()), args.runs)
    print(text)
    write_section(args.section, text)


if __name__ == "__main__":
    main()
