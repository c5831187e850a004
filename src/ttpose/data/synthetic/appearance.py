"""A person's look (`Appearance`: skin, hair, clothing, body proportions, background style): the one thing the
appearance shift between the training people and the val/test people changes.

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

Two of the shift's choices are all-or-nothing per person: the background style and the shirt's texture (a person
in front of a "pattern" background is often not found at all). Drawn independently per person, the share
of such people in a 16-person split varies by about +-12 % of the people (binomial), which moved the PCK of
16-person blocks of validation people by 11.1 (std; benchmarks/RESULTS.md, section
people_spread_stratified_false). With ``stratified`` draws (`SplitDraws`, from
`ttpose.data.synthetic.people.split_draws`) these two choices take evenly spread values over the split's people
instead, so every split holds the shift's share of them to within about two people; each person's own chance is
unchanged.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass

import numpy as np

TRAIN_TEXTURES = ("solid", "stripes", "gradient")
NOVEL_TEXTURES = ("checks", "noise", "diagonal")
TRAIN_HUE_CENTER = 30.0  # degrees; training garment hues lie within +-TRAIN_HUE_HALF of it
TRAIN_HUE_HALF = 80.0
NOVEL_HUE_START = 100.0  # at shift >= 1, garment hues lie NOVEL_HUE_START..180 deg from TRAIN_HUE_CENTER
BG_STYLES = ("scene", "pattern")

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


@dataclass(frozen=True)
class SplitDraws:
    """Uniform values in [0, 1) for a person's all-or-nothing shift choices, spread evenly over the split's
    people (`ttpose.data.synthetic.people.split_draws`) instead of drawn per person."""

    background: float  # "pattern" background when below the shift
    shirt_texture: float  # a novel shirt texture when below the shift


def hsv_color(hue_deg: float, sat: float, val: float) -> Color:
    """RGB 0-255 of a hue in degrees (any value, taken modulo 360) and saturation, value clipped to [0, 1]."""
    r, g, b = colorsys.hsv_to_rgb((hue_deg % 360.0) / 360.0, min(max(sat, 0.0), 1.0), min(max(val, 0.0), 1.0))
    return (255.0 * r, 255.0 * g, 255.0 * b)


def _push(w: float, shift: float) -> float:
    """Map a draw w in [-1, 1] outward: |w| + shift with w's sign (shift 0: unchanged)."""
    return math.copysign(abs(w) + shift, w)


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
    texture_draw: float | None = None,
) -> Garment:
    """One garment; ``texture_draw`` replaces its own uniform draw for the novel-texture choice (`SplitDraws`)."""
    s = min(shift, 1.0)
    # every draw happens whatever the shift, so shift only transforms values (shift 0 == training)
    w_hue, u_sat, u_val, u_tex, k_train, k_novel, u_c2, u_con, u_per, u_slant = rng.uniform(size=10)
    u_tex = u_tex if texture_draw is None else texture_draw
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
        c2 = hsv_color(hue, 0.05, 0.95) if vv < 0.6 else hsv_color(hue, 0.3, 0.12)
    else:  # tone on tone
        c2 = hsv_color(hue, sv * 0.8, vv - contrast if vv > 0.5 else vv + contrast)
    return Garment(
        hue=float(hue), color=hsv_color(hue, sv, vv), color2=c2, texture=texture,
        period=0.04 + 0.05 * float(u_per), slant=1.0 if u_slant < 0.5 else -1.0, seed=seed,
    )


def sample_appearance(rng: np.random.Generator, shift: float, split: SplitDraws | None = None) -> Appearance:
    """One person's look and background style; ``shift`` 0 is the training distribution (see module doc).
    ``split``: the person's evenly spread draws for the background style and the shirt texture (else drawn from
    ``rng``; ``rng`` is advanced the same either way, so nothing else about the person changes)."""
    if not shift >= 0:
        raise ValueError(f"sample_appearance: shift must be >= 0, got {shift}")
    s = min(shift, 1.0)
    w = rng.uniform(-1.0, 1.0, size=8)  # shiftable scalars, fixed order
    u = rng.uniform(size=8)
    hair_index = int(rng.integers(len(_HAIR)))
    shirt = _sample_garment(rng, shift, 1.0, (0.45, 0.9), (0.4, 0.95), None if split is None else split.shirt_texture)
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
        background=BG_STYLES[1] if (u[5] if split is None else split.background) < s else BG_STYLES[0],
        clutter=1.0 + max(0.0, shift - 1.0),
        background_seed=bg_seed,
    )
