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
benchmarks/analyses_synthetic.py (Fig. 3, Table 5). The section ends with the SHA-256 of every model it used.

The same table with other settings goes to another section (``--section``, ``--results``), under a ``--title``
that says what it is, e.g. the "accuracy_fast_ttp" section of benchmarks/SPEED.md:

    python benchmarks/table1_synthetic.py --runs runs/table1-fast --seeds 0 1 2 --methods transformer \
        --results benchmarks/SPEED.md --section accuracy_fast_ttp --quiet \
        --title "PCK of the synthetic Table 1 models with the TTP speed options" \
        ttp.speed.precision=bf16 ttp.speed.channels_last=true ttp.speed.fold_bn=true
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
    TITLES,
    cached,
    cell_key,
    checkpoint_digests,
    command,
    finished_model,
    machine,
    mean_std,
    save_predictions,
    trained,
    tuned_gains,
    write_section,
)
from benchmarks.tune_ttp import TUNED  # noqa: E402  (the TTP gains on val per lr, written by tune_ttp.py)
from ttpose.atomic import atomic_write_text  # noqa: E402
from ttpose.config import load_config  # noqa: E402
from ttpose.data.build import load_videos  # noqa: E402
from ttpose.evaluate import evaluate  # noqa: E402
from ttpose.weights import file_sha256  # noqa: E402

METHODS = {  # the paper's Table 1 rows (Sec. 4.3) as config overrides
    "baseline": ["model.sup_head=conv", "model.self_task=none"],
    "rotation": ["model.sup_head=conv", "model.self_task=rotation", "loss.lam=1e-4"],
    "keypoint": ["model.sup_head=conv", "model.self_task=keypoint"],
    "transformer": ["model.sup_head=transformer", "model.self_task=keypoint"],
}
QUICK = ["train.steps=30", "train.lr_steps=[20]", "data.train_videos=6", "data.test_videos=2",
         "data.frames_per_video=6", "train.val_every=0", "ttp.batch_size=4"]


def _cell(cfg, mode: str, tag: str = "") -> tuple[str, dict]:
    """(name, key) of one cell: its files are test-eval-<name>.json and test-predictions-<name>.npz in the run
    folder; the key holds everything its result depends on (`benchmarks.common.cell_key`)."""
    return (f"{tag}-{mode}" if tag else mode), cell_key(cfg, mode)


def saved_cell(cfg, mode: str, tag: str = "") -> dict | None:
    """The stored result of this cell ({key, pck, seconds}) if it was computed with the same settings."""
    name, key = _cell(cfg, mode, tag)
    return cached(Path(cfg.output_dir) / f"test-eval-{name}.json", key)


def evaluated(cfg, model, videos, mode: str, progress: bool, tag: str = "") -> tuple[float, float]:
    """(PCK, seconds) of one cell; reuses the run folder's earlier result for the same TTP settings and test set.

    Keeps the test predictions beside the model (test-predictions-<mode>.npz) for the analyses; ``tag`` names
    another test population of the same run (``look``: people drawn like the training people)."""
    saved = saved_cell(cfg, mode, tag)
    if saved is not None:
        return saved["pck"], saved["seconds"]
    name, key = _cell(cfg, mode, tag)
    out = Path(cfg.output_dir)
    started = time.time()
    ev, preds = evaluate(model, videos, mode, cfg.ttp, seed=cfg.seed, progress=progress)
    seconds = time.time() - started
    save_predictions(out / f"test-predictions-{name}.npz", preds)
    record = {"key": key, "pck": ev.mean, "seconds": seconds}
    atomic_write_text(out / f"test-eval-{name}.json", json.dumps(record, indent=1))
    return ev.mean, seconds


def modes_of(cfg) -> list[str]:
    """The TTP scenarios of a method: none only for a model without a self-supervised task."""
    return ["none"] if cfg.model.self_task == "none" else ["none", "online", "offline"]


def run_overrides(runs: str | Path, method: str, seed: int, extra: list[str]) -> list[str]:
    """The config overrides of Table 1's run of (``method``, ``seed``) in the runs folder ``runs``."""
    return [*METHODS[method], f"seed={seed}", f"output_dir={Path(runs) / f'{method}-seed{seed}'}", *extra]


def run(args, missing: list[str]) -> dict:
    """Train and evaluate every (method, seed) asked for; with ``args.collect`` only those already evaluated,
    the others appended to ``missing``."""
    results: dict = {}
    for method in args.methods:
        for seed in args.seeds:
            overrides = run_overrides(args.runs, method, seed, [*(QUICK if args.quick else []), *args.overrides])
            cfg = load_config(args.config, overrides)
            if args.collect and any(saved_cell(cfg, m) is None for m in modes_of(cfg)):
                missing.append(f"{method} seed {seed}")
                continue
            model, train_seconds = trained(cfg, progress=not args.quiet)
            if args.train_only:
                continue
            results.setdefault(method, {}).setdefault("checkpoints", []).append(str(finished_model(cfg.output_dir)))
            videos = load_videos(cfg.data, "test")
            for mode in [m for m in modes_of(cfg) if m in args.modes]:
                pck, seconds = evaluated(cfg, model, videos, mode, progress=not args.quiet)
                cell = results.setdefault(method, {}).setdefault(mode, {"pck": [], "seconds": []})
                cell["pck"].append(pck)
                cell["seconds"].append(seconds)
                print(f"{method} seed {seed} TTP {mode}: PCK {pck:.2f}", flush=True)
            look = load_config(args.config, [*overrides, "data.shift=0"])  # new test people of the training look
            pck, seconds = evaluated(look, model, load_videos(look.data, "test"), "none", progress=False, tag="look")
            cell = results[method].setdefault("look", {"pck": [], "seconds": []})
            cell["pck"].append(pck)
            cell["seconds"].append(seconds)
            results[method].setdefault("train_seconds", []).append(train_seconds)
            (Path(args.runs) / "table1.json").write_text(json.dumps(results, indent=1))
    return results


def aims(results: dict, ttp, tuned: dict | None, found: dict | None = None) -> list[str]:
    """The issue's aims, checked on the numbers of this run (met / NOT met), one line each; ``ttp``: the TTP
    settings of the run (`ttpose.config.TTPConfig`)."""
    setting = f"TTP learning rate {ttp.lr:g}" + (f", pull back {ttp.pull_back:g}" if ttp.pull_back else "")

    def cells(method: str, mode: str) -> np.ndarray | None:
        got = results.get(method, {}).get(mode)
        return None if got is None else np.asarray(got["pck"], dtype=float)

    def gains(method: str, mode: str) -> np.ndarray | None:
        pck, none = cells(method, mode), cells(method, "none")
        return None if pck is None or none is None else pck - none

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    def seeds_note(ours: int, theirs: int) -> str:
        return "" if ours == theirs else f" (Transformer over {ours} seeds, keypoint over {theirs})"

    out = ["Aims (checked by the script on the numbers above):", ""]
    base, base_look = cells("baseline", "none"), cells("baseline", "look")
    if base is not None:
        out.append(f"- The supervised-only baseline scores at least 65 PCK on the shifted test people: "
                   f"{base.mean():.2f}: {verdict(base.mean() >= 65)}")
        if base_look is not None:
            loss = base_look.mean() - base.mean()
            out.append(f"- The shift costs a model trained on the training look at least 20 PCK (baseline on new "
                       f"people of the training look {base_look.mean():.2f}, shifted {base.mean():.2f}): "
                       f"{loss:.2f}: {verdict(loss >= 20)}")
    tf = cells("transformer", "none")
    if tf is not None and base is not None:
        out.append(f"- The Transformer without TTP is on par with the baseline (within 1 PCK or above): "
                   f"{tf.mean():.2f} vs {base.mean():.2f}: {verdict(tf.mean() >= base.mean() - 1)}")
    for mode, aim in (("online", 3.0), ("offline", 4.0)):
        g, kp = gains("transformer", mode), gains("keypoint", mode)
        if g is None:
            continue
        std = g.std(ddof=1) if len(g) > 1 else float("nan")
        ok = g.mean() >= aim and g.mean() > 2 * std
        out.append(f"- Transformer + {mode} TTP gains at least {aim:+.0f} PCK, more than twice the std of the paired "
                   f"per-seed gains: {g.mean():+.2f} (std {std:.2f}): {verdict(ok)}")
        if kp is not None:
            out.append(f"- The Transformer gains more from {mode} TTP than the feature-shared keypoint method: "
                       f"{g.mean():+.2f} vs {kp.mean():+.2f}{seeds_note(len(g), len(kp))}: "
                       f"{verdict(g.mean() > kp.mean())}")
    if found and found["sections"]:  # --tuned: the val sections the choice was made on, instead of tune_ttp.json
        said = "; ".join(f"{name}: " + ", ".join(f"{m} {g:+.2f}" for m, g in modes.items())
                         for name, modes in found.items() if name not in ("sections", "no_ttp"))
        lr = (f"- {setting}, chosen on the validation people (sections "
              f"{', '.join(found['sections'])}); gains there: {said}")
    else:
        lr = f"- {setting}, chosen on the validation people (section tune_ttp)"
        if tuned:
            def said(key: str) -> str:
                row = tuned.get(key)
                return "not measured" if row is None else ", ".join(f"{m} {g:+.2f}" for m, g in row.items())
            lr += (f"; there the chosen lr gains {said(f'{ttp.lr:g}')} and the paper's 1e-4 gains {said('0.0001')} "
                   f"(checkpoint {tuned.get('checkpoint')})")
    out.append(lr + ".")
    return out


def compute_aim(train_seconds: float, eval_seconds: float, hours: float = 2.0, processes: int = 2) -> str:
    """The issue's budget aim (the whole Table 1 run within about ``hours`` on the 2-core CPU), checked on the
    recorded compute: each cell ran in a process of one torch thread, so ``processes`` of them on the machine's
    cores finish the run in at least (training + evaluation) / ``processes``."""
    total = (train_seconds + eval_seconds) / 60
    wall = total / processes
    return (f"- The whole Table 1 run stays within about {hours:g} hours on the 2-core CPU: {total:.0f} min of "
            f"recorded compute, at least {wall:.0f} min of wall time with {processes} one-thread processes: "
            f"{'met' if wall <= 60 * hours else 'NOT met'}")


def _seed_of(checkpoint: str) -> str:
    """"seed N" of a run's model file (its folder is <method>-seed<N>, `run`), else the folder's name."""
    folder = Path(checkpoint).parent.name
    return f"seed {folder.rsplit('-seed', 1)[1]}" if "-seed" in folder else folder


def per_seed(results: dict) -> list[str]:
    """One line per (method, scenario) with each seed's PCK and, with TTP, its paired gain: the figures behind the
    table's mean ± std, so a per-seed comparison (e.g. on the seeds two methods share) can be read off."""
    lines = ["Per seed (PCK; with TTP, the gain over the same model without it in brackets):", ""]
    for method, cells in results.items():
        for mode in ("look", "none", "online", "offline"):
            if mode not in cells:
                continue
            pck, none = cells[mode]["pck"], cells.get("none", {}).get("pck")
            said = [f"{run} {p:.2f}" + (f" ({p - n:+.2f})" if mode in ("online", "offline") and none else "")
                    for run, p, n in zip(map(_seed_of, cells["checkpoints"]), pck, none or pck, strict=True)]
            lines.append(f"- {TITLES[method]}, {mode}: {', '.join(said)}")
    return lines


def tuned_for(checkpoints: list[str], path: Path = TUNED) -> dict | None:
    """The val gains per lr in benchmarks/tune_ttp.json if they were measured on one of ``checkpoints`` (its SHA-256);
    None, with a note, if they come from another model (a file of an earlier recipe was quoted beside Table 1)."""
    if not path.is_file():
        return None
    tuned = json.loads(path.read_text())
    if tuned.get("sha256") in {file_sha256(c) for c in checkpoints if Path(c).is_file()}:
        return tuned
    print(f"note: {path} was measured on {tuned.get('checkpoint')}, not on this run's Transformers; not quoted",
          file=sys.stderr)
    return None


def table_rows(results: dict, last_column) -> list[str]:
    """Table 1's rows (method, scenario, PCK, vs. baseline, paired TTP gain) from ``results`` ({method: {mode:
    {"pck": per seed, ...}}}); ``last_column(cells, mode)`` fills a sixth column (``cells``: the method's)."""
    base = np.mean(results["baseline"]["none"]["pck"]) if "baseline" in results else None
    lines = []
    for method, cells in results.items():
        if "none" not in cells:  # evaluated with --modes that left it out: no paired gain to show
            continue
        none = np.asarray(cells["none"]["pck"])
        for mode in ("look", "none", "online", "offline"):
            if mode not in cells:
                continue
            pck = np.asarray(cells[mode]["pck"])
            delta = f"{pck.mean() - base:+.2f}" if base is not None and method != "baseline" and mode != "look" else ""
            gain = "" if mode in ("none", "look") else mean_std(pck - none)
            label = {"look": "w/o TTP, training look (not shifted)", "none": "w/o TTP", "online": "Online",
                     "offline": "Offline"}[mode]
            lines.append(f"| {TITLES[method]} | {label} | {mean_std(pck)} | {delta} | {gain} | "
                         f"{last_column(cells, mode)} |")
    return lines


def markdown(results: dict, args, seconds: float, missing: list[str]) -> str:
    lines = [f"## {args.title} (test population, PCK@0.2 torso, mean ± std over seeds)", "",
             "| Method | TTP scenario | PCK | vs. baseline | TTP gain (same model) | eval time / seed (s) |",
             "|---|---|---|---|---|---|",
             *table_rows(results, lambda cells, mode: f"{np.mean(cells[mode]['seconds']):.0f}")]
    cfg = load_config(args.config, args.overrides)
    found = tuned_gains(args.tuned, **({"path": args.results} if args.results else {})) if args.tuned else None
    tuned = None if found and found["sections"] else tuned_for(results.get("transformer", {}).get("checkpoints", []))
    train_times = ", ".join(f"{m} {np.nanmean(c['train_seconds']) / 60:.1f} min" for m, c in results.items())
    train_total = sum(np.nansum(c["train_seconds"]) for c in results.values())
    eval_total = sum(sum(c[m]["seconds"]) for c in results.values() for m in ("none", "online", "offline") if m in c)
    lines += ["", *per_seed(results), "", *aims(results, cfg.ttp, tuned, found), compute_aim(train_total, eval_total)]
    if missing:
        lines += ["", f"Not measured (not trained or evaluated when this table was collected): {', '.join(missing)}."]
    lines += ["", f"Seeds asked for: {', '.join(map(str, args.seeds))}. Training time per run: {train_times}. "
              f"Recorded compute: {train_total / 60:.0f} min of training and {eval_total / 60:.0f} min of evaluation "
              f"(one torch thread per process; the cells may have been computed by several processes at once, "
              f"and a cell computed earlier is reused, so this run itself took {seconds / 60:.1f} min).",
              f"Config: `{args.config}` {' '.join(args.overrides)}", f"Command: `{command()}`", f"Machine: {machine()}",
              "", *checkpoint_digests(p for cells in results.values() for p in cells["checkpoints"])]
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    """The command line. Config overrides may follow ``--tuned``: argparse hands them to ``--tuned`` (it takes one
    or more words), so the words with "=" (an override; a section name has none) go back to the overrides."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/synthetic/cpu.yaml")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--runs", default="runs/table1")
    parser.add_argument("--section", default="table1", help="section of the results file to write")
    parser.add_argument("--results", type=Path, default=None, help="results file (default benchmarks/RESULTS.md)")
    parser.add_argument("--title", default="Table 1 on synthetic people",
                        help="the section's heading: what the table is (the scope is added after it)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for smoke tests")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--train-only", action="store_true", help="train (or reuse) the models, evaluate nothing")
    parser.add_argument("--modes", nargs="+", default=["none", "online", "offline"],
                        choices=["none", "online", "offline"],
                        help="evaluate only these TTP scenarios (to share one model's cells between processes)")
    parser.add_argument("--collect", action="store_true",
                        help="train and evaluate nothing: write the table from the cells already evaluated, naming "
                             "the (method, seed) runs that are missing")
    parser.add_argument("--tuned", nargs="+", default=None, metavar="SECTION",
                        help="RESULTS.md sections of benchmarks/tune_ttp.py the TTP settings were chosen on (quoted "
                             "beside the aims; default: tune_ttp.json, written by the tune_ttp section, if it was "
                             "measured on one of this run's Transformers)")
    parser.add_argument("overrides", nargs="*", help="extra config overrides for every run")
    args = parser.parse_args(argv)
    if args.tuned:
        args.overrides += [word for word in args.tuned if "=" in word]
        args.tuned = [word for word in args.tuned if "=" not in word] or None
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    started = time.time()
    missing: list[str] = []
    results = run(args, missing)
    if args.train_only:
        return
    text = markdown(results, args, time.time() - started, missing)
    print(text)
    kwargs = {"path": args.results} if args.results else {}
    write_section(args.section, text, **kwargs)


if __name__ == "__main__":
    main()
