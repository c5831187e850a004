"""Pictures: skeletons on frames, generic vs personalized overlays, image strips, and the paper's Fig. 5.

``draw_affinity`` follows Fig. 5 and Sec. 4.4 of the paper: an arrow from each self-supervised keypoint to
each supervised keypoint where the Transformer's affinity W (k_sup x k_self, Eq. 11-12:
H_sup = H_self W^T) is above 0.1, warmer colours for larger weights. Self-supervised keypoints are coloured
by their contribution c_j = sum_i W_ij to the pose (Appendix B, Eq. 13).

All drawing is on a copy of the image (RGB uint8, colours given as RGB); joints and arrows may lie partly
or wholly outside the image. Matplotlib figures use the Agg canvas directly (no pyplot, no global backend).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ttpose.atomic import atomic_path
from ttpose.skeletons import Skeleton

Color = tuple[int, int, int]
GENERIC_COLOR: Color = (255, 80, 60)  # red-orange
PERSONALIZED_COLOR: Color = (40, 200, 255)  # light blue
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an H x W x 3 uint8 RGB image, got shape {image.shape} {image.dtype}")
    return np.ascontiguousarray(image).copy()


Segment = tuple[tuple[int, int], tuple[int, int]]


def _clip_segment(p, q, width: int, height: int, margin: float) -> Segment | None:
    """Liang-Barsky: the part of segment p-q inside the image grown by ``margin``, as int points (or None).

    Keeps cv2 away from huge coordinates while keeping the segment's direction.
    """
    (x0, y0), (x1, y1) = p, q
    dx, dy = x1 - x0, y1 - y0
    lo, hi = 0.0, 1.0
    for pk, qk in ((-dx, x0 + margin), (dx, width - 1 + margin - x0),
                   (-dy, y0 + margin), (dy, height - 1 + margin - y0)):
        if pk == 0:
            if qk < 0:
                return None
        else:
            t = qk / pk
            if pk < 0:
                lo = max(lo, t)
            else:
                hi = min(hi, t)
    if lo > hi:
        return None
    a = (round(x0 + lo * dx), round(y0 + lo * dy))
    b = (round(x0 + hi * dx), round(y0 + hi * dy))
    return a, b


def _thickness(image: np.ndarray) -> int:
    return max(1, round(max(image.shape[:2]) / 200))


def draw_skeleton(
    image: np.ndarray,
    joints: np.ndarray,
    skeleton: Skeleton,
    color: Color = PERSONALIZED_COLOR,
    confidence: np.ndarray | None = None,
    visible: np.ndarray | None = None,
    thickness: int | None = None,
    min_confidence: float = 0.0,
) -> np.ndarray:
    """A copy of ``image`` with limbs as lines and joints as dots (K, 2 joints in 0-based pixels).

    A joint is drawn if it is ``visible`` (default all), finite, and its ``confidence`` (K,) is at least
    ``min_confidence``; a limb if both ends are drawn. Lower confidence draws a darker dot.
    """
    canvas = _check_image(image)
    joints = np.asarray(joints, dtype=np.float64)
    k = skeleton.num_joints
    if joints.shape != (k, 2):
        raise ValueError(f"joints must be {k} x 2 for skeleton {skeleton.name}, got shape {joints.shape}")
    draw = np.isfinite(joints).all(axis=1)
    if visible is not None:
        draw &= np.asarray(visible, bool).reshape(k)
    conf = np.ones(k) if confidence is None else np.clip(np.asarray(confidence, np.float64).reshape(k), 0, 1)
    draw &= conf >= min_confidence
    h, w = canvas.shape[:2]
    thickness = thickness or _thickness(canvas)
    for a, b in skeleton.limbs:
        if draw[a] and draw[b]:
            segment = _clip_segment(joints[a], joints[b], w, h, margin=thickness)
            if segment is not None:
                cv2.line(canvas, segment[0], segment[1], color, thickness, cv2.LINE_AA)
    for j in np.flatnonzero(draw):
        x, y = joints[j]
        if -thickness * 2 <= x <= w - 1 + thickness * 2 and -thickness * 2 <= y <= h - 1 + thickness * 2:
            shade = tuple(int(c * (0.4 + 0.6 * conf[j])) for c in color)
            cv2.circle(canvas, (round(x), round(y)), thickness + 1, shade, -1, cv2.LINE_AA)
    return canvas


def _legend(canvas: np.ndarray, entries: Sequence[tuple[str, Color]]) -> None:
    """A small legend (coloured line + label per entry) in the top-left corner, in place."""
    h, w = canvas.shape[:2]
    scale = max(0.3, min(w, h) / 600)
    text_h = cv2.getTextSize("Ag", _FONT, scale, 1)[0][1]
    line_w, pad = max(10, text_h * 2), max(2, text_h // 2)
    box_w = pad * 3 + line_w + max(cv2.getTextSize(t, _FONT, scale, 1)[0][0] for t, _ in entries)
    box_h = pad + len(entries) * (text_h + pad * 2)
    region = canvas[:box_h, :box_w]
    region[:] = (region * 0.4).astype(np.uint8)  # darken behind the text
    for i, (text, color) in enumerate(entries):
        y = pad + i * (text_h + pad * 2) + text_h
        cv2.line(canvas, (pad, y - text_h // 2), (pad + line_w, y - text_h // 2), color, max(1, text_h // 4))
        cv2.putText(canvas, text, (pad * 2 + line_w, y), _FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)


def overlay_two(
    image: np.ndarray,
    joints_a: np.ndarray,
    joints_b: np.ndarray,
    skeleton: Skeleton,
    labels: tuple[str, str] = ("generic", "personalized"),
    colors: tuple[Color, Color] = (GENERIC_COLOR, PERSONALIZED_COLOR),
) -> np.ndarray:
    """Two predictions on one frame (e.g. before and after personalization) with a small legend."""
    canvas = draw_skeleton(image, joints_a, skeleton, colors[0])
    canvas = draw_skeleton(canvas, joints_b, skeleton, colors[1])
    _legend(canvas, list(zip(labels, colors, strict=True)))
    return canvas


def image_strip(
    images: Sequence[np.ndarray],
    rows: int | None = None,
    cols: int | None = None,
    titles: Sequence[str] | None = None,
    pad: int = 4,
    background: int = 255,
) -> np.ndarray:
    """Images in a grid (row by row), each scaled to the first one's height, with optional titles above.

    By default one row. Grayscale (H, W) images are shown as RGB.
    """
    if not images:
        raise ValueError("image_strip needs at least one image")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"{len(titles)} titles for {len(images)} images")
    n = len(images)
    if rows is None and cols is None:
        rows, cols = 1, n
    elif cols is None:
        cols = -(-n // rows)
    elif rows is None:
        rows = -(-n // cols)
    if rows * cols < n:
        raise ValueError(f"a {rows} x {cols} grid cannot hold {n} images")
    cell_h = _check_image(images[0]).shape[0]
    scaled = []
    for im in images:
        im = _check_image(im)
        new_w = max(1, round(im.shape[1] * cell_h / im.shape[0]))
        if im.shape[0] != cell_h:
            im = cv2.resize(im, (new_w, cell_h), interpolation=cv2.INTER_AREA)
        scaled.append(im)
    cell_w = max(im.shape[1] for im in scaled)
    scale = max(0.3, cell_h / 400)
    title_h = cv2.getTextSize("Ag", _FONT, scale, 1)[0][1] + 2 * pad if titles else 0
    out_h, out_w = rows * (cell_h + title_h + pad) + pad, cols * (cell_w + pad) + pad
    out = np.full((out_h, out_w, 3), background, np.uint8)
    for i, im in enumerate(scaled):
        r, c = divmod(i, cols)
        y0 = pad + r * (cell_h + title_h + pad) + title_h
        x0 = pad + c * (cell_w + pad) + (cell_w - im.shape[1]) // 2
        out[y0:y0 + cell_h, x0:x0 + im.shape[1]] = im
        if titles:
            ink = (0, 0, 0) if background > 127 else (255, 255, 255)
            origin = (pad + c * (cell_w + pad), y0 - pad)
            cv2.putText(out, str(titles[i]), origin, _FONT, scale, ink, 1, cv2.LINE_AA)
    return out


def warm_colors(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] -> RGB uint8 (N, 3) on a blue (cold, low) to red (warm, high) colour map."""
    levels = np.clip(np.asarray(values, np.float64).reshape(-1) * 255, 0, 255).astype(np.uint8)
    if levels.size == 0:
        return np.zeros((0, 3), np.uint8)
    bgr = cv2.applyColorMap(levels[:, None], cv2.COLORMAP_JET)[:, 0]  # N x 3
    return bgr[:, ::-1].copy()


def draw_affinity(
    image: np.ndarray,
    self_keypoints: np.ndarray,
    sup_keypoints: np.ndarray,
    affinity: np.ndarray,
    threshold: float = 0.1,
    thickness: int | None = None,
) -> tuple[np.ndarray, int]:
    """Fig. 5: arrows self-supervised keypoint j -> supervised keypoint i where W[i, j] > threshold.

    ``self_keypoints`` (k_self, 2) and ``sup_keypoints`` (K, 2) in the image's pixels; ``affinity`` W is
    (K, k_self).
    Arrow colour: W[i, j] from the threshold (coldest) to the largest drawn weight (warmest);
    self-supervised dots: contribution c_j = sum_i W[i, j] (Eq. 13), scaled to the largest; supervised
    keypoints: white dots. Returns (copy, number of arrows).
    """
    canvas = _check_image(image)
    self_kp = np.asarray(self_keypoints, np.float64)
    sup_kp = np.asarray(sup_keypoints, np.float64)
    weights = np.asarray(affinity, np.float64)
    k_self, k_sup = len(self_kp), len(sup_kp)
    if self_kp.shape != (k_self, 2) or sup_kp.shape != (k_sup, 2) or weights.shape != (k_sup, k_self):
        raise ValueError("expected self_keypoints (k_self, 2), sup_keypoints (K, 2) and affinity "
                         f"(K, k_self); got {self_kp.shape}, {sup_kp.shape}, {weights.shape}")
    if not (np.isfinite(self_kp).all() and np.isfinite(sup_kp).all() and np.isfinite(weights).all()):
        raise ValueError("keypoints and affinity must be finite")
    h, w = canvas.shape[:2]
    thickness = thickness or _thickness(canvas)
    pairs = np.argwhere(weights > threshold)  # (i_sup, j_self) rows
    order = np.argsort(weights[pairs[:, 0], pairs[:, 1]], kind="stable")  # warmest drawn last (on top)
    pairs = pairs[order]
    shown = weights[pairs[:, 0], pairs[:, 1]]
    colors = warm_colors((shown - threshold) / max(shown.max(initial=0) - threshold, 1e-12))
    for (i, j), color in zip(pairs, colors, strict=True):
        start, end = self_kp[j], sup_kp[i]
        length = float(np.hypot(*(end - start)))
        segment = _clip_segment(start, end, w, h, margin=thickness * 4)
        if segment is not None:
            tip = min(0.3, 8 * thickness / length) if length > 0 else 0.1
            rgb = tuple(int(c) for c in color)
            cv2.arrowedLine(canvas, segment[0], segment[1], rgb, thickness, cv2.LINE_AA, tipLength=tip)
    contribution = weights.sum(axis=0)  # c_j, (k_self,)
    dot_colors = warm_colors(contribution / max(contribution.max(), 1e-12))
    radius = thickness + 1
    for (x, y), color in zip(self_kp, dot_colors, strict=True):
        if -radius <= x <= w - 1 + radius and -radius <= y <= h - 1 + radius:
            cv2.circle(canvas, (round(x), round(y)), radius, tuple(int(c) for c in color), -1, cv2.LINE_AA)
    for x, y in sup_kp:
        if -radius <= x <= w - 1 + radius and -radius <= y <= h - 1 + radius:
            cv2.circle(canvas, (round(x), round(y)), radius + 1, (255, 255, 255), -1, cv2.LINE_AA)
            cv2.circle(canvas, (round(x), round(y)), radius + 1, (0, 0, 0), 1, cv2.LINE_AA)
    return canvas, len(pairs)


def affinity_matrix_figure(
    affinity: np.ndarray,
    joint_names: Sequence[str],
    path: str | Path,
    title: str | None = None,
    dpi: int = 100,
) -> Path:
    """Heatmap of W (K supervised joints x k_self self-supervised keypoints), saved atomically.

    The format follows the suffix (png, pdf, svg, ...).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    weights = np.asarray(affinity, np.float64)
    if weights.ndim != 2 or weights.shape[0] != len(joint_names):
        raise ValueError(f"affinity must be K x k_self with K = {len(joint_names)} joint names, "
                         f"got shape {weights.shape}")
    k_sup, k_self = weights.shape
    fig = Figure(figsize=(max(4.0, 0.25 * k_self + 2.5), max(3.0, 0.3 * k_sup + 1.5)), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    mesh = ax.imshow(weights, cmap="jet", vmin=0, vmax=max(float(weights.max()), 1e-12), aspect="auto")
    ax.set_yticks(range(k_sup), labels=list(joint_names), fontsize=7)
    ax.set_xticks(range(k_self), labels=[str(j) for j in range(k_self)], fontsize=6)
    ax.set_xlabel("self-supervised keypoint j")
    ax.set_title(title or "affinity W (supervised x self-supervised)", fontsize=9)
    fig.colorbar(mesh, ax=ax, fraction=0.04)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".").lower() or "png")
    return path
