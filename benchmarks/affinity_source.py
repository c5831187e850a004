"""Which factor of Eq. 8 carries the Transformer's TTP gain: the affinity W or the self-supervised maps H_self?

    python benchmarks/affinity_source.py --runs runs/table1avx512 --seeds 0 --processes 2   # 16 val people

After TTP (online or offline, the config's settings, as `ttpose.evaluate` runs it), every frame's supervised
heatmaps are formed four ways from the trained model (t) and the personalized one (p), H_sup = H_self W^T with
(W_p, H_p): the paper's TTP; (W_t, H_p): the affinity of the trained model, i.e. the frozen Transformer read on the
frozen encoder; (W_p, H_t); (W_t, H_t): no TTP. The paper freezes the Transformer but feeds it the personalized
encoder's features, so W moves with TTP too; this splits the gain between the two factors (issue 13: whether the
Transformer can gain more than the feature-shared keypoint method). Validation people only (the config's val
split, ``--people`` of them); each (seed, mode, person) is one cell in a worker process of one torch thread.
Predictions are computed under the config's ttp.speed autocast, as `Personalizer.predict` does.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks import common  # noqa: E402
from benchmarks.more_test_people import split_person  # noqa: E402
from benchmarks.throughput import CONFIG  # noqa: E402

CACHE = common.REPO / "runs" / "affinity_source"
COMBOS = {  # name -> (W personalized, H_self personalized), description
    "paper": ((True, True), "W and H_self of the personalized model (the paper's TTP)"),
    "w_trained": ((False, True), "W of the trained model, H_self personalized"),
    "h_trained": ((True, False), "W personalized, H_self of the trained model"),
    "none": ((False, False), "both of the trained model (no TTP)"),
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", default="runs/table1avx512")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--modes", nargs="+", choices=["online", "offline"], default=["online", "offline"])
    p.add_argument("--people", type=int, default=16, help="validation people (the first N of the val split)")
    p.add_argument("--processes", type=int, default=1)
    p.add_argument("--section", default="affinity_source")
    p.add_argument("--results", type=Path, default=common.RESULTS)
    p.add_argument("overrides", nargs="*", help="config overrides (e.g. ttp.relative_gate=true is NOT applied here)")
    return p


@torch.no_grad()
def factors(model, images: torch.Tensor, speed) -> tuple[torch.Tensor, torch.Tensor]:
    """(W: N x K x k_self, H_self: N x k_self x h x w) of ``model`` on normalised crops, under ``speed``."""
    from ttpose.speed import autocast, prepare_input

    with autocast(speed, images.device):
        features = model.encoder(model.model_input(prepare_input(images, speed)))
        return model.sup_head.affinity(features), model.self_head(features)


def combo_predictions(trained, tuner, video, indices: np.ndarray, speed) -> dict:
    """Every `COMBOS` entry's predictions of ``video[indices]``: trained / personalized factors mixed (Eq. 8)."""
    from ttpose.data.pairs import frames_batch
    from ttpose.inference import decode_output
    from ttpose.model.heads import mix_heatmaps
    from ttpose.model.ttp import TTPOutput
    from ttpose.speed import autocast

    images = frames_batch(video, indices, trained.config.input_size)
    was_training = tuner.model.training
    tuner.model.eval()
    t, p = factors(trained, images, speed), factors(tuner.model, images, speed)
    tuner.model.train(was_training)
    out = {}
    for name, ((w_p, h_p), _) in COMBOS.items():
        with autocast(speed, images.device):
            heatmaps = mix_heatmaps((p if w_p else t)[0], (p if h_p else t)[1])
        pred = decode_output(TTPOutput(sup_heatmaps=heatmaps), video.centers[indices], video.sizes[indices],
                             trained.config.input_size, trained.config.label_origin)
        out[name] = replace(pred, frame_index=np.asarray(indices))
    return out


def cached_cell(path: str, key: str, checkpoint: str, overrides: tuple, mode: str, person: int, seed: int) -> dict:
    """`cell`, cached at ``path`` (an npz of each combination's frame indices, joints and scores, with ``key``, the
    cell's settings as JSON text); a cell without every combination is computed again."""
    from ttpose.atomic import atomic_path

    saved = common.cached(Path(path), json.loads(key))
    if saved is None or any(f"{name}/{part}" not in saved for name in COMBOS for part in ("index", "joints")):
        found = cell(checkpoint, overrides, mode, person, seed)
        saved = {f"{name}/{part}": a for name, arrays in found.items()
                 for part, a in zip(("index", "joints", "scores"), arrays, strict=True)}
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(Path(path)) as tmp, open(tmp, "wb") as f:
            np.savez(f, key=key, **saved)
    return {name: tuple(saved[f"{name}/{part}"] for part in ("index", "joints", "scores")) for name in COMBOS}


def cell(checkpoint: str, overrides: tuple, mode: str, person: int, seed: int) -> dict:
    """One person's TTP (``mode``) with the config's settings and TTP seed ``seed`` (as `ttpose.evaluate` runs
    it; Table 1 and recipe_val use the model's seed); returns each combination's joints (N x K x 2), scores and
    frame indices."""
    from ttpose.checkpoint import load_checkpoint
    from ttpose.config import load_config
    from ttpose.inference import Predictions
    from ttpose.personalization import Personalizer, personalize_offline
    from ttpose.speed import prediction_model

    torch.set_num_threads(1)
    cfg = load_config(CONFIG, list(overrides))
    video = split_person(cfg, "val", person)
    model = load_checkpoint(checkpoint).eval()  # the trained factors in eval mode whatever ttp.speed asks
    config = replace(cfg.ttp, mode=mode)
    if config.confidence_gate > 0 or config.relative_gate or config.reset_every:
        raise SystemExit("affinity_source: the confidence gates and ttp.reset_every are not applied here; run "
                         "without them")
    trained = prediction_model(model, config.speed)
    tuner = Personalizer(model, config, None, seed)
    rng = np.random.default_rng(seed)
    if mode == "offline":
        personalize_offline(tuner, video, rng, progress=False)
        found = combo_predictions(trained, tuner, video, np.arange(len(video)), config.speed)
    else:
        parts = {name: [] for name in COMBOS}
        for t in range(len(video)):
            if tuner.due(t):
                tuner.online_update(video, t, rng)
            for name, pred in combo_predictions(trained, tuner, video, np.array([t]), config.speed).items():
                parts[name].append(pred)
        found = {name: Predictions.concat(p) for name, p in parts.items()}
    return {name: (pred.frame_index, pred.joints, pred.scores) for name, pred in found.items()}


@torch.no_grad()
def affinity_spread(checkpoint: str, people: list) -> dict:
    """How much the trained model's W (Eq. 7) varies: the std of each entry over a video's frames and over all
    frames of all ``people``, each averaged over the K x k_self entries, and the mean of each row's largest entry
    (1 / k_self for a uniform row), in float32 without the speed options."""
    from ttpose.checkpoint import load_checkpoint
    from ttpose.data.pairs import frames_batch

    model = load_checkpoint(checkpoint).eval()
    per_video = [factors(model, frames_batch(v, np.arange(len(v)), model.config.input_size), None)[0]
                 for v in people]  # each N x K x k_self
    every = torch.cat(per_video)
    return {"within": float(torch.stack([w.std(0).mean() for w in per_video]).mean()),
            "across": float(every.std(0).mean()), "row_max": float(every.max(-1).values.mean()),
            "uniform": 1 / every.shape[-1]}


def pck_of(cells: dict, people: list, skeleton) -> dict:
    """PCK@0.2 over ``people`` per (seed, mode, combination) from the cells' joints."""
    from ttpose.evaluate import evaluate_predictions
    from ttpose.inference import Predictions

    out = {}
    for (seed, mode), per_person in cells.items():
        for name in COMBOS:
            items = []
            for video, found in zip(people, per_person, strict=True):
                index, joints, scores = found[name]
                items.append((video, index, Predictions(index, joints, scores)))
            out[seed, mode, name] = evaluate_predictions(items, skeleton).mean
    return out


def markdown(pck: dict, seeds: list[int], modes: list[str], people: int, minutes: float, models: list,
             spread: dict | None = None) -> str:
    lines = [f"## Where the Transformer's TTP gain sits: W or H_self (validation people, {people} x 96 frames; mean "
             "± std over seeds)", "",
             "After TTP every frame's heatmaps H_sup = H_self W^T are formed with each factor from the trained (t) "
             "or the personalized (p) model. The paper's TTP uses (W_p, H_p): the Transformer is frozen but reads "
             "the personalized encoder. Gains are paired with the same model's (W_t, H_t) (no TTP).", "",
             "| W, H_self | " + " | ".join(f"{m} | {m} gain" for m in modes) + " |",
             "|---|" + "---|---|" * len(modes)]
    for name, (_, words) in COMBOS.items():
        cells = []
        for mode in modes:
            values = [pck[s, mode, name] for s in seeds]
            gains = [pck[s, mode, name] - pck[s, mode, "none"] for s in seeds]
            signed = f"{np.mean(gains):+.2f}" + (f" ± {np.std(gains, ddof=1):.2f}" if len(gains) > 1 else "")
            cells += [common.mean_std(values), signed if name != "none" else "-"]
        lines.append(f"| {words} | " + " | ".join(cells) + " |")
    lines += ["", f"Seeds: {', '.join(map(str, seeds))} (one model each; TTP seed = the model's seed, as Table 1 and "
              "benchmarks/recipe_val.py). Per seed, the gains of the paper's TTP: " + "; ".join(
                  f"seed {s} " + " / ".join(f"{pck[s, m, 'paper'] - pck[s, m, 'none']:+.2f} {m}" for m in modes)
                  for s in seeds) + ".",
              "", "The no-TTP row differs slightly between online and offline (frames predicted one at a time or "
              "in batches: bf16 rounding); differences of that size (about 0.1 PCK) are not an effect."]
    if spread:
        lines += ["", "How much the trained model's W varies on these people (std of an entry, averaged over the "
                  "entries; per seed): " + "; ".join(
                      f"seed {s}: {d['within']:.4f} over a video's frames, {d['across']:.4f} over all frames, "
                      f"largest entry of a row {d['row_max']:.3f} on average (uniform: {d['uniform']:.3f})"
                      for s, d in spread.items()) + "."]
    lines += common.footer(minutes, models)
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    from ttpose.config import load_config

    started = time.time()
    models, digests = common.table1_models(parser, args.runs, {s: f"transformer-seed{s}" for s in args.seeds})
    overrides = tuple(args.overrides)
    cfg = load_config(CONFIG, list(overrides))
    tasks = {}
    for s in args.seeds:
        for mode in args.modes:
            for i in range(args.people):  # the key: the person's TTP settings and data, not the number of people
                key = common.cell_key(replace(cfg, seed=s), mode, checkpoint=digests[s], person=i,
                                      script="affinity_source")  # TTP seed = the model's seed, as Table 1
                text = json.dumps(key, sort_keys=True)
                name = f"{digests[s][:16]}-{mode}-{i}-{hashlib.sha256(text.encode()).hexdigest()[:8]}.npz"
                tasks[s, mode, i] = (str(CACHE / name), text, str(models[s]), overrides, mode, i, s)
    done = common.run_cells(cached_cell, list(tasks.values()), args.processes)
    people = [split_person(cfg, "val", i) for i in range(args.people)]
    from ttpose.skeletons import get_skeleton

    cells = {(s, mode): [done[tasks[s, mode, i]] for i in range(args.people)]
             for s in args.seeds for mode in args.modes}
    pck = pck_of(cells, people, get_skeleton(cfg.model.skeleton))
    spread = {s: affinity_spread(str(models[s]), people) for s in args.seeds}
    text = markdown(pck, args.seeds, args.modes, args.people, (time.time() - started) / 60, list(models.values()),
                    spread)
    common.write_section(args.section, text, args.results)
    print(text)


if __name__ == "__main__":
    main()
