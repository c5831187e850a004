"""Independent re-creation of the authors' Penn Action test pipeline (no TTP), for verification.

Written from /work/shared/spec/official-code.md and the behaviour of the authors' code base (HRNet "simple
baselines" ``lib/utils/transforms.py``, ``lib/core/inference.py``, their ``lib/dataset/penn.py``), without
reference to ``ttpose``: the test in tests/test_official_pipeline.py runs this and ttpose's command-line path
on the same weights and frames, and they must agree. Steps, as the authors run them:

1. Box -> center/scale from the 1-based MATLAB box: centre ((x1 + x2 - 1) / 2, (y1 + y2 - 1) / 2),
   s = max(w, h) / 200 with w = x2 - x1 + 1, centre y += 15 s, s *= 1.25, centre -= 1. The joints stay
   1-based (only the centre gets -1).
2. Read the frame with OpenCV (BGR, ``IMREAD_COLOR | IMREAD_IGNORE_ORIENTATION``).
3. Crop with the three-point affine transform of ``get_affine_transform`` (float32 points,
   ``cv2.getAffineTransform``), ``cv2.warpAffine`` bilinear, black outside the frame.
4. ToTensor (/255) and Normalize with the RGB ImageNet statistics, applied to the BGR channels as they are.
5. Heatmaps -> ``get_max_preds`` (argmax; a joint whose maximum is <= 0 is put at 0, 0) -> quarter-pixel
   shift toward the higher neighbour only when 1 < x < w - 1 and 1 < y < h - 1 -> ``transform_preds``
   through the inverse affine transform of the heatmap size.
6. PCK: error / |mid-shoulder - mid-hip| <= 0.2 against the 1-based labels, over visible joints;
   per-part columns and mPCK pooled over all visible joints.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import scipy.io
import torch
from torch import nn

RGB_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
RGB_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
PCK_THRESHOLD = 0.2
PENN_PARTS = (("Head", (0,)), ("Shoulder", (1, 2)), ("Elbow", (3, 4)), ("Wrist", (5, 6)), ("Hip", (7, 8)),
              ("Knee", (9, 10)), ("Ankle", (11, 12)))


def penn_center_scale(box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One 1-based MATLAB box (x1, y1, x2, y2) -> (centre (2,), scale (2,)) as their Penn loader makes them."""
    x1, y1, x2, y2 = (float(v) for v in box)
    c = np.array([(x1 + x2 - 1) / 2, (y1 + y2 - 1) / 2])
    s = max(x2 - x1 + 1, y2 - y1 + 1) / 200
    s = np.array([s, s])
    if c[0] != -1:
        c[1] = c[1] + 15 * s[1]
    s = s * 1.25
    return c - 1, s


def read_penn_labels(label_file: str | Path) -> dict:
    """x, y (N x 13, 1-based), visibility (N x 13) and per-frame centre/scale of one Penn Action video."""
    label = scipy.io.loadmat(str(label_file))
    n = int(np.asarray(label["nframes"]).item())
    bbox = np.asarray(label["bbox"], dtype=np.float64)
    centers, scales = zip(*(penn_center_scale(bbox[min(j, len(bbox) - 1)]) for j in range(n)), strict=True)
    return {"joints": np.stack([np.asarray(label["x"], np.float64), np.asarray(label["y"], np.float64)], -1),
            "visible": np.asarray(label["visibility"], np.float64), "centers": np.stack(centers),
            "scales": np.stack(scales), "nframes": n}


def _third_point(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = a - b
    return b + np.array([-d[1], d[0]], dtype=np.float32)


def affine_transform(center, scale, rot: float, output_size, inv: bool = False) -> np.ndarray:
    """HRNet's ``get_affine_transform``: 2 x 3 matrix from three float32 point pairs (centre, up, left)."""
    scale_tmp = np.asarray(scale, dtype=np.float64) * 200.0
    src_w, dst_w, dst_h = scale_tmp[0], output_size[0], output_size[1]
    rot_rad = np.pi * rot / 180
    sn, cs = np.sin(rot_rad), np.cos(rot_rad)
    src_dir = np.array([0 * cs - src_w * -0.5 * sn, 0 * sn + src_w * -0.5 * cs])
    dst_dir = np.array([0, dst_w * -0.5], np.float32)
    src = np.zeros((3, 2), dtype=np.float32)
    dst = np.zeros((3, 2), dtype=np.float32)
    src[0] = center
    src[1] = np.asarray(center) + src_dir
    dst[0] = [dst_w * 0.5, dst_h * 0.5]
    dst[1] = np.array([dst_w * 0.5, dst_h * 0.5]) + dst_dir
    src[2] = _third_point(src[0], src[1])
    dst[2] = _third_point(dst[0], dst[1])
    return cv2.getAffineTransform(dst, src) if inv else cv2.getAffineTransform(src, dst)


def crop_input(image_file: str | Path, center, scale, size: int = 128) -> torch.Tensor:
    """Steps 2-4: the normalised 3 x size x size crop, channels in BGR order."""
    bgr = cv2.imread(str(image_file), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if bgr is None:
        raise FileNotFoundError(f"official_pipeline.py: cannot read {image_file}")
    crop = cv2.warpAffine(bgr, affine_transform(center, scale, 0, (size, size)), (size, size), flags=cv2.INTER_LINEAR)
    x = torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1).float().div(255)  # ToTensor
    return (x - torch.from_numpy(RGB_MEAN).view(3, 1, 1)) / torch.from_numpy(RGB_STD).view(3, 1, 1)


def get_max_preds(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """B x K x h x w -> (B x K x 2 argmax (x, y), B x K x 1 maxima); joints with maximum <= 0 -> (0, 0)."""
    b, k, _, w = heatmaps.shape
    flat = heatmaps.reshape(b, k, -1)
    idx = np.argmax(flat, 2).reshape(b, k, 1)
    maxvals = np.amax(flat, 2).reshape(b, k, 1)
    preds = np.tile(idx, (1, 1, 2)).astype(np.float32)
    preds[:, :, 0] = preds[:, :, 0] % w
    preds[:, :, 1] = np.floor(preds[:, :, 1] / w)
    return preds * np.tile(maxvals > 0.0, (1, 1, 2)).astype(np.float32), maxvals


def get_final_preds(heatmaps: np.ndarray, centers: np.ndarray, scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Step 5: B x K x h x w heatmaps of crops (centre, scale) -> full-frame (B x K x 2, B x K x 1 maxima)."""
    coords, maxvals = get_max_preds(heatmaps)
    h, w = heatmaps.shape[2:]
    for n in range(coords.shape[0]):
        for p in range(coords.shape[1]):
            hm = heatmaps[n][p]
            px, py = int(math.floor(coords[n][p][0] + 0.5)), int(math.floor(coords[n][p][1] + 0.5))
            if 1 < px < w - 1 and 1 < py < h - 1:
                diff = np.array([hm[py][px + 1] - hm[py][px - 1], hm[py + 1][px] - hm[py - 1][px]])
                coords[n][p] += np.sign(diff) * 0.25
    preds = np.zeros(coords.shape)
    for i in range(coords.shape[0]):
        trans = affine_transform(centers[i], scales[i], 0, (w, h), inv=True)
        for p in range(coords.shape[1]):
            preds[i, p] = trans @ np.array([coords[i, p, 0], coords[i, p, 1], 1.0])
    return preds, maxvals


def penn_pck(preds: np.ndarray, joints: np.ndarray, visible: np.ndarray) -> dict[str, float]:
    """Step 6: their Penn Action ``evaluate`` (both arrays 1-based): per-part PCK@0.2 and pooled mPCK."""
    error = np.linalg.norm(preds - joints, axis=2)
    torso = np.linalg.norm((joints[:, 1] + joints[:, 2]) / 2 - (joints[:, 7] + joints[:, 8]) / 2, axis=1)
    hits = (error / torso[:, None] <= PCK_THRESHOLD) * visible
    counts = visible.sum(0)
    pck = 100.0 * hits.sum(0) / counts
    table = {name: float(np.mean([pck[i] for i in idx])) for name, idx in PENN_PARTS}
    table["mPCK"] = float(np.sum(pck * counts / counts.sum()))
    return table


@torch.no_grad()
def predict_penn_video(pose_net: nn.Module, root: str | Path, video: str = "0001", batch_size: int = 32,
                       size: int = 128) -> dict:
    """Steps 1-5 on every frame of one Penn Action video with the authors' ``pose_net`` (H_sup is its 2nd
    output). Returns preds (N x 13 x 2, 1-based like the labels), maxima, heatmaps and the labels."""
    root = Path(root)
    labels = read_penn_labels(root / "labels" / f"{video}.mat")
    pose_net.eval()
    heatmaps = []
    for start in range(0, labels["nframes"], batch_size):
        frames = range(start, min(start + batch_size, labels["nframes"]))
        x = torch.stack([crop_input(root / "frames" / video / f"{j + 1:06d}.jpg", labels["centers"][j],
                                    labels["scales"][j], size) for j in frames])
        heatmaps.append(pose_net(x)[1].numpy())
    heatmaps = np.concatenate(heatmaps)
    preds, maxvals = get_final_preds(heatmaps, labels["centers"], labels["scales"])
    return {"preds": preds, "maxvals": maxvals[..., 0], "heatmaps": heatmaps, **labels}
