"""What surrounds the person: the static background canvas of a video (`render_background`, in the look's
style: a soft "scene" or a hard-edged "pattern") and the occluder in front of the person (`occluder_polygon`,
and `inside_convex` to tell which joints it hides)."""

from __future__ import annotations

import cv2
import numpy as np

from ttpose.data.synthetic.appearance import Appearance, hsv_color
from ttpose.data.synthetic.scene import Scene


def _rgb(hue: float, sat: float, val: float) -> np.ndarray:
    return np.array(hsv_color(hue, sat, val), np.float32)


def render_background(look: Appearance, size: int, frame: int, horizon: float) -> np.ndarray:
    """A static (size, size, 3) uint8 canvas; ``horizon`` is the floor line's row in canvas pixels."""
    rng = np.random.default_rng(look.background_seed)
    yy = np.linspace(0.0, 1.0, size, dtype=np.float32)[:, None, None]
    hue = rng.uniform(0, 360)
    clutter = look.clutter
    if look.background == "scene":
        wall1 = _rgb(hue, rng.uniform(0.05, 0.35), rng.uniform(0.55, 0.9))
        wall2 = _rgb(hue + rng.uniform(-30, 30), rng.uniform(0.05, 0.35), rng.uniform(0.4, 0.8))
        floor = _rgb(rng.uniform(0, 360), rng.uniform(0.05, 0.35), rng.uniform(0.3, 0.7))
        img = wall1 + (wall2 - wall1) * yy
        img = np.broadcast_to(img, (size, size, 3)).copy()
        h = int(np.clip(horizon, 0, size))
        img[h:] = floor * (0.85 + 0.15 * np.linspace(0, 1, size - h, dtype=np.float32)[:, None, None])
        for _ in range(int(rng.integers(3, 9) * clutter)):
            c = hsv_color(rng.uniform(0, 360), rng.uniform(0.05, 0.45), rng.uniform(0.25, 0.95))
            x0, y0 = rng.uniform(0, size, 2)
            w, hh = rng.uniform(0.05, 0.35, 2) * frame
            if rng.uniform() < 0.6:
                cv2.rectangle(img, (int(x0), int(y0)), (int(x0 + w), int(y0 + hh)), c, -1)
            else:
                cv2.ellipse(img, (int(x0), int(y0)), (int(w / 2), int(hh / 2)), 0, 0, 360, c, -1)
        img = cv2.GaussianBlur(img, (0, 0), max(0.6, 1.2 * frame / 128))
        img += rng.normal(0, 3.0, img.shape).astype(np.float32)
    else:  # "pattern": hard-edged tiles, checkered floor, saturated clutter
        c1 = _rgb(hue, rng.uniform(0.3, 0.8), rng.uniform(0.4, 0.9))
        c2 = _rgb(hue + rng.uniform(90, 270), rng.uniform(0.3, 0.8), rng.uniform(0.3, 0.9))
        tile = max(3, int(frame * rng.uniform(0.04, 0.12)))
        ys, xs = np.mgrid[0:size, 0:size]
        kind = int(rng.integers(3))
        if kind == 0:  # bricks
            off = ((ys // tile) % 2) * (tile // 2)
            mortar = ((ys % tile) < max(1, tile // 6)) | (((xs + off) % (2 * tile)) < max(1, tile // 6))
            img = np.where(mortar[..., None], c2, c1)
        elif kind == 1:  # diagonal stripes
            img = np.where((((xs + ys) // tile) % 2 == 0)[..., None], c1, c2)
        else:  # checks
            img = np.where((((xs // tile) + (ys // tile)) % 2 == 0)[..., None], c1, c2)
        img = img.astype(np.float32)
        h = int(np.clip(horizon, 0, size))
        f1 = _rgb(rng.uniform(0, 360), rng.uniform(0.2, 0.7), rng.uniform(0.3, 0.8))
        ftile = max(4, int(frame * rng.uniform(0.08, 0.16)))
        floor_checks = (((xs[h:] // ftile) + (ys[h:] // max(2, ftile // 2))) % 2 == 0)[..., None]
        img[h:] = np.where(floor_checks, f1, f1 * 0.55)
        for _ in range(int(rng.integers(6, 14) * clutter)):
            c = hsv_color(rng.uniform(0, 360), rng.uniform(0.5, 1.0), rng.uniform(0.3, 1.0))
            x0, y0 = (int(v) for v in rng.uniform(0, size, 2))
            w, hh = (int(v) for v in rng.uniform(0.03, 0.25, 2) * frame)
            k = rng.uniform()
            if k < 0.4:
                cv2.rectangle(img, (x0, y0), (x0 + w, y0 + hh), c, -1)
            elif k < 0.7:
                x1, y1 = (int(v) for v in rng.uniform(0, size, 2))
                cv2.line(img, (x0, y0), (x1, y1), c, max(1, int(frame / 64)))
            else:
                cv2.circle(img, (x0, y0), max(2, w // 2), c, -1)
        img += rng.normal(0, 6.0 * clutter, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def occluder_polygon(scene: Scene, frame: int, ground_y: float, person_x: float) -> np.ndarray:
    """(V, 2) world-pixel convex polygon of the occluder at frame 0."""
    gx, gy, gw, gh, _ = scene.occluder_geom
    x = person_x + (gx - 0.5) * 0.5 * frame
    if scene.occluder == "post":
        w = (0.05 + 0.07 * gw) * frame
        top = -0.2 * frame if gh < 0.6 else ground_y - (0.5 + 0.4 * gh) * frame
        bottom = 1.3 * frame
        return np.array([[x - w / 2, top], [x + w / 2, top], [x + w / 2, bottom], [x - w / 2, bottom]])
    if scene.occluder == "crate":
        w, h = (0.22 + 0.25 * gw) * frame, (0.15 + 0.25 * gh) * frame
        y1 = ground_y + 0.05 * frame * gy
        return np.array([[x - w / 2, y1 - h], [x + w / 2, y1 - h], [x + w / 2, y1], [x - w / 2, y1]])
    if scene.occluder == "bar":
        h = (0.06 + 0.08 * gh) * frame
        y = ground_y - (0.15 + 0.55 * gy) * frame
        return np.array([[-0.3 * frame, y - h / 2], [1.3 * frame, y - h / 2], [1.3 * frame, y + h / 2],
                         [-0.3 * frame, y + h / 2]])
    # bush: an ellipse sitting on the ground
    rx, ry = (0.12 + 0.12 * gw) * frame, (0.1 + 0.12 * gh) * frame
    a = np.linspace(0, 2 * np.pi, 20, endpoint=False)
    return np.stack([x + rx * np.cos(a), ground_y + 0.02 * frame - ry * 0.6 + ry * np.sin(a)], axis=1)


def inside_convex(points: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """(N, K) bool: point (N, K, 2) strictly inside the convex polygon (N, V, 2) of its frame."""
    v0 = poly[:, None, :, :]  # (N, 1, V, 2)
    v1 = np.roll(poly, -1, axis=1)[:, None, :, :]
    p = points[:, :, None, :]  # (N, K, 1, 2)
    edge, rel = v1 - v0, p - v0  # (N, K, V, 2)
    cross = edge[..., 0] * rel[..., 1] - edge[..., 1] * rel[..., 0]
    return np.all(cross > 0, axis=-1) | np.all(cross < 0, axis=-1)
