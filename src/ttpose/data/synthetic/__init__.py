"""Synthetic people on video: a deterministic benchmark for test-time personalization (TTP).

Why: test-time personalization (paper Sec. 3.3) pays off when the people at test time look unlike the
people seen in training. No pose dataset with images can be downloaded here, so this package draws its own:
each `Video` shows one articulated person with Penn Action's 13 joints (`ttpose.skeletons.PENN_ACTION`)
moving smoothly in front of a static background. Within a video the person's appearance and the background
stay fixed while the pose moves, which is what the self-supervised task needs (reconstruct a target frame
from its keypoints and the appearance of another frame of the same video, Sec. 3.1). Between videos the
appearance varies, and the val/test populations are drawn from a shifted appearance distribution (what each
split gets: the docstring of `ttpose.data.synthetic.appearance`).

How a video is made (all randomness is drawn up front from ``SeedSequence([seed, split, index])``, so the
same (seed, split, index, config) always gives bit-identical frames and labels, in any access order), and
the module of each step:

- ``people``: the random streams of a video, its look and its scene (`person_parameters`).
- ``appearance``: the look (`sample_appearance`): skin, hair, clothing colours and textures, body
  proportions, background style; the only thing the shift changes.
- ``scene``: what happens (`sample_scene`): one of the motion families `MOTIONS` with per-video speed,
  amplitude, phase, dominant side, idle wobble and yaw (up to about 60 deg either way, slowly drifting;
  `SyntheticConfig.yaw_range` = pi lets people turn their backs);
  framing; a camera with slow zoom, small roll and per-frame shake; some videos (`occluder_prob`) have an
  occluder (post, crate, bar or bush, static or sliding) in front of the person; some (`cutoff_prob`) frame
  the person so tightly that limbs leave the picture.
- ``motion``: the joint angles over time (one function per motion family).
- ``kinematics``: a 3-D kinematic chain in body units (standing height ~ 1); forward kinematics puts the
  feet on the ground; the body is projected orthographically. Left is the person's left: at yaw 0 the
  person faces the camera and the left joints appear on the image's right, so flipping an image and
  swapping `PENN_ACTION.flip_pairs` gives a valid labelled frame.
- ``parts``: limbs are tapered capsules, the torso a rounded trapezoid, the head a skin disc with hair
  (short or long) and eyes; hands, neck and shoes are parts too. Clothing (shirt, sleeves,
  trousers/shorts, shoes) has colours and body-attached textures (a table: what covers each part).
- ``scenery``: a static background canvas per video, and the occluder's shape.
- ``video``: the steps of one video (pose, framing, camera, part widths and depth order, occluder, labels);
  the same camera affine moves the background and the person.
- ``render``: the frames, on demand: anti-aliased, sub-pixel; parts painted far to near by their depth, so
  near limbs cover far ones.

Labels: ``joints`` are the projected joint centres (0-based pixels; the head joint is the head's centre).
A joint is invisible when it lies outside the frame or inside the occluder; joints hidden by the person's
own body stay visible (their position is implied by the body). An invisible joint keeps its projected
(possibly out-of-frame) coordinates. ``boxes`` are the tight box of the drawn body (capsules, torso, head
with hair), clamped to the frame; ``centers``/``sizes`` are the box centre and 1.25 x its longer side. The
box's longer side is about 50-90 % of the frame.

Use ``make_video(split, index, seed, config)`` or ``make_population(split, n, seed, config)``. Frames are
rendered on demand by `SyntheticFrames` (about 3,000 frames/s at 128 px on one core, see
benchmarks/SYNTHETIC_DATA.md); ``materialize(video)`` stacks them into an N x H x W x 3 array.
"""

from ttpose.data.synthetic.appearance import (
    BG_STYLES,
    NOVEL_HUE_START,
    NOVEL_TEXTURES,
    TRAIN_HUE_CENTER,
    TRAIN_HUE_HALF,
    TRAIN_TEXTURES,
    Appearance,
    Color,
    Garment,
    sample_appearance,
)
from ttpose.data.synthetic.config import SyntheticConfig
from ttpose.data.synthetic.kinematics import (
    CHANNELS,
    HAIR_END,
    HEAD,
    LANK,
    LELB,
    LEYE,
    LHAND,
    LHIP,
    LKNE,
    LSHO,
    LTOE,
    LWRI,
    NECK,
    NOSE,
    NUM_POINTS,
    PELVIS,
    RANK,
    RELB,
    REYE,
    RHAND,
    RHIP,
    RKNE,
    RSHO,
    RTOE,
    RWRI,
    Body,
    forward_kinematics,
)
from ttpose.data.synthetic.people import LONG_VIDEO_KEY, SPLIT_CODES, person_parameters, video_shift
from ttpose.data.synthetic.render import SyntheticFrames
from ttpose.data.synthetic.scene import MOTIONS, Scene, sample_scene
from ttpose.data.synthetic.video import ConcatFrames, make_long_video, make_population, make_video, materialize

__all__ = [
    "BG_STYLES", "CHANNELS", "HAIR_END", "HEAD", "LANK", "LELB", "LEYE", "LHAND", "LHIP", "LKNE", "LONG_VIDEO_KEY",
    "LSHO", "LTOE", "LWRI", "MOTIONS", "NECK", "NOSE", "NOVEL_HUE_START", "NOVEL_TEXTURES", "NUM_POINTS", "PELVIS",
    "RANK", "RELB", "REYE", "RHAND", "RHIP", "RKNE", "RSHO", "RTOE", "RWRI", "SPLIT_CODES", "TRAIN_HUE_CENTER",
    "TRAIN_HUE_HALF", "TRAIN_TEXTURES", "Appearance", "Body", "Color", "ConcatFrames", "Garment", "Scene",
    "SyntheticConfig", "SyntheticFrames", "forward_kinematics", "make_long_video", "make_population", "make_video",
    "materialize", "person_parameters", "sample_appearance", "sample_scene", "video_shift",
]
