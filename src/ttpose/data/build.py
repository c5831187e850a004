"""The datasets by name: the videos of a config's dataset and split (`load_videos`, one entry point for
training, evaluation and benchmarks) and the one-time index of a real dataset (`prepare`, ``ttpose prepare``).

This is the one module that dispatches over the datasets; it sits above the loaders (`ttpose.data.synthetic`,
`penn_action`, `h36m`, `bbc_pose`) and the index format they share (`ttpose.data.cache`).
"""

from __future__ import annotations

from pathlib import Path

from ttpose.config import DataConfig
from ttpose.data import bbc_pose, h36m, penn_action
from ttpose.data.cache import VideoRecord, fingerprint, index_path, save_index
from ttpose.data.errors import require_dir
from ttpose.data.synthetic import SyntheticConfig, make_population
from ttpose.data.types import Video

SPLITS = ("train", "val", "test")
DATASETS = ("penn_action", "h36m", "bbc_pose")  # the real datasets, which have an index


def synthetic_config(cfg: DataConfig, frames_per_video: int) -> SyntheticConfig:
    """The generator settings ``cfg`` asks for, with videos of ``frames_per_video`` frames."""
    return SyntheticConfig(frame_size=cfg.frame_size, frames_per_video=frames_per_video, shift=cfg.shift,
                           stratified=cfg.stratified, yaw_range=cfg.yaw_range)


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
        count = {"train": cfg.train_videos, "val": cfg.val_videos, "test": cfg.test_videos}[split]
        frames = cfg.frames_per_video if split == "train" or cfg.test_frames is None else cfg.test_frames
        return make_population(split, count, seed=cfg.seed, config=synthetic_config(cfg, frames))
    if cfg.root is None:
        raise ValueError(f"data.root is not set: where is the {cfg.dataset} dataset? (data.root=PATH)")
    real_split = "test" if split == "val" else split
    if cfg.dataset == "penn_action":
        return penn_action.load_penn_action(cfg.root, split=real_split)
    if cfg.dataset == "h36m":
        return h36m.load_h36m(cfg.root, split=real_split, skeleton=skeleton or "mpii")
    if cfg.dataset == "bbc_pose":
        return bbc_pose.load_bbc_pose(cfg.root, split=real_split)
    raise ValueError(f"unknown dataset {cfg.dataset!r}")


def prepare(dataset: str, root: str | Path, progress: bool = True) -> tuple[Path, list[VideoRecord]]:
    """Scan ``dataset`` under ``root`` once and write its index (``ttpose prepare DATASET ROOT``).

    The folder is validated as the loader would (a `DatasetError` names the first bad file); the index
    then lets every later `load_*` call skip the scan while the annotation files are unchanged.
    """
    root = require_dir(root, f"the {dataset} dataset folder", "pass the folder that holds the dataset")
    if dataset == "penn_action":
        require_dir(root / "frames", "Penn Action's frames/ folder (frames/NNNN/NNNNNN.jpg)", penn_action.FIX_FRAMES)
        files = penn_action.label_files(root)
        records = penn_action.scan(root, files, progress)
        for r in records:
            penn_action.check_frames(root, r)
    elif dataset == "h36m":
        files = h36m.annotation_files(root)
        records = h36m.scan(root, files, progress)
    elif dataset == "bbc_pose":
        files = [root / "bbcpose.mat"]
        records = bbc_pose.scan(root, progress)
    else:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    return save_index(index_path(root, dataset), dataset, fingerprint(root, files, dataset), records), records
