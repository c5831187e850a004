"""`ttpose demo`: the whole method in a few minutes on a laptop CPU, on synthetic people.

    from ttpose.demo import run_demo
    result = run_demo("runs/demo")              # shipped model: personalize online and offline, report
    result = run_demo("runs/demo-train", train=True)   # train it from scratch first (`ttpose demo --train`)
    result.pck                                   # {"none": ..., "online": ..., "offline": ...}

Steps: generate synthetic people (`ttpose.data.synthetic`; the test people wear colours and textures the
training people never show), take the small Transformer model jointly trained on the training people
(L_sup + lambda L_self, Eq. 10): the one shipped in ``ttpose/demo_model/`` (made by ``ttpose demo --train``,
its config, log and SHA-256 beside it), or train it now with ``train=True``; personalize it to each unseen
test person online and offline with L_self only (Sec. 3.2; several people at once, one process per torch
thread: `ttpose.people`), and report PCK@0.2 without and with personalization. Pictures:
``before_after.png`` (generic vs. personalized skeletons on the test frames where personalization fixed the most
joints) and ``affinity.png`` / ``affinity_matrix.png`` (the paper's Fig. 5
idea: arrows from self-supervised keypoints to the supervised joints where W > 0.1, and W itself).

The model is deliberately tiny (see `DEMO` and the printed statement): it shows the mechanics, not the
paper's accuracy. `benchmarks/table1_synthetic.py` is the measured experiment.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ttpose.atomic import atomic_path, atomic_write_text
from ttpose.checkpoint import CheckpointError, load_checkpoint, read_checkpoint
from ttpose.config import Config, ConfigError, config_from_dict
from ttpose.data.build import load_videos
from ttpose.evaluate import PCK_THRESHOLD, evaluate, evaluate_predictions
from ttpose.metrics import torso_size
from ttpose.model import TTPModel
from ttpose.people import auto_workers, threads_per_worker
from ttpose.speed import describe, fast_speed
from ttpose.training import train as train_model
from ttpose.training import training_settings
from ttpose.viz import affinity_matrix_figure, draw_affinity, image_strip, overlay_two
from ttpose.weights import file_sha256

# The demo's configuration: the synthetic Table 1 recipe (configs/synthetic/cpu.yaml: Transformer head, 30
# self-supervised keypoints, Adam, joint loss, the authors' initialisation, Gaussians 2 pixels wide on a 32 x 32
# grid, scaled to this one; 3000 steps), shrunk to run on 2 CPU cores: 64 x 64 crops, a ResNet-18 at half width,
# narrow deconvolutions, encoders and renderer (the reconstruction path about twice the pose path's cost, as in
# the paper's model), pixel L2 as L_self (no VGG-16 weights can be downloaded). Its test people are the Table 1
# benchmark's at shift 0.5 (the benchmark itself now uses 0.375, stratified), 16 of them with 48-frame clips so that
# personalizing them online and offline takes minutes. The shipped model is the Table 1 Transformer of seed 0
# (same training, same seed). TTP settings chosen on 16 validation people x 48 frames with this very model
# (benchmarks/RESULTS.md, sections tune_long3000 and tune_long3000_lr1e-4: the paper's lr 1e-4 gained +3.59
# online / +2.88 offline there, 3e-5 +2.73 / +2.82), with the speed options (channels-last, folded BatchNorm,
# bf16 autocast where the CPU has bf16 units: `ttpose.speed.fast_speed`), which left the gains unchanged on val
# and halve an update's time (sections tune_demo_16x48, tune_demo_fast); and the pose encoder's first conv on
# the Gaussians' profiles (``separable_gaussians``: the same numbers to float rounding; without it a CPU with no
# bf16 units took 10 min 17 s, with it 483-572 s: benchmarks/DEMO_REPEATS.log). The previous demo model (1000 steps,
# 3e-5) printed +1.22 / +0.99 on the test people: its val gains (+2.24 / +4.32) did not carry over; two updates
# per frame took it over its 10 minutes (benchmarks/DEMO_REPEATS.log).
DEMO = {
    "model": {"backbone": "resnet18", "backbone_width": 32, "skeleton": "penn_action", "input_size": 64,
              "num_maps": 30, "sup_head": "transformer", "self_task": "keypoint", "deconv_channels": 64,
              "encoder_widths": [8, 16, 32, 64], "renderer_widths": [64, 32, 16, 8], "transformer_heads": 4,
              "transformer_ff": 256},
    "loss": {"lam": 1e-3, "perceptual": "pixel"},
    "data": {"dataset": "synthetic", "train_videos": 300, "val_videos": 16, "test_videos": 16, "frames_per_video": 96,
             "test_frames": 48, "frame_size": 96, "shift": 0.5},
    "train": {"batch_size": 32, "lr": 1e-3, "steps": 3000, "lr_steps": [2250, 2700], "log_every": 25, "val_every": 0,
              "checkpoint_every": 250},
    "ttp": {"lr": 1e-4, "batch_size": 16, "steps_per_frame": 1, "speed": {"channels_last": True, "fold_bn": True,
                                                                          "separable_gaussians": True}},
}
# Tiny sizes for tests of the demo's plumbing (seconds, meaningless numbers).
QUICK = ["train.steps=4", "train.lr_steps=[2]", "data.train_videos=4", "data.test_videos=2",
         "data.frames_per_video=4", "data.test_frames=4", "ttp.batch_size=2", "train.batch_size=4",
         "train.checkpoint_every=2"]
# The shipped model: `ttpose demo --train` with DEMO, copied here by benchmarks/ship_demo_model.py (its config,
# training log and SHA-256 beside it).
SHIPPED_MODEL = Path(__file__).resolve().parent / "demo_model" / "model.safetensors"
SHIPPED_SHA256 = SHIPPED_MODEL.with_name("model.sha256")
PAPER_MODEL = "ResNet-50 at full width, 128 x 128 crops, 256-channel deconvolutions, VGG-16 perceptual loss"


@dataclass
class DemoResult:
    pck: dict[str, float]  # TTP mode -> PCK@0.2 on the test people
    out_dir: Path
    pictures: list[Path] = field(default_factory=list)
    parameters: int = 0
    seconds: float = 0.0


def demo_config(out_dir: str | Path = "runs/demo", overrides: list[str] = ()) -> Config:
    """The demo's `Config` (``DEMO``, with bf16 autocast for personalization where the CPU has bf16 units) with
    dotted ``overrides`` applied and ``output_dir`` set."""
    machine = [f"ttp.speed.precision={fast_speed('cpu').precision}"]
    return config_from_dict({**DEMO, "output_dir": str(out_dir)}, [*machine, *overrides])


def model_statement(model: TTPModel, perceptual: str = "pixel") -> str:
    """One honest sentence on how small the demo's model is next to the paper's (``perceptual``: its
    ``loss.perceptual``)."""
    c = model.config
    params = sum(p.numel() for p in model.parameters())
    loss = "pixel L2 instead of the VGG-16 perceptual loss" if perceptual == "pixel" else "the VGG-16 perceptual loss"
    return (f"This demo's model is tiny: {params / 1e6:.2f} M parameters ({c.backbone} at width "
            f"{c.backbone_width}, {c.input_size} x {c.input_size} crops, {loss}), trained for minutes on synthetic "
            f"people. The paper's: {PAPER_MODEL}, trained for hours on a "
            f"GPU. Its numbers show the mechanics, not the paper's accuracy.")


def _training_part(cfg: Config) -> dict:
    """What decides the trained weights (`ttpose.training.training_settings`): other TTP settings, test people
    or logging intervals need no retraining."""
    return training_settings(cfg)


def shipped_model(cfg: Config | None = None) -> TTPModel:
    """The demo's shipped model (``SHIPPED_MODEL``), checked against its recorded SHA-256 and, when ``cfg`` is
    given, against the training part of that config (a different recipe needs ``ttpose demo --train``)."""
    recorded = SHIPPED_SHA256.read_text().split()[0] if SHIPPED_SHA256.is_file() else None
    if not SHIPPED_MODEL.is_file() or recorded is None:
        raise FileNotFoundError(f"the demo's model is missing ({SHIPPED_MODEL}); run `ttpose demo --train`")
    digest = file_sha256(SHIPPED_MODEL)
    if digest != recorded:
        raise CheckpointError(f"{SHIPPED_MODEL}: SHA-256 {digest[:12]}... is not the recorded {recorded[:12]}...; "
                              "the file is damaged (git lfs? a partial copy?); run `ttpose demo --train`")
    saved, _, _ = read_checkpoint(SHIPPED_MODEL)
    if cfg is not None and _training_part(saved) != _training_part(cfg):
        raise ConfigError("these overrides change how the demo's model is trained; add --train to train it "
                          "with them (the shipped model was trained with the default demo recipe)")
    return load_checkpoint(SHIPPED_MODEL)


def _finished(cfg: Config) -> TTPModel | None:
    """The model of a finished earlier demo run in ``cfg.output_dir`` trained as ``cfg`` asks (the same
    `_training_part`: other TTP settings or test people need no retraining), else None."""
    path = Path(cfg.output_dir) / "model.safetensors"
    if not path.is_file():
        return None
    saved, _, _ = read_checkpoint(path)
    return load_checkpoint(path) if _training_part(saved) == _training_part(cfg) else None


def _save_png(path: Path, rgb: np.ndarray) -> Path:
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"could not encode {path}")
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data.tobytes())
    return path


def fixed_joints(video, generic, personalized, skeleton) -> np.ndarray:
    """Per frame: joints correct (PCK@0.2 torso) after personalization minus joints correct before."""
    gt, visible = video.joints, video.visible
    tolerance = PCK_THRESHOLD * torso_size(gt, skeleton)[:, None]  # N x 1

    def hits(pred):
        return ((np.linalg.norm(pred.joints - gt, axis=-1) <= tolerance) & visible).sum(axis=1)

    return hits(personalized) - hits(generic)


def _pictures(out: Path, model: TTPModel, videos, generic, online, zoom: int = 4, count: int = 4) -> list[Path]:
    """before_after.png: the ``count`` test frames where online personalization fixed the most joints; the
    Fig. 5-style affinity pictures of the best of them."""
    gains = [(int(g), -i, t) for i, (v, a, b) in enumerate(zip(videos, generic, online, strict=True))
             for t, g in enumerate(fixed_joints(v, a, b, model.skeleton))]
    chosen = [(-i, t, g) for g, i, t in sorted(gains, reverse=True)[:count]]
    big = [cv2.resize(np.asarray(videos[i].images[t]), None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)
           for i, t, _ in chosen]
    tiles = [overlay_two(im, generic[i].joints[t] * zoom, online[i].joints[t] * zoom, model.skeleton,
                         labels=("generic", "personalized (online)"))
             for im, (i, t, _) in zip(big, chosen, strict=True)]
    titles = [f"person {i}, frame {t}: {g:+d} joints" for i, t, g in chosen]  # joints made correct
    paths = [_save_png(out / "before_after.png", image_strip(tiles, titles=titles))]
    i, t, _ = chosen[0]
    pred = online[i]
    if pred.affinity is not None and pred.self_keypoints is not None:
        canvas, _ = draw_affinity(big[0], pred.self_keypoints[t] * zoom, pred.joints[t] * zoom, pred.affinity[t],
                                  threshold=0.1)
        paths.append(_save_png(out / "affinity.png", canvas))
        paths.append(affinity_matrix_figure(pred.affinity[t], model.skeleton.joint_names, out / "affinity_matrix.png",
                                            title=f"affinity W after online personalization ({titles[0]})"))
    return paths


def run_demo(out_dir: str | Path = "runs/demo", overrides: list[str] = (), quick: bool = False,
             progress: bool = True, log=print, train: bool = False, workers: int | None = None) -> DemoResult:
    """Personalize the shipped model (or, with ``train``/``quick``, one trained now in ``out_dir``, reusing a
    finished run there) online and offline, report; see the module doc. The test people are personalized in
    ``workers`` processes (default: one per torch thread, `ttpose.people.auto_workers`)."""
    started = time.time()
    cfg = demo_config(out_dir, [*(QUICK if quick else []), *overrides])
    out = Path(cfg.output_dir)
    if train or quick:
        log(f"ttpose demo: training a small Transformer model on {cfg.data.train_videos} synthetic people "
            f"({cfg.train.steps} steps) -> {out}")
        model = _finished(cfg) or train_model(cfg, resume=True, progress=progress).model
    else:
        model = shipped_model(cfg)
        log(f"ttpose demo: the small Transformer model shipped in {SHIPPED_MODEL.parent} (trained on "
            f"{cfg.data.train_videos} synthetic people, {cfg.train.steps} steps; `ttpose demo --train` retrains "
            f"it) -> {out}")
    log(model_statement(model, cfg.loss.perceptual))
    videos = load_videos(cfg.data, "test")
    workers = workers or auto_workers(len(videos), model)
    log(f"personalizing to {len(videos)} unseen test people ({len(videos[0])} frames each, "
        f"appearance shift {cfg.data.shift:g}) with L_self only, lr {cfg.ttp.lr:g}, batch {cfg.ttp.batch_size}, "
        f"{cfg.ttp.steps_per_frame} update(s) per frame ({describe(cfg.ttp.speed)}), "
        + (f"{workers} people at a time, each in a process of {threads_per_worker(workers)} torch thread(s)"
           if workers > 1 else "one person at a time"))
    pck, preds = {}, {}
    for mode in ("none", "online", "offline"):
        evaluation, preds[mode] = evaluate(model, videos, mode, cfg.ttp, seed=cfg.seed, progress=progress,
                                             workers=workers)
        pck[mode] = evaluation.mean
    pictures = _pictures(out, model, videos, preds["none"], preds["online"])
    result = DemoResult(pck, out, pictures, sum(p.numel() for p in model.parameters()), time.time() - started)
    rows = [f"  {name:<28}PCK@0.2 {pck[mode]:6.2f}" + ("" if mode == "none" else f"  ({pck[mode] - pck['none']:+.2f})")
            for mode, name in (("none", "without personalization"), ("online", "online personalization"),
                               ("offline", "offline personalization"))]
    log("\n".join(["results on the unseen test people:", *rows]))
    per_person = {v.video_id: {mode: round(evaluate_predictions([(v, preds[mode][i].frame_index, preds[mode][i])],
                                                                model.skeleton).mean, 2) for mode in preds}
                  for i, v in enumerate(videos)}
    summary = {"pck": pck, "per_person": per_person, "parameters": result.parameters, "workers": workers,
               "seconds": round(result.seconds, 1), "pictures": [p.name for p in pictures],
               "statement": model_statement(model, cfg.loss.perceptual)}
    atomic_write_text(out / "demo.json", json.dumps(summary, indent=2))
    log(f"pictures: {', '.join(str(p) for p in pictures)}; summary: {out / 'demo.json'} "
        f"({result.seconds / 60:.1f} min)")
    return result


__all__ = ["DEMO", "DemoResult", "demo_config", "fixed_joints", "model_statement", "run_demo", "shipped_model"]
