"""Shared pieces of the benchmark scripts: machine description, results sections, cached training runs.

Results files (benchmarks/*.md, DEMO_REPEATS.log) are written one way only, `write_section`: a file is its
opening (`OPENINGS`) and sections between ``<!-- BEGIN name -->`` and ``<!-- END name -->``, each written by the
script it names; a script replaces its own section and leaves the others as they are. A section whose numbers
come from trained weights ends with `checkpoint_digests`: the SHA-256 of each checkpoint file and of its tensors,
so a number can be traced to its weights without rerunning hours of training.

    python -m benchmarks.common FILE SECTION < text      # the same, for shell scripts (demo_repeats.sh)
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import platform
import re
import shlex
import sys
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch

from ttpose.atomic import atomic_path, atomic_write_text
from ttpose.checkpoint import load_checkpoint
from ttpose.config import Config, ConfigError, drop_removed, load_config, to_dict, with_added_defaults
from ttpose.speed import precision_on
from ttpose.training import train, training_settings
from ttpose.weights import CheckpointError, file_sha256, tensors_sha256

BENCHMARKS = Path(__file__).resolve().parent
REPO = BENCHMARKS.parent
RESULTS = BENCHMARKS / "RESULTS.md"  # the paper's tables and figures on synthetic people, and their choices
# the paper's TTP protocol on top of a config that chose an option the paper does not have
# (configs/synthetic/cpu.yaml: ttp.pull_back): tune_ttp's candidates and drift's "plain" start from it
PAPER_TTP = ("ttp.pull_back=0",)
SPEED = BENCHMARKS / "SPEED.md"  # speed against the authors' computation, and the accuracy of the speed options
TRACKING = BENCHMARKS / "TRACKING.md"
LONG_VIDEO = BENCHMARKS / "LONG_VIDEO.md"
SYNTHETIC_DATA = BENCHMARKS / "SYNTHETIC_DATA.md"
DEMO_REPEATS = BENCHMARKS / "DEMO_REPEATS.log"
OPENINGS = {  # file name -> what a results file starts with, written once, when a script makes the file
    RESULTS.name: "# ttpose benchmark results\n\nEvery section below is written by the script it names, from an "
                  "actual run; nothing is edited by hand.",
    SPEED.name: "# Speed: ttpose against the authors' computation (issue 8)",
    TRACKING.name: "# Person boxes tracked by the pose model (`ttpose.tracking`)",
    LONG_VIDEO.name: "# Long videos: speed and memory of `ttpose personalize`",
    SYNTHETIC_DATA.name: "# Synthetic people: generation speed",
    DEMO_REPEATS.name: "",  # one section per run of demo_repeats.sh, each opened by its own header line
}
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


def markers(name: str) -> tuple[str, str]:
    """The lines that open and close the section ``name`` of a results file."""
    return f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"


def write_section(name: str, markdown: str, path: Path = RESULTS) -> None:
    """Write ``markdown`` as the section ``name`` of the results file ``path``: the one way a benchmark script
    writes its results.

    An existing section of that name is replaced where it stands, a new one is appended; the rest of the file is
    kept byte for byte. A new file starts with its opening (`OPENINGS`, by file name; RESULTS.md's for another
    name). Several benchmark processes may finish at once: the read-modify-write holds a lock (``<file>.lock``).
    The new text replaces the file atomically: a reader never sees half of it, an interrupted write leaves the
    previous file."""
    begin, end = markers(name)
    block = f"{begin}\n{markdown.rstrip()}\n{end}"
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        text = path.read_text() if path.is_file() else OPENINGS.get(path.name, OPENINGS[RESULTS.name])
        pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
        if pattern.search(text):
            text = pattern.sub(lambda _: block, text)
        else:
            text = (text.rstrip() + "\n\n" if text.strip() else "") + block + "\n"
        atomic_write_text(path, text)
        if path.suffix == ".md":  # a Markdown results file; not a log such as DEMO_REPEATS.log
            atomic_write_text(index_path(path), section_index(text, path.name))


def index_path(path: Path) -> Path:
    """The generated table of contents beside a results file: RESULTS.md -> RESULTS_INDEX.md."""
    return path.with_name(f"{path.stem}_INDEX{path.suffix}")


def section_index(text: str, file_name: str) -> str:
    """A results file's table of contents: per section, in file order, its name, its first line in the file and
    its title (the first "## " line inside it). `write_section` rewrites it with every section it writes, so it
    is never edited by hand; the results file itself stays as its sections were written."""
    lines = [f"# Sections of {file_name}", "",
             f"Generated by benchmarks/common.py (write_section) from {file_name}; do not edit. Each section is "
             "written by the script its Command line names.", "",
             "| section | line | title |", "|---|---|---|"]
    all_lines = text.split("\n")  # line numbers as grep -n and editors count them
    for number, line in enumerate(all_lines, 1):
        found = re.fullmatch(r"<!-- BEGIN (.+?) -->", line)
        if found:
            end, title = markers(found.group(1))[1], ""
            for inside in all_lines[number:]:
                if inside == end or inside.startswith("## "):
                    title = inside[3:].strip().replace("|", "\\|") if inside != end else ""
                    break
            lines.append(f"| `{found.group(1)}` | {number} | {title} |")
    return "\n".join(lines) + "\n"


def read_section(name: str, path: Path = RESULTS) -> str | None:
    """The text of the section ``name`` of a results file (without its markers), None where it has none."""
    begin, end = markers(name)
    text = path.read_text() if path.is_file() else ""
    if begin not in text:
        return None
    return text.split(begin, 1)[1].split(end, 1)[0].strip("\n")


def shown_path(path: str | Path) -> Path:
    """A path as the results quote it: relative to the repository when inside it (abspath, not resolve: a
    symlinked runs/ stays runs/)."""
    path = Path(os.path.abspath(path))
    return path.relative_to(REPO) if path.is_relative_to(REPO) else path


def checkpoint_digests(paths: Iterable[str | Path]) -> list[str]:
    """The footer lines of a section whose numbers come from these checkpoint files: the SHA-256 of each file and
    of its tensors alone (`ttpose.weights.tensors_sha256`: the same for the same weights whatever config metadata
    the file carries, so a retrained model can be checked against these), in the order first given, each file
    once, so a number can be traced to its weights without rerunning. Paths inside the repository are shown
    relative to it."""
    lines = ["Checkpoints (SHA-256 of the files the numbers above come from, and of their tensors alone):"]
    for path in dict.fromkeys(Path(os.path.abspath(p)) for p in paths):
        if not path.is_file():
            lines.append(f"- `{shown_path(path)}`: not found when this section was written")
            continue
        try:
            tensors = f"`{tensors_sha256(path)}`"
        except CheckpointError:
            tensors = "not a weights file"
        lines.append(f"- `{shown_path(path)}`: `{file_sha256(path)}` (tensors {tensors})")
    return lines


def tuned_gains(sections: list[str], path: Path = RESULTS) -> dict:
    """The TTP gains that benchmarks/tune_ttp.py wrote into ``sections`` of the results file, as
    {setting: {mode: gain}} plus {"sections": [...], "no_ttp": {section: PCK}}; sections missing from the file are
    skipped. A setting measured in two of the sections (e.g. the same lr with another checkpoint) is an error:
    one of its gains would silently replace the other."""
    found: dict = {"sections": [], "no_ttp": {}}
    where: dict[tuple[str, str], str] = {}
    for name in sections:
        text = read_section(name, path)
        if text is None:
            continue
        found["sections"].append(name)
        for line in text.splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) < 4 or cells[0] in ("Setting", "") or cells[0].startswith("---"):
                continue
            if cells[0] == "none":
                found["no_ttp"][name] = float(cells[2])
            else:
                if (cells[0], cells[1]) in where:
                    raise ValueError(f"{cells[0]} ({cells[1]}) is in sections {where[cells[0], cells[1]]} and "
                                     f"{name}: pass the sections of one choice")
                where[cells[0], cells[1]] = name
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


def finished_model(run: str | Path) -> Path:
    """The model file a training run leaves in its folder once it reaches train.steps (`ttpose.training.train`)."""
    return Path(run) / "model.safetensors"


def table1_models(parser: argparse.ArgumentParser, runs: str | Path, folders: dict) -> tuple[dict, dict]:
    """The finished model of each Table 1 run folder (``folders``: key -> folder name in ``runs``, e.g. 0 ->
    "transformer-seed0") and its SHA-256 (a cell's cache key), by the same keys; a parser error names the missing."""
    models = {k: finished_model(Path(runs) / name) for k, name in folders.items()}
    missing = [str(m) for m in models.values() if not m.is_file()]
    if missing:
        parser.error(f"no trained Table 1 model at {', '.join(missing)} (benchmarks/table1_synthetic.py trains them)")
    return models, {k: file_sha256(m) for k, m in models.items()}


def footer(minutes: float, models: Iterable[str | Path],
           cells: str = "worker processes of 1 torch thread") -> list[str]:
    """The closing lines of a section computed from configs/synthetic/cpu.yaml's cells: config, command, machine
    (with how its ``cells`` ran), wall time, and the SHA-256 of the ``models`` (`checkpoint_digests`)."""
    return ["", f"Config: `configs/synthetic/cpu.yaml`. Command: `{command()}`",
            f"Machine: {machine()} (cells: {cells})",
            f"Wall time of this run: {minutes:.1f} min (cached cells are reused)", "", *checkpoint_digests(models)]


def trained(cfg: Config, progress: bool = False):
    """Train ``cfg`` unless its output folder already holds the finished model (then load it).

    A finished run whose saved config.yaml trained differently (`ttpose.training.training_settings`, which
    leaves out ``NOT_TRAINING``) is an error, never reused silently: a changed recipe needs another output folder.
    Returns (model, seconds spent training now, or the recorded time of the earlier run)."""
    out = Path(cfg.output_dir)
    done = finished_model(out)
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


def cell_key(cfg: Config, mode: str, **extra) -> dict:
    """What a cached evaluation of ``cfg`` in TTP ``mode`` depends on, as plain JSON values: the TTP and data
    settings and the seed, with the TTP precision as this machine resolves it (``auto`` is bf16 on one CPU and
    fp32 on another: a cell computed on one is not the other's). Without TTP (mode ``none``) only the speed
    options of the ``ttp`` section reach the predictions, so only they are in the key: a change of the TTP
    learning rate does not make the no-TTP cells stale."""
    key = {"mode": mode, "ttp": to_dict(cfg.ttp), "data": to_dict(cfg.data), "seed": cfg.seed, **extra}
    key["ttp"]["speed"]["precision"] = precision_on(cfg.ttp.speed)
    if mode == "none":
        key["ttp"] = {"speed": key["ttp"]["speed"]}
    return json.loads(json.dumps(key))


def cached(path: Path, key: dict) -> dict | None:
    """A cell cached at ``path`` if it was computed with the settings ``key`` (`same_key`); None where it is
    missing, was cached before the key was stored, or was computed with other settings (recompute it). A JSON
    file is returned whole; an npz (arrays, with the key as JSON text in its entry "key") as its arrays."""
    if not path.is_file():
        return None
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as f:
            saved = {k: f[k] for k in f.files}
        text = saved.pop("key", None)
        return saved if text is not None and same_key(json.loads(str(text)), key) else None
    saved = json.loads(path.read_text())
    return saved if "key" in saved and same_key(saved["key"], key) else None


def same_key(saved: dict, key: dict) -> bool:
    """Whether a cached result's saved key (settings laid out like a config: {"ttp": {...}, "data": {...}, ...})
    is ``key``, across changes of the config's fields:

    - a key saved before an option was removed (`ttpose.config.REMOVED`) still matches while that option held its
      no-op value; with another value it asked for a setting that no longer exists, so it does not;
    - a key saved before an option was added lacks it; it matches a key holding that option at its default, the
      value that keeps the behaviour from before the option existed (the rule every new option follows, e.g.
      ``data.test_frames``, ``data.translate_factor``, ``ttp.pull_back``), and no other value."""
    try:
        saved = drop_removed(saved)
    except ConfigError:
        return False
    return with_added_defaults(saved, key, to_dict(Config())) == key


def evaluation_cell(path: Path, key: dict, checkpoint: str | Path, people, cfg: Config, mode: str, seed: int,
                    label: str, collect: bool = False, keep_predictions: bool = False) -> dict:
    """One cached evaluation cell of the benchmark scripts: the checkpoint's PCK on the videos ``people()`` returns
    (called only when the cell is computed) in TTP ``mode`` with ``cfg``'s TTP settings and TTP seed ``seed``,
    and each person's PCK. Returned from ``path`` where it was cached with ``key`` (`cached`), else computed in
    this process with one torch thread, written atomically with its key, and announced as ``label``. With
    ``collect`` (a script's --collect: rewrite a section from its cached cells) a missing cell is an error. With
    ``keep_predictions`` every frame's predictions are kept too, beside it (`predictions_path`, `save_predictions`),
    and a cell without them is computed again."""
    saved = cached(path, key)
    if saved is not None and (not keep_predictions or predictions_path(path).is_file()):
        return saved
    if collect:
        raise SystemExit(f"no up-to-date cell {label} at {path}; run without --collect")
    from ttpose.evaluate import evaluate, evaluate_predictions

    torch.set_num_threads(1)
    started = time.time()
    model = load_checkpoint(checkpoint)
    videos = people()
    ev, preds = evaluate(model, videos, mode, cfg.ttp, seed=seed, progress=False)
    each = [evaluate_predictions([(v, p.frame_index, p)], model.skeleton).mean
            for v, p in zip(videos, preds, strict=True)]
    result = {"pck": ev.mean, "people": each, "seconds": time.time() - started, "key": key}
    if keep_predictions:
        save_predictions(predictions_path(path), preds)  # before the cell: a cell found means both are there
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(result))
    print(f"{label}: PCK {ev.mean:.2f} ({result['seconds']:.0f} s)", flush=True)
    return result


def interleaved_seconds(calls: dict, repeats: int) -> dict[str, list[float]]:
    """Seconds of each callable in ``calls`` (name -> no-argument function), one call each per round, the order
    rotated every round so that no variant is always first after a pause; an untimed warm-up round first."""
    seconds = {name: [] for name in calls}
    names = list(calls)
    for r in range(repeats + 1):
        for name in names[r % len(names):] + names[:r % len(names)]:
            t0 = time.perf_counter()
            calls[name]()
            if r > 0:
                seconds[name].append(time.perf_counter() - t0)
    return seconds


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


def predictions_path(cell: Path) -> Path:
    """Where `evaluation_cell` keeps the predictions of the cell cached at ``cell``."""
    return cell.with_suffix(".npz")


def load_predictions(path: Path) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(frame indices, joints, scores) per video, as saved by `save_predictions`."""
    with np.load(path, allow_pickle=False) as z:
        n = sum(1 for k in z.files if k.startswith("joints_"))
        return [(z[f"frames_{i}"], z[f"joints_{i}"], z[f"scores_{i}"]) for i in range(n)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write standard input as a section of a results file "
                                                 "(benchmarks.common.write_section), for shell scripts.")
    parser.add_argument("path", type=Path, help="results file, e.g. benchmarks/DEMO_REPEATS.log")
    parser.add_argument("section", help="section name")
    args = parser.parse_args(argv)
    write_section(args.section, sys.stdin.read(), args.path)


if __name__ == "__main__":
    main()
