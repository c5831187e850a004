"""`ttpose demo`: the whole method in a few minutes on a laptop CPU, on synthetic people.

    from ttpose.demo import run_demo
    result = run_demo("runs/demo")          # train, personalize online and offline, report
    result.pck                               # {"none": ..., "online": ..., "offline": ...}

Steps: generate synthetic people (`ttpose.data.synthetic`; the test people wear colours and textures the
training people never show), jointly train a small Transformer model (L_sup + lambda L_self, Eq. 10),
personalize it to each unseen test person online and offline with L_self only (Sec. 3.2), and report PCK@0.2
without and with personalization. Pictures: ``before_after.png`` (generic vs. personalized skeletons on a
few test frames) and ``affinity.png`` / ``affinity_matrix.png`` (the paper's Fig. 5 idea: arrows from
self-supervised keypoints to the supervised joints where W > 0.1, and W itself).

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
from ttpose.checkpoint import load_checkpoint, read_checkpoint
from ttpose.config import Config, config_from_dict, to_dict
from ttpose.data.build import load_videos
from ttpose.evaluate import evaluate
from ttpose.model import TTPModel
from ttpose.training import train
from ttpose.viz import affinity_matrix_figure, draw_affinity, image_strip, overlay_two

# The demo's configuration: the paper's recipe (Transformer head, 30 self-supervised keypoints, Adam, joint
# loss), shrunk to run on 2 CPU cores: 64 x 64 crops, a ResNet-18 at 1/4 width, narrow deconvolutions,
# encoders and renderer, pixel L2 as L_self (no VGG-16 weights can be downloaded), 4 test people.
DEMO = {
    "model": {"backbone": "resnet18", "backbone_width": 16, "skeleton": "penn_action", "input_size": 64,
              "num_maps": 30, "sup_head": "transformer", "self_task": "keypoint", "deconv_channels": 64,
              "encoder_widths": [16, 32, 64, 64], "renderer_widths": [64, 32, 16, 16], "transformer_heads": 4,
              "transformer_ff": 256},
    "loss": {"lam": 1e-3, "perceptual": "pixel"},
    "data": {"dataset": "synthetic", "train_videos": 200, "val_videos": 4, "test_videos": 4, "frames_per_video": 32,
             "frame_size": 96, "shift": 0.5},
    "train": {"batch_size": 32, "lr": 1e-3, "steps": 400, "lr_steps": [300], "log_every": 25, "val_every": 0,
              "checkpoint_every": 100},
    "ttp": {"lr": 1e-5, "batch_size": 16, "steps_per_frame": 1},
}
# Tiny sizes for tests of the demo's plumbing (seconds, meaningless numbers).
QUICK = ["train.steps=4", "train.lr_steps=[2]", "data.train_videos=4", "data.test_videos=2",
         "data.frames_per_video=4", "ttp.batch_size=2", "train.batch_size=4", "train.checkpoint_every=2"]
PAPER_MODEL = "ResNet-50 at full width, 128 x 128 crops, 256-channel deconvolutions, VGG-16 perceptual loss"


@dataclass
class DemoResult:
    pck: dict[str, float]  # TTP mode -> PCK@0.2 on the test people
    out_dir: Path
    pictures: list[Path] = field(default_factory=list)
    parameters: int = 0
    seconds: float = 0.0


def demo_config(out_dir: str | Path = "runs/demo", overrides: list[str] = ()) -> Config:
    """The demo's `Config` (``DEMO``) with dotted ``overrides`` applied and ``output_dir`` set."""
    return config_from_dict({**DEMO, "output_dir": str(out_dir)}, list(overrides))


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


def _finished(cfg: Config) -> TTPModel | None:
    """The model of a finished earlier demo run with the same config in ``cfg.output_dir``, else None."""
    path = Path(cfg.output_dir) / "model.safetensors"
    if not path.is_file():
        return None
    saved, _, _ = read_checkpoint(path)
    return load_checkpoint(path) if to_dict(saved) == to_dict(cfg) else None


def _save_png(path: Path, rgb: np.ndarray) -> Path:
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"could not encode {path}")
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data.tobytes())
    return path


def _pictures(out: Path, model: TTPModel, video, generic, online, zoom: int = 4) -> list[Path]:
    """before_after.png (4 frames) and the Fig. 5-style affinity pictures of the video's last frame."""
    frames = np.linspace(0, len(video) - 1, 4).round().astype(int)
    big = [cv2.resize(np.asarray(video.images[t]), None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)
           for t in frames]
    tiles = [overlay_two(im, generic.joints[t] * zoom, online.joints[t] * zoom, model.skeleton,
                         labels=("generic", "personalized (online)")) for im, t in zip(big, frames, strict=True)]
    paths = [_save_png(out / "before_after.png", image_strip(tiles, titles=[f"frame {t}" for t in frames]))]
    if online.affinity is not None and online.self_keypoints is not None:
        t = frames[-1]
        canvas, _ = draw_affinity(big[-1], online.self_keypoints[t] * zoom, online.joints[t] * zoom,
                                  online.affinity[t], threshold=0.1)
        paths.append(_save_png(out / "affinity.png", canvas))
        paths.append(affinity_matrix_figure(online.affinity[t], model.skeleton.joint_names, out / "affinity_matrix.png",
                                            title="affinity W after online personalization (last frame)"))
    return paths


def run_demo(out_dir: str | Path = "runs/demo", overrides: list[str] = (), quick: bool = False,
             progress: bool = True, log=print) -> DemoResult:
    """Train (or reuse a finished run in ``out_dir``), personalize online/offline, report; see the module doc."""
    started = time.time()
    cfg = demo_config(out_dir, [*(QUICK if quick else []), *overrides])
    out = Path(cfg.output_dir)
    log(f"ttpose demo: training a small Transformer model on {cfg.data.train_videos} synthetic people "
        f"({cfg.train.steps} steps) -> {out}")
    model = _finished(cfg) or train(cfg, resume=True, progress=progress).model
    log(model_statement(model, cfg.loss.perceptual))
    videos = load_videos(cfg.data, "test")
    log(f"personalizing to {len(videos)} unseen test people ({cfg.data.frames_per_video} frames each, "
        f"appearance shift {cfg.data.shift:g}) with L_self only, lr {cfg.ttp.lr:g}, batch {cfg.ttp.batch_size}")
    pck, preds = {}, {}
    for mode in ("none", "online", "offline"):
        evaluation, preds[mode] = evaluate(model, videos, mode, cfg.ttp, seed=cfg.seed, progress=progress)
        pck[mode] = evaluation.mean
    pictures = _pictures(out, model, videos[0], preds["none"][0], preds["online"][0])
    result = DemoResult(pck, out, pictures, sum(p.numel() for p in model.parameters()), time.time() - started)
    rows = [f"  {name:<28}PCK@0.2 {pck[mode]:6.2f}" + ("" if mode == "none" else f"  ({pck[mode] - pck['none']:+.2f})")
            for mode, name in (("none", "without personalization"), ("online", "online personalization"),
                               ("offline", "offline personalization"))]
    log("\n".join(["results on the unseen test people:", *rows]))
    summary = {"pck": pck, "parameters": result.parameters, "seconds": round(result.seconds, 1),
               "pictures": [p.name for p in pictures], "statement": model_statement(model, cfg.loss.perceptual)}
    atomic_write_text(out / "demo.json", json.dumps(summary, indent=2))
    log(f"pictures: {', '.join(str(p) for p in pictures)}; summary: {out / 'demo.json'} "
        f"({result.seconds / 60:.1f} min)")
    return result


__all__ = ["DEMO", "DemoResult", "demo_config", "model_statement", "run_demo"]
