"""The body as a 3-D kinematic chain: its named points (Penn Action's 13 joints first, then helpers for
drawing), its segment sizes (`Body`, from a look's proportions) and `forward_kinematics`, which turns
joint-angle trajectories (one array per name of `CHANNELS`) into 3-D points with the feet on the ground.

Body units: standing height about 1; x is the person's left at yaw 0, y up, z toward the camera.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ttpose.data.synthetic.appearance import Appearance

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
