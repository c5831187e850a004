"""The confidence gate (``ttp.confidence_gate``, ``ttp.relative_gate``; `ttpose.confidence_gate`): its rule chosen on
64 validation people, then Table 1's TTP aims on 64 or 144 test people (issue 13).

    python benchmarks/confidence_gate.py --runs runs/table1avx512 --section confidence_gate
    python benchmarks/confidence_gate.py --runs runs/table1avx512 --test-blocks 9 --section confidence_gate_test144
    python benchmarks/confidence_gate.py --runs runs/share0.3 --methods transformer --test-blocks 0 \
        --section confidence_gate_val64_self_to_encoder   # a training recipe's gated gains on val alone

Why: on the 64 validation people of section ttp_val64, TTP with Table 1's settings gains +8.5 (online) and +11.7
(offline) on the people the trained Transformer scores below 40 PCK and loses 3.0 and 1.8 on those it scores 80 or
more (its per-person cells; half the people are the latter); the trained model's mean heatmap maximum on a person
follows its PCK on that person with correlation 0.94 (a probe on those cells). The gate keeps the trained model's
predictions where that confidence is high.

1. Per method (``--methods``), seed, split and block of 16 people (val blocks 0 .. N-1, block 0 the config's
   validation people; then test blocks 0 .. M-1, ``--test-blocks``, M = N unless given, block 0 Table 1's test
   people; 9 blocks, 144 people, is the number section more_test_people_avx512bf16 set from the validation people's
   spread): every frame's predictions without TTP, online and offline with Table 1's TTP settings
   (configs/synthetic/cpu.yaml), the gate off; cached with their predictions under
   runs/confidence_gate/<runs folder name>/.
2. The gate's output for each threshold of ``TAUS`` and for the relative rule (``ttp.relative_gate``: the
   personalized prediction while the personalized model's mean heatmap maximum so far is above the trained
   model's) is replayed on those predictions by the library's own rule (`ConfidenceGate.choose`: online frame by
   frame in video order, offline all frames in one call): the updates do not depend on the gate, only which
   prediction is output.
3. Choice rule, fixed before any cell of this script was computed: per method and mode, the gate with the highest
   mean val gain (mean over seeds of the mean over blocks of the paired gain); ties to the lower threshold (0, the
   gate off, first; the relative rule last). The relative rule joined the candidates after the first version of
   this section (which had chosen tau 0.6 among the thresholds and reported it on test), from a replay probe on
   the Transformer's val cells: it gained most there of the rules tried (per joint, per frame, per joint and frame
   thresholds and margins gained less).
4. The test people, each method in each mode with the gate off, its best threshold and the relative rule, and the
   aims of issue 13 checked on the chosen gate (online at least +3, offline at least +4, each more than twice the std
   of the per-seed gains; the Transformer gains more than the keypoint method where both were run).
5. A check that the replay is the library: the test cell of the first seed's Transformer, block 0, online with
   its chosen gate, run through `ttpose.evaluate` with ``ttp.confidence_gate`` or ``ttp.relative_gate`` set.

Writes the section ``--section`` of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common  # noqa: E402
from benchmarks.more_test_people import BLOCK, block_people  # noqa: E402
from benchmarks.throughput import CONFIG  # noqa: E402

CACHE = common.REPO / "runs" / "confidence_gate"
TAUS = (0.0, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8)  # 0: the gate off (the paper)
RELATIVE = "relative"  # the relative rule (ttp.relative_gate), added after the first section (see step 3)
GATES = (*TAUS, RELATIVE)  # what a gate can be here: a threshold (0: off) or the relative rule, in the choice's order
MODES = ("online", "offline")
AIMS = {"online": 3.0, "offline": 4.0}  # issue 13's TTP gains


def setting(gate: float | str) -> str:
    """The library's setting of ``gate`` (a threshold, or `RELATIVE`)."""
    return "ttp.relative_gate=true" if gate == RELATIVE else f"ttp.confidence_gate={gate:g}"


def shown(gate: float | str) -> str:
    return RELATIVE if gate == RELATIVE else f"tau {gate:g}"


def method_config(seed: int, gate: float | str = 0.0):
    from ttpose.config import load_config

    return load_config(CONFIG, [f"seed={seed}", setting(gate)])


def cell_path(runs: str, method: str, seed: int, split: str, block: int, mode: str, gate: float | str = 0.0) -> Path:
    return CACHE / Path(runs).name / (f"{split}-{method}-seed{seed}-block{block}-{mode}"
                                      + ("-relative" if gate == RELATIVE else f"-gate{gate:g}" if gate else "")
                                      + ".json")


def cell(runs: str, method: str, seed: int, split: str, block: int, mode: str, checkpoint: str, digest: str,
         gate: float | str = 0.0) -> dict:
    """PCK and every frame's predictions of ``method``'s model of ``seed`` on ``block`` of ``split`` in TTP
    ``mode`` with Table 1's settings (and ``gate``: only for the check of step 5); cached."""
    cfg = method_config(seed, gate)
    key = common.cell_key(cfg, mode, checkpoint=digest, split=split, block=block)
    return common.evaluation_cell(cell_path(runs, method, seed, split, block, mode, gate), key, checkpoint,
                                  lambda: block_people(cfg, block, split), cfg, mode, seed,
                                  f"{split} {method} seed {seed} block {block} {mode}" + (f" {shown(gate)}" if gate
                                                                                          else ""),
                                  keep_predictions=not gate)


def gated_pck(trained: list, personalized: list, videos: list, skeleton, tau: float | str, mode: str) -> float:
    """PCK pooled over ``videos`` of what the gate ``tau`` (a threshold, 0 off, or `RELATIVE`) outputs, replayed per
    video (a fresh gate each, as a
    new `Personalizer` per person has) on the saved predictions of the trained model and the personalized one."""
    from ttpose.confidence_gate import ConfidenceGate
    from ttpose.evaluate import evaluate_predictions
    from ttpose.inference import Predictions

    items = []
    for video, ours, theirs in zip(videos, personalized, trained, strict=True):
        pers, base = Predictions(*ours), Predictions(*theirs)
        if tau:
            gate = ConfidenceGate(0.0 if tau == RELATIVE else tau, trained=None, relative=tau == RELATIVE)
            calls = [[t] for t in range(len(base.frame_index))] if mode == "online" else [slice(None)]
            parts = [gate.choose(_frames(base, c), _frames(pers, c)) for c in calls]
            pers = Predictions.concat(parts)
        items.append((video, pers.frame_index, pers))
    return evaluate_predictions(items, skeleton).mean


def _frames(pred, which):
    from ttpose.inference import Predictions

    return Predictions(pred.frame_index[which], pred.joints[which], pred.scores[which])


def replayed(cells: dict, methods: list[str], seeds: list[int], split: str, blocks: list[int], taus) -> dict:
    """PCK without TTP ("none", tau 0) and in each mode for each gate: {(method, seed, block, mode, gate): PCK}."""
    from ttpose.checkpoint import load_checkpoint

    def saved(*where):
        return common.load_predictions(common.predictions_path(cells[where]["path"]))

    out = {}
    for method in methods:
        for seed in seeds:
            skeleton = load_checkpoint(cells[method, seed, split, blocks[0], "none"]["checkpoint"]).skeleton
            for block in blocks:
                videos = block_people(method_config(seed), block, split)
                none = saved(method, seed, split, block, "none")
                out[method, seed, block, "none", 0.0] = cells[method, seed, split, block, "none"]["pck"]
                for mode in MODES:
                    ours = saved(method, seed, split, block, mode)
                    for tau in taus:
                        out[method, seed, block, mode, tau] = gated_pck(none, ours, videos, skeleton, tau, mode)
                    scored = cells[method, seed, split, block, mode]["pck"]  # the replay must score as the cell did
                    if abs(out.get((method, seed, block, mode, 0.0), scored) - scored) > 1e-6:
                        raise RuntimeError(f"{method} seed {seed} {split} block {block} {mode}: the saved predictions "
                                           f"score {out[method, seed, block, mode, 0.0]:.4f}, their cell {scored:.4f}")
    return out


BANDS = ((0, 40), (40, 60), (60, 80), (80, 101))  # PCK without TTP, per person


def people(cells: dict, method: str, seeds: list[int], split: str, blocks: list[int]) -> dict:
    """Per person (every seed's model, every block): PCK without TTP, the online and offline gains (the gate off), and
    the trained model's mean heatmap maximum on the person's frames. Arrays over people."""
    out = {"none": [], "online": [], "offline": [], "confidence": []}
    for s in seeds:
        for b in blocks:
            none = np.array(cells[method, s, split, b, "none"]["people"])
            out["none"] += list(none)
            for mode in MODES:
                out[mode] += list(np.array(cells[method, s, split, b, mode]["people"]) - none)
            saved = common.load_predictions(common.predictions_path(cells[method, s, split, b, "none"]["path"]))
            out["confidence"] += [float(scores.mean()) for _, _, scores in saved]
    return {k: np.array(v) for k, v in out.items()}


def gains(pck: dict, method: str, seeds: list[int], blocks: list[int], mode: str, tau: float | str) -> np.ndarray:
    """Per seed: the mean over ``blocks`` of the PCK in ``mode`` with the gate at ``tau`` minus without TTP."""
    return np.array([np.mean([pck[method, s, b, mode, tau] - pck[method, s, b, "none", 0.0] for b in blocks])
                     for s in seeds])


def chosen(pck: dict, method: str, seeds: list[int], blocks: list[int], mode: str, among=GATES) -> float | str:
    """The choice rule: the gate of ``among`` with the highest mean val gain; ties to the one listed first (the
    lower threshold; the relative rule last)."""
    return max(among, key=lambda g: (round(float(np.mean(gains(pck, method, seeds, blocks, mode, g))), 9),
                                     -among.index(g)))


def _val_lines(val: dict, picks: dict, args, each: dict | None, test_people: str) -> list[str]:
    """The section's heading, what the gates are, why, and the validation people's gain by gate with the choice."""
    seeds, blocks, methods = args.seeds, list(range(args.blocks)), args.methods
    lines = [f"## The confidence gate: TTP's output kept only where it is trusted ({BLOCK * len(blocks)} validation "
             f"people to choose, {test_people}; issue 13)", "",
             f"The Table 1 models of {common.shown_path(args.runs)} ({', '.join(methods)}; seeds "
             f"{', '.join(map(str, seeds))}), Table 1's TTP settings (configs/synthetic/cpu.yaml). Gate tau (the "
             "threshold rule, `ttp.confidence_gate`): a frame gets the personalized prediction while the trained "
             "model's mean heatmap maximum over the frames known so far (online 0..t, offline the video) is below tau, "
             "else the trained model's (tau 0: off, the paper's TTP). The relative rule (`ttp.relative_gate`): the "
             "personalized prediction while the personalized model's mean heatmap maximum so far is above the trained "
             "model's (no threshold). Gains paired with the same model without TTP; per seed the mean over blocks of "
             "16; mean ± std over seeds. Choice rule, fixed before any cell: per method and mode the gate with the "
             "highest mean val gain. The relative rule joined the candidates after the first version of section "
             "confidence_gate (which chose among the thresholds; its test rows had been seen then), picked from a "
             "replay probe of several rules (per joint, per frame, thresholds and margins) on these same validation "
             "cells: its val gain is biased upward, and only the test rows judge it.", "",
             *_people_lines(each, args.methods[0], len(args.seeds)),
             "**Validation people** (mean val gain by gate):", "",
             "| gate | " + " | ".join(f"{common.TITLES[m]} {mode}" for m in methods for mode in MODES) + " |",
             "|---|" + "---|" * (len(methods) * len(MODES))]
    for gate in GATES:
        lines.append(f"| {shown(gate)}{' (off)' if gate == 0 else ''} | " + " | ".join(
            common.mean_std(gains(val, m, seeds, blocks, mode, gate)) for m in methods for mode in MODES) + " |")
    return lines + ["", "Chosen on val: " + "; ".join(f"{common.TITLES[m]} {mode} {shown(picks[m, mode])}"
                                                       for m in methods for mode in MODES) + ".", ""]


def report_val_only(val: dict, picks: dict, args, minutes: float, models: list[Path], each: dict | None) -> str:
    """``--test-blocks 0``: the validation people alone, with the aims' gains read on them (not judged: no test
    person is scored)."""
    blocks = list(range(args.blocks))
    lines = _val_lines(val, picks, args, each, "no test people scored")
    none = {m: [np.mean([val[m, s, b, "none", 0.0] for b in blocks]) for s in args.seeds] for m in args.methods}
    lines += ["PCK without TTP on these people: " + "; ".join(
        f"{common.TITLES[m]} {common.mean_std(none[m])}" for m in args.methods) + ".", "",
              "Issue 13's gain aims read on these validation people with each method's chosen gate (a recipe's "
              "candidacy, not the aims' verdict, which only test people give):", ""]
    for mode in MODES:
        for m in args.methods:
            g = gains(val, m, args.seeds, blocks, mode, picks[m, mode])
            ok = g.mean() >= AIMS[mode] and (len(g) < 2 or g.mean() > 2 * g.std(ddof=1))
            lines.append(f"- {common.TITLES[m]} + {mode} TTP ({shown(picks[m, mode])}): {g.mean():+.2f} "
                         f"({', '.join(f'{x:+.2f}' for x in g)}) against +{AIMS[mode]:g}: "
                         f"{'reached' if ok else 'not reached'} on val")
    lines += common.footer(minutes, models)
    return "\n".join(lines)


def report(val: dict, test: dict, picks: dict, check: tuple[float, float] | None, args, minutes: float,
           models: list[Path], each: dict | None = None) -> str:
    seeds, blocks, methods = args.seeds, list(range(args.blocks)), args.methods
    test_blocks = list(range(args.test_blocks))
    lines = _val_lines(val, picks, args, each, f"{BLOCK * len(test_blocks)} test people to report")
    lines += [f"**Test people** (blocks 0 .. {test_blocks[-1]}; never used for a choice): each method and mode with "
              "the gate off, the best threshold on val and the relative rule; the chosen one marked.", "",
              *([args.test_note, ""] if args.test_note else []),
              "| Method | TTP scenario | gate | PCK | TTP gain (same model) | per seed gain |",
              "|---|---|---|---|---|---|"]
    found = {}
    for m in methods:
        none = [np.mean([test[m, s, b, "none", 0.0] for b in test_blocks]) for s in seeds]
        lines.append(f"| {common.TITLES[m]} | w/o TTP | | {common.mean_std(none)} | | |")
        for mode in MODES:
            for gate in reported_gates(val, m, seeds, blocks, mode):
                g = gains(test, m, seeds, test_blocks, mode, gate)
                found[m, mode, gate] = g
                pck = [np.mean([test[m, s, b, mode, gate] for b in test_blocks]) for s in seeds]
                mark = " (chosen)" if gate == picks[m, mode] and gate != 0 else ""
                lines.append(f"| {common.TITLES[m]} | {mode.capitalize()}{' gated' if gate else ''} | "
                             f"{shown(gate) if gate else 'off'}{mark} | {common.mean_std(pck)} | "
                             f"{common.mean_std(g)} | {', '.join(f'{x:+.2f}' for x in g)} |")
    lines += _per_block(test, picks, methods, seeds, test_blocks)
    lines += ["", "Aims (issue 13, checked on the test rows above with each method's chosen gate):", ""]
    for mode in MODES:
        for m in methods:
            g = found[m, mode, picks[m, mode]]
            ok = g.mean() >= AIMS[mode] and (len(g) < 2 or g.mean() > 2 * g.std(ddof=1))
            spread = f" (std {g.std(ddof=1):.2f})" if len(g) > 1 else ""
            lines.append(f"- {common.TITLES[m]} + {mode} TTP ({shown(picks[m, mode])}) gains at least "
                         f"+{AIMS[mode]:g}, more than twice the std of the per-seed gains: {g.mean():+.2f}{spread}: "
                         f"{'met' if ok else 'NOT met'}")
        if "transformer" in methods and "keypoint" in methods:
            ours, theirs = found["transformer", mode, picks["transformer", mode]], \
                found["keypoint", mode, picks["keypoint", mode]]
            lines.append(f"- The Transformer gains more from {mode} TTP than the feature-shared keypoint method (each "
                         f"gated as chosen): {ours.mean():+.2f} vs {theirs.mean():+.2f}: "
                         f"{'met' if ours.mean() > theirs.mean() else 'NOT met'}")
    if "keypoint" not in methods:
        lines.append("- The Transformer against the keypoint method: not measured in this run (--methods).")
    if check is not None:
        lines += ["", f"Check (step 5): the first seed's Transformer on test block 0, online, run through "
                  f"`ttpose.evaluate` with {setting(picks['transformer', 'online'])}: PCK {check[0]:.4f}; "
                  f"replayed on the saved predictions: {check[1]:.4f} (the replay takes the trained model's own "
                  "predictions from the no-TTP cell, made 64 frames at a time; the library's online gate makes them "
                  "one frame at a time, and under bf16 autocast a joint can land a heatmap step apart)."]
    lines += common.footer(minutes, models)
    return "\n".join(lines)


def _per_block(test: dict, picks: dict, methods: list[str], seeds: list[int], blocks: list[int]) -> list[str]:
    """The test gain of each method and mode with its chosen gate, block by block (mean over seeds): whether a
    difference between the methods holds across blocks or comes from a few. Nothing with one block."""
    if len(blocks) < 2:
        return []
    cols = [(m, mode) for mode in MODES for m in methods]
    lines = ["", "Test gain by block of 16 people, each method with its chosen gate (mean over seeds):", "",
             "| block | " + " | ".join(f"{common.TITLES[m]} {mode} ({shown(picks[m, mode])})" for m, mode in cols)
             + " |", "|---|" + "---|" * len(cols)]
    for b in blocks:
        lines.append(f"| {b} | " + " | ".join(
            f"{gains(test, m, seeds, [b], mode, picks[m, mode]).mean():+.2f}" for m, mode in cols) + " |")
    return lines


def reported_gates(val: dict, method: str, seeds: list[int], blocks: list[int], mode: str) -> list:
    """The gates a test table shows for ``method`` in ``mode``: off, the best threshold on val, the relative rule."""
    return list(dict.fromkeys((0.0, chosen(val, method, seeds, blocks, mode, among=TAUS), RELATIVE)))


def _people_lines(each: dict | None, method: str, seeds: int) -> list[str]:
    """Why a gate: the val people by their PCK without TTP, and how the trained model's confidence follows it."""
    if each is None:
        return []
    lines = [f"Why (validation people, {common.TITLES[method]}, the gate off; one row per person and model seed, "
             f"{seeds} seeds): TTP's gain by the person's PCK without TTP, and the correlation of the trained model's "
             "mean heatmap maximum on a person with its PCK on that person: "
             f"{np.corrcoef(each['confidence'], each['none'])[0, 1]:.2f}.", "",
             "| PCK without TTP | people x seeds | online gain | offline gain | mean confidence |",
             "|---|---|---|---|---|"]
    for lo, hi in BANDS:
        m = (each["none"] >= lo) & (each["none"] < hi)
        if m.any():
            lines.append(f"| {lo}-{min(hi, 100)} | {m.sum()} | {each['online'][m].mean():+.2f} | "
                         f"{each['offline'][m].mean():+.2f} | {each['confidence'][m].mean():.2f} |")
    return lines + [""]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default="runs/table1avx512", help="Table 1's runs folder")
    parser.add_argument("--methods", nargs="+", default=["transformer", "keypoint"],
                        choices=["transformer", "keypoint"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--blocks", type=int, default=4, help="blocks of 16 validation people (and of test people)")
    parser.add_argument("--test-blocks", type=int, default=None,
                        help="blocks of 16 test people, if not --blocks (the choice on val does not depend on it); 0: "
                             "the validation people alone (a recipe's gated val gains; no test person is scored)")
    parser.add_argument("--test-note", default="",
                        help="a paragraph under the test people's heading: why this many, what was known when it "
                             "was decided (written into the section as given)")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--section", default="confidence_gate")
    args = parser.parse_args(argv)
    args.test_blocks = args.blocks if args.test_blocks is None else args.test_blocks
    if args.blocks < 1 or args.test_blocks < 0:
        parser.error("--blocks must be at least 1 and --test-blocks at least 0")
    started = time.time()
    models, digests = common.table1_models(parser, args.runs, {(m, s): f"{m}-seed{s}" for m in args.methods
                                                               for s in args.seeds})
    blocks, test_blocks = list(range(args.blocks)), list(range(args.test_blocks))

    def run(split: str) -> dict:
        tasks = [(args.runs, m, s, split, b, mode, str(models[m, s]), digests[m, s])
                 for mode in (*MODES, "none") for b in (blocks if split == "val" else test_blocks)
                 for m in args.methods for s in args.seeds]
        found = common.run_cells(cell, tasks, args.processes)
        return {(t[1], t[2], split, t[4], t[5]): {**r, "path": cell_path(*t[:6]), "checkpoint": t[6]}
                for t, r in found.items()}

    val_cells = run("val")
    each = people(val_cells, args.methods[0], args.seeds, "val", blocks)
    val = replayed(val_cells, args.methods, args.seeds, "val", blocks, GATES)
    picks = {(m, mode): chosen(val, m, args.seeds, blocks, mode) for m in args.methods for mode in MODES}
    print(f"chosen on val: {picks}", flush=True)
    if not test_blocks:
        text = report_val_only(val, picks, args, (time.time() - started) / 60, list(models.values()), each)
        print(text)
        common.write_section(args.section, text)
        return
    test_cells = run("test")
    gates = list(dict.fromkeys(g for m in args.methods for mode in MODES for g in reported_gates(val, m, args.seeds,
                                                                                              blocks, mode)))
    test = replayed(test_cells, args.methods, args.seeds, "test", test_blocks, gates)
    check = None
    if "transformer" in args.methods and picks["transformer", "online"] != 0:
        s, tau = args.seeds[0], picks["transformer", "online"]
        library = cell(args.runs, "transformer", s, "test", 0, "online", str(models["transformer", s]),
                       digests["transformer", s], gate=tau)
        check = (library["pck"], test["transformer", s, 0, "online", tau])
    text = report(val, test, picks, check, args, (time.time() - started) / 60, list(models.values()), each)
    print(text)
    common.write_section(args.section, text)


if __name__ == "__main__":
    main()
