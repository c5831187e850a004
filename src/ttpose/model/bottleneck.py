"""The keypoint bottleneck of the self-supervised task (Sec. 3.1.1, after Jakab et al. 2018).

H_self (raw logits, B x k x h x w) -> softmax -> condensed keypoints -> fixed Gaussians at those points,
which is all the pose information the renderer receives about the target frame.

As in the authors' code, each map is marginalised before the softmax: a softmax over the per-row sums
gives p(y), a softmax over the per-column sums gives p(x); the keypoint is (E[x], E[y]) in heatmap pixels
(0 .. w-1, 0 .. h-1). Each keypoint becomes an unnormalised Gaussian exp(-d^2 / 2 sigma^2) on the
heatmap grid, bilinearly upsampled to the input resolution for the pose encoder.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def condensed_keypoints(heatmaps: torch.Tensor) -> torch.Tensor:
    """B x k x h x w logits -> B x k x 2 expected (x, y) in heatmap pixels."""
    _, _, h, w = heatmaps.shape
    p_y = F.softmax(heatmaps.sum(dim=3), dim=-1)  # B x k x h: softmax over the per-row sums
    p_x = F.softmax(heatmaps.sum(dim=2), dim=-1)  # B x k x w: softmax over the per-column sums
    ys = torch.arange(h, dtype=heatmaps.dtype, device=heatmaps.device)
    xs = torch.arange(w, dtype=heatmaps.dtype, device=heatmaps.device)
    return torch.stack([(p_x * xs).sum(-1), (p_y * ys).sum(-1)], dim=-1)


def gaussian_maps(keypoints: torch.Tensor, height: int, width: int, sigma: float) -> torch.Tensor:
    """B x k x 2 points (heatmap pixels) -> B x k x h x w unnormalised Gaussians exp(-d^2 / 2 sigma^2)."""
    ys = torch.arange(height, dtype=keypoints.dtype, device=keypoints.device).view(1, 1, height, 1)
    xs = torch.arange(width, dtype=keypoints.dtype, device=keypoints.device).view(1, 1, 1, width)
    dx2 = (xs - keypoints[..., 0, None, None]) ** 2
    dy2 = (ys - keypoints[..., 1, None, None]) ** 2
    return torch.exp(-(dx2 + dy2) / (2 * sigma**2))


def keypoint_bottleneck(
    heatmaps: torch.Tensor, sigma: float = 2.0, upsample: int = 4
) -> tuple[torch.Tensor, torch.Tensor]:
    """H_self -> (condensed keypoints B x k x 2, Gaussian maps B x k x (h*upsample) x (w*upsample))."""
    _, _, h, w = heatmaps.shape
    keypoints = condensed_keypoints(heatmaps)
    maps = gaussian_maps(keypoints, h, w, sigma)
    if upsample != 1:
        maps = F.interpolate(maps, scale_factor=upsample, mode="bilinear", align_corners=False)
    return keypoints, maps
