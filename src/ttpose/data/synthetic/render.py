"""Pixels of a synthetic video, frame by frame on demand (`SyntheticFrames`): the background canvas seen through
the frame's camera, then the body's parts far to near (anti-aliased capsules with their texture cells, the
head with hair, face and eyes), then the occluder. Everything a frame needs is computed up front
(`FrameGeometry`, by `ttpose.data.synthetic.video`), so a frame's pixels never depend on which frames were
read before.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ttpose.data.synthetic.appearance import Appearance
from ttpose.data.synthetic.kinematics import HEAD, LEYE, NECK, NOSE, REYE, Body
from ttpose.data.synthetic.parts import PART_INDEX, PARTS, capsules, part_specs
from ttpose.data.synthetic.scene import Scene
from ttpose.data.synthetic.scenery import render_background

_SHIFT = 4  # fixed-point bits for sub-pixel drawing with cv2
_ONE = float(1 << _SHIFT)


@dataclass(frozen=True)
class FrameGeometry:
    """Where everything is in each of the N frames of one video (image pixels unless said otherwise)."""

    points: np.ndarray  # (N, NUM_POINTS, 2) the body's points
    depth: np.ndarray  # (N, parts) depth of each part of PARTS (larger: nearer the camera)
    half_widths: np.ndarray  # (N, parts, 2) half widths at each part's two points
    cameras: np.ndarray  # (N, 2, 3) world -> image affine of each frame
    canvas_margin: int  # the background canvas extends this far beyond the frame on every side
    horizon: float  # the floor line's row in world pixels
    occluder: np.ndarray | None  # (N, V, 2) the occluder's polygon, or None
    face_visible: np.ndarray  # (N,) bool: the face turns toward the camera


def _fixed(p: np.ndarray) -> tuple[int, int]:
    """A point in cv2's fixed-point pixel coordinates (``_SHIFT`` fractional bits)."""
    return (int(round(float(p[0]) * _ONE)), int(round(float(p[1]) * _ONE)))


class SyntheticFrames:
    """ImageSource of one synthetic video: frame i is rendered on demand from precomputed geometry.

    The static layers (background canvas) are built on first use from the video's own parameters, so the
    pixels never depend on which frames were read before.
    """

    def __init__(self, look: Appearance, scene: Scene, frame_size: int, geometry: FrameGeometry):
        self.look, self.scene, self.frame_size = look, scene, frame_size
        self.points = geometry.points.astype(np.float32)  # (N, P, 2) image pixels
        self.order = np.argsort(geometry.depth, axis=1, kind="stable").astype(np.int16)  # (N, parts) far to near
        self.half_widths = geometry.half_widths.astype(np.float32)  # (N, parts, 2) pixels
        self.cameras = geometry.cameras.astype(np.float64)  # (N, 2, 3) world -> image affine
        self.canvas_margin, self.horizon = geometry.canvas_margin, geometry.horizon
        self.occluder = geometry.occluder  # (N, V, 2) image pixels, or None
        self.face_visible = geometry.face_visible  # (N,) bool
        self.specs = part_specs(look, Body.of(look))
        self._a = np.array([p.a for p in PARTS])
        self._b = np.array([p.b for p in PARTS])
        self._rho = np.array([p.roundness for p in PARTS], dtype=np.float64)
        # texture cells of all parts, concatenated: corners (M, 4, 2) in (t, s), owning part, colour
        corners, owner, self._cell_colors, self._cell_range = [], [], [], []
        for k, spec in enumerate(self.specs):
            start = len(owner)
            for cell_corners, color in spec.cells:
                corners.append(cell_corners)
                owner.append(k)
                self._cell_colors.append(tuple(float(x) for x in color))
            self._cell_range.append((start, len(owner)))
        self._cell_corners = np.array(corners, dtype=np.float64).reshape(-1, 4, 2)
        self._cell_owner = np.array(owner, dtype=np.int64)
        self._canvas: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.points)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_canvas"] = None  # rebuilt on demand; keeps pickles (DataLoader workers) small
        return state

    def canvas(self) -> np.ndarray:
        if self._canvas is None:
            size = self.frame_size + 2 * self.canvas_margin
            horizon = self.horizon + self.canvas_margin
            self._canvas = render_background(self.look, size, self.frame_size, horizon)
        return self._canvas

    def background(self, i: int) -> np.ndarray:
        """Frame i without the person and the occluder: the canvas seen through frame i's camera."""
        f = self.frame_size
        cam = self.cameras[i].copy()
        cam[:, 2] -= cam[:, :2] @ np.array([self.canvas_margin, self.canvas_margin], dtype=np.float64)
        return cv2.warpAffine(
            self.canvas(), cam, (f, f), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
        )

    def __getitem__(self, i: int) -> np.ndarray:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"frame {i} out of range for a synthetic video of {n} frames")
        i = i % n
        img = self.background(i)
        pts = self.points[i].astype(np.float64)
        hw = self.half_widths[i].astype(np.float64)
        a, b = pts[self._a], pts[self._b]
        caps, u, nrm = capsules(a, b, hw[:, 0], hw[:, 1], self._rho)
        caps = np.round(caps * _ONE).astype(np.int32)
        k = self._cell_owner
        t, s = self._cell_corners[..., 0:1], self._cell_corners[..., 1:2]  # (M, 4, 1)
        half = hw[k, None, 0:1] + t * (hw[k, None, 1:2] - hw[k, None, 0:1])
        cells = a[k, None] + t * (b[k, None] - a[k, None]) + s * half * nrm[k, None]  # (M, 4, 2)
        cells = np.round(cells * _ONE).astype(np.int32)
        head = PART_INDEX["head"]
        for p in self.order[i]:
            if p == head:
                self._draw_head(img, pts, hw[head, 0], i)
                continue
            if hw[p, 0] <= 0:
                continue
            cv2.fillConvexPoly(img, caps[p], self.specs[p].base, cv2.LINE_AA, _SHIFT)
            for m in range(*self._cell_range[p]):
                cv2.fillConvexPoly(img, cells[m], self._cell_colors[m], cv2.LINE_AA, _SHIFT)
        if self.occluder is not None:
            self._draw_occluder(img, i)
        return img

    def _draw_head(self, img: np.ndarray, pts: np.ndarray, r: float, i: int) -> None:
        look = self.look
        c = pts[HEAD]
        up = c - pts[NECK]
        up = up / max(np.linalg.norm(up), 1e-6)
        hair_r = int(round(1.06 * r * _ONE))
        cv2.circle(img, _fixed(c + 0.08 * r * up), hair_r, look.hair, -1, cv2.LINE_AA, _SHIFT)
        if self.face_visible[i]:
            face = c + 0.55 * (pts[NOSE] - c) - 0.12 * r * up
            ang = math.degrees(math.atan2(up[0], -up[1]))
            axes = (int(round(0.82 * r * _ONE)), int(round(0.86 * r * _ONE)))
            cv2.ellipse(img, _fixed(face), axes, ang, 0, 360, look.skin, -1, cv2.LINE_AA, _SHIFT)
            if r >= 5.0:  # eyes only where the head is big enough to show them
                eye_r = max(1, int(round(0.09 * r * _ONE)))
                for e in (LEYE, REYE):
                    cv2.circle(img, _fixed(pts[e]), eye_r, (25, 20, 20), -1, cv2.LINE_AA, _SHIFT)

    def _draw_occluder(self, img: np.ndarray, i: int) -> None:
        poly = self.occluder[i]
        sc = self.scene
        ip = np.round(poly * _ONE).astype(np.int32)
        cv2.fillConvexPoly(img, ip, sc.occluder_color, cv2.LINE_AA, _SHIFT)
        if sc.occluder in ("crate", "post") and len(poly) == 4:
            # planks: lines across the longer side
            p0, p1, p2, p3 = poly
            k = 4
            for j in range(1, k):
                t = j / k
                if sc.occluder == "crate":
                    e0, e1 = p0 + t * (p3 - p0), p1 + t * (p2 - p1)
                else:
                    e0, e1 = p0 + t * (p1 - p0), p3 + t * (p2 - p3)
                width = max(1, self.frame_size // 96)
                cv2.line(img, _fixed(e0), _fixed(e1), sc.occluder_color2, width, cv2.LINE_AA, _SHIFT)

    def materialize(self) -> np.ndarray:
        """All frames as an (N, H, W, 3) uint8 array."""
        out = np.empty((len(self), self.frame_size, self.frame_size, 3), np.uint8)
        for i in range(len(self)):
            out[i] = self[i]
        return out
