"""The videos of a config's dataset and split: one entry point for training, evaluation and benchmarks."""

from __future__ import annotations

from ttpose.config import DataConfig
from ttpose.data.types import Video

SPLITS = ("train", "val", "test")


def load_videos(cfg: DataConfig, split: str, skeleton: str | None = None) -> list[Video]:
    """Videos of ``split`` (train / val / test).

    ``skeleton`` (the model's joint set) only matters for Human3.6M, whose 17 joints can be given in
    MPII's order (its own experiments) or Penn Action's (a Penn Action model, Table 6).

    Synthetic people have three disjoint populations (val and test are the shifted people). The real
    datasets have no validation split in the paper's protocols: ``val`` is their test split, as in the
    authors' code, and is only logged during training, never used to pick a checkpoint.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if cfg.dataset == "synthetic":
        from ttpose.data.synthetic import SyntheticConfig, make_population

        count = {"train": cfg.train_videos, "val": cfg.val_videos, "test": cfg.test_videos}[split]
        frames = cfg.frames_per_video if split == "train" or cfg.test_frames is None else cfg.test_frames
        syn = SyntheticConfig(frame_size=cfg.frame_size, frames_per_video=frames, shift=cfg.shift)
        return make_population(split, count, seed=cfg.seed, config=syn)
    if cfg.root is None:
        raise ValueError(f"data.root is not set: where is the {cfg.dataset} dataset? (data.root=PATH)")
    real_split = "test" if split == "val" else split
    if cfg.dataset == "penn_action":
        from ttpose.data.penn_action import load_penn_action

        return load_penn_action(cfg.root, split=real_split)
    if cfg.dataset == "h36m":
        from ttpose.data.h36m import load_h36m

        return load_h36m(cfg.root, split=real_split, skeleton=skeleton or "mpii")
    if cfg.dataset == "bbc_pose":
        from ttpose.data.bbc_pose import load_bbc_pose

        return load_bbc_pose(cfg.root, split=real_split)
    raise ValueError(f"unknown dataset {cfg.dataset!r}")
