"""Metrics, one definition each, with their conventions spelled out (after MMPose's keypoint metrics).

- `decode_heatmaps`: argmax with the quarter-pixel shift toward the higher neighbour (HRNet), applied as
  the authors' ``get_final_preds`` does: on both axes, and only when the peak is at least two pixels from
  every border (2 <= x <= w - 2 and 2 <= y <= h - 2 together). Unlike their ``get_max_preds``, a joint
  whose heatmap maximum is <= 0 keeps its argmax (theirs is moved to the crop's corner; docs/reproduce.md).
- `pck`: Percentage of Correct Keypoints normalised by the torso size of the ground truth, as the authors
  define it per dataset (`Skeleton.torso`): |mid-shoulder - mid-hip| for Penn Action, |upper neck - mid-hip|
  for Human3.6M in MPII order. Two conventions:
    * ``"authors"``: a hit is ``dist / torso <= thr``, pooled over all visible joints of all frames
      (the authors' code; thr 0.2);
    * ``"mmpose"``: a hit is ``dist / torso < thr``; the accuracy of each joint over the frames where it is
      visible, then the mean over joints that are visible at least once.
  Frames whose torso size is 0 and invisible joints are not scored.
- `pck_table`: the paper's per-part table (Head, Shoulder, ..., Ankle) and "Mean". A part's value is
  the mean of its joints' PCK; "Mean" follows the convention (authors: pooled hits over all visible
  joints, which is not the mean of the part columns).
- `accuracy_within`: BBC Pose's accuracy: a joint is correct when it lies within ``d`` pixels of the
  ground truth after both are scaled by ``scale`` (d = 6 at half resolution).
All values are percentages.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ttpose.skeletons import Skeleton


def decode_heatmaps(heatmaps) -> tuple[np.ndarray, np.ndarray]:
    """B x K x h x w (numpy or torch) -> (B x K x 2 heatmap coordinates, B x K maxima); module docstring."""
    if hasattr(heatmaps, "detach"):
        heatmaps = heatmaps.detach().float().cpu().numpy()
    hm = np.asarray(heatmaps, dtype=np.float32)
    b, k, h, w = hm.shape
    flat = hm.reshape(b, k, -1)
    idx = flat.argmax(-1)
    maxvals = np.take_along_axis(flat, idx[..., None], -1)[..., 0]
    coords = np.stack([idx % w, idx // w], -1).astype(np.float32)
    px, py = coords[..., 0].astype(int), coords[..., 1].astype(int)
    bi, ki = np.meshgrid(np.arange(b), np.arange(k), indexing="ij")
    inner = (px > 1) & (px < w - 1) & (py > 1) & (py < h - 1)  # B x K: both axes, two pixels from the border
    pxc, pyc = np.clip(px, 1, w - 2), np.clip(py, 1, h - 2)  # in range for the lookups; used only where inner
    dx = hm[bi, ki, pyc, pxc + 1] - hm[bi, ki, pyc, pxc - 1]
    dy = hm[bi, ki, pyc + 1, pxc] - hm[bi, ki, pyc - 1, pxc]
    coords += np.where(inner[..., None], np.sign(np.stack([dx, dy], -1)) * 0.25, 0.0)
    return coords, maxvals


def torso_size(gt: np.ndarray, skeleton: Skeleton) -> np.ndarray:
    """N x K x 2 ground truth -> N torso sizes: |upper point - mid-hip| (`Skeleton.torso`)."""
    if skeleton.torso is None:
        raise ValueError(f"skeleton {skeleton.name} has no torso definition for PCK")
    upper, hips = skeleton.torso
    top = gt[:, list(upper)].mean(1)  # N x 2: mid-shoulder (Penn Action) or upper neck (MPII)
    mid_h = gt[:, list(hips)].mean(1)
    return np.linalg.norm(top - mid_h, axis=-1)


@dataclass
class JointAccuracy:
    per_joint: np.ndarray  # K, percent (nan where never visible)
    counts: np.ndarray  # K, scored joints
    hits: np.ndarray  # K, correct joints
    mean: float  # by the convention


def _score(hit: np.ndarray, valid: np.ndarray, convention: str) -> JointAccuracy:
    counts = valid.sum(0)
    hits = (hit & valid).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_joint = np.where(counts > 0, 100.0 * hits / np.maximum(counts, 1), np.nan)
    if convention == "authors":
        mean = 100.0 * hits.sum() / max(counts.sum(), 1)
    elif convention == "mmpose":
        mean = float(np.nanmean(per_joint)) if (counts > 0).any() else float("nan")
    else:
        raise ValueError(f"convention must be 'authors' or 'mmpose', got {convention!r}")
    return JointAccuracy(per_joint, counts, hits, float(mean))


def pck_hits(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray, norm: np.ndarray, threshold: float = 0.2,
             convention: str = "authors") -> tuple[np.ndarray, np.ndarray]:
    """(hit, scored), each N x K bool: whether each joint of N x K x 2 predictions lies within ``threshold`` x
    its frame's ``norm`` (N,) of the ground truth (authors: <=, standard: <), and whether it is scored (visible,
    in a frame with a positive norm). `pck` pools them; per-frame hits let a caller pool any span of frames."""
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    norm = np.asarray(norm, np.float64)
    valid = np.asarray(visible, bool) & (norm > 0)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.linalg.norm(pred - gt, axis=-1) / norm[:, None]
    hit = ratio <= threshold if convention == "authors" else ratio < threshold
    return hit, valid


def pck(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray, norm: np.ndarray, threshold: float = 0.2,
        convention: str = "authors") -> JointAccuracy:
    """PCK of N x K x 2 predictions against the ground truth, normalised per frame by ``norm`` (N,)."""
    return _score(*pck_hits(pred, gt, visible, norm, threshold, convention), convention)


def pck_table(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray, skeleton: Skeleton, threshold: float = 0.2,
              convention: str = "authors") -> dict[str, float]:
    """The paper's per-part table: one column per ``skeleton.parts`` entry plus "Mean"."""
    acc = pck(pred, gt, visible, torso_size(np.asarray(gt, np.float64), skeleton), threshold, convention)
    return part_table(acc, skeleton)


def part_table(acc: JointAccuracy, skeleton: Skeleton) -> dict[str, float]:
    table = {}
    for name, idx in skeleton.parts:
        vals = [acc.per_joint[i] for i in idx if acc.counts[i] > 0]
        table[name] = float(np.mean(vals)) if vals else float("nan")
    table["Mean"] = acc.mean
    return table


def accuracy_within(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray, d: float = 6.0, scale: float = 0.5,
                    convention: str = "authors") -> JointAccuracy:
    """BBC Pose: correct when |scale * (pred - gt)| <= d pixels."""
    dist = np.linalg.norm(scale * (np.asarray(pred, np.float64) - np.asarray(gt, np.float64)), axis=-1)
    return _score(dist <= d, np.asarray(visible, bool), convention)


def format_table(table: dict[str, float]) -> str:
    """Two lines, as the paper prints its tables."""
    names = list(table)
    width = max(8, *(len(n) + 1 for n in names))
    head = "".join(f"{n:>{width}}" for n in names)
    row = "".join(f"{table[n]:>{width}.2f}" for n in names)
    return f"{head}\n{row}"
