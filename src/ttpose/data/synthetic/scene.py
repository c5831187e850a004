"""What happens in one video apart from who is in it (`Scene`): the motion family and its speed, amplitude and
phase, the body's yaw and idle wobble, the framing, the camera's zoom, roll and shake, and the occluder.
`sample_scene` draws it from one distribution in every split (the appearance shift does not touch it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ttpose.data.synthetic.appearance import Color, hsv_color
from ttpose.data.synthetic.config import SyntheticConfig
from ttpose.data.synthetic.kinematics import CHANNELS

# the motion families a scene draws from (their joint angles: `ttpose.data.synthetic.motion`); the order
# fixes which family a random draw picks, so it never changes
MOTIONS = ("walk", "wave", "squat", "throw", "jumping_jacks", "punch", "bend", "swing")
OCCLUDERS = ("post", "crate", "bar", "bush")


@dataclass(frozen=True)
class Scene:
    motion: str
    cycles_per_frame: float
    amplitude: float
    phase: float  # radians
    side: float  # +1: the left arm/leg leads (waving, throwing), -1: the right one
    yaw: float  # radians; 0 faces the camera, > 0 turns the face toward the image's right
    wobble: np.ndarray  # (len(CHANNELS), 3): amplitude, cycles per frame, phase of idle wobble
    offsets: np.ndarray  # (len(CHANNELS),) constant per-video posture offsets
    drift: float  # horizontal travel over the video, body units
    fill: float  # longer side of the union of the person's boxes / frame size
    place: tuple[float, float]  # where that union box sits in the free room, 0..1 each
    cutoff: bool
    zoom: float  # log zoom change over the video
    roll: float  # camera roll, radians
    shake: np.ndarray  # (2, 4): per axis amplitude (frame fraction), cycles per frame, phase, white noise std
    shake_seed: int
    occluder: str | None  # one of OCCLUDERS or None
    occluder_geom: np.ndarray  # (5,): x, y, width, height (frame fractions), speed (frame fraction/frame)
    occluder_color: Color
    occluder_color2: Color


def sample_scene(rng: np.random.Generator, config: SyntheticConfig) -> Scene:
    """Motion, camera and occluder of one video; identical distribution in every split."""
    u = rng.uniform(size=16)
    motion = MOTIONS[int(rng.integers(len(MOTIONS)))]
    wobble = np.stack(
        [rng.uniform(0.0, 0.06, len(CHANNELS)), rng.uniform(0.01, 0.05, len(CHANNELS)),
         rng.uniform(0, 2 * np.pi, len(CHANNELS))], axis=1,
    )
    offsets = rng.uniform(-0.08, 0.08, len(CHANNELS))
    shake = np.stack(
        [rng.uniform(0.0, 0.01, 2), rng.uniform(0.05, 0.2, 2), rng.uniform(0, 2 * np.pi, 2),
         rng.uniform(0.0, 0.004, 2)], axis=1,
    )
    shake_seed = int(rng.integers(2**31))
    occ_kind = OCCLUDERS[int(rng.integers(len(OCCLUDERS)))]
    occ_geom = rng.uniform(size=5)
    occ_hue, occ_sv = rng.uniform(0, 360), rng.uniform(size=2)
    cutoff = bool(u[0] < config.cutoff_prob)
    occ_color = hsv_color(occ_hue, 0.15 + 0.4 * occ_sv[0], 0.3 + 0.5 * occ_sv[1])
    return Scene(
        motion=motion,
        cycles_per_frame=float(1.0 / (24.0 + 36.0 * u[1])),  # one cycle per 24-60 frames (0.8-2 s at 30 fps)
        amplitude=float(0.65 + 0.5 * u[2]),
        phase=float(2 * np.pi * u[3]),
        side=1.0 if u[4] < 0.5 else -1.0,
        yaw=float(-config.yaw_range + 2.0 * config.yaw_range * u[5]),  # the same numbers as -1 + 2u at 1.0
        wobble=wobble,
        offsets=offsets,
        drift=float((u[6] - 0.5) * (0.8 if motion == "walk" else 0.1)),
        fill=float(1.0 + 0.2 * u[7]) if cutoff else float(0.6 + 0.32 * u[7]),
        place=(float(u[8]), float(u[9])),
        cutoff=cutoff,
        zoom=float(0.2 * (2 * u[10] - 1)),
        roll=float(0.06 * (2 * u[11] - 1)),
        shake=shake,
        shake_seed=shake_seed,
        occluder=occ_kind if u[12] < config.occluder_prob else None,
        occluder_geom=occ_geom,
        occluder_color=occ_color,
        occluder_color2=hsv_color(occ_hue, 0.2 + 0.4 * occ_sv[0], 0.15 + 0.4 * occ_sv[1]),
    )
