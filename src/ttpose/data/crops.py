"""The crop vocabulary: person box -> square crop region -> S x S crop -> the model's input, and back.

A crop is the square region of side ``size`` pixels centred on ``center``, resized to S x S pixels,
optionally rotated about its centre and mirrored (the HRNet / "simple baselines" convention the authors use).
In crop pixel coordinates

    x_c = R(rotation) (x - center) (S / size) + S / 2,      then, if flipped, x_c <- S - 1 - x_c

with ``rotation`` in degrees, positive = counter-clockwise as the image is displayed (y points down).
Heatmap coordinates are crop coordinates divided by the stride (128 -> 32: stride 4), so heatmap pixel u
corresponds to crop pixel 4u, as HRNet's ``get_affine_transform`` with the heatmap size does.

- The region of a person box (x1, y1, x2, y2) is centred on it, its side the box's longer side x
  `BOX_PADDING` (`box_to_center_size`); the authors' Penn Action / BBC Pose loaders use their own variant
  of that rule on 1-based boxes (`authors_box_rule`). Without a box the region is the whole frame
  (`whole_frame_box`), unpadded.
- `crop_frame` cuts the crop out of a frame; `normalize` turns RGB crops into the model's input (ImageNet
  mean and std), `denormalize` back; `uncrop_points` maps crop or heatmap points back to the frame.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

# crop side = a person box's longer side x this (the authors' padding, for training and test crops alike)
BOX_PADDING = 1.25
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def box_to_center_size(box, padding: float = BOX_PADDING) -> tuple[np.ndarray, float]:
    """(x1, y1, x2, y2) -> the square region around it: centre and side = longer side x padding."""
    x1, y1, x2, y2 = (float(v) for v in box)
    center = np.array([(x1 + x2) / 2, (y1 + y2) / 2], dtype=np.float32)
    return center, max(x2 - x1, y2 - y1, 1.0) * padding


def whole_frame_box(width: int, height: int) -> np.ndarray:
    """The box (x1, y1, x2, y2) of a whole ``width`` x ``height`` frame, 0-based pixels; with padding 1 its
    region is the frame, centred and padded to a square."""
    return np.array([0, 0, width - 1, height - 1], np.float32)


def authors_box_rule(boxes_1based: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 4) 1-based MATLAB boxes -> (N, 2) 0-based crop centres and (N,) crop sides in pixels.

    The rule of the authors' Penn Action and BBC Pose loaders (HRNet's ``_box2cs`` variant with the
    +15 scale shift downward and the 1.25 padding): centre ((x1 + x2 - 1) / 2, (y1 + y2 - 1) / 2), scale =
    max(w, h) / 200 with w = x2 - x1 + 1, centre y += 15 scale, scale *= 1.25, centre -= 1 (to 0-based); the
    side is 200 x scale. Both stay in float64, as theirs do: their crop matrix rounds the centre plus half a
    side to float32, not the centre alone, and a float32 centre moves the crop by about 1e-5 px, enough to flip
    a near-tied heatmap maximum.
    """
    b = np.asarray(boxes_1based, np.float64).reshape(-1, 4)
    x1, y1, x2, y2 = b.T
    center = np.stack([(x1 + x2 - 1) / 2, (y1 + y2 - 1) / 2], axis=1)
    scale = np.maximum(np.maximum(x2 - x1 + 1, y2 - y1 + 1), 1.0) / 200.0
    center[:, 1] += 15 * scale
    scale = scale * BOX_PADDING
    return center - 1, scale * 200.0


def crop_matrix(center, size: float, output_size: int, rotation: float = 0.0, flip: bool = False) -> np.ndarray:
    """2 x 3 affine matrix mapping full-frame pixels to crop pixels (the module's formula).

    Solved, as the authors' ``get_affine_transform`` solves it, from three point pairs held in float32: the
    centre -> the crop's centre, the point half a side above the centre (turned by ``rotation``) -> the middle
    of the crop's top edge, and a third point at a right angle to both. The closed form gives the same matrix
    up to the float32 rounding of the points (about 1e-5 px); solving it their way makes a converted
    checkpoint of theirs see bit for bit the crops their code makes, where a model's heatmaps have near-ties.
    """
    theta = np.pi * float(rotation) / 180
    half = 0.5 * float(size)
    up = np.array([half * np.sin(theta), -half * np.cos(theta)])  # counter-clockwise on screen (y down)
    src = np.zeros((3, 2), np.float32)
    dst = np.zeros((3, 2), np.float32)
    src[0] = center[0], center[1]
    src[1] = np.array([float(center[0]), float(center[1])]) + up
    dst[0] = output_size / 2, output_size / 2
    dst[1] = output_size / 2, 0.0
    for points in (src, dst):  # the third point: the first one's offset from the second, turned by 90 degrees
        d = points[0] - points[1]
        points[2] = points[1] + np.array([-d[1], d[0]], np.float32)
    m = cv2.getAffineTransform(src, dst)
    if flip:
        m[0] = -m[0]
        m[0, 2] += output_size - 1
    return m


def invert_affine(m: np.ndarray) -> np.ndarray:
    """The inverse of a 2 x 3 affine matrix."""
    full = np.vstack([m, [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def transform_points(points: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Apply a 2 x 3 affine matrix to points of shape (..., 2)."""
    points = np.asarray(points, dtype=np.float64)
    return points @ m[:, :2].T + m[:, 2]


def warp_image(image: np.ndarray, m: np.ndarray, output_size: int) -> np.ndarray:
    """The S x S crop of ``image`` under ``m`` (bilinear, black outside the frame)."""
    return cv2.warpAffine(image, m, (output_size, output_size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def crop_frame(image: np.ndarray, center, size: float, input_size: int, scale: float = 1.0,
               rotation: float = 0.0, flip: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(S x S x 3 crop, its 2 x 3 matrix) of one frame under an augmentation."""
    m = crop_matrix(center, size * scale, input_size, rotation, flip)
    return warp_image(image, m, input_size), m


def normalize(images: np.ndarray) -> torch.Tensor:
    """uint8 (..., H, W, 3) RGB -> float32 (..., 3, H, W) normalised with ImageNet statistics."""
    x = (np.asarray(images, dtype=np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, -3)))


def denormalize(images: torch.Tensor) -> np.ndarray:
    """float (..., 3, H, W) -> uint8 (..., H, W, 3) RGB (clipped)."""
    x = np.moveaxis(images.detach().float().cpu().numpy(), -3, -1) * IMAGENET_STD + IMAGENET_MEAN
    return np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)


def uncrop_points(points: np.ndarray, center, size: float, input_size: int, stride: float = 1.0) -> np.ndarray:
    """Crop (stride 1) or heatmap (stride 4) coordinates of an unrotated, unflipped crop -> full frame."""
    points = np.asarray(points, dtype=np.float64) * stride
    scale = float(size) / input_size
    return (points - input_size / 2) * scale + np.asarray(center, dtype=np.float64)
