"""Synthetic people on video: a deterministic benchmark for test-time personalization (TTP).

Why: test-time personalization (paper Sec. 3.3) pays off when the people at test time look unlike the
people seen in training. No pose dataset with images can be downloaded here, so this module draws its own:
each `Video` shows one articulated person with Penn Action's 13 joints (`ttpose.skeletons.PENN_ACTION`)
moving smoothly in front of a static background. Within a video the person's appearance and the background
stay fixed while the pose moves, which is what the self-supervised task needs (reconstruct a target frame
from its keypoints and the appearance of another frame of the same video, Sec. 3.1). Between videos the
appearance varies, and the val/test populations are drawn from a shifted appearance distribution.

How a video is made (all randomness is drawn up front from ``SeedSequence([seed, split, index])``, so the
same (seed, split, index, config) always gives bit-identical frames and labels, in any access order):

- Body: a 3-D kinematic chain in body units (standing height ~ 1). Joint angles over time (one of the
  motion families `MOTIONS`, with per-video speed, amplitude, phase, dominant side and small idle wobble)
  go through forward kinematics; the feet are put on the ground; the body is turned by a per-video yaw
  (up to about 60 deg either way, slowly drifting) and projected orthographically. Left is the person's
  left: at yaw 0 the person faces the camera and the left joints appear on the image's right, so flipping
  an image and swapping `PENN_ACTION.flip_pairs` gives a valid labelled frame.
- Drawing: limbs are tapered capsules (anti-aliased, sub-pixel), the torso a rounded trapezoid, the head a
  skin disc with hair (short or long) and eyes; hands, neck and shoes are parts too. Parts are painted far
  to near by their depth, so near limbs cover far ones. Clothing (shirt, sleeves, trousers/shorts, shoes)
  has colours and body-attached textures; the skin tone and hair colour are per person.
- Scene: a static background canvas per video, seen through a camera with slow zoom, small roll and
  per-frame shake (the same affine moves the background and the person). Some videos (`occluder_prob`)
  have an occluder (post, crate, bar or bush, static or sliding) drawn in front of the person; some
  (`cutoff_prob`) frame the person so tightly that limbs leave the picture.
- Labels: ``joints`` are the projected joint centres (0-based pixels; the head joint is the head's centre).
  A joint is invisible when it lies outside the frame or inside the occluder; joints hidden by the
  person's own body stay visible (their position is implied by the body). An invisible joint keeps its
  projected (possibly out-of-frame) coordinates. ``boxes`` are the tight box of the drawn body (capsules,
  torso, head with hair), clamped to the frame; ``centers``/``sizes`` are the box centre and 1.25 x its
  longer side. The box's longer side is about 50-90 % of the frame.

What each split gets (``shift`` = `SyntheticConfig.shift` >= 0, s = min(shift, 1)):

- Every split: the same motion, camera, framing and occluder distributions (`sample_scene` takes no
  shift), the same hair and shoe colours. Only the appearance (`sample_appearance`) is shifted.
- ``train`` (always drawn with shift 0): garment hues within 80 deg of 30 deg, i.e. 310..110 deg
  (magentas, reds, oranges, yellows, yellow-greens); garment textures solid / stripes / gradient; skin
  tone in the middle band [0.25, 0.75] of a light-to-dark ramp; limb thickness factor in [0.85, 1.15];
  arm- and leg-length factors in [0.93, 1.07]; shoulder-width, hip-width and head-size factors in
  [0.9, 1.1]; backgrounds in the "scene" style (soft gradient wall and floor, blurred furniture-like shapes).
- ``val`` and ``test``: the same sampler called with ``shift``, from different random streams (so
  identities are disjoint from each other and from train). All random draws happen whatever the shift;
  the shift only moves values:
  - a scalar that training draws as ``1 + half * w`` (w uniform in [-1, 1]: thickness half = 0.15, limb
    lengths 0.07, widths and head 0.1) becomes ``1 + half * sign(w) * (|w| + shift)``: training's range at
    shift 0, just outside it on both sides at shift 1 (thickness in [0.7, 0.85] or [1.15, 1.3]), further
    out for larger shifts;
  - garment hue: ``30 + sign(w) * (80 |w| + 100 s)`` deg, so at s = 1 hues lie 100..180 deg from 30 deg,
    i.e. 130..290 deg (greens, cyans, blues, violets), with a 20 deg gap to training's hues on each side;
  - skin tone: ``0.5 + 0.25 sign(w) (|w| + s)`` clipped to [0, 1]: at s = 1 the light and dark extremes;
  - texture: from the novel set checks / noise / diagonal stripes with probability s (shirt) or 0.6 s
    (sleeves, trousers), else from training's set; texture contrast grows by 30 % per unit of shift above 1;
  - background: the "pattern" style (hard-edged bricks / stripes / checks, checkered floor, saturated
    clutter) with probability s, else "scene"; clutter grows with shift above 1.
- ``shift = 0``: val/test people come from exactly the training distribution (only identities differ).

Use ``make_video(split, index, seed, config)`` or ``make_population(split, n, seed, config)``. Frames are
rendered on demand by `SyntheticFrames` (about 3,000 frames/s at 128 px on one core, see
benchmarks/SYNTHETIC_DATA.md); ``materialize(video)`` stacks them into an N x H x W x 3 array.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from ttpose.data.types import Video
from ttpose.skeletons import PENN_ACTION

SPLIT_CODES = {"train": 0, "val": 1, "test": 2}
LONG_VIDEO_KEY = 7  # random-stream key of `make_long_video`'s later scenes (apart from make_video's streams)
MOTIONS = ("walk", "wave", "squat", "throw", "jumping_jacks", "punch", "bend", "swing")
TRAIN_TEXTURES = ("solid", "stripes", "gradient")
NOVEL_TEXTURES = ("checks", "noise", "diagonal")
TRAIN_HUE_CENTER = 30.0  # degrees; training garment hues lie within +-TRAIN_HUE_HALF of it
TRAIN_HUE_HALF = 80.0
NOVEL_HUE_START = 100.0  # at shift >= 1, garment hues lie NOVEL_HUE_START..180 deg from TRAIN_HUE_CENTER
BG_STYLES = ("scene", "pattern")

_SHIFT = 4  # fixed-point bits for sub-pixel drawing with cv2
_ONE = float(1 << _SHIFT)

# --- named points of the body model: Penn Action's 13 joints first, then helpers for drawing -------------
(HEAD, LSHO, RSHO, LELB, RELB, LWRI, RWRI, LHIP, RHIP, LKNE, RKNE, LANK, RANK) = range(13)
NECK, PELVIS, LHAND, RHAND, LTOE, RTOE, NOSE, LEYE, REYE, HAIR_END = range(13, 23)
NUM_POINTS = 23

# channels of the joint-angle trajectories (radians, except sway/jump/drift in body units)
CHANNELS = (
    "yaw", "pitch", "roll", "twist", "nod", "tilt", "jump",
    "l_sh_flex", "l_sh_abd", "l_el", "r_sh_flex", "r_sh_abd", "r_el",
    "l_hip_flex", "l_hip_abd", "l_knee", "r_hip_flex", "r_hip_abd", "r_knee",
)


@dataclass(frozen=True)
class SyntheticConfig:
    """Knobs of the generator. ``shift`` (>= 0) sets how far val/test appearance lies from training's."""

    frame_size: int = 128  # square frames, pixels
    frames_per_video: int = 48
    shift: float = 1.0
    occluder_prob: float = 0.35  # chance that a video has an occluder in front of the person
    cutoff_prob: float = 0.15  # chance that a video frames the person so tightly that limbs leave the frame

    def __post_init__(self) -> None:
        if self.frame_size < 32:
            raise ValueError(f"SyntheticConfig.frame_size must be >= 32 pixels, got {self.frame_size}")
        if self.frames_per_video < 1:
            raise ValueError(f"SyntheticConfig.frames_per_video must be >= 1, got {self.frames_per_video}")
        if not self.shift >= 0:
            raise ValueError(f"SyntheticConfig.shift must be a float >= 0, got {self.shift}")


# ----------------------------------------------------------------------------------------------------------
# Appearance (the part that the shift changes)
# ----------------------------------------------------------------------------------------------------------

Color = tuple[float, float, float]


@dataclass(frozen=True)
class Garment:
    hue: float  # degrees in [0, 360)
    color: Color  # RGB 0-255
    color2: Color  # second colour of the texture
    texture: str  # one of TRAIN_TEXTURES + NOVEL_TEXTURES
    period: float  # stripe / check period in body units
    slant: float  # diagonal stripes: +-1
    seed: int  # per-cell colours of the "noise" texture


@dataclass(frozen=True)
class Appearance:
    """Everything that differs between the training and the shifted populations."""

    skin_tone: float  # 0 (lightest) .. 1 (darkest)
    skin: Color
    hair: Color
    long_hair: bool
    shirt: Garment
    sleeves: Garment
    trousers: Garment
    shoes: Color
    long_sleeves: bool
    long_trousers: bool
    thickness: float  # multiplies every limb width
    arm_length: float  # multiplies upper arm and forearm
    leg_length: float  # multiplies thigh and shin
    shoulder_width: float
    hip_width: float
    head_size: float
    background: str  # one of BG_STYLES
    clutter: float  # background clutter multiplier (1 at shift <= 1)
    background_seed: int


def _push(w: float, shift: float) -> float:
    """Map a draw w in [-1, 1] outward: |w| + shift with w's sign (shift 0: unchanged)."""
    return math.copysign(abs(w) + shift, w)


def _hsv(hue_deg: float, sat: float, val: float) -> Color:
    r, g, b = colorsys.hsv_to_rgb((hue_deg % 360.0) / 360.0, min(max(sat, 0.0), 1.0), min(max(val, 0.0), 1.0))
    return (255.0 * r, 255.0 * g, 255.0 * b)


_SKIN_RAMP = np.array([(255, 226, 200), (236, 188, 150), (198, 140, 100), (141, 92, 62), (80, 50, 34)], float)
_HAIR = ((25, 20, 18), (60, 40, 28), (105, 70, 40), (200, 165, 100), (160, 155, 150), (140, 60, 30))


def _skin_color(tone: float) -> Color:
    x = float(np.clip(tone, 0.0, 1.0)) * (len(_SKIN_RAMP) - 1)
    i = min(int(x), len(_SKIN_RAMP) - 2)
    c = _SKIN_RAMP[i] + (x - i) * (_SKIN_RAMP[i + 1] - _SKIN_RAMP[i])
    return (float(c[0]), float(c[1]), float(c[2]))


def _sample_garment(
    rng: np.random.Generator,
    shift: float,
    novel_weight: float,
    sat: tuple[float, float],
    val: tuple[float, float],
) -> Garment:
    s = min(shift, 1.0)
    # every draw happens whatever the shift, so shift only transforms values (shift 0 == training)
    w_hue, u_sat, u_val, u_tex, k_train, k_novel, u_c2, u_con, u_per, u_slant = rng.uniform(size=10)
    seed = int(rng.integers(2**31))
    w = 2 * w_hue - 1
    hue = (TRAIN_HUE_CENTER + math.copysign(TRAIN_HUE_HALF * abs(w) + NOVEL_HUE_START * s, w)) % 360.0
    sv, vv = sat[0] + u_sat * (sat[1] - sat[0]), val[0] + u_val * (val[1] - val[0])
    if u_tex < novel_weight * s:
        texture = NOVEL_TEXTURES[int(k_novel * len(NOVEL_TEXTURES))]
    else:
        texture = TRAIN_TEXTURES[int(k_train * len(TRAIN_TEXTURES))]
    contrast = (0.25 + 0.25 * u_con) * (1.0 + 0.3 * max(0.0, shift - 1.0))
    if u_c2 < 0.3:  # near white or near black second colour
        c2 = _hsv(hue, 0.05, 0.95) if vv < 0.6 else _hsv(hue, 0.3, 0.12)
    else:  # tone on tone
        c2 = _hsv(hue, sv * 0.8, vv - contrast if vv > 0.5 else vv + contrast)
    return Garment(
        hue=float(hue), color=_hsv(hue, sv, vv), color2=c2, texture=texture,
        period=0.04 + 0.05 * float(u_per), slant=1.0 if u_slant < 0.5 else -1.0, seed=seed,
    )


def sample_appearance(rng: np.random.Generator, shift: float) -> Appearance:
    """One person's look and background style; ``shift`` 0 is the training distribution (see module doc)."""
    if not shift >= 0:
        raise ValueError(f"sample_appearance: shift must be >= 0, got {shift}")
    s = min(shift, 1.0)
    w = rng.uniform(-1.0, 1.0, size=8)  # shiftable scalars, fixed order
    u = rng.uniform(size=8)
    hair_index = int(rng.integers(len(_HAIR)))
    shirt = _sample_garment(rng, shift, 1.0, (0.45, 0.9), (0.4, 0.95))
    own_sleeves = _sample_garment(rng, shift, 0.6, (0.45, 0.9), (0.4, 0.95))
    trousers = _sample_garment(rng, shift, 0.6, (0.3, 0.85), (0.2, 0.8))
    bg_seed = int(rng.integers(2**63))
    tone = float(np.clip(0.5 + 0.25 * _push(w[0], s), 0.0, 1.0))
    shoe_v = 0.1 + 0.8 * u[3]
    return Appearance(
        skin_tone=tone,
        skin=_skin_color(tone),
        hair=tuple(float(c) for c in _HAIR[hair_index]),
        long_hair=bool(u[0] < 0.35),
        shirt=shirt,
        sleeves=shirt if u[1] < 0.6 else own_sleeves,
        trousers=trousers,
        shoes=(255 * shoe_v, 255 * shoe_v, 255 * shoe_v * 0.95),
        long_sleeves=bool(u[2] < 0.5),
        long_trousers=bool(u[4] < 0.7),
        thickness=max(0.3, 1.0 + 0.15 * _push(w[1], shift)),
        arm_length=max(0.6, 1.0 + 0.07 * _push(w[2], shift)),
        leg_length=max(0.6, 1.0 + 0.07 * _push(w[3], shift)),
        shoulder_width=max(0.5, 1.0 + 0.10 * _push(w[4], shift)),
        hip_width=max(0.5, 1.0 + 0.10 * _push(w[5], shift)),
        head_size=max(0.6, 1.0 + 0.10 * _push(w[6], shift)),
        background=BG_STYLES[1] if u[5] < s else BG_STYLES[0],
        clutter=1.0 + max(0.0, shift - 1.0),
        background_seed=bg_seed,
    )


# ----------------------------------------------------------------------------------------------------------
# Scene: motion, camera, framing, occluder (the same distribution in every split)
# ----------------------------------------------------------------------------------------------------------


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
    occluder: str | None  # "post", "crate", "bar", "bush" or None
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
    occ_kind = ("post", "crate", "bar", "bush")[int(rng.integers(4))]
    occ_geom = rng.uniform(size=5)
    occ_hue, occ_sv = rng.uniform(0, 360), rng.uniform(size=2)
    cutoff = bool(u[0] < config.cutoff_prob)
    occ_color = _hsv(occ_hue, 0.15 + 0.4 * occ_sv[0], 0.3 + 0.5 * occ_sv[1])
    return Scene(
        motion=motion,
        cycles_per_frame=float(1.0 / (24.0 + 36.0 * u[1])),  # one cycle per 24-60 frames (0.8-2 s at 30 fps)
        amplitude=float(0.65 + 0.5 * u[2]),
        phase=float(2 * np.pi * u[3]),
        side=1.0 if u[4] < 0.5 else -1.0,
        yaw=float(-1.0 + 2.0 * u[5]),
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
        occluder_color2=_hsv(occ_hue, 0.2 + 0.4 * occ_sv[0], 0.15 + 0.4 * occ_sv[1]),
    )


def video_shift(split: str, config: SyntheticConfig) -> float:
    """The appearance shift a split's people are drawn with: 0 for train, ``config.shift`` for val/test."""
    if split not in SPLIT_CODES:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLIT_CODES)}")
    return 0.0 if split == "train" else float(config.shift)


def _streams(split: str, index: int, seed: int) -> list[np.random.Generator]:
    if split not in SPLIT_CODES:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLIT_CODES)}")
    if index < 0 or seed < 0:
        raise ValueError(f"index and seed must be >= 0, got index={index}, seed={seed}")
    ss = np.random.SeedSequence([int(seed), SPLIT_CODES[split], int(index)])
    return [np.random.default_rng(s) for s in ss.spawn(2)]


def person_parameters(
    split: str, index: int, seed: int = 0, config: SyntheticConfig | None = None
) -> tuple[Appearance, Scene]:
    """(Appearance, Scene) of video ``index`` of ``split``: cheap, no geometry or pixels."""
    config = config or SyntheticConfig()
    rng_look, rng_scene = _streams(split, index, seed)
    return sample_appearance(rng_look, video_shift(split, config)), sample_scene(rng_scene, config)


# ----------------------------------------------------------------------------------------------------------
# Motion: joint-angle trajectories
# ----------------------------------------------------------------------------------------------------------


def _angles(scene: Scene, n: int) -> tuple[dict[str, np.ndarray], tuple[float, float]]:
    """Joint angles (N,) per channel, and the elbow bend plane (forward, sideways) weights."""
    t = np.arange(n, dtype=np.float64)
    ph = 2 * np.pi * scene.cycles_per_frame * t + scene.phase
    a, sd = scene.amplitude, scene.side
    z = np.zeros(n)
    ang = {c: z.copy() for c in CHANNELS}
    for side in "lr":
        ang[f"{side}_sh_abd"] += 0.12
        ang[f"{side}_el"] += 0.2
        ang[f"{side}_knee"] += 0.06
        ang[f"{side}_hip_abd"] += 0.04
    elbow_plane = (1.0, 0.0)
    dom, oth = ("l", "r") if sd > 0 else ("r", "l")
    m = scene.motion
    if m == "walk":
        for side, sgn in (("l", 1.0), ("r", -1.0)):
            p = ph if sgn > 0 else ph + np.pi
            ang[f"{side}_hip_flex"] = 0.45 * a * np.sin(p)
            ang[f"{side}_knee"] = 0.08 + 0.65 * a * ((1 + np.cos(p)) / 2) ** 2
            ang[f"{side}_sh_flex"] = -0.4 * a * np.sin(p)
            ang[f"{side}_el"] = 0.25 + 0.25 * a * (1 - np.sin(p)) / 2
        ang["twist"] = 0.12 * a * np.sin(ph)
        ang["roll"] = 0.03 * np.sin(2 * ph)
        ang["pitch"] = z + 0.05
    elif m == "wave":
        ang[f"{dom}_sh_abd"] = 2.3 + 0.1 * np.sin(ph)
        ang[f"{dom}_sh_flex"] = z + 0.25
        ang[f"{dom}_el"] = 0.75 + 0.55 * a * np.sin(2 * ph)
        elbow_plane = (0.0, 1.0)
        ang["roll"] = -0.06 * sd + 0.03 * np.sin(ph)
        ang["l_hip_abd"] = ang["r_hip_abd"] = z + 0.08
    elif m == "squat":
        c = np.minimum(1.0, a * (1 - np.cos(ph)) / 2)
        for side in "lr":
            ang[f"{side}_hip_flex"] = 1.7 * c
            ang[f"{side}_knee"] = 0.05 + 2.1 * c
            ang[f"{side}_hip_abd"] = 0.12 + 0.12 * c
            ang[f"{side}_sh_flex"] = 1.45 * c
            ang[f"{side}_el"] = z + 0.1
        ang["pitch"] = 0.55 * c
    elif m == "throw":
        g = np.sin(ph + 0.7 * np.sin(ph))  # asymmetric: slow wind-up, fast release
        ang[f"{dom}_sh_flex"] = 0.7 + 1.4 * a * g
        ang[f"{dom}_sh_abd"] = z + 0.7
        ang[f"{dom}_el"] = 1.2 - 0.7 * g
        ang[f"{oth}_sh_flex"] = 0.9 - 0.6 * g
        ang[f"{oth}_sh_abd"] = z + 0.4
        ang[f"{oth}_el"] = z + 0.6
        ang["twist"] = -sd * 0.45 * g
        ang["pitch"] = 0.15 + 0.2 * g
        ang[f"{oth}_hip_flex"] = 0.1 + 0.35 * (1 + g) / 2
        ang[f"{oth}_knee"] = z + 0.3
        ang[f"{dom}_hip_flex"] = -0.25 * (1 + g) / 2
        ang[f"{dom}_knee"] = 0.25 + 0.2 * (1 + g) / 2
    elif m == "jumping_jacks":
        c = (1 - np.cos(ph)) / 2
        for side in "lr":
            ang[f"{side}_sh_abd"] = 0.15 + 2.55 * c * min(a, 1.1)
            ang[f"{side}_el"] = z + 0.15
            ang[f"{side}_hip_abd"] = 0.04 + 0.32 * c
            ang[f"{side}_knee"] = z + 0.1
        elbow_plane = (0.0, 1.0)
        ang["jump"] = 0.05 * a * np.sin(ph) ** 2
    elif m == "punch":
        ext = {"l": np.maximum(0, np.sin(ph)) ** 2, "r": np.maximum(0, -np.sin(ph)) ** 2}
        for side in "lr":
            ang[f"{side}_sh_flex"] = 0.9 + 0.7 * ext[side]
            ang[f"{side}_el"] = 2.0 - 1.8 * ext[side] * min(a, 1.0)
            ang[f"{side}_sh_abd"] = -0.15 + 0.25 * (1 - ext[side])
            ang[f"{side}_knee"] = 0.25 + 0.05 * np.sin(2 * ph)
        ang["l_hip_flex"], ang["r_hip_flex"] = z + 0.2, z - 0.15
        ang["twist"] = -0.3 * (ext["l"] - ext["r"])
        ang["pitch"] = z + 0.1
    elif m == "bend":
        c = np.minimum(1.0, a * (1 - np.cos(ph)) / 2)
        ang["pitch"] = 1.4 * c
        for side in "lr":
            ang[f"{side}_sh_flex"] = 0.1 + 1.5 * c
            ang[f"{side}_knee"] = 0.08 + 0.15 * c
            ang[f"{side}_hip_abd"] = z + 0.08
    elif m == "swing":
        g = a * np.sin(ph)
        ang["pitch"] = z + 0.45
        ang["twist"] = 1.0 * g
        ang["l_sh_abd"], ang["r_sh_abd"] = -0.25 + 0.9 * g, -0.25 - 0.9 * g
        for side in "lr":
            ang[f"{side}_sh_flex"] = 0.65 + 0.9 * g**2
            ang[f"{side}_el"] = 0.15 + 0.5 * g**2
            ang[f"{side}_knee"] = z + 0.25
            ang[f"{side}_hip_flex"] = z + 0.15
            ang[f"{side}_hip_abd"] = z + 0.08
    else:  # pragma: no cover - MOTIONS is closed
        raise ValueError(f"unknown motion {m!r}")
    for k, c in enumerate(CHANNELS):
        amp, freq, phase = scene.wobble[k]
        ang[c] = ang[c] + scene.offsets[k] + amp * np.sin(2 * np.pi * freq * t + phase)
    ang["jump"] = np.maximum(ang["jump"] - scene.offsets[CHANNELS.index("jump")], 0.0)
    ang["yaw"] = ang["yaw"] + scene.yaw
    return ang, elbow_plane


# ----------------------------------------------------------------------------------------------------------
# Body model and forward kinematics
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Body:
    """Segment lengths and widths in body units (standing height about 1)."""

    head_r: float
    neck: float
    torso: float
    shoulder_w: float
    hip_w: float
    upper_arm: float
    forearm: float
    hand: float
    thigh: float
    shin: float
    ankle_h: float
    foot: float
    torso_depth: float
    thick: float

    @staticmethod
    def of(look: Appearance) -> Body:
        return Body(
            head_r=0.065 * look.head_size, neck=0.035, torso=0.30, shoulder_w=0.23 * look.shoulder_width,
            hip_w=0.14 * look.hip_width, upper_arm=0.17 * look.arm_length, forearm=0.15 * look.arm_length,
            hand=0.05 * look.arm_length, thigh=0.245 * look.leg_length, shin=0.245 * look.leg_length,
            ankle_h=0.04, foot=0.07, torso_depth=0.12 * look.thickness, thick=look.thickness,
        )

    @property
    def height(self) -> float:
        return self.ankle_h + self.shin + self.thigh + self.torso + self.neck + 2 * self.head_r


def _rot(axis: str, a: np.ndarray) -> np.ndarray:
    """(N, 3, 3) rotations about body axis x (left), y (up) or z (forward)."""
    c, s = np.cos(a), np.sin(a)
    o, i = np.zeros_like(a), np.ones_like(a)
    rows = {
        "x": [[i, o, o], [o, c, -s], [o, s, c]],
        "y": [[c, o, s], [o, i, o], [-s, o, c]],
        "z": [[c, -s, o], [s, c, o], [o, o, i]],
    }[axis]
    return np.stack([np.stack(r, axis=-1) for r in rows], axis=-2)


def _apply(r: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate (N, 3) or (3,) vectors by (N, 3, 3) rotations -> (N, 3)."""
    return np.einsum("nij,nj->ni", r, np.broadcast_to(v, (r.shape[0], 3)))


def _limb_dir(flex: np.ndarray, abd: np.ndarray, side: float) -> np.ndarray:
    """Unit direction (N, 3): hanging down, raised forward by ``flex`` and sideways (outward) by ``abd``."""
    return np.stack([side * np.sin(abd), -np.cos(abd) * np.cos(flex), np.cos(abd) * np.sin(flex)], axis=-1)


def forward_kinematics(
    ang: dict[str, np.ndarray], body: Body, elbow_plane: tuple[float, float] = (1.0, 0.0)
) -> np.ndarray:
    """Body-unit 3-D points (N, NUM_POINTS, 3): x = the person's left at yaw 0, y up, z toward the camera.

    Feet are put on the ground (y = 0 under the lower ankle) plus the jump height.
    """
    n = len(ang["yaw"])
    pts = np.zeros((n, NUM_POINTS, 3))
    r_pelvis = _rot("y", ang["yaw"])
    r_upper = r_pelvis @ _rot("x", ang["pitch"]) @ _rot("z", -ang["roll"]) @ _rot("y", ang["twist"])
    r_head = r_upper @ _rot("x", ang["nod"]) @ _rot("z", -ang["tilt"])
    neck = _apply(r_upper, np.array([0.0, body.torso, 0.0]))
    pts[:, NECK] = neck
    pts[:, HEAD] = neck + _apply(r_head, np.array([0.0, body.neck + body.head_r, 0.0]))
    r = body.head_r
    pts[:, NOSE] = pts[:, HEAD] + _apply(r_head, np.array([0.0, -0.15 * r, 0.95 * r]))
    pts[:, LEYE] = pts[:, HEAD] + _apply(r_head, np.array([0.38 * r, 0.1 * r, 0.85 * r]))
    pts[:, REYE] = pts[:, HEAD] + _apply(r_head, np.array([-0.38 * r, 0.1 * r, 0.85 * r]))
    pts[:, HAIR_END] = pts[:, HEAD] + _apply(r_head, np.array([0.0, -2.2 * r, -0.6 * r]))
    ef, ea = elbow_plane
    for side, sgn, (sho, elb, wri, hand, hip, kne, ank, toe) in (
        ("l", 1.0, (LSHO, LELB, LWRI, LHAND, LHIP, LKNE, LANK, LTOE)),
        ("r", -1.0, (RSHO, RELB, RWRI, RHAND, RHIP, RKNE, RANK, RTOE)),
    ):
        pts[:, sho] = neck + _apply(r_upper, np.array([sgn * body.shoulder_w / 2, -0.015, 0.0]))
        upper = _apply(r_upper, _limb_dir(ang[f"{side}_sh_flex"], ang[f"{side}_sh_abd"], sgn))
        el = ang[f"{side}_el"]
        flex, abd = ang[f"{side}_sh_flex"], ang[f"{side}_sh_abd"]
        fore = _apply(r_upper, _limb_dir(flex + ef * el, abd + ea * el, sgn))  # elbow bends in its plane
        pts[:, elb] = pts[:, sho] + body.upper_arm * upper
        pts[:, wri] = pts[:, elb] + body.forearm * fore
        pts[:, hand] = pts[:, wri] + body.hand * fore
        pts[:, hip] = _apply(r_pelvis, np.array([sgn * body.hip_w / 2, 0.0, 0.0]))
        flex, abd = ang[f"{side}_hip_flex"], ang[f"{side}_hip_abd"]
        pts[:, kne] = pts[:, hip] + body.thigh * _apply(r_pelvis, _limb_dir(flex, abd, sgn))
        shin = _apply(r_pelvis, _limb_dir(flex - ang[f"{side}_knee"], abd, sgn))  # knee bends backward
        pts[:, ank] = pts[:, kne] + body.shin * shin
        foot = np.array([0.25 * sgn, -0.35, 1.0]) / np.linalg.norm([0.25, -0.35, 1.0])
        pts[:, toe] = pts[:, ank] + body.foot * _apply(r_pelvis, foot)
    ground = np.minimum(pts[:, LANK, 1], pts[:, RANK, 1]) - body.ankle_h
    pts[:, :, 1] += (ang["jump"] - ground)[:, None]
    return pts


# ----------------------------------------------------------------------------------------------------------
# Parts and their textures
# ----------------------------------------------------------------------------------------------------------

# name, point a, point b, full widths at a and b (body units, x thickness), cap roundness, depth rank
_PARTS = (
    ("hair_back", HEAD, HAIR_END, 0.0, 0.0, 1.0, -3),
    ("torso", NECK, PELVIS, 0.0, 0.0, 0.3, 0),
    ("neck", NECK, HEAD, 0.055, 0.055, 1.0, 1),
    ("head", HEAD, HEAD, 0.0, 0.0, 1.0, 3),
    ("l_upper_arm", LSHO, LELB, 0.062, 0.05, 1.0, 1), ("r_upper_arm", RSHO, RELB, 0.062, 0.05, 1.0, 1),
    ("l_forearm", LELB, LWRI, 0.048, 0.038, 1.0, 2), ("r_forearm", RELB, RWRI, 0.048, 0.038, 1.0, 2),
    ("l_hand", LWRI, LHAND, 0.042, 0.036, 1.0, 3), ("r_hand", RWRI, RHAND, 0.042, 0.036, 1.0, 3),
    ("l_thigh", LHIP, LKNE, 0.095, 0.066, 1.0, 1), ("r_thigh", RHIP, RKNE, 0.095, 0.066, 1.0, 1),
    ("l_shin", LKNE, LANK, 0.064, 0.044, 1.0, 2), ("r_shin", RKNE, RANK, 0.064, 0.044, 1.0, 2),
    ("l_foot", LANK, LTOE, 0.05, 0.045, 1.0, 3), ("r_foot", RANK, RTOE, 0.05, 0.045, 1.0, 3),
)
_PART_INDEX = {p[0]: i for i, p in enumerate(_PARTS)}
_CAP_ANGLES = np.linspace(-np.pi / 2, np.pi / 2, 7)


def _texture_cells(g: Garment, t0: float, t1: float, length: float, part_seed: int) -> list:
    """Texture cells of garment ``g`` on [t0, t1] of a part: (corners (4, 2) in (t, s), colour) each.

    t runs along the part (0 at its first point), s across it (-1 .. 1). ``length`` is in body units.
    """
    cells: list = []
    span = (t1 - t0) * length
    n = max(1, int(round(span / g.period)))
    edges = np.linspace(t0, t1, n + 1)
    if g.texture == "stripes":
        for j in range(0, n, 2):
            a, b = edges[j], (edges[j] + edges[j + 1]) / 2
            cells.append(((a, -1), (b, -1), (b, 1), (a, 1), g.color2))
    elif g.texture == "gradient":
        c1, c2 = np.array(g.color), np.array(g.color2)
        steps = np.linspace(t0, t1, 5)
        for j in range(1, 4):
            c = tuple(float(x) for x in c1 + (c2 - c1) * j / 3)
            cells.append(((steps[j], -1), (t1, -1), (t1, 1), (steps[j], 1), c))
    elif g.texture == "checks":
        cols = np.linspace(-1, 1, 4)
        for j in range(n):
            for k in range(3):
                if (j + k) % 2:
                    cells.append(((edges[j], cols[k]), (edges[j + 1], cols[k]), (edges[j + 1], cols[k + 1]),
                                  (edges[j], cols[k + 1]), g.color2))
    elif g.texture == "noise":
        rng = np.random.default_rng([g.seed, part_seed])
        cols = np.linspace(-1, 1, 4)
        base, other = np.array(g.color), np.array(g.color2)
        for j in range(n):
            for k in range(3):
                mix = rng.uniform(0.0, 1.0)
                c = np.clip(base + mix * (other - base) + rng.normal(0, 12, 3), 0, 255)
                cells.append(((edges[j], cols[k]), (edges[j + 1], cols[k]), (edges[j + 1], cols[k + 1]),
                              (edges[j], cols[k + 1]), tuple(float(x) for x in c)))
    elif g.texture == "diagonal":
        d = 0.6 * g.period / max(length, 1e-6) * g.slant
        for j in range(0, n, 2):
            a, b = edges[j], (edges[j] + edges[j + 1]) / 2
            cells.append(((a - d, -1), (b - d, -1), (b + d, 1), (a + d, 1), g.color2))
    # clip t to the garment's range (a slanted cell becomes a trapezoid)
    return [(tuple((min(max(t, t0), t1), s) for t, s in c[:4]), c[4]) for c in cells]


@dataclass
class _PartSpec:
    base: Color
    cells: list  # [(corners (4, 2) in (t, s), colour)]


def _part_specs(look: Appearance, body: Body) -> list[_PartSpec]:
    """Colours and texture cells of every part (static for a video)."""
    skin, sh, sl, tr = look.skin, look.shirt, look.sleeves, look.trousers
    specs: list[_PartSpec] = []

    def garment(g: Garment, t0: float, t1: float, length: float, k: int, base: Color) -> list:
        cells = [] if g.color == base and t0 <= 0 and t1 >= 1 else [
            (((t0, -1.02), (t1, -1.02), (t1, 1.02), (t0, 1.02)), g.color)
        ]
        return cells + _texture_cells(g, max(t0, 0.0), min(t1, 1.0), length, k)

    for k, (name, *_rest) in enumerate(_PARTS):
        if name == "hair_back":
            specs.append(_PartSpec(look.hair, []))
        elif name == "torso":
            cells = _texture_cells(sh, 0.0, 0.8, body.torso, k)
            cells.append((((0.8, -1.02), (1.05, -1.02), (1.05, 1.02), (0.8, 1.02)), tr.color))
            specs.append(_PartSpec(sh.color, cells))
        elif name in ("neck", "head") or name.endswith("hand"):
            specs.append(_PartSpec(skin, []))
        elif name.endswith("upper_arm"):
            if look.long_sleeves:
                specs.append(_PartSpec(sl.color, garment(sl, 0.0, 1.0, body.upper_arm, k, sl.color)))
            else:
                specs.append(_PartSpec(skin, garment(sl, -0.25, 0.5, body.upper_arm, k, skin)))
        elif name.endswith("forearm"):
            if look.long_sleeves:
                specs.append(_PartSpec(sl.color, garment(sl, 0.0, 1.0, body.forearm, k, sl.color)))
            else:
                specs.append(_PartSpec(skin, []))
        elif name.endswith("thigh"):
            if look.long_trousers:
                specs.append(_PartSpec(tr.color, garment(tr, 0.0, 1.0, body.thigh, k, tr.color)))
            else:
                specs.append(_PartSpec(skin, garment(tr, -0.2, 0.72, body.thigh, k, skin)))
        elif name.endswith("shin"):
            if look.long_trousers:
                specs.append(_PartSpec(tr.color, garment(tr, 0.0, 1.0, body.shin, k, tr.color)))
            else:
                specs.append(_PartSpec(skin, []))
        else:  # feet
            specs.append(_PartSpec(look.shoes, []))
    return specs


def _capsules(a: np.ndarray, b: np.ndarray, ha: np.ndarray, hb: np.ndarray, rho: np.ndarray):
    """Capsule outlines (..., 14, 2) from a to b with half widths ha, hb and cap roundness rho.

    Also returns the unit axis u and normal n (..., 2).
    """
    d = b - a
    length = np.linalg.norm(d, axis=-1, keepdims=True)
    u = np.where(length > 1e-6, d / np.maximum(length, 1e-6), np.array([0.0, 1.0]))
    n = np.stack([-u[..., 1], u[..., 0]], axis=-1)
    cos, sin = np.cos(_CAP_ANGLES)[:, None], np.sin(_CAP_ANGLES)[:, None]  # (7, 1)
    rho = rho[..., None, None]
    along, across = u[..., None, :], n[..., None, :]  # (..., 1, 2)
    # end b: a half ellipse from -n through +u to +n; end a: the same mirrored
    cap_b = b[..., None, :] + hb[..., None, None] * (rho * cos * along + sin * across)
    cap_a = a[..., None, :] - ha[..., None, None] * (rho * cos * along + sin * across)
    return np.concatenate([cap_b, cap_a], axis=-2), u, n


# ----------------------------------------------------------------------------------------------------------
# Backgrounds and occluders
# ----------------------------------------------------------------------------------------------------------


def _rgb(hue: float, sat: float, val: float) -> np.ndarray:
    return np.array(_hsv(hue, sat, val), np.float32)


def _render_background(look: Appearance, size: int, frame: int, horizon: float) -> np.ndarray:
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
            c = _hsv(rng.uniform(0, 360), rng.uniform(0.05, 0.45), rng.uniform(0.25, 0.95))
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
            c = _hsv(rng.uniform(0, 360), rng.uniform(0.5, 1.0), rng.uniform(0.3, 1.0))
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


def _occluder_polygon(scene: Scene, frame: int, ground_y: float, person_x: float) -> np.ndarray:
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


def _inside_convex(points: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """(N, K) bool: point (N, K, 2) strictly inside the convex polygon (N, V, 2) of its frame."""
    v0 = poly[:, None, :, :]  # (N, 1, V, 2)
    v1 = np.roll(poly, -1, axis=1)[:, None, :, :]
    p = points[:, :, None, :]  # (N, K, 1, 2)
    edge, rel = v1 - v0, p - v0  # (N, K, V, 2)
    cross = edge[..., 0] * rel[..., 1] - edge[..., 1] * rel[..., 0]
    return np.all(cross > 0, axis=-1) | np.all(cross < 0, axis=-1)


# ----------------------------------------------------------------------------------------------------------
# Frames
# ----------------------------------------------------------------------------------------------------------


def _fixed(p: np.ndarray) -> tuple[int, int]:
    """A point in cv2's fixed-point pixel coordinates (``_SHIFT`` fractional bits)."""
    return (int(round(float(p[0]) * _ONE)), int(round(float(p[1]) * _ONE)))


class SyntheticFrames:
    """ImageSource of one synthetic video: frame i is rendered on demand from precomputed geometry.

    The static layers (background canvas) are built on first use from the video's own parameters, so the
    pixels never depend on which frames were read before.
    """

    def __init__(self, look: Appearance, scene: Scene, frame_size: int, points: np.ndarray, depth: np.ndarray,
                 half_widths: np.ndarray, cameras: np.ndarray, canvas_margin: int, horizon: float,
                 occluder: np.ndarray | None, face_visible: np.ndarray):
        self.look, self.scene, self.frame_size = look, scene, frame_size
        self.points = points.astype(np.float32)  # (N, P, 2) image pixels
        self.order = np.argsort(depth, axis=1, kind="stable").astype(np.int16)  # (N, parts) far to near
        self.half_widths = half_widths.astype(np.float32)  # (N, parts, 2) pixels
        self.cameras = cameras.astype(np.float64)  # (N, 2, 3) world -> image affine
        self.canvas_margin, self.horizon = canvas_margin, horizon
        self.occluder = occluder  # (N, V, 2) image pixels, or None
        self.face_visible = face_visible  # (N,) bool
        self.specs = _part_specs(look, Body.of(look))
        self._a = np.array([p[1] for p in _PARTS])
        self._b = np.array([p[2] for p in _PARTS])
        self._rho = np.array([p[5] for p in _PARTS], dtype=np.float64)
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
            self._canvas = _render_background(self.look, size, self.frame_size, horizon)
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
        caps, u, nrm = _capsules(a, b, hw[:, 0], hw[:, 1], self._rho)
        caps = np.round(caps * _ONE).astype(np.int32)
        k = self._cell_owner
        t, s = self._cell_corners[..., 0:1], self._cell_corners[..., 1:2]  # (M, 4, 1)
        half = hw[k, None, 0:1] + t * (hw[k, None, 1:2] - hw[k, None, 0:1])
        cells = a[k, None] + t * (b[k, None] - a[k, None]) + s * half * nrm[k, None]  # (M, 4, 2)
        cells = np.round(cells * _ONE).astype(np.int32)
        head = _PART_INDEX["head"]
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


# ----------------------------------------------------------------------------------------------------------
# Videos
# ----------------------------------------------------------------------------------------------------------


def _shake(scene: Scene, n: int, frame: int) -> np.ndarray:
    """(N, 2) camera offsets in pixels: two smooth sinusoids per axis plus small white noise."""
    t = np.arange(n, dtype=np.float64)[:, None]
    amp, freq, phase, noise = scene.shake.T  # (2,) each
    rng = np.random.default_rng(scene.shake_seed)
    off = amp * np.sin(2 * np.pi * freq * t + phase) + noise * rng.standard_normal((n, 2))
    return off * frame


def make_video(split: str, index: int, seed: int = 0, config: SyntheticConfig | None = None) -> Video:
    """Video ``index`` of population ``split`` ("train", "val", "test"); deterministic in its arguments."""
    config = config or SyntheticConfig()
    look, scene = person_parameters(split, index, seed, config)
    return _render(look, scene, config, f"{split}-{index:04d}", f"{split}-person-{index:04d}")


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
    scenes = [first] + [sample_scene(np.random.default_rng(np.random.SeedSequence(
        [int(seed), SPLIT_CODES[split], int(index), LONG_VIDEO_KEY, k])), config) for k in range(1, segments)]
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


def _render(look: Appearance, scene: Scene, config: SyntheticConfig, video_id: str, person_id: str) -> Video:
    """The labelled frames of one person (``look``) in one ``scene``: geometry now, pixels on demand."""
    f, n = config.frame_size, config.frames_per_video
    body = Body.of(look)
    ang, plane = _angles(scene, n)
    pts3 = forward_kinematics(ang, body, plane)  # (N, P, 3) body units
    t = np.arange(n, dtype=np.float64)
    pts3[:, :, 0] += (scene.drift * (t / max(n - 1, 1) - 0.5))[:, None]

    # framing: scale and place the union of the person's extents over the video
    pad = 0.06 * body.thick + body.head_r * 0.1
    lo = pts3[:, :, :2].reshape(-1, 2).min(axis=0) - pad
    hi = pts3[:, :, :2].reshape(-1, 2).max(axis=0) + pad
    hi[1] = max(hi[1], pts3[:, HEAD, 1].max() + 1.1 * body.head_r)
    ext = hi - lo
    scale = scene.fill * f / float(ext.max())  # pixels per body unit at zoom 1
    room = f - ext * scale  # free pixels in x and y (negative for cut-off framings)
    margin = 0.02 * f
    px, py = scene.place
    if scene.cutoff:  # too big for the frame: centred, then pushed down so that the feet leave it first
        x0 = room[0] * px
        y0 = room[1] * 0.5 + 0.1 * f * py
    else:
        x0 = margin + max(room[0] - 2 * margin, 0.0) * px
        y0 = margin + max(room[1] - 2 * margin, 0.0) * py
    world = np.empty(pts3.shape[:2] + (2,))
    world[..., 0] = x0 + (pts3[..., 0] - lo[0]) * scale
    world[..., 1] = y0 + (hi[1] - pts3[..., 1]) * scale
    ground_y = y0 + hi[1] * scale
    depth_z = pts3[..., 2]

    # camera: slow zoom about the frame centre, small roll, shake
    c = (f - 1) / 2.0
    zoom = np.exp(scene.zoom * (t / max(n - 1, 1) - 0.5))
    roll = scene.roll * (1.0 + 0.3 * np.sin(2 * np.pi * t / max(n, 1)))
    shake = _shake(scene, n, f)
    cos, sin = np.cos(roll) * zoom, np.sin(roll) * zoom
    lin = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], axis=-2)  # (N, 2, 2)
    trans = c - np.einsum("nij,nj->ni", lin, c + shake)
    cameras = np.concatenate([lin, trans[:, :, None]], axis=2)  # (N, 2, 3)
    img_pts = np.einsum("nij,nkj->nki", lin, world) + trans[:, None, :]
    px_per_unit = scale * zoom  # (N,)

    # part widths (pixels) and depth order
    nparts = len(_PARTS)
    half = np.zeros((n, nparts, 2))
    for k, (_name, _a, _b, wa, wb, _rho, _rank) in enumerate(_PARTS):
        half[:, k, 0], half[:, k, 1] = wa / 2 * body.thick, wb / 2 * body.thick
    yaw = ang["yaw"]
    # the torso's projected half width: an elliptic cross-section turned by the yaw
    side_on = 0.5 * body.torso_depth * np.sin(yaw)
    hs = np.hypot(0.5 * body.shoulder_w * np.cos(yaw) + 0.035 * body.thick, side_on)
    hh = np.hypot(0.5 * body.hip_w * np.cos(yaw) + 0.05 * body.thick, side_on)
    half[:, _PART_INDEX["torso"], 0] = hs * body.thick**0.5
    half[:, _PART_INDEX["torso"], 1] = hh * body.thick**0.5
    half[:, _PART_INDEX["head"], :] = body.head_r
    if look.long_hair:
        half[:, _PART_INDEX["hair_back"], 0] = 0.95 * body.head_r
        half[:, _PART_INDEX["hair_back"], 1] = 0.8 * body.head_r
    half *= px_per_unit[:, None, None]
    depth = np.zeros((n, nparts))
    for k, (_name, a, b, _wa, _wb, _rho, rank) in enumerate(_PARTS):
        depth[:, k] = (depth_z[:, a] + depth_z[:, b]) / 2 + 0.02 * rank
    depth[:, _PART_INDEX["torso"]] = depth_z[:, [LSHO, RSHO, LHIP, RHIP]].mean(axis=1) - 0.01
    face_visible = depth_z[:, NOSE] > depth_z[:, HEAD] - 0.2 * body.head_r

    # occluder
    occluder = None
    visible = np.ones((n, 13), bool)
    if scene.occluder is not None:
        poly0 = _occluder_polygon(scene, f, ground_y, float(world[0, PELVIS, 0]))
        speed = (scene.occluder_geom[4] - 0.5) * 0.01 * f if scene.occluder_geom[4] > 0.6 else 0.0
        polys = poly0[None] + np.stack([speed * t, np.zeros(n)], axis=1)[:, None, :]  # (N, V, 2) world
        occluder = np.einsum("nij,nvj->nvi", lin, polys) + trans[:, None, :]
        visible &= ~_inside_convex(img_pts[:, :13], occluder)
    joints = img_pts[:, :13]
    visible &= np.all((joints >= 0) & (joints <= f - 1), axis=-1)

    # tight boxes of the drawn body
    caps, _, _ = _capsules(img_pts[:, [p[1] for p in _PARTS]], img_pts[:, [p[2] for p in _PARTS]],
                           half[..., 0], half[..., 1], np.array([p[5] for p in _PARTS]))
    drawn = half[..., 0] > 0  # (N, parts)
    caps = np.where(drawn[..., None, None], caps, np.nan)
    head_ext = 1.1 * half[:, _PART_INDEX["head"], 0:1]
    x1 = np.minimum(np.nanmin(caps[..., 0], axis=(1, 2)), (img_pts[:, HEAD, 0:1] - head_ext)[:, 0])
    x2 = np.maximum(np.nanmax(caps[..., 0], axis=(1, 2)), (img_pts[:, HEAD, 0:1] + head_ext)[:, 0])
    y1 = np.minimum(np.nanmin(caps[..., 1], axis=(1, 2)), (img_pts[:, HEAD, 1:2] - head_ext)[:, 0])
    y2 = np.maximum(np.nanmax(caps[..., 1], axis=(1, 2)), (img_pts[:, HEAD, 1:2] + head_ext)[:, 0])
    boxes = np.clip(np.stack([x1, y1, x2, y2], axis=1), 0, f - 1)
    centers = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], axis=1)
    sizes = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) * 1.25

    margin_px = int(math.ceil(0.2 * f)) + 2
    frames = SyntheticFrames(look, scene, f, img_pts, depth, half, cameras, margin_px, ground_y - 0.12 * f,
                             occluder, face_visible)
    return Video(
        video_id=video_id,
        person_id=person_id,
        skeleton=PENN_ACTION,
        images=frames,
        joints=joints.astype(np.float32),
        visible=visible,
        boxes=boxes.astype(np.float32),
        centers=centers.astype(np.float32),
        sizes=sizes.astype(np.float32),
    )


def make_population(
    split: str, num_videos: int, seed: int = 0, config: SyntheticConfig | None = None
) -> list[Video]:
    """Videos 0 .. num_videos - 1 of ``split`` (frames rendered lazily)."""
    if num_videos < 0:
        raise ValueError(f"make_population: num_videos must be >= 0, got {num_videos}")
    return [make_video(split, i, seed, config) for i in range(num_videos)]


def materialize(video: Video) -> Video:
    """The same video with every frame rendered into an (N, H, W, 3) uint8 array (fast repeated reads)."""
    images = video.images.materialize() if isinstance(video.images, SyntheticFrames) else np.stack(
        [video.images[i] for i in range(len(video))]
    )
    return replace(video, images=images)
