"""Who is in video ``index`` of a split, and what happens in it (`person_parameters`): the random streams of
``SeedSequence([seed, split, index])`` (one for the look, one for the scene) and the appearance shift of each
split (`video_shift`: none for train), and optionally (`SyntheticConfig.stratified`) the split's evenly spread
draws of the shift's all-or-nothing choices (`split_draws`). The same arguments always give the same person and
scene."""

from __future__ import annotations

import math

import numpy as np

from ttpose.data.synthetic.appearance import Appearance, SplitDraws, sample_appearance
from ttpose.data.synthetic.config import SyntheticConfig
from ttpose.data.synthetic.scene import Scene, sample_scene

SPLIT_CODES = {"train": 0, "val": 1, "test": 2}
LONG_VIDEO_KEY = 7  # random-stream key of `make_long_video`'s later scenes (apart from make_video's streams)
SPLIT_DRAWS_KEY = 11  # random-stream key of a split's offsets for `split_draws`
_STEPS = ((math.sqrt(5.0) - 1.0) / 2.0, math.sqrt(2.0) - 1.0)  # irrational steps: golden ratio, sqrt(2)


def _check_split(split: str) -> None:
    if split not in SPLIT_CODES:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLIT_CODES)}")


def video_shift(split: str, config: SyntheticConfig) -> float:
    """The appearance shift a split's people are drawn with: 0 for train, ``config.shift`` for val/test."""
    _check_split(split)
    return 0.0 if split == "train" else float(config.shift)


def _streams(split: str, index: int, seed: int) -> list[np.random.Generator]:
    """The (look, scene) random streams of video ``index`` of ``split``."""
    _check_split(split)
    if index < 0 or seed < 0:
        raise ValueError(f"index and seed must be >= 0, got index={index}, seed={seed}")
    ss = np.random.SeedSequence([int(seed), SPLIT_CODES[split], int(index)])
    return [np.random.default_rng(s) for s in ss.spawn(2)]


def split_draws(split: str, index: int, seed: int) -> SplitDraws:
    """Person ``index``'s evenly spread draws: ``(offset + index * step) mod 1`` per choice, one random offset per
    (seed, split, choice) and an irrational step (a Kronecker sequence). Any n consecutive people of a split hold
    within about two of ``n * p`` values below any p (independent draws: a binomial spread, +-1.9 people for 16
    people at p = 0.35), and over the offset each person's value is uniform, as an own draw would be."""
    _check_split(split)
    offsets = np.random.default_rng(np.random.SeedSequence([int(seed), SPLIT_CODES[split], SPLIT_DRAWS_KEY]))
    first, second = ((float(o) + index * step) % 1.0 for o, step in zip(offsets.uniform(size=2), _STEPS, strict=True))
    return SplitDraws(background=first, shirt_texture=second)


def person_parameters(
    split: str, index: int, seed: int = 0, config: SyntheticConfig | None = None
) -> tuple[Appearance, Scene]:
    """(Appearance, Scene) of video ``index`` of ``split``: cheap, no geometry or pixels."""
    config = config or SyntheticConfig()
    rng_look, rng_scene = _streams(split, index, seed)
    spread = split_draws(split, index, seed) if config.stratified else None
    return sample_appearance(rng_look, video_shift(split, config), spread), sample_scene(rng_scene, config)


def later_scene(split: str, index: int, seed: int, segment: int, config: SyntheticConfig) -> Scene:
    """The scene of segment ``segment`` >= 1 of `make_long_video`'s person ``index``: its own random stream."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), SPLIT_CODES[split], int(index), LONG_VIDEO_KEY,
                                                        segment]))
    return sample_scene(rng, config)
