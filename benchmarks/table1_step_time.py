"""Seconds per joint-training step and per TTP update of the synthetic Table 1's models (configs/synthetic/
cpu.yaml) under each set of speed options, timed side by side in one process (issue 13: the whole Table 1 run
within about 2 hours on the 2-core CPU).

    OMP_NUM_THREADS=1 python benchmarks/table1_step_time.py     # as Table 1 runs its cells; --repeats N

Table 1's compute is almost all joint-training steps (3 methods x 3 seeds x ``train.steps``) and TTP updates
(2 methods x 3 seeds x the test people's frames, online and offline), so these ratios are what a speed
option would change in its wall time. Training variants (``train.speed``, BatchNorm in training mode, so
``fold_bn`` does not apply): every option off, channels-last, separable Gaussians, both, and
bf16 autocast with both where the CPU has bf16 units. TTP variants (``ttp.speed``): cpu.yaml's, what
`ttpose.speed.fast_speed` picks on this machine, bf16 + channels-last + folded BatchNorm (cpu.yaml's before
this study; bf16 is emulated on CPUs without bf16 units), and every option off. Each round times one step
of every variant of a method, the order rotated every round; a variant's figure is its median over the rounds (after
one untimed warm-up step each). Weights and batches are the same for every variant (random initialisation
of seed 0; pairs of synthetic training people). The numbers only change time, not what is computed:
channels-last and separable Gaussians are exact up to float rounding (tests/test_speed.py). Writes the
"table1_step_time" section of benchmarks/SPEED.md (or ``--section``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import SPEED, command, interleaved_seconds, machine, write_section  # noqa: E402
from benchmarks.table1_synthetic import METHODS  # noqa: E402
from ttpose.config import SpeedConfig, load_config  # noqa: E402
from ttpose.data.build import load_videos  # noqa: E402
from ttpose.data.pairs import PairDataset, online_batch  # noqa: E402
from ttpose.losses import ReconstructionLoss  # noqa: E402
from ttpose.model import TTPModel  # noqa: E402
from ttpose.objective import joint_loss  # noqa: E402
from ttpose.personalization import Personalizer  # noqa: E402
from ttpose.speed import autocast, bf16_units, describe, fast_speed, prepare_batch, prepare_model  # noqa: E402
from ttpose.training import augmentation  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "configs/synthetic/cpu.yaml"


class TrainStep:
    """One joint-training step (Eq. 10, Adam) of a fresh copy of ``cfg``'s model under ``speed``."""

    def __init__(self, cfg, speed: SpeedConfig, batch: dict):
        torch.manual_seed(cfg.seed)
        self.model = TTPModel(cfg.model)
        self.recon = ReconstructionLoss(cfg.loss) if cfg.model.self_task == "keypoint" else None
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.train.lr)
        prepare_model(self.model, speed)
        if self.recon is not None:
            prepare_model(self.recon, speed)
        self.model.train()
        self.speed, self.lam, self.batch = speed, cfg.loss.lam, prepare_batch(batch, speed)

    def __call__(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        with autocast(self.speed, device="cpu"):
            losses = joint_loss(self.model, self.batch, self.recon, self.lam, torch.Generator().manual_seed(0))
        losses.total.backward()
        self.optimizer.step()


def rows(seconds: dict, labels: dict, reference: str, count: int) -> list[str]:
    ref = statistics.median(seconds[reference])
    return [f"| {name} | {labels[name]} | {statistics.median(s):.3f} | {min(s):.3f}-{max(s):.3f} | "
            f"{ref / statistics.median(s):.2f}x | {count * statistics.median(s) / 60:.1f} |"
            for name, s in seconds.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=10, help="timed rounds")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--section", default="table1_step_time",
                        help="the results section to write (e.g. one per kind of CPU, keeping the others)")
    args = parser.parse_args()
    started = time.time()
    base = load_config(CONFIG, ["data.train_videos=4"])
    train_variants = {"every option off": SpeedConfig(),
                      "channels-last": SpeedConfig(channels_last=True),
                      "separable Gaussians": SpeedConfig(separable_gaussians=True),
                      "channels-last + separable Gaussians": SpeedConfig(channels_last=True,
                                                                         separable_gaussians=True)}
    if bf16_units():
        train_variants["bf16 + channels-last + separable Gaussians"] = SpeedConfig(
            precision="bf16", channels_last=True, separable_gaussians=True)
    ttp_variants = {"cpu.yaml's ttp.speed": base.ttp.speed, "fast_speed() on this machine": fast_speed(),
                    "bf16 + channels-last + folded BN (cpu.yaml's until this study)": SpeedConfig(
                        precision="bf16", channels_last=True, fold_bn=True),
                    "every option off": SpeedConfig()}
    steps, updates = base.train.steps, 3 * 2 * base.data.test_videos * base.data.frames_per_video  # 3 seeds
    videos = load_videos(base.data, "train")  # the same people for every method
    heatmap_size = TTPModel(base.model).heatmap_size  # every method's: the methods change only the heads
    dataset = PairDataset(videos, base.model.input_size, heatmap_size, augmentation(base), seed=base.seed,
                          sigma=base.target_sigma)
    batch = next(iter(DataLoader(dataset, batch_size=base.train.batch_size, shuffle=False)))
    lines = []
    for method in args.methods:
        cfg = load_config(CONFIG, ["data.train_videos=4", *METHODS[method]])
        seconds = interleaved_seconds({name: TrainStep(cfg, speed, batch) for name, speed in train_variants.items()},
                        args.repeats)
        lines += [f"### {method}: one joint-training step (batch {cfg.train.batch_size})", "",
                  "| variant | options | median s | range s | speed-up vs every option off | "
                  f"x {steps} steps x 3 seeds, min |", "|---|---|---:|---:|---:|---:|",
                  *rows(seconds, {n: describe(s) for n, s in train_variants.items()},
                        "every option off", 3 * steps), ""]
        if cfg.model.self_task != "keypoint":
            continue
        torch.manual_seed(cfg.seed)
        trained = TTPModel(cfg.model).eval()
        video = videos[0]
        tuners = {name: Personalizer(trained, replace(cfg.ttp, speed=speed), ReconstructionLoss(cfg.loss))
                  for name, speed in ttp_variants.items()}  # the config's L_self (a bare model's default: VGG-16)
        pairs = online_batch(video, len(video) - 1, cfg.ttp.batch_size, np.random.default_rng(0),
                             cfg.model.input_size, next(iter(tuners.values())).augmentation)
        seconds = interleaved_seconds({name: (lambda t=t, b=pairs: t.update(b)) for name, t in tuners.items()},
                                      args.repeats)
        lines += [f"### {method}: one TTP update (batch {cfg.ttp.batch_size})", "",
                  "| variant | options | median s | range s | speed-up vs every option off | "
                  f"x {updates // 3} updates x 3 seeds, min |", "|---|---|---:|---:|---:|---:|",
                  *rows(seconds, {n: describe(s) for n, s in ttp_variants.items()}, "every option off", updates),
                  ""]
    text = "\n".join([
        "Written by `benchmarks/table1_step_time.py` from one run; nothing edited by hand.", "",
        f"Command: `{command()}`  ", f"Machine: {machine()}; bf16 units: {'yes' if bf16_units() else 'no'}  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M')}; took {time.time() - started:.0f} s.", "",
        f"The models of `{CONFIG.relative_to(CONFIG.parents[2])}` (random weights of seed 0), {args.repeats} rounds, "
        "variants interleaved. The last column multiplies the median by what Table 1 runs of it: "
        f"{steps} training steps per seed, and {base.data.test_videos} test people x "
        f"{base.data.frames_per_video} frames, online and offline (as many offline updates as online ones), per "
        "seed: a projection at one torch thread per process, not a measured run.", "",
        f"cpu.yaml's train.speed: {describe(base.train.speed)}; its ttp.speed: {describe(base.ttp.speed)}.", "",
        *lines])
    write_section(args.section, text.rstrip() + "\n", SPEED)
    print(text)


if __name__ == "__main__":
    main()
