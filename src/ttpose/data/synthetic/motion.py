"""Joint-angle trajectories of a scene (`joint_angles`): one of the motion families of `MOTIONS` (a table,
`FAMILIES`: one function per family), at the scene's speed, amplitude, phase and leading side, plus the
person's constant posture offsets, idle wobble and yaw. `ttpose.data.synthetic.kinematics` turns them into
3-D points.

Each family writes the channels it moves into ``ang`` (channel -> (N,) radians, see `CHANNELS`), given the
motion phase ``ph`` (N,) in radians, the amplitude ``a`` and the side ``sd`` (+1: the person's left leads).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ttpose.data.synthetic.kinematics import CHANNELS
from ttpose.data.synthetic.scene import MOTIONS, Scene

Angles = dict[str, np.ndarray]  # channel of CHANNELS -> (N,) trajectory

FORWARD = (1.0, 0.0)  # elbow bend plane: the forearm folds forward (weights of flexion, abduction)
SIDEWAYS = (0.0, 1.0)  # the forearm folds outward, in the plane of a raised arm


def _lead(sd: float) -> tuple[str, str]:
    """(dominant, other) side prefixes: the left leads for sd > 0."""
    return ("l", "r") if sd > 0 else ("r", "l")


def _walk(ang: Angles, ph: np.ndarray, a: float, sd: float) -> None:
    z = np.zeros_like(ph)
    for side, sgn in (("l", 1.0), ("r", -1.0)):
        p = ph if sgn > 0 else ph + np.pi
        ang[f"{side}_hip_flex"] = 0.45 * a * np.sin(p)
        ang[f"{side}_knee"] = 0.08 + 0.65 * a * ((1 + np.cos(p)) / 2) ** 2
        ang[f"{side}_sh_flex"] = -0.4 * a * np.sin(p)
        ang[f"{side}_el"] = 0.25 + 0.25 * a * (1 - np.sin(p)) / 2
    ang["twist"] = 0.12 * a * np.sin(ph)
    ang["roll"] = 0.03 * np.sin(2 * ph)
    ang["pitch"] = z + 0.05


def _wave(ang: Angles, ph: np.ndarray, a: float, sd: float) -> None:
    z = np.zeros_like(ph)
    dom, _ = _lead(sd)
    ang[f"{dom}_sh_abd"] = 2.3 + 0.1 * np.sin(ph)
    ang[f"{dom}_sh_flex"] = z + 0.25
    ang[f"{dom}_el"] = 0.75 + 0.55 * a * np.sin(2 * ph)
    ang["roll"] = -0.06 * sd + 0.03 * np.sin(ph)
    ang["l_hip_abd"] = ang["r_hip_abd"] = z + 0.08


def _squat(ang: Angles, ph: np.ndarray, a: float, sd: float) -> None:
    z = np.zeros_like(ph)
    c = np.minimum(1.0, a * (1 - np.cos(ph)) / 2)
    for side in "lr":
        ang[f"{side}_hip_flex"] = 1.7 * c
        ang[f"{side}_knee"] = 0.05 + 2.1 * c
        ang[f"{side}_hip_abd"] = 0.12 + 0.12 * c
        ang[f"{side}_sh_flex"] = 1.45 * c
        ang[f"{side}_el"] = z + 0.1
    ang["pitch"] = 0.55 * c


def _throw(ang: Angles, ph: np.ndarray, a: float, sd: float) -> None:
    z = np.zeros_like(ph)
    dom, oth = _lead(sd)
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


def _jumping_jacks(ang: Angles, ph: np.ndarray, a: float, sd: float) -> None:
    z = np.zeros_like(ph)
    c = (1 - np.cos(ph)) / 2
    for side in "lr":
        ang[f"{side}_sh_abd"] = 0.15 + 2.55 * c * min(a, 1.1)
        ang[f"{side}_el"] = z + 0.15
        ang[f"{side}_hip_abd"] = 0.04 + 0.32 * c
        ang[f"{side}_knee"] = z + 0.1
    ang["jump"] = 0.05 * a * np.sin(ph) ** 2


def _punch(ang: Angles, ph: np.ndarray, a: float, sd: float) -> None:
    z = np.zeros_like(ph)
    ext = {"l": np.maximum(0, np.sin(ph)) ** 2, "r": np.maximum(0, -np.sin(ph)) ** 2}
    for side in "lr":
        ang[f"{side}_sh_flex"] = 0.9 + 0.7 * ext[side]
        ang[f"{side}_el"] = 2.0 - 1.8 * ext[side] * min(a, 1.0)
        ang[f"{side}_sh_abd"] = -0.15 + 0.25 * (1 - ext[side])
        ang[f"{side}_knee"] = 0.25 + 0.05 * np.sin(2 * ph)
    ang["l_hip_flex"], ang["r_hip_flex"] = z + 0.2, z - 0.15
    ang["twist"] = -0.3 * (ext["l"] - ext["r"])
    ang["pitch"] = z + 0.1


def _bend(ang: Angles, ph: np.ndarray, a: float, sd: float) -> None:
    z = np.zeros_like(ph)
    c = np.minimum(1.0, a * (1 - np.cos(ph)) / 2)
    ang["pitch"] = 1.4 * c
    for side in "lr":
        ang[f"{side}_sh_flex"] = 0.1 + 1.5 * c
        ang[f"{side}_knee"] = 0.08 + 0.15 * c
        ang[f"{side}_hip_abd"] = z + 0.08


def _swing(ang: Angles, ph: np.ndarray, a: float, sd: float) -> None:
    z = np.zeros_like(ph)
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


@dataclass(frozen=True)
class Family:
    """A motion family: what it does to the joint angles, and the plane its elbows bend in."""

    angles: Callable[[Angles, np.ndarray, float, float], None]
    elbow_plane: tuple[float, float] = FORWARD


FAMILIES: dict[str, Family] = {  # one per name of MOTIONS, in its order
    "walk": Family(_walk),
    "wave": Family(_wave, SIDEWAYS),
    "squat": Family(_squat),
    "throw": Family(_throw),
    "jumping_jacks": Family(_jumping_jacks, SIDEWAYS),
    "punch": Family(_punch),
    "bend": Family(_bend),
    "swing": Family(_swing),
}


def _rest_pose(n: int) -> Angles:
    """Arms slightly out and bent, knees and hips slightly bent: what a family does not move."""
    z = np.zeros(n)
    ang = {c: z.copy() for c in CHANNELS}
    for side in "lr":
        ang[f"{side}_sh_abd"] += 0.12
        ang[f"{side}_el"] += 0.2
        ang[f"{side}_knee"] += 0.06
        ang[f"{side}_hip_abd"] += 0.04
    return ang


def joint_angles(scene: Scene, n: int) -> tuple[Angles, tuple[float, float]]:
    """Joint angles (N,) per channel over ``n`` frames, and the elbow bend plane (forward, sideways) weights."""
    t = np.arange(n, dtype=np.float64)
    ph = 2 * np.pi * scene.cycles_per_frame * t + scene.phase
    if scene.motion not in FAMILIES:
        raise ValueError(f"unknown motion {scene.motion!r}; choose one of {', '.join(MOTIONS)}")
    family = FAMILIES[scene.motion]
    ang = _rest_pose(n)
    family.angles(ang, ph, scene.amplitude, scene.side)
    for k, c in enumerate(CHANNELS):  # the person's own posture and idle wobble
        amp, freq, phase = scene.wobble[k]
        ang[c] = ang[c] + scene.offsets[k] + amp * np.sin(2 * np.pi * freq * t + phase)
    ang["jump"] = np.maximum(ang["jump"] - scene.offsets[CHANNELS.index("jump")], 0.0)
    ang["yaw"] = ang["yaw"] + scene.yaw
    return ang, family.elbow_plane
