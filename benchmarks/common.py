"""Shared pieces of the benchmark scripts: machine description, results sections, cached training runs."""

from __future__ import annotations

import fcntl
import os
import platform
import re
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch

from ttpose.atomic import atomic_path, atomic_write_text
from ttpose.checkpoint import load_checkpoint
from ttpose.config import Config, ConfigError, drop_removed, load_config
from ttpose.training import train, training_settings

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
TITLES = {  # the paper's Table 1 rows
    "baseline": "Baseline", "rotation": "Feat. shared (rotation)", "keypoint": "Feat. shared (keypoint)",
    "transformer": "Transformer (keypoint)"}


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_mib(field: str = "VmRSS") -> float:
    """This process's memory from /proc/self/status in MiB: ``VmRSS`` (resident now) or ``VmHWM`` (its peak);
    nan where there is no /proc. (``ru_maxrss`` would also count a parent's resident set: Linux carries it
    across fork + exec.)"""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024  # kB
    return float("nan")


def machine() -> str:
    cpu = cpu_model()
    threads = torch.get_num_threads()
    return (f"{platform.system()} {platform.machine()}, {cpu}, {threads} torch threads; Python "
            f"{platform.python_version()}, torch {torch.__version__}, numpy {np.__version__}")


def command() -> str:
    return shlex.join(["python", *sys.argv])


def write_section(name: str, markdown: str, path: Path = RESULTS) -> None:
    """Replace (or append) the section between <!-- BEGIN name --> and <!-- END name --> in RESULTS.md."""
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    block = f"{begin}\n{markdown.rstrip()}\n{end}"
    with open(path.with_name(path.name + ".lock"), "w") as lock:  # several benchmark processes may finish at once
        fcntl.flock(lock, fcntl.LOCK_EX)
        text = path.read_text() if path.is_file() else "# ttpose benchmark results\n\nEvery section below is " \
            "written by the script it names, from an actual run; nothing is edited by hand.\n"
        pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
        text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
        atomic_write_text(path, text)


def tuned_gains(sections: list[str], path: Path = RESULTS) -> dict:
    """The TTP gains that benchmarks/tune_ttp.py wrote into ``sections`` of the results file, as
    {setting: {mode: gain}} plus {"sections": [...], "no_ttp": {section: PCK}}; sections missing from the file are
    skipped."""
    text = path.read_text() if path.is_file() else ""
    found: dict = {"sections": [], "no_ttp": {}}
    for name in sections:
        begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
        if begin not in text:
            continue
        found["sections"].append(name)
        for line in text.split(begin, 1)[1].split(end, 1)[0].splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) < 4 or cells[0] in ("Setting", "") or cells[0].startswith("---"):
                continue
            if cells[0] == "none":
                found["no_ttp"][name] = float(cells[2])
            else:
                found.setdefault(cells[0], {})[cells[1]] = float(cells[3])
    return found


def run_cells(cell, tasks: list[tuple], processes: int) -> dict:
    """``cell(*task)`` for every task, here (``processes`` <= 1) or in that many spawned worker processes of
    one torch thread each (OMP_NUM_THREADS=1); results keyed by task."""
    if processes <= 1:
        return {t: cell(*t) for t in tasks}
    os.environ["OMP_NUM_THREADS"] = "1"
    with ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as pool:
        futures = {t: pool.submit(cell, *t) for t in tasks}
        return {t: f.result() for t, f in futures.items()}


def trained(cfg: Config, progress: bool = False):
    """Train ``cfg`` unless its output folder already holds the finished model (then load it).

    A finished run whose saved config.yaml trained differently (`ttpose.training.training_settings`, which
    leaves out ``NOT_TRAINING``) is an error, never reused silently: a changed recipe needs another output folder.
    Returns (model, seconds spent training now, or the recorded time of the earlier run)."""
    out = Path(cfg.output_dir)
    done = out / "model.safetensors"
    timing = out / "train_seconds.txt"
    if done.is_file():
        saved = out / "config.yaml"
        asked = training_settings(cfg)
        if saved.is_file() and training_settings(load_config(saved)) != asked:
            raise RuntimeError(f"{out} holds a model trained with other settings than asked for; remove it or use "
                               "another output folder (--runs)")
        seconds = float(timing.read_text()) if timing.is_file() else float("nan")
        return load_checkpoint(done), seconds
    started = time.time()
    result = train(cfg, resume=True, progress=progress)
    seconds = time.time() - started
    atomic_write_text(timing, f"{seconds:.1f}\n")
    return load_checkpoint(result.checkpoint), seconds


def same_key(saved: dict, key: dict) -> bool:
    """Whether a cached result's saved key (settings laid out like a config: {"ttp": {...}, "data": {...}, ...})
    is ``key``. A key saved before an option was removed (`ttpose.config.REMOVED`) still matches while that option
    held its no-op value; with another value it asked for a setting that no longer exists, so it does not."""
    try:
        return drop_removed(saved) == key
    except ConfigError:
        return False


def mean_std(values) -> str:
    values = np.asarray(values, dtype=float)
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{values.mean():.2f} ± {values.std(ddof=1):.2f}"


def save_predictions(path: Path, preds) -> None:
    """Joints and scores of each video's predictions (lists of `Predictions`), as an npz without pickles."""
    arrays = {}
    for i, p in enumerate(preds):
        arrays[f"joints_{i}"], arrays[f"scores_{i}"], arrays[f"frames_{i}"] = p.joints, p.scores, p.frame_index
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)


def load_predictions(path: Path) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(frame indices, joints, scores) per video, as saved by `save_predictions`."""
    with np.load(path, allow_pickle=False) as z:
        n = sum(1 for k in z.files if k.startswith("joints_"))
        return [(z[f"frames_{i}"], z[f"joints_{i}"], z[f"scores_{i}"]) for i in range(n)]
