"""The keypoint bottleneck of the self-supervised task (Sec. 3.1.1, after Jakab et al. 2018).

H_self (raw logits, B x k x h x w) -> softmax -> condensed keypoints -> fixed Gaussians at those points,
which is all the pose information the renderer receives about the target frame.

As in the authors' code, each map is marginalised before the softmax: a softmax over the per-row sums
gives p(y), a softmax over the per-column sums gives p(x); the keypoint is (E[x], E[y]) in heatmap pixels
(0 .. w-1, 0 .. h-1). Each keypoint becomes an unnormalised Gaussian exp(-d^2 / 2 sigma^2) on the
heatmap grid, bilinearly upsampled to the input resolution for the pose encoder.

Each Gaussian is separable, exp(-d^2 / 2 sigma^2) = exp(-dy^2 / 2 sigma^2) * exp(-dx^2 / 2 sigma^2), and
bilinear upsampling acts on rows and columns separately, so every upsampled map is the outer product of a
row profile and a column profile (`gaussian_profiles`, `SeparableMaps`). The pose encoder's first conv can
then run on the profiles (`SeparableMaps.conv2d`): the same numbers up to float rounding for about a seventh
of the dense conv's multiply-adds (speed option ``separable_gaussians``, ttpose.speed).
"""

from __future__ import annotations

from dataclasses import dataclass

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
    """B x k x 2 points (heatmap pixels) -> B x k x h x w unnormalised Gaussians exp(-d^2 / 2 sigma^2).
    (`gaussian_profiles` gives the same maps as outer products; this is the plain path's rounding.)"""
    ys = torch.arange(height, dtype=keypoints.dtype, device=keypoints.device).view(1, 1, height, 1)
    xs = torch.arange(width, dtype=keypoints.dtype, device=keypoints.device).view(1, 1, 1, width)
    dx2 = (xs - keypoints[..., 0, None, None]) ** 2
    dy2 = (ys - keypoints[..., 1, None, None]) ** 2
    return torch.exp(-(dx2 + dy2) / (2 * sigma**2))


def gaussian_profiles(keypoints: torch.Tensor, height: int, width: int, sigma: float) -> SeparableMaps:
    """B x k x 2 points -> the factors of `gaussian_maps`: rows exp(-dy^2 / 2 sigma^2) (B x k x h) and
    columns exp(-dx^2 / 2 sigma^2) (B x k x w), whose outer product is each Gaussian map."""
    ys = torch.arange(height, dtype=keypoints.dtype, device=keypoints.device)
    xs = torch.arange(width, dtype=keypoints.dtype, device=keypoints.device)
    rows = torch.exp(-((ys - keypoints[..., 1, None]) ** 2) / (2 * sigma**2))
    cols = torch.exp(-((xs - keypoints[..., 0, None]) ** 2) / (2 * sigma**2))
    return SeparableMaps(rows, cols)


@dataclass
class SeparableMaps:
    """B x k x H x W maps that are outer products: map[b, j, y, x] = rows[b, j, y] * cols[b, j, x]."""

    rows: torch.Tensor  # B x k x H
    cols: torch.Tensor  # B x k x W

    def dense(self) -> torch.Tensor:
        """The maps themselves, B x k x H x W."""
        return self.rows[..., :, None] * self.cols[..., None, :]

    def upsample(self, factor: int) -> SeparableMaps:
        """Bilinear upsampling (align_corners=False) of every map: linear interpolation of rows and columns."""
        return SeparableMaps(*(F.interpolate(v, scale_factor=factor, mode="linear", align_corners=False)
                               for v in (self.rows, self.cols)))

    def conv2d(self, weight: torch.Tensor, bias: torch.Tensor | None, padding: int) -> torch.Tensor:
        """``F.conv2d(self.dense(), weight, bias, stride=1, padding=padding)`` (zero padding) without forming
        the maps: out[b, c, y, x] = sum_{j, u, v} weight[c, j, u, v] rows_pad[b, j, y + u] cols_pad[b, j, x + v].
        Multiply-adds per map and output channel: (H*u + H*W) * v instead of H*W*u*v."""
        c, k, kh, kw = weight.shape  # C x k x kh x kw
        b = self.rows.shape[0]
        rows = F.pad(self.rows, (padding, padding)).unfold(-1, kh, 1)  # B x k x H' x kh, H' = H + 2p - kh + 1
        cols = F.pad(self.cols, (padding, padding)).unfold(-1, kw, 1)  # B x k x W' x kw
        h, w = rows.shape[2], cols.shape[2]
        partial = torch.einsum("cjuv,bjyu->bcyjv", weight, rows)  # B x C x H' x k x kw: the rows done
        out = torch.bmm(partial.reshape(b, c * h, k * kw),  # B x (C H') x (k kw) @ B x (k kw) x W'
                        cols.permute(0, 1, 3, 2).reshape(b, k * kw, w)).view(b, c, h, w)
        return out if bias is None else out + bias.view(1, -1, 1, 1)


def keypoint_bottleneck(
    heatmaps: torch.Tensor, sigma: float = 2.0, upsample: int = 4, separable: bool = False
) -> tuple[torch.Tensor, torch.Tensor | SeparableMaps]:
    """H_self -> (condensed keypoints B x k x 2, Gaussian maps B x k x (h*upsample) x (w*upsample)); with
    ``separable`` the maps as their row and column profiles (`SeparableMaps`), never formed."""
    _, _, h, w = heatmaps.shape
    keypoints = condensed_keypoints(heatmaps)
    if separable:
        maps = gaussian_profiles(keypoints, h, w, sigma)
        return keypoints, maps if upsample == 1 else maps.upsample(upsample)
    maps = gaussian_maps(keypoints, h, w, sigma)
    if upsample != 1:
        maps = F.interpolate(maps, scale_factor=upsample, mode="bilinear", align_corners=False)
    return keypoints, maps
