"""A labelled synthetic video, assembled step by step (`make_video`): the person's 3-D pose over time, framed
in the picture, seen through a moving camera; the parts' widths and depth order; the occluder; the labels
(joints, visibility, boxes and crop windows); then the frames, rendered on demand (`SyntheticFrames`).
Also populations of videos (`make_population`), one person over several scenes (`make_long_video`) and
rendering every frame at once (`materialize`).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import NamedTuple

import numpy as np

from ttpose.data.crops import BOX_PADDING
from ttpose.data.synthetic.appearance import Appearance
from ttpose.data.synthetic.config import SyntheticConfig
from ttpose.data.synthetic.kinematics import HEAD, LHIP, LSHO, NOSE, PELVIS, RHIP, RSHO, Body, forward_kinematics
from ttpose.data.synthetic.motion import joint_angles
from ttpose.data.synthetic.parts import PART_INDEX, PARTS, capsules
from ttpose.data.synthetic.people import later_scene, person_parameters
from ttpose.data.synthetic.render import FrameGeometry, SyntheticFrames
from ttpose.data.synthetic.scene import Scene
from ttpose.data.synthetic.scenery import inside_convex, occluder_polygon
from ttpose.data.types import Video
from ttpose.skeletons import PENN_ACTION


def make_video(split: str, index: int, seed: int = 0, config: SyntheticConfig | None = None) -> Video:
    """Video ``index`` of population ``split`` ("train", "val", "test"); deterministic in its arguments."""
    config = config or SyntheticConfig()
    look, scene = person_parameters(split, index, seed, config)
    return _render(look, scene, config, f"{split}-{index:04d}", f"{split}-person-{index:04d}")


def make_population(
    split: str, num_videos: int, seed: int = 0, config: SyntheticConfig | None = None
) -> list[Video]:
    """Videos 0 .. num_videos - 1 of ``split`` (frames rendered lazily)."""
    if num_videos < 0:
        raise ValueError(f"make_population: num_videos must be >= 0, got {num_videos}")
    return [make_video(split, i, seed, config) for i in range(num_videos)]


def make_long_video(split: str, index: int, seed: int = 0, config: SyntheticConfig | None = None,
                    segments: int = 8) -> Video:
    """One person over ``segments`` x ``config.frames_per_video`` frames, the motion varying over time: person
    ``index`` of ``split`` (the look of `make_video`'s video, whose scene is the first segment), then a new
    scene per segment (motion, its speed and amplitude, framing, camera, occluder: as if the recording cut to
    another action of the same person in the same place). Labels and boxes are concatenated with the frames."""
    config = config or SyntheticConfig()
    if segments < 1:
        raise ValueError(f"make_long_video: segments must be >= 1, got {segments}")
    look, first = person_parameters(split, index, seed, config)
    scenes = [first] + [later_scene(split, index, seed, k, config) for k in range(1, segments)]
    parts = [_render(look, scene, config, "", "") for scene in scenes]
    return Video(
        video_id=f"{split}-long-{index:04d}", person_id=f"{split}-person-{index:04d}", skeleton=PENN_ACTION,
        images=ConcatFrames([v.images for v in parts]),
        **{name: np.concatenate([getattr(v, name) for v in parts])
           for name in ("joints", "visible", "boxes", "centers", "sizes")},
    )


class ConcatFrames:
    """The frames of several image sources, one after another (`make_long_video`)."""

    def __init__(self, sources: list):
        self.sources = sources
        self.starts = np.cumsum([0] + [len(x) for x in sources])

    def __len__(self) -> int:
        return int(self.starts[-1])

    def __getitem__(self, i: int) -> np.ndarray:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"frame {i} out of range for a video of {n} frames")
        i %= n
        k = int(np.searchsorted(self.starts, i, side="right")) - 1
        return self.sources[k][i - int(self.starts[k])]


def materialize(video: Video) -> Video:
    """The same video with every frame rendered into an (N, H, W, 3) uint8 array (fast repeated reads)."""
    images = video.images.materialize() if isinstance(video.images, SyntheticFrames) else np.stack(
        [video.images[i] for i in range(len(video))]
    )
    return replace(video, images=images)


# ----------------------------------------------------------------------------------------------------------
# The steps of one video: pose -> framing -> camera -> parts -> occluder -> labels -> frames
# ----------------------------------------------------------------------------------------------------------


def _render(look: Appearance, scene: Scene, config: SyntheticConfig, video_id: str, person_id: str) -> Video:
    """The labelled frames of one person (``look``) in one ``scene``: geometry now, pixels on demand."""
    f, n = config.frame_size, config.frames_per_video
    body = Body.of(look)
    ang, pts3 = _pose(body, scene, n)  # (N, P, 3) body units
    framing = _frame_person(pts3, body, scene, f)
    camera = _camera(scene, n, f)
    img_pts = camera.apply(framing.world)  # (N, P, 2) image pixels
    half = _half_widths(look, body, ang["yaw"], framing.scale * camera.zoom)
    depth, face_visible = _depth(pts3[..., 2], body)
    occluder = _occluder(scene, f, framing, camera)
    joints, visible = _joint_labels(img_pts, occluder, f)
    boxes = _body_boxes(img_pts, half, f)
    centers = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], axis=1)
    sizes = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) * BOX_PADDING
    geometry = FrameGeometry(
        points=img_pts, depth=depth, half_widths=half, cameras=camera.matrices(),
        canvas_margin=int(math.ceil(0.2 * f)) + 2, horizon=framing.ground_y - 0.12 * f, occluder=occluder,
        face_visible=face_visible,
    )
    return Video(
        video_id=video_id,
        person_id=person_id,
        skeleton=PENN_ACTION,
        images=SyntheticFrames(look, scene, f, geometry),
        joints=joints.astype(np.float32),
        visible=visible,
        boxes=boxes.astype(np.float32),
        centers=centers.astype(np.float32),
        sizes=sizes.astype(np.float32),
    )


def _progress(n: int) -> np.ndarray:
    """(N,) -0.5 at the first frame .. 0.5 at the last (0 for a single frame)."""
    t = np.arange(n, dtype=np.float64)
    return t / max(n - 1, 1) - 0.5


def _pose(body: Body, scene: Scene, n: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """(joint angles, 3-D points (N, P, 3) in body units): the scene's motion, plus its horizontal drift."""
    ang, plane = joint_angles(scene, n)
    pts3 = forward_kinematics(ang, body, plane)
    pts3[:, :, 0] += (scene.drift * _progress(n))[:, None]
    return ang, pts3


class Framing(NamedTuple):
    world: np.ndarray  # (N, P, 2) the body's points in world pixels (the frame before the camera moves)
    ground_y: float  # the ground's row, world pixels
    scale: float  # world pixels per body unit


def _frame_person(pts3: np.ndarray, body: Body, scene: Scene, f: int) -> Framing:
    """Scale and place the union of the person's extents over the video in an f x f frame (`Scene.fill`,
    `Scene.place`; a cut-off framing is centred, then pushed down so that the feet leave the frame first)."""
    pad = 0.06 * body.thick + body.head_r * 0.1
    lo = pts3[:, :, :2].reshape(-1, 2).min(axis=0) - pad
    hi = pts3[:, :, :2].reshape(-1, 2).max(axis=0) + pad
    hi[1] = max(hi[1], pts3[:, HEAD, 1].max() + 1.1 * body.head_r)
    ext = hi - lo
    scale = scene.fill * f / float(ext.max())  # pixels per body unit at zoom 1
    room = f - ext * scale  # free pixels in x and y (negative for cut-off framings)
    margin = 0.02 * f
    px, py = scene.place
    if scene.cutoff:
        x0 = room[0] * px
        y0 = room[1] * 0.5 + 0.1 * f * py
    else:
        x0 = margin + max(room[0] - 2 * margin, 0.0) * px
        y0 = margin + max(room[1] - 2 * margin, 0.0) * py
    world = np.empty(pts3.shape[:2] + (2,))
    world[..., 0] = x0 + (pts3[..., 0] - lo[0]) * scale
    world[..., 1] = y0 + (hi[1] - pts3[..., 1]) * scale
    return Framing(world, y0 + hi[1] * scale, scale)


class Camera(NamedTuple):
    """Per-frame affine world -> image: ``linear`` (N, 2, 2) @ point + ``shift`` (N, 2)."""

    linear: np.ndarray
    shift: np.ndarray
    zoom: np.ndarray  # (N,)

    def apply(self, points: np.ndarray) -> np.ndarray:
        """(N, K, 2) world pixels -> image pixels, frame by frame."""
        return np.einsum("nij,nkj->nki", self.linear, points) + self.shift[:, None, :]

    def matrices(self) -> np.ndarray:
        """(N, 2, 3) affine matrices."""
        return np.concatenate([self.linear, self.shift[:, :, None]], axis=2)


def _shake(scene: Scene, n: int, frame: int) -> np.ndarray:
    """(N, 2) camera offsets in pixels: two smooth sinusoids per axis plus small white noise."""
    t = np.arange(n, dtype=np.float64)[:, None]
    amp, freq, phase, noise = scene.shake.T  # (2,) each
    rng = np.random.default_rng(scene.shake_seed)
    off = amp * np.sin(2 * np.pi * freq * t + phase) + noise * rng.standard_normal((n, 2))
    return off * frame


def _camera(scene: Scene, n: int, f: int) -> Camera:
    """Slow zoom about the frame centre, small roll, shake."""
    t = np.arange(n, dtype=np.float64)
    c = (f - 1) / 2.0
    zoom = np.exp(scene.zoom * _progress(n))
    roll = scene.roll * (1.0 + 0.3 * np.sin(2 * np.pi * t / max(n, 1)))
    shake = _shake(scene, n, f)
    cos, sin = np.cos(roll) * zoom, np.sin(roll) * zoom
    lin = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], axis=-2)  # (N, 2, 2)
    trans = c - np.einsum("nij,nj->ni", lin, c + shake)
    return Camera(lin, trans, zoom)


def _half_widths(look: Appearance, body: Body, yaw: np.ndarray, px_per_unit: np.ndarray) -> np.ndarray:
    """(N, parts, 2) half widths in pixels of every part of `PARTS` at its two points; the torso's from an
    elliptic cross-section turned by the yaw, the head's its radius, the long hair's or nothing."""
    n = len(yaw)
    half = np.zeros((n, len(PARTS), 2))
    for k, part in enumerate(PARTS):
        half[:, k, 0], half[:, k, 1] = part.width_a / 2 * body.thick, part.width_b / 2 * body.thick
    side_on = 0.5 * body.torso_depth * np.sin(yaw)
    front_on = np.abs(np.cos(yaw))  # the back is as wide as the front (a person turned past side-on)
    hs = np.hypot(0.5 * body.shoulder_w * front_on + 0.035 * body.thick, side_on)
    hh = np.hypot(0.5 * body.hip_w * front_on + 0.05 * body.thick, side_on)
    half[:, PART_INDEX["torso"], 0] = hs * body.thick**0.5
    half[:, PART_INDEX["torso"], 1] = hh * body.thick**0.5
    half[:, PART_INDEX["head"], :] = body.head_r
    if look.long_hair:
        half[:, PART_INDEX["hair_back"], 0] = 0.95 * body.head_r
        half[:, PART_INDEX["hair_back"], 1] = 0.8 * body.head_r
    half *= px_per_unit[:, None, None]
    return half


def _depth(depth_z: np.ndarray, body: Body) -> tuple[np.ndarray, np.ndarray]:
    """(depth (N, parts) of every part, larger nearer: its mean point depth plus its rank; whether the face
    turns toward the camera (N,)), from the points' depths (N, P) in body units."""
    depth = np.zeros((len(depth_z), len(PARTS)))
    for k, part in enumerate(PARTS):
        depth[:, k] = (depth_z[:, part.a] + depth_z[:, part.b]) / 2 + 0.02 * part.depth_rank
    depth[:, PART_INDEX["torso"]] = depth_z[:, [LSHO, RSHO, LHIP, RHIP]].mean(axis=1) - 0.01
    face_visible = depth_z[:, NOSE] > depth_z[:, HEAD] - 0.2 * body.head_r
    return depth, face_visible


def _occluder(scene: Scene, f: int, framing: Framing, camera: Camera) -> np.ndarray | None:
    """(N, V, 2) the occluder's polygon in image pixels (static or sliding in the world), or None."""
    if scene.occluder is None:
        return None
    n = len(camera.zoom)
    t = np.arange(n, dtype=np.float64)
    poly0 = occluder_polygon(scene, f, framing.ground_y, float(framing.world[0, PELVIS, 0]))
    speed = (scene.occluder_geom[4] - 0.5) * 0.01 * f if scene.occluder_geom[4] > 0.6 else 0.0
    polys = poly0[None] + np.stack([speed * t, np.zeros(n)], axis=1)[:, None, :]  # (N, V, 2) world
    return camera.apply(polys)


def _joint_labels(img_pts: np.ndarray, occluder: np.ndarray | None, f: int) -> tuple[np.ndarray, np.ndarray]:
    """(joints (N, 13, 2), visible (N, 13)): a joint is invisible outside the frame or inside the occluder
    (joints the body itself hides stay visible)."""
    joints = img_pts[:, :13]
    visible = np.ones(joints.shape[:2], bool)
    if occluder is not None:
        visible &= ~inside_convex(joints, occluder)
    visible &= np.all((joints >= 0) & (joints <= f - 1), axis=-1)
    return joints, visible


def _body_boxes(img_pts: np.ndarray, half: np.ndarray, f: int) -> np.ndarray:
    """(N, 4) x1, y1, x2, y2: the tight box of the drawn body (capsules, torso, head with hair), clamped to
    the frame."""
    caps, _, _ = capsules(img_pts[:, [p.a for p in PARTS]], img_pts[:, [p.b for p in PARTS]],
                          half[..., 0], half[..., 1], np.array([p.roundness for p in PARTS]))
    drawn = half[..., 0] > 0  # (N, parts)
    caps = np.where(drawn[..., None, None], caps, np.nan)
    head_ext = 1.1 * half[:, PART_INDEX["head"], 0:1]
    x1 = np.minimum(np.nanmin(caps[..., 0], axis=(1, 2)), (img_pts[:, HEAD, 0:1] - head_ext)[:, 0])
    x2 = np.maximum(np.nanmax(caps[..., 0], axis=(1, 2)), (img_pts[:, HEAD, 0:1] + head_ext)[:, 0])
    y1 = np.minimum(np.nanmin(caps[..., 1], axis=(1, 2)), (img_pts[:, HEAD, 1:2] - head_ext)[:, 0])
    y2 = np.maximum(np.nanmax(caps[..., 1], axis=(1, 2)), (img_pts[:, HEAD, 1:2] + head_ext)[:, 0])
    return np.clip(np.stack([x1, y1, x2, y2], axis=1), 0, f - 1)
