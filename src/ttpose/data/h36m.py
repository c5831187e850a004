"""Human3.6M (Ionescu et al., TPAMI 2014) in MMPose's layout: one `Video` per subject-sequence-camera.

Layout: the frames extracted by MMPose's ``tools/dataset_converters/preprocess_h36m.py`` (named after
the original video files) and its annotation files::

    ROOT/images/S1/S1_Directions_1.54138969/S1_Directions_1.54138969_000001.jpg   (frame numbers from 1)
    ROOT/annotation_body3d/fps50/h36m_train.npz, h36m_test.npz
        imgname (N,) "S1/S1_Directions_1.54138969/..._000001.jpg", center (N, 2), scale (N,) [x 200 px],
        part (N, 17, 3) 2-D joints + visibility, S (N, 17, 4) 3-D joints (unused)

or, instead of the npz files, COCO-style JSON files ``ROOT/annotations/*.json`` (MMPose's ``h36m_coco``
test files: ``images[].file_name`` "S1_Directions_1.54138969_000001.jpg", ``annotations[].keypoints``
17 x (x, y, v) and ``bbox`` [x, y, w, h]). Every annotation file found is read, whichever subjects it
holds; the split is made here from the subject in the image name. An ``imgname`` with folders is taken
as the path under ``ROOT/images``; a bare file name is placed in ``images/S?/<sequence>.<camera>/``. Frames
named in H36M-Toolbox's style (``s_09_act_02_subact_01_ca_01_000001.jpg``) are accepted as well.

Protocol (paper Sec. 4.1, the authors' code):

- train: subjects S1, S5, S6, S7, S8, every 5th frame; test: S9, S11, every 200th frame (frame numbers
  n with (n - 1) % stride == 0, so the 200th-frame test set is a subset of the 5th-frame grid);
- 16 joints in MPII order (`ttpose.skeletons.MPII`), from H3.6M's 17 by dropping the spine: pelvis = root,
  thorax = thorax, upper_neck = neck_base ("Neck/Nose"), head_top = head;
- for the paper's Table 6 (a Penn Action model personalized on Human3.6M) ``skeleton="penn_action"`` gives
  Penn Action's 13 joints instead: limbs map one to one, and Penn's "head" (a point on the head, not its
  top) is the midpoint of H3.6M's neck_base/nose and head joints. The authors' mapping is not published;
  this one is ttpose's choice;
- one person domain per subject, action, sub-action and camera (the image folder, e.g.
  ``S9_Walking_1.54138969``), as the authors' cache is keyed by (subject, action, subaction, camera);
- crop region: the annotation's ``center`` and ``scale`` x 200 pixels (MMPose's converter already pads
  the keypoints' extent by 1.2), so no further padding; the box is that square.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ttpose.data.cache import VideoRecord, fingerprint, index_path, load_index
from ttpose.data.errors import DatasetError, require_dir
from ttpose.data.types import Video
from ttpose.skeletons import MPII, PENN_ACTION, Skeleton

DATASET = "h36m"
TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS = ("S9", "S11")
STRIDE = {"train": 5, "test": 200}
# H3.6M's 17 joints as MMPose defines them (configs/_base_/datasets/h36m.py). The COCO-style h36m_coco.json
# names joints 1-3 "left" and 4-6 "right": its leg names are swapped (on the real annotations joint 4 lies on
# the side of the left shoulder, 11; tests/test_h36m.py checks this geometry).
H36M_JOINTS = ("root", "right_hip", "right_knee", "right_foot", "left_hip", "left_knee", "left_foot", "spine",
               "thorax", "neck_base", "head", "left_shoulder", "left_elbow", "left_wrist", "right_shoulder",
               "right_elbow", "right_wrist")
# MPII joint j <- H3.6M joint H36M_TO_MPII[j]
H36M_TO_MPII = (3, 2, 1, 4, 5, 6, 0, 8, 9, 10, 16, 15, 14, 11, 12, 13)
# Penn Action joint j <- H3.6M joint H36M_TO_PENN[j]; Penn's head (j = 0) is the mean of H3.6M's 9 and 10
H36M_TO_PENN = (10, 11, 14, 12, 15, 13, 16, 4, 1, 5, 2, 6, 3)
SKELETONS = {"mpii": MPII, "penn_action": PENN_ACTION}
FIX = "run MMPose's preprocess_h36m.py on the original Human3.6M videos (see docs/datasets.md)"
_NAME = re.compile(r"^(S\d+)_.+\.\d+_(\d+)\.(?:jpg|png)$")  # MMPose: S9_Walking_1.54138969_000201.jpg
_TOOLBOX = re.compile(r"^s_(\d+)_act_\d+_subact_\d+_ca_\d+_(\d+)\.(?:jpg|png)$")  # H36M-Toolbox


def parse_image_name(name: str, where: str | Path) -> tuple[str, str, int]:
    """"S9_Walking_1.54138969_000201.jpg" (any folder prefix) -> ("S9", "S9_Walking_1.54138969", 201);
    "s_09_act_02_subact_01_ca_01_000201.jpg" -> ("S9", "s_09_act_02_subact_01_ca_01", 201)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    m = _NAME.match(base)
    if m:
        subject, frame = m.groups()
    elif t := _TOOLBOX.match(base):
        subject, frame = f"S{int(t.group(1))}", t.group(2)
    else:
        raise DatasetError(where, f"image names like S9_Walking_1.54138969_000201.jpg, got {name!r}", FIX)
    return subject, base.rsplit("_", 1)[0], int(frame)


def _read_npz(path: Path) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in ("imgname", "center", "scale", "part") if k not in z.files]
            if missing:
                raise DatasetError(path, f"arrays imgname, center, scale, part; missing {', '.join(missing)}", FIX)
            names, center, scale, part = z["imgname"].tolist(), z["center"], z["scale"], z["part"]
    except DatasetError:
        raise
    except Exception as e:
        raise DatasetError(path, f"an npz annotation file without pickles ({type(e).__name__}: {e})", FIX) from None
    n = len(names)
    if np.shape(part) != (n, 17, 3) or np.shape(center) != (n, 2) or np.shape(scale) not in ((n,), (n, 1), (n, 2)):
        raise DatasetError(path, f"part ({n}, 17, 3), center ({n}, 2), scale ({n},); got part {np.shape(part)}, "
                           f"center {np.shape(center)}, scale {np.shape(scale)}", FIX)
    size = 200.0 * np.asarray(scale, np.float64).reshape(n, -1)[:, 0]
    return names, part.astype(np.float64), np.asarray(center, np.float64), size


def _read_coco(path: Path) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    try:
        data = json.loads(path.read_text())
        files = {im["id"]: im["file_name"] for im in data["images"]}
        anns = data["annotations"]
        names = [files[a["image_id"]] for a in anns]
        part = np.array([a["keypoints"] for a in anns], np.float64).reshape(len(anns), 17, 3)
        box = np.array([a["bbox"] for a in anns], np.float64).reshape(len(anns), 4)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DatasetError(path, "COCO-style JSON with images[].file_name and annotations[].image_id, keypoints "
                           f"(17 x 3), bbox ({type(e).__name__}: {e})", FIX) from None
    center = box[:, :2] + box[:, 2:] / 2
    return names, part, center, box[:, 2:].max(axis=1)


def annotation_files(root: str | Path) -> list[Path]:
    """The npz files under annotation_body3d/fps50, else the JSON files under annotations/."""
    root = Path(root)
    files = sorted((root / "annotation_body3d" / "fps50").glob("*.npz"))
    if not files:
        files = sorted((root / "annotations").glob("*.json"))
    if not files:
        raise DatasetError(root / "annotation_body3d" / "fps50",
                           "h36m_train.npz / h36m_test.npz (or COCO-style JSON under annotations/); found none", FIX)
    return files


def scan(root: str | Path, files: list[Path] | None = None, progress: bool = False) -> list[VideoRecord]:
    """Read the annotation files and group the protocol's frames into one record per image folder."""
    root = Path(root)
    files = annotation_files(root) if files is None else files
    frames: dict[str, dict] = {}
    for path in tqdm(files, desc="Human3.6M annotations", unit="file", disable=not progress):
        names, part, center, size = (_read_npz if path.suffix == ".npz" else _read_coco)(path)
        for i, name in enumerate(names):
            subject, folder, number = parse_image_name(name, path)
            split = "train" if subject in TRAIN_SUBJECTS else "test" if subject in TEST_SUBJECTS else None
            if split is None or (number - 1) % STRIDE[split]:
                continue
            rows = frames.setdefault(folder, {"split": split, "subject": subject, "rows": {}})["rows"]
            rel = name if "/" in name.replace("\\", "/") else \
                f"{subject}/{folder}/{name}" if name.startswith("S") else f"{folder}/{name}"
            rows[number] = (part[i], center[i], size[i], "images/" + rel.replace("\\", "/"))
    records = []
    for folder in sorted(frames):
        info = frames[folder]
        numbers = sorted(info["rows"])
        part = np.stack([info["rows"][k][0] for k in numbers])  # N x 17 x 3, H3.6M order
        center = np.stack([info["rows"][k][1] for k in numbers]).astype(np.float32)
        size = np.array([info["rows"][k][2] for k in numbers], np.float32)
        half = size[:, None] / 2
        records.append(VideoRecord(
            video_id=folder, person_id=info["subject"], split=info["split"],
            frames=[info["rows"][k][3] for k in numbers],
            joints=part[..., :2].astype(np.float32), visible=part[..., 2] > 0,
            boxes=np.concatenate([center - half, center + half], axis=1).astype(np.float32),
            centers=center, sizes=size, frame_ids=np.array(numbers, np.int64) - 1,
        ))
    return records


def to_skeleton(joints: np.ndarray, visible: np.ndarray, skeleton: Skeleton) -> tuple[np.ndarray, np.ndarray]:
    """H3.6M's 17 joints (N x 17 x 2, N x 17) -> MPII's 16 or Penn Action's 13 (see the module docstring)."""
    if skeleton is MPII:
        return joints[:, H36M_TO_MPII], visible[:, H36M_TO_MPII]
    out, vis = joints[:, H36M_TO_PENN].copy(), visible[:, H36M_TO_PENN].copy()
    out[:, 0] = (joints[:, 9] + joints[:, 10]) / 2
    vis[:, 0] = visible[:, 9] & visible[:, 10]
    return out, vis


def load_h36m(root: str | Path, split: str = "train", progress: bool = False, use_index: bool = True,
              check_images: bool = True, skeleton: str = "mpii") -> list[Video]:
    """The subject-sequence-camera videos of ``split`` ("train": S1, S5-S8; "test": S9, S11).

    ``skeleton``: "mpii" (16 joints, the paper's Human3.6M experiments) or "penn_action" (13 joints, to
    evaluate a Penn Action model on Human3.6M as in Table 6).
    """
    if split not in STRIDE:
        raise ValueError(f"Human3.6M split must be 'train' or 'test', got {split!r}")
    if skeleton not in SKELETONS:
        raise ValueError(f"Human3.6M joints can be given as {' or '.join(SKELETONS)}, not {skeleton!r}")
    target = SKELETONS[skeleton]
    root = require_dir(root, "the Human3.6M folder (with images/ and annotation_body3d/)", "set data.root / --root")
    files = annotation_files(root)
    records = load_index(index_path(root, DATASET), DATASET, fingerprint(root, files, DATASET)) if use_index else None
    if records is None:
        records = scan(root, files, progress)
    records = [r for r in records if r.split == split]
    if not records:
        raise DatasetError(files[0], f"frames of the {split} subjects "
                           f"{', '.join(TRAIN_SUBJECTS if split == 'train' else TEST_SUBJECTS)}; found none", FIX)
    if check_images:
        require_dir(root / "images", "the extracted frames, images/S?/<sequence>.<camera>/*.jpg", FIX)
        for r in records:
            if not (root / r.frames[0]).is_file():
                raise DatasetError(root / r.frames[0], f"the first annotated frame of {r.video_id}", FIX)
    videos = []
    for r in records:
        joints, visible = to_skeleton(r.joints, r.visible, target)
        videos.append(replace(r, joints=joints, visible=visible).to_video(root, target))
    return videos
