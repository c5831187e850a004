"""(target, source) pairs of one person (Sec. 3.1.1, 4.2 "Batching strategy") and heatmap targets.

- Joint training and offline personalization: the target and its source are drawn at random within
  the same video. Online personalization (Sec. 3.2): the targets are frame t, the sources are drawn from
  frames <= t (t itself allowed), slot 0 is frame t without augmentation.
- One random augmentation (scale, rotation, flip with left/right swap) is shared by a target and its
  source, to make the reconstruction easier (Sec. 4.2). The source is cropped with its own box
  (``source_crop="own"``, the default) or with the target's, as the authors' code does (``"target"``: the
  source is seen through the target's crop window, so that camera motion between the frames shows).
- Images are normalised with the ImageNet mean/std in RGB order (`ttpose.data.crops.normalize`). (The
  authors read BGR and normalise with the RGB statistics; ttpose reads RGB throughout.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from ttpose.data.crops import crop_frame, normalize, transform_points
from ttpose.data.types import Video


@dataclass
class Augmentation:
    """The authors' augmentation (HRNet): scale, rotation, flip; shared by a target and its source."""

    scale_factor: float = 0.25
    rotation_factor: float = 30.0
    rotation_prob: float = 0.6
    flip_prob: float = 0.5
    enabled: bool = True
    source_crop: str = "own"  # the source frame's crop window: its own box ("own") or the target's ("target")
    # not in the authors' recipe (0): shift the crop centre by up to this fraction of the crop side per axis, so
    # the model meets people off the crop's centre, as boxes tracked by the model itself give (ttpose.tracking)
    translate_factor: float = 0.0


def sample_augmentation(rng: np.random.Generator, aug: Augmentation) -> tuple[float, float, bool]:
    """(scale multiplier, rotation in degrees, flip) as HRNet draws them."""
    if not aug.enabled:
        return 1.0, 0.0, False
    sf, rf = aug.scale_factor, aug.rotation_factor
    scale = float(np.clip(rng.standard_normal() * sf + 1, 1 - sf, 1 + sf))
    rotation = float(np.clip(rng.standard_normal() * rf, -2 * rf, 2 * rf)) if rng.random() <= aug.rotation_prob else 0.0
    flip = bool(rng.random() < aug.flip_prob)
    return scale, rotation, flip


def sample_translation(rng: np.random.Generator, aug: Augmentation) -> np.ndarray:
    """Crop-centre offset (2,) as a fraction of the crop side, uniform in +-``aug.translate_factor`` per axis;
    zeros, drawing nothing, when the factor is 0 (the authors' recipe keeps its random stream)."""
    if not aug.enabled or aug.translate_factor <= 0:
        return np.zeros(2)
    return rng.uniform(-aug.translate_factor, aug.translate_factor, 2)


def heatmap_targets(joints: np.ndarray, visible: np.ndarray, heatmap_size: int, stride: float,
                    sigma: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian heatmaps (K x h x w) and target weights (K,) from crop-pixel joints, as HRNet's
    ``generate_target``: the peak at the rounded heatmap pixel, a 3 sigma window; weight 0 for an
    invisible joint or one whose window lies outside the heatmap."""
    k = len(joints)
    target = np.zeros((k, heatmap_size, heatmap_size), np.float32)
    weight = visible.astype(np.float32).copy()
    radius = int(3 * sigma)
    g_size = 2 * radius + 1
    g_x = np.arange(g_size, dtype=np.float32)
    gaussian = np.exp(-((g_x[None, :] - radius) ** 2 + (g_x[:, None] - radius) ** 2) / (2 * sigma**2))
    for j in range(k):
        if weight[j] == 0:
            continue
        mu_x, mu_y = int(joints[j, 0] / stride + 0.5), int(joints[j, 1] / stride + 0.5)
        ul = (mu_x - radius, mu_y - radius)
        br = (mu_x + radius + 1, mu_y + radius + 1)
        if ul[0] >= heatmap_size or ul[1] >= heatmap_size or br[0] <= 0 or br[1] <= 0:
            weight[j] = 0
            continue
        gx = max(0, -ul[0]), min(br[0], heatmap_size) - ul[0]
        gy = max(0, -ul[1]), min(br[1], heatmap_size) - ul[1]
        ix = max(0, ul[0]), min(br[0], heatmap_size)
        iy = max(0, ul[1]), min(br[1], heatmap_size)
        target[j, iy[0]:iy[1], ix[0]:ix[1]] = gaussian[gy[0]:gy[1], gx[0]:gx[1]]
    return target, weight


def source_window(video: Video, target: int, source: int, aug: Augmentation) -> tuple[np.ndarray, float]:
    """(centre, size) of the source frame's crop under ``aug.source_crop``: its own box, or the target's."""
    i = target if aug.source_crop == "target" else source
    return video.centers[i], video.sizes[i]


def make_pair(video: Video, target: int, source: int, input_size: int, heatmap_size: int,
              rng: np.random.Generator, aug: Augmentation, sigma: float = 2.0) -> dict:
    """One (target, source) training pair with a shared augmentation and the target's heatmaps."""
    scale, rotation, flip = sample_augmentation(rng, aug)
    offset = sample_translation(rng, aug)  # shared by target and source, as the rest of the augmentation
    t_img, m = crop_frame(video.images[target], video.centers[target] + offset * video.sizes[target],
                          video.sizes[target], input_size, scale, rotation, flip)
    s_center, s_size = source_window(video, target, source, aug)
    s_img = t_img if source == target else crop_frame(
        video.images[source], s_center + offset * s_size, s_size, input_size, scale, rotation, flip)[0]
    joints = transform_points(video.joints[target], m).astype(np.float32)
    visible = video.visible[target].copy()
    if flip:  # the person's left wrist now looks like a right wrist: swap the labels
        perm = video.skeleton.flip_permutation()
        joints, visible = joints[perm], visible[perm]
    heatmaps, weight = heatmap_targets(joints, visible, heatmap_size, input_size / heatmap_size, sigma)
    return {
        "target": normalize(t_img), "source": normalize(s_img),
        "heatmaps": torch.from_numpy(heatmaps), "target_weight": torch.from_numpy(weight),
        "joints": torch.from_numpy(joints), "rotation": torch.tensor(rotation), "flip": torch.tensor(flip),
    }


class PairDataset(Dataset):
    """Every frame of every video as a target, with a source drawn uniformly from the same video.

    Item ``i`` of epoch ``e`` is a pure function of (seed, e, i): resumable and identical with any number
    of DataLoader workers or DistributedDataParallel ranks.
    """

    def __init__(self, videos: list[Video], input_size: int, heatmap_size: int, aug: Augmentation | None = None,
                 seed: int = 0, sigma: float = 2.0):
        if not videos:
            raise ValueError("PairDataset needs at least one video")
        self.videos = videos
        self.input_size, self.heatmap_size, self.sigma = input_size, heatmap_size, sigma
        self.aug = aug or Augmentation()
        self.seed, self.epoch = seed, 0
        lengths = np.array([len(v) for v in videos])
        self.offsets = np.concatenate([[0], np.cumsum(lengths)])

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def locate(self, index: int) -> tuple[int, int]:
        """Global frame index -> (video index, frame index)."""
        v = int(np.searchsorted(self.offsets, index, side="right") - 1)
        return v, int(index - self.offsets[v])

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng((self.seed, self.epoch, int(index)))
        v, t = self.locate(index)
        video = self.videos[v]
        s = int(rng.integers(len(video)))
        return make_pair(video, t, s, self.input_size, self.heatmap_size, rng, self.aug, self.sigma)


def _stack(items: list[tuple[np.ndarray, np.ndarray]]) -> dict:
    targets, sources = zip(*items, strict=True)
    return {"target": normalize(np.stack(targets)), "source": normalize(np.stack(sources))}


def _cached(video: Video, cache: dict, i: int) -> np.ndarray:
    if i not in cache:
        cache[i] = video.images[i]
    return cache[i]


def recent_targets(t: int, since: int, batch_size: int) -> np.ndarray:
    """The target frame of each slot of an online batch that covers frames ``since``..t (``TTPConfig.online_targets``
    "recent", not in the paper): slot 0 is frame t, the next slots go back in time, cycling when there are more
    slots than frames and spread evenly over the frames when there are fewer. ``since`` = t: every target is t."""
    frames = t - since + 1
    if frames < 1:
        raise ValueError(f"online targets: since ({since}) is after frame t ({t})")
    slots = np.arange(batch_size)
    back = slots % frames if frames <= batch_size else (slots * frames) // batch_size
    return t - back


def online_batch(video: Video, t: int, batch_size: int, rng: np.random.Generator, input_size: int,
                 aug: Augmentation | None = None, first: int = 0, since: int | None = None) -> dict:
    """Sec. 3.2 online: every target is frame t (slot 0 plain, the others augmented), sources drawn
    uniformly from frames first..t (``first`` > 0 after a reset). With ``since`` (not in the paper) the targets are
    `recent_targets` of frames since..t instead. Each image is read once."""
    aug = aug or Augmentation()
    sources = rng.integers(first, t + 1, size=batch_size)
    targets = np.full(batch_size, t) if since is None else recent_targets(t, max(since, first), batch_size)
    cache: dict[int, np.ndarray] = {}
    items = []
    for slot, (target_frame, s) in enumerate(zip(targets.tolist(), sources.tolist(), strict=True)):
        scale, rotation, flip = (1.0, 0.0, False) if slot == 0 else sample_augmentation(rng, aug)
        target = crop_frame(_cached(video, cache, target_frame), video.centers[target_frame],
                            video.sizes[target_frame], input_size, scale, rotation, flip)[0]
        source = crop_frame(_cached(video, cache, s), *source_window(video, target_frame, s, aug), input_size,
                            scale, rotation, flip)[0]
        items.append((target, source))
    batch = _stack(items)
    batch["source_index"], batch["target_index"] = torch.from_numpy(sources), torch.from_numpy(targets)
    return batch


def offline_batch(video: Video, batch_size: int, rng: np.random.Generator, input_size: int,
                  aug: Augmentation | None = None, indices=None) -> dict:
    """Sec. 3.2 offline: targets and sources drawn at random from the set (or from ``indices``)."""
    aug = aug or Augmentation()
    pool = np.arange(len(video)) if indices is None else np.asarray(indices)
    targets, sources = rng.choice(pool, batch_size), rng.choice(pool, batch_size)
    cache: dict[int, np.ndarray] = {}
    items = []
    for t, s in zip(targets, sources, strict=True):
        scale, rotation, flip = sample_augmentation(rng, aug)
        windows = (video.centers[t], video.sizes[t]), source_window(video, int(t), int(s), aug)
        items.append(tuple(crop_frame(_cached(video, cache, int(i)), *window, input_size, scale, rotation, flip)[0]
                           for i, window in zip((t, s), windows, strict=True)))
    batch = _stack(items)
    batch["target_index"], batch["source_index"] = torch.from_numpy(targets), torch.from_numpy(sources)
    return batch


def frames_batch(video: Video, indices, input_size: int) -> torch.Tensor:
    """Plain (unaugmented) crops of ``video[indices]``, normalised: B x 3 x S x S."""
    crops = [crop_frame(video.images[int(i)], video.centers[i], video.sizes[i], input_size)[0] for i in indices]
    return normalize(np.stack(crops))
