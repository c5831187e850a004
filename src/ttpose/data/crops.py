"""Box <-> crop geometry (the HRNet / "simple baselines" convention the authors use).

A crop is the square region of side ``size`` pixels centred on ``center``, resized to S x S pixels,
optionally rotated about its centre and mirrored. In crop pixel coordinates

    x_c = R(rotation) (x - center) (S / size) + S / 2,      then, if flipped, x_c <- S - 1 - x_c

with ``rotation`` in degrees, positive = counter-clockwise as the image is displayed (y points down).
Heatmap coordinates are crop coordinates divided by the stride (128 -> 32: stride 4), so heatmap pixel u
corresponds to crop pixel 4u, as HRNet's ``get_affine_transform`` with the heatmap size does.
"""

from __future__ import annotations

import cv2
import numpy as np


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


def box_to_center_size(box, padding: float = 1.25) -> tuple[np.ndarray, float]:
    """(x1, y1, x2, y2) -> the square region around it: centre and side = longer side x padding."""
    x1, y1, x2, y2 = (float(v) for v in box)
    center = np.array([(x1 + x2) / 2, (y1 + y2) / 2], dtype=np.float32)
    return center, max(x2 - x1, y2 - y1, 1.0) * padding


def uncrop_points(points: np.ndarray, center, size: float, input_size: int, stride: float = 1.0) -> np.ndarray:
    """Crop (stride 1) or heatmap (stride 4) coordinates of an unrotated, unflipped crop -> full frame."""
    points = np.asarray(points, dtype=np.float64) * stride
    scale = float(size) / input_size
    return (points - input_size / 2) * scale + np.asarray(center, dtype=np.float64)
