"""How much the Table 1 TTP gain depends on the test people drawn: the synthetic Table 1 Transformers on more
test people than Table 1's 16 (issue 13, a diagnostic; Table 1 and its aims are unchanged).

    python benchmarks/more_test_people.py --runs runs/table1fast            # blocks 1 and 2, 2 worker processes
    python benchmarks/more_test_people.py --runs runs/table1fast --collect  # rewrite the section from the cache

Block b is test people 16 b .. 16 b + 15 of the synthetic test split (configs/synthetic/cpu.yaml: shift 0.375,
stratified per block of 16, 96 frames each); block 0 is Table 1's test people, blocks 1 and up were never used
for anything. Each model (`<--runs>/transformer-seed*`) is scored without TTP, online and offline with the config's TTP
setting and this machine's speed options, as benchmarks/throughput.py's full protocol; the gain is paired
within a model and a block. The supervised-only baselines (`<--runs>/baseline-seed*`) are scored without TTP on
the same blocks, for the Transformer's gap to them (Table 1's "on par" aim). Why: with the chosen setting the
same models gain +4.56 online on the validation people and +1.02 on Table 1's test people, and one person's
gain varies by 9-10 PCK from the next.

Writes the "more_test_people" section of benchmarks/RESULTS.md. Cells are cached under runs/more_test_people/,
keyed by the data and TTP settings, the block and the checkpoint's SHA-256.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (  # noqa: E402
    cached,
    cell_key,
    checkpoint_digests,
    command,
    finished_model,
    machine,
    mean_std,
    run_cells,
    shown_path,
    write_section,
)
from benchmarks.throughput import schedule_config  # noqa: E402  (the full protocol's config)
from ttpose.weights import file_sha256  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "runs" / "more_test_people"
BLOCK = 16  # people per block: Table 1's test split size, and the data's stratification block


def block_people(cfg, block: int) -> list:
    """Test people ``BLOCK * block`` .. ``BLOCK * (block + 1) - 1`` (the same videos a larger test split holds)."""
    from ttpose.data.build import synthetic_config
    from ttpose.data.synthetic import make_video

    synth = synthetic_config(cfg.data, cfg.data.test_frames or cfg.data.frames_per_video)
    return [make_video("test", i, cfg.seed, synth) for i in range(BLOCK * block, BLOCK * (block + 1))]


METHODS = {"transformer": ("none", "online", "offline"), "baseline": ("none",)}  # method -> the modes it is scored in


def cell_path(method: str, seed: int, block: int, mode: str) -> Path:
    return CACHE / f"{'' if method == 'transformer' else method + '-'}seed{seed}-block{block}-{mode}.json"


def cell(method: str, seed: int, block: int, mode: str, checkpoint: str, digest: str, collect: bool = False) -> dict:
    """PCK of one model (a Table 1 ``method``) on one block, without TTP ("none"), online or offline (cached;
    ``collect``: an error where the cell is missing or stale)."""
    cfg = schedule_config("full")
    key = cell_key(cfg, mode, checkpoint=digest, block=block)
    path = cell_path(method, seed, block, mode)
    saved = cached(path, key)
    if saved is not None:
        return saved
    if collect:
        raise SystemExit(f"no up-to-date cell {method} seed {seed} block {block} {mode} in {CACHE}; run without "
                         "--collect")
    import torch

    from ttpose.atomic import atomic_write_text
    from ttpose.checkpoint import load_checkpoint
    from ttpose.evaluate import evaluate

    torch.set_num_threads(1)
    started = time.time()
    ev, _ = evaluate(load_checkpoint(checkpoint), block_people(cfg, block), mode, cfg.ttp, seed=seed, progress=False)
    result = {"method": method, "seed": seed, "block": block, "mode": mode, "pck": ev.mean,
              "seconds": time.time() - started, "key": key}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(result))
    print(f"{method} seed {seed} block {block} {mode}: PCK {ev.mean:.2f} ({result['seconds']:.0f} s)", flush=True)
    return result


def report(cells: dict, seeds: list[int], blocks: list[int], wall_min: float, checkpoints: list[Path]) -> str:
    def gain(s, b, mode="online"):
        return cells[("transformer", s, b, mode)]["pck"] - cells[("transformer", s, b, "none")]["pck"]

    ttp = schedule_config("full").ttp
    lines = ["## The Table 1 TTP gain on more test people (issue 13, a diagnostic)", "",
             f"The synthetic Table 1 Transformers ({shown_path(checkpoints[0].parent.parent)}, seeds "
             f"{', '.join(map(str, seeds))}), without TTP, online and offline (lr {ttp.lr:g}, pull back "
             f"{ttp.pull_back:g}, "
             f"batch {ttp.batch_size}, the speed options of this machine), on blocks of {BLOCK} test people (block b: "
             f"people {BLOCK} b .. {BLOCK} b + {BLOCK - 1}; block 0 is Table 1's test people, the others were never "
             "used for anything). PCK@0.2 torso pooled over a block's frames; gains paired within a model and a "
             "block. The supervised-only baselines of the same runs folder and seeds are scored without TTP on the "
             "same blocks. Table 1 and its aims are unchanged by this section.", "",
             "| block | baseline w/o TTP | Transformer w/o TTP | Transformer - baseline (same seed) | "
             "Transformer online | online gain (mean ± std over seeds) | per seed | Transformer offline | offline "
             "gain | per seed |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for b in blocks:
        base = [cells[("baseline", s, b, "none")]["pck"] for s in seeds]
        none = [cells[("transformer", s, b, "none")]["pck"] for s in seeds]
        gap = [n - x for n, x in zip(none, base, strict=True)]
        row = f"| {b} | {mean_std(base)} | {mean_std(none)} | {mean_std(gap)} |"
        for mode in ("online", "offline"):
            pck = [cells[("transformer", s, b, mode)]["pck"] for s in seeds]
            gains = [gain(s, b, mode) for s in seeds]
            row += f" {mean_std(pck)} | {mean_std(gains)} | " + ", ".join(f"{g:+.2f}" for g in gains) + " |"
        lines.append(row)
    lines.append("")
    for mode in ("online", "offline"):
        pooled = [np.mean([gain(s, b, mode) for b in blocks]) for s in seeds]
        lines.append(f"Over blocks {', '.join(map(str, blocks))} ({BLOCK * len(blocks)} people; per seed the mean of "
                     f"the blocks' gains): {mean_std(pooled)} PCK {mode}.")
        if len(blocks) > 1:
            spread = [float(np.std([gain(s, b, mode) for b in blocks], ddof=1)) for s in seeds]
            lines.append(f"Std of the {mode} gain from one block of {BLOCK} people to the next, same model: "
                         + ", ".join(f"seed {s} {x:.2f}" for s, x in zip(seeds, spread, strict=True)) + ".")
    lines += ["", f"Command: `{command()}`", f"Machine: {machine()} (cells: worker processes of 1 torch thread)",
              f"Wall time of this run: {wall_min:.1f} min (cached cells are reused)", "",
              *checkpoint_digests(checkpoints)]
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default="runs/table1fast", help="the Table 1 runs folder whose Transformers are used")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--blocks", type=int, nargs="+", default=[1, 2], help="blocks of 16 test people (0: Table 1's)")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--collect", action="store_true", help="only cached cells: an error where one is missing")
    args = parser.parse_args(argv)
    started = time.time()
    models = {(m, s): finished_model(Path(args.runs) / f"{m}-seed{s}") for m in METHODS for s in args.seeds}
    missing = [str(m) for m in models.values() if not m.is_file()]
    if missing:
        parser.error(f"no trained Table 1 model at {', '.join(missing)} (benchmarks/table1_synthetic.py --runs "
                     "trains them)")
    digests = {k: file_sha256(m) for k, m in models.items()}
    tasks = [(m, s, b, mode, str(models[m, s]), digests[m, s], args.collect)
             for m, modes in METHODS.items() for mode in reversed(modes) for s in args.seeds for b in args.blocks]
    found = run_cells(cell, tasks, 1 if args.collect else args.processes)
    cells = {t[:4]: r for t, r in found.items()}
    text = report(cells, args.seeds, args.blocks, (time.time() - started) / 60, list(models.values()))
    print(text)
    write_section("more_test_people", text)


if __name__ == "__main__":
    main()
