"""The drawn parts of the body: which points each part spans and how wide it is (`PARTS`), what covers it
(`COVERINGS`: skin, hair, shoes, or a garment with its texture; `part_specs` turns a look into the colours
and texture cells of every part), and the outline of a part as a tapered capsule (`capsules`).

A part runs from its point ``a`` to its point ``b``; along it, t goes from 0 (at a) to 1 (at b), across it s
from -1 to 1. Texture cells are quadrilaterals in (t, s), so they follow the part as it moves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

import ttpose.data.synthetic.kinematics as kin
from ttpose.data.synthetic.appearance import Appearance, Color, Garment
from ttpose.data.synthetic.kinematics import Body


class Part(NamedTuple):
    name: str
    a: int  # first point (a point of `kinematics`)
    b: int  # second point
    width_a: float  # full width at a, body units (x the look's thickness)
    width_b: float  # full width at b
    roundness: float  # of the capsule's end caps (1: half discs)
    depth_rank: int  # breaks depth ties: a higher rank is drawn over a lower one


PARTS = (
    Part("hair_back", kin.HEAD, kin.HAIR_END, 0.0, 0.0, 1.0, -3),
    Part("torso", kin.NECK, kin.PELVIS, 0.0, 0.0, 0.3, 0),
    Part("neck", kin.NECK, kin.HEAD, 0.055, 0.055, 1.0, 1),
    Part("head", kin.HEAD, kin.HEAD, 0.0, 0.0, 1.0, 3),
    Part("l_upper_arm", kin.LSHO, kin.LELB, 0.062, 0.05, 1.0, 1),
    Part("r_upper_arm", kin.RSHO, kin.RELB, 0.062, 0.05, 1.0, 1),
    Part("l_forearm", kin.LELB, kin.LWRI, 0.048, 0.038, 1.0, 2),
    Part("r_forearm", kin.RELB, kin.RWRI, 0.048, 0.038, 1.0, 2),
    Part("l_hand", kin.LWRI, kin.LHAND, 0.042, 0.036, 1.0, 3),
    Part("r_hand", kin.RWRI, kin.RHAND, 0.042, 0.036, 1.0, 3),
    Part("l_thigh", kin.LHIP, kin.LKNE, 0.095, 0.066, 1.0, 1),
    Part("r_thigh", kin.RHIP, kin.RKNE, 0.095, 0.066, 1.0, 1),
    Part("l_shin", kin.LKNE, kin.LANK, 0.064, 0.044, 1.0, 2),
    Part("r_shin", kin.RKNE, kin.RANK, 0.064, 0.044, 1.0, 2),
    Part("l_foot", kin.LANK, kin.LTOE, 0.05, 0.045, 1.0, 3),
    Part("r_foot", kin.RANK, kin.RTOE, 0.05, 0.045, 1.0, 3),
)
PART_INDEX = {p.name: i for i, p in enumerate(PARTS)}
_CAP_ANGLES = np.linspace(-np.pi / 2, np.pi / 2, 7)


@dataclass(frozen=True)
class Clothing:
    """A part a garment covers whole when the look's ``long`` flag is set; else bare skin, with the garment on
    the stretch ``short`` = (t0, t1) of the part (t0 < 0: it starts on the part before), or nowhere (None)."""

    garment: str  # the look's garment: "sleeves" or "trousers"
    long: str  # the look's flag: "long_sleeves" or "long_trousers"
    length: str  # the `Body` segment the part is: its length scales the texture
    short: tuple[float, float] | None


# what covers each kind of part (its name without the side): a colour of the look, a garment, or, for the
# torso, the shirt with the trousers' waistband (`_torso`)
COVERINGS: dict[str, str | Clothing] = {
    "hair_back": "hair",
    "neck": "skin",
    "head": "skin",
    "hand": "skin",
    "foot": "shoes",
    "torso": "shirt",
    "upper_arm": Clothing("sleeves", "long_sleeves", "upper_arm", short=(-0.25, 0.5)),
    "forearm": Clothing("sleeves", "long_sleeves", "forearm", short=None),
    "thigh": Clothing("trousers", "long_trousers", "thigh", short=(-0.2, 0.72)),
    "shin": Clothing("trousers", "long_trousers", "shin", short=None),
}


@dataclass
class PartSpec:
    """The static look of one part: its base colour and its texture cells [(corners (4, 2) in (t, s), colour)]."""

    base: Color
    cells: list


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


def _garment_cells(g: Garment, t0: float, t1: float, length: float, part_seed: int, base: Color) -> list:
    """Garment ``g`` on [t0, t1] of a part whose base colour is ``base``: a cell of the garment's colour (unless
    the garment covers the whole part in the base colour), then its texture on the part's share of [t0, t1]."""
    cells = [] if g.color == base and t0 <= 0 and t1 >= 1 else [
        (((t0, -1.02), (t1, -1.02), (t1, 1.02), (t0, 1.02)), g.color)
    ]
    return cells + _texture_cells(g, max(t0, 0.0), min(t1, 1.0), length, part_seed)


def _torso(look: Appearance, body: Body, k: int) -> PartSpec:
    """The shirt over the upper 80 % of the torso, the trousers' waistband below."""
    cells = _texture_cells(look.shirt, 0.0, 0.8, body.torso, k)
    cells.append((((0.8, -1.02), (1.05, -1.02), (1.05, 1.02), (0.8, 1.02)), look.trousers.color))
    return PartSpec(look.shirt.color, cells)


def _clothed(cover: Clothing, look: Appearance, body: Body, k: int) -> PartSpec:
    """A limb segment: the whole of it in the garment (long), bare skin with the garment's end (short), or skin."""
    garment: Garment = getattr(look, cover.garment)
    length: float = getattr(body, cover.length)
    if getattr(look, cover.long):
        return PartSpec(garment.color, _garment_cells(garment, 0.0, 1.0, length, k, garment.color))
    if cover.short is None:
        return PartSpec(look.skin, [])
    return PartSpec(look.skin, _garment_cells(garment, *cover.short, length, k, look.skin))


def part_specs(look: Appearance, body: Body) -> list[PartSpec]:
    """Colours and texture cells of every part of `PARTS` (static for a video), by `COVERINGS`."""
    specs = []
    for k, part in enumerate(PARTS):
        cover = COVERINGS[part.name.removeprefix("l_").removeprefix("r_")]
        if isinstance(cover, Clothing):
            specs.append(_clothed(cover, look, body, k))
        elif cover == "shirt":
            specs.append(_torso(look, body, k))
        else:
            specs.append(PartSpec(getattr(look, cover), []))
    return specs


def capsules(a: np.ndarray, b: np.ndarray, ha: np.ndarray, hb: np.ndarray, rho: np.ndarray):
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
