"""Joint sets of the paper's datasets: names, left/right flip pairs, limbs to draw, per-part groups.

One `Skeleton` per dataset convention. Everything that depends on joint order (flip augmentation, the
PCK torso, the per-part table, drawing) reads it from here, never from hard-coded indices elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Skeleton:
    name: str
    joint_names: tuple[str, ...]
    flip_pairs: tuple[tuple[int, int], ...]  # (left, right) index pairs swapped by a horizontal flip
    limbs: tuple[tuple[int, int], ...]  # joint index pairs drawn as bones
    parts: tuple[tuple[str, tuple[int, ...]], ...]  # table columns: (part name, joint indices)
    # PCK's torso size: |mean of the first joints - mean of the second| (upper body point, hips)
    torso: tuple[tuple[int, ...], tuple[int, ...]] | None

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    def flip_permutation(self) -> list[int]:
        """Index permutation that maps joint j to its mirror partner after a horizontal flip."""
        perm = list(range(self.num_joints))
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return perm

    def index(self, name: str) -> int:
        return self.joint_names.index(name)


# Penn Action (Zhang et al. 2013): 13 joints. Order of the label files and of the authors' code.
PENN_ACTION = Skeleton(
    name="penn_action",
    joint_names=(
        "head",
        "left_shoulder", "right_shoulder",
        "left_elbow", "right_elbow",
        "left_wrist", "right_wrist",
        "left_hip", "right_hip",
        "left_knee", "right_knee",
        "left_ankle", "right_ankle",
    ),
    flip_pairs=((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12)),
    limbs=(
        (0, 1), (0, 2), (1, 2), (1, 3), (3, 5), (2, 4), (4, 6),
        (1, 7), (2, 8), (7, 8), (7, 9), (9, 11), (8, 10), (10, 12),
    ),
    parts=(
        ("Head", (0,)), ("Shoulder", (1, 2)), ("Elbow", (3, 4)), ("Wrist", (5, 6)),
        ("Hip", (7, 8)), ("Knee", (9, 10)), ("Ankle", (11, 12)),
    ),
    torso=((1, 2), (7, 8)),
)

# MPII order, 16 joints: used for Human3.6M by the authors (converted from H36M's 17 joints). Scored as their
# hm36.py `evaluate` scores it: torso = |upper neck - mid-hip| (not mid-shoulder), Head column = head top alone.
MPII = Skeleton(
    name="mpii",
    joint_names=(
        "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
        "pelvis", "thorax", "upper_neck", "head_top",
        "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
    ),
    flip_pairs=((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13)),
    limbs=(
        (0, 1), (1, 2), (2, 6), (6, 3), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9),
        (7, 12), (12, 11), (11, 10), (7, 13), (13, 14), (14, 15),
    ),
    parts=(
        ("Head", (9,)), ("Shoulder", (12, 13)), ("Elbow", (11, 14)), ("Wrist", (10, 15)),
        ("Hip", (2, 3)), ("Knee", (1, 4)), ("Ankle", (0, 5)),
    ),
    torso=((8,), (2, 3)),
)

# BBC Pose: 7 upper-body joints (head, wrists, elbows, shoulders), in the order of bbcpose.mat.
BBC_POSE = Skeleton(
    name="bbc_pose",
    joint_names=(
        "head", "right_wrist", "left_wrist", "right_elbow", "left_elbow", "right_shoulder", "left_shoulder",
    ),
    flip_pairs=((1, 2), (3, 4), (5, 6)),
    limbs=((0, 5), (0, 6), (5, 6), (5, 3), (3, 1), (6, 4), (4, 2)),
    parts=(("Head", (0,)), ("Wrist", (1, 2)), ("Elbow", (3, 4)), ("Shoulder", (5, 6))),
    torso=None,  # BBC Pose is scored by accuracy within d pixels, not PCK
)

SKELETONS = {s.name: s for s in (PENN_ACTION, MPII, BBC_POSE)}


def get_skeleton(name: str) -> Skeleton:
    try:
        return SKELETONS[name]
    except KeyError:
        raise ValueError(f"unknown skeleton {name!r}; known: {', '.join(SKELETONS)}") from None
