"""Joint training (Sec. 3.1, Eq. 10): L = L_sup + lambda L_self on (target, source) pairs of one person.

Plain PyTorch: Adam, a step schedule (x lr_factor at each of train.lr_steps), seeded, resumable bit for
bit (`resume=True` continues from ``train_state.safetensors`` in the output folder). Under ``torchrun``
it trains with DistributedDataParallel: each rank takes its share of the global batch through a
`DistributedSampler` (gloo on CPU, NCCL on GPUs). Outputs, all in ``config.output_dir``:

    config.yaml            the full config of the run
    log.csv                step, lr, losses (L_self normalised as Eq. 1 sums it, and the reconstruction's plain
                           pixel MSE, recon_mse, which shows learning), validation PCK, wall time
    tb/                    TensorBoard events
    train_state.safetensors   model + optimizer + scheduler + RNG (for resume)
    model.safetensors      the trained model (+ model.yaml), what `ttpose evaluate/personalize` take
"""

from __future__ import annotations

import contextlib
import csv
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm.auto import tqdm

from ttpose.atomic import atomic_write_text
from ttpose.checkpoint import CheckpointError, load_state, save_checkpoint, save_state
from ttpose.config import Config, dump_yaml, to_dict
from ttpose.data.build import load_videos
from ttpose.data.pairs import Augmentation, PairDataset
from ttpose.evaluate import evaluate_predictions
from ttpose.inference import predict_video
from ttpose.losses import ReconstructionLoss, lambda_at
from ttpose.model import TTPModel
from ttpose.objective import joint_loss
from ttpose.speed import autocast, prepare_batch, prepare_model, require_trainable

STATE_FILE = "train_state.safetensors"
LOG_FIELDS = ("step", "lr", "loss", "loss_sup", "loss_self", "recon_mse", "val_pck", "seconds")


@dataclass
class TrainResult:
    output_dir: Path
    checkpoint: Path | None  # model.safetensors once training reached train.steps
    step: int
    val_pck: float | None
    model: TTPModel  # the trained model (in memory)


def _dist() -> tuple[int, int]:
    """(rank, world size); initialises the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)


def augmentation(config: Config) -> Augmentation:
    d = config.data
    return Augmentation(scale_factor=d.scale_factor, rotation_factor=d.rotation_factor,
                        flip_prob=0.5 if d.flip else 0.0, source_crop=d.source_crop,
                        translate_factor=d.translate_factor)


def _generator(*key: int) -> torch.Generator:
    """A torch generator seeded from a tuple (seed, step, ...), independent of call order."""
    return torch.Generator().manual_seed(int(np.random.SeedSequence(list(key)).generate_state(1)[0]))


# settings that leave the trained weights unchanged: how often a run logs, validates and saves, and the people it
# is evaluated on (how many, how long, how far their look is shifted: training people are always drawn unshifted)
NOT_TRAINING = {"train": ("log_every", "val_every", "checkpoint_every", "val_frames"),
                "data": ("val_videos", "test_videos", "test_frames", "shift", "stratified")}


def training_settings(cfg: Config, ignore: dict[str, tuple[str, ...]] = NOT_TRAINING) -> dict:
    """What decides a run's trained weights, as a plain dict: the config without its output folder, its TTP
    settings and the keys of ``ignore`` (section -> keys that leave the weights unchanged), and without the loss
    settings for a model with no self-supervised task (the supervised-only baseline)."""
    values = to_dict(cfg)
    for key in ("output_dir", "ttp"):
        values.pop(key)
    if values["model"]["self_task"] == "none":  # no L_self: the loss section (all of it L_self's) trains nothing
        values["loss"] = {}
    for section, keys in ignore.items():
        for key in keys:
            values[section].pop(key)
    return values


def train(config: Config, resume: bool = False, stop_at: int | None = None, progress: bool = True) -> TrainResult:
    """Train ``config.model`` on ``config.data``; see the module docstring for what is written where.

    ``stop_at`` ends this call after that many steps in total (a time box or a simulated interruption);
    `resume=True` later continues exactly where it stopped.
    """
    rank, world = _dist()
    t, cfg = config.train, config
    require_trainable(t.speed, "training (train.speed)")
    micro = t.batch_size // (world * t.accumulate)
    if micro * world * t.accumulate != t.batch_size:
        raise ValueError(f"train.batch_size={t.batch_size} is not divisible by world size {world} x "
                         f"train.accumulate {t.accumulate}")
    out = Path(cfg.output_dir)
    state_path = out / STATE_FILE
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(cfg.seed)
    model = TTPModel(cfg.model)
    recon = ReconstructionLoss(cfg.loss) if cfg.model.self_task == "keypoint" else None
    optimizer = torch.optim.Adam(model.parameters(), lr=t.lr, weight_decay=t.weight_decay)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, list(t.lr_steps), t.lr_factor)
    step = 0
    if resume and state_path.is_file():
        step = _restore(state_path, cfg, model, recon, optimizer, scheduler)
    elif resume and rank == 0:
        print(f"ttpose train: nothing to resume in {out}; starting from step 0")
    if rank == 0:
        atomic_write_text(out / "config.yaml", dump_yaml(cfg))
    prepare_model(model, t.speed)  # train.speed options (ttpose.speed; all off by default)
    if recon is not None:
        prepare_model(recon, t.speed)
    net = DistributedDataParallel(model) if world > 1 else model
    model.train()
    if recon is not None:
        recon.train()

    dataset = PairDataset(load_videos(cfg.data, "train"), cfg.model.input_size, model.heatmap_size,
                          augmentation(cfg), seed=cfg.seed, sigma=cfg.target_sigma)
    sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=cfg.seed, drop_last=True)
    steps_per_epoch = len(sampler) // (micro * t.accumulate)
    if steps_per_epoch == 0:
        raise ValueError(f"the training set ({len(dataset)} pairs) is smaller than one batch ({t.batch_size})")
    val_videos = load_videos(cfg.data, "val") if rank == 0 and t.val_every > 0 else []
    logger = _Logger(out, enabled=rank == 0, append=step > 0)
    last = min(t.steps, stop_at) if stop_at is not None else t.steps
    bar = tqdm(total=last, initial=step, disable=not progress or rank != 0,
               desc="train", unit="step", dynamic_ncols=True)
    val_pck = None
    first_drop = min(t.lr_steps, default=t.steps)  # loss.lam_late starts here
    started = time.time()
    while step < last:
        epoch, position = divmod(step, steps_per_epoch)
        sampler.set_epoch(epoch)
        dataset.set_epoch(epoch)
        indices = list(sampler)
        chunks = [indices[i * micro:(i + 1) * micro] for i in range(position * t.accumulate,
                                                                    steps_per_epoch * t.accumulate)]
        # its own generator: iter(DataLoader) draws a seed, which from the global RNG would shift the dropout
        # masks of a run resumed mid-epoch against the uninterrupted one
        loader = DataLoader(dataset, batch_sampler=chunks, num_workers=cfg.data.num_workers,
                            persistent_workers=False, generator=torch.Generator().manual_seed(cfg.seed + 7919 * epoch))
        batches = iter(loader)
        for _ in range(position, steps_per_epoch):
            if step >= last:
                break
            optimizer.zero_grad(set_to_none=True)
            lam = lambda_at(step, cfg.loss, first_drop)
            for m in range(t.accumulate):
                batch = next(batches)
                sync = m == t.accumulate - 1 or world == 1
                ctx = net.no_sync() if not sync else contextlib.nullcontext()
                with ctx:
                    with autocast(t.speed, device=next(model.parameters()).device):
                        losses = joint_loss(net, prepare_batch(batch, t.speed), recon, lam,
                                            _generator(cfg.seed, step, rank, m), cfg.loss.self_to_encoder)
                    (losses.total / t.accumulate).backward()
                logger.accumulate(losses)
            optimizer.step()
            scheduler.step()
            step += 1
            bar.update(1)
            if step % t.log_every == 0 or step == last:
                row = logger.flush(step, scheduler.get_last_lr()[0], time.time() - started)
                bar.set_postfix(loss=f"{row['loss']:.4g}")
            validate_now = t.val_every > 0 and (step % t.val_every == 0 or step == t.steps)
            save_now = (t.checkpoint_every > 0 and step % t.checkpoint_every == 0) or step == last
            if world > 1 and (validate_now or save_now):
                _average_buffers(model)
            if validate_now and rank == 0:
                val_pck = validate(model, val_videos, cfg)
                logger.log_val(step, val_pck, time.time() - started)
                model.train()
            if save_now and rank == 0:
                _save_state(state_path, cfg, model, recon, optimizer, scheduler, step)
    bar.close()
    model.loss_config = cfg.loss
    model.loss_running_mean = recon.running_mean.clone() if recon is not None else None
    model.ttp_config = cfg.ttp  # as load_checkpoint gives it: the run's TTP settings travel with the model
    checkpoint = None
    if rank == 0 and step >= t.steps:
        checkpoint = save_checkpoint(out / "model", model, cfg, recon, extra={"step": step, "val_pck": val_pck})
    logger.close()
    if world > 1:
        dist.barrier()
    return TrainResult(out, checkpoint, step, val_pck, model)


def _average_buffers(model: torch.nn.Module) -> None:
    """Average BatchNorm running statistics over ranks (each rank saw its own share of the batch)."""
    world = dist.get_world_size()
    for buf in model.buffers():
        if buf.is_floating_point():
            dist.all_reduce(buf)
            buf /= world


def validate(model: TTPModel, videos: list, cfg: Config) -> float | None:
    """Mean PCK@0.2 (authors' convention) of the supervised joints on the validation videos, no TTP."""
    if not videos:
        return None
    frames = cfg.train.val_frames
    preds = []
    for video in videos:
        n = len(video)
        idx = np.arange(n) if not frames else np.linspace(0, n - 1, min(frames, n)).astype(int)
        preds.append((video, idx, predict_video(model, video, idx, speed=cfg.train.speed)))
    return evaluate_predictions(preds, model.skeleton).mean


def _save_state(path: Path, cfg: Config, model, recon, optimizer, scheduler, step: int) -> None:
    state = {
        "model": model.state_dict(),
        "recon": recon.state_dict() if recon is not None else {},
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "step": step,
        "torch_rng": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():  # dropout on the GPU draws from these
        state["cuda_rng"] = torch.stack(torch.cuda.get_rng_state_all())
    state["recon"] = {k: v for k, v in state["recon"].items() if not k.startswith("vgg.")}
    save_state(path, state, cfg)


def _restore(path: Path, cfg: Config, model, recon, optimizer, scheduler) -> int:
    saved_cfg, state = load_state(path)
    saved, now = training_settings(saved_cfg), training_settings(cfg)  # val/test-only data keys may change
    for part in ("model", "data", "loss"):
        if saved[part] != now[part]:
            raise CheckpointError(f"{path}: was trained with a different {part} config; resume needs the same one")
    model.load_state_dict(state["model"])
    if recon is not None:
        recon.load_state_dict(state["recon"], strict=False)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    if "cuda_rng" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(state["cuda_rng"]))
    return int(state["step"])


class _Logger:
    """Running means of the losses, flushed to log.csv and TensorBoard every train.log_every steps."""

    def __init__(self, out: Path, enabled: bool, append: bool):
        self.enabled = enabled
        self.sums = {"loss": 0.0, "loss_sup": 0.0, "loss_self": 0.0, "recon_mse": 0.0}
        self.count = 0
        if not enabled:
            return
        self.csv_path = out / "log.csv"
        new = not (append and self.csv_path.is_file())
        self.file = open(self.csv_path, "w" if new else "a", newline="")
        self.writer = csv.DictWriter(self.file, fieldnames=LOG_FIELDS)
        if new:
            self.writer.writeheader()
        from torch.utils.tensorboard import SummaryWriter

        self.tb = SummaryWriter(str(out / "tb"))

    def accumulate(self, losses) -> None:
        self.sums["loss"] += losses.total.item()
        self.sums["loss_sup"] += losses.sup.item() if losses.sup is not None else 0.0
        self.sums["loss_self"] += losses.self.item() if losses.self is not None else 0.0
        self.sums["recon_mse"] += losses.recon_error.item() if losses.recon_error is not None else 0.0
        self.count += 1

    def flush(self, step: int, lr: float, seconds: float) -> dict:
        row = {k: v / max(self.count, 1) for k, v in self.sums.items()}
        self.sums = dict.fromkeys(self.sums, 0.0)
        self.count = 0
        if self.enabled:
            self.writer.writerow({"step": step, "lr": lr, **row, "val_pck": "", "seconds": round(seconds, 2)})
            self.file.flush()
            for k, v in row.items():
                self.tb.add_scalar(f"train/{k}", v, step)
            self.tb.add_scalar("train/lr", lr, step)
        return row

    def log_val(self, step: int, pck: float | None, seconds: float) -> None:
        if self.enabled and pck is not None:
            self.writer.writerow({"step": step, "lr": "", "loss": "", "loss_sup": "", "loss_self": "", "recon_mse": "",
                                  "val_pck": round(pck, 3), "seconds": round(seconds, 2)})
            self.file.flush()
            self.tb.add_scalar("val/pck", pck, step)

    def close(self) -> None:
        if self.enabled:
            self.file.close()
            self.tb.close()
