"""Human3.6M loader on the real MMPose annotation files in ../shared/data/h36m_mmpose (4 frames, no images)."""

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from ttpose.data.errors import DatasetError
from ttpose.data.h36m import H36M_JOINTS, H36M_TO_MPII, H36M_TO_PENN, load_h36m, parse_image_name
from ttpose.skeletons import MPII, PENN_ACTION

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "h36m_mmpose"


@pytest.fixture(scope="module")
def real():
    if not SHARED.is_dir():
        pytest.skip(f"real Human3.6M annotation files {SHARED} are absent")
    with np.load(SHARED / "test_h36m_body3d.npz") as z:
        return {k: z[k] for k in z.files}


def _npz_root(tmp_path: Path, arrays: dict, name="h36m_train.npz") -> Path:
    folder = tmp_path / "annotation_body3d" / "fps50"
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / name, **arrays)
    return tmp_path


def test_joint_maps_follow_the_names_and_left_is_left_on_the_real_annotations(tmp_path, real):
    """Regression: the legs were mapped by h36m_coco.json's names, whose left and right legs are swapped."""
    for skeleton, mapping in ((MPII, H36M_TO_MPII), (PENN_ACTION, H36M_TO_PENN)):
        for name, h36m in zip(skeleton.joint_names, mapping, strict=True):
            if name.startswith(("left", "right")):
                assert H36M_JOINTS[h36m].split("_")[0] == name.split("_")[0], (name, H36M_JOINTS[h36m])
    assert "spine" not in [H36M_JOINTS[i] for i in H36M_TO_MPII] and len(set(H36M_TO_MPII)) == 16
    root = _npz_root(tmp_path, real)
    for skeleton in ("mpii", "penn_action"):
        for video in load_h36m(root, "train", check_images=False, skeleton=skeleton):
            joint = dict(zip(video.skeleton.joint_names, video.joints[0], strict=True))
            hips = joint["left_hip"] - joint["right_hip"]
            shoulders = joint["left_shoulder"] - joint["right_shoulder"]
            assert hips @ shoulders / np.linalg.norm(hips) / np.linalg.norm(shoulders) > 0.8, video.video_id
    # and in 3-D, where no camera angle can flip it: joint 4 is on the left shoulder's side
    s3 = real["S"][..., :3]
    cos = np.einsum("nd,nd->n", s3[:, 4] - s3[:, 1], s3[:, 11] - s3[:, 14])
    assert (cos > 0).all()


def test_real_npz_four_train_sequences(tmp_path, real):
    root = _npz_root(tmp_path, real)
    videos = load_h36m(root, "train", check_images=False)
    assert [v.video_id for v in videos] == ["S1_Directions_1.54138969", "S5_SittingDown.54138969",
                                            "S7_Greeting.55011271", "S8_WalkDog_1.55011271"]
    assert [v.person_id for v in videos] == ["S1", "S5", "S7", "S8"]
    v = videos[1]
    assert v.skeleton is MPII and len(v) == 1 and v.frame_ids.tolist() == [2060]
    assert v.images.paths[0] == root / "images/S5/S5_SittingDown.54138969/S5_SittingDown.54138969_002061.jpg"
    part = real["part"][1]
    np.testing.assert_allclose(v.joints[0, MPII.index("head_top")], part[10, :2], rtol=1e-6)
    np.testing.assert_allclose(v.joints[0, MPII.index("right_ankle")], part[3, :2], rtol=1e-6)
    np.testing.assert_allclose(v.centers[0], real["center"][1], rtol=1e-6)
    assert v.sizes[0] == pytest.approx(200 * real["scale"][1])
    inside = np.abs(v.joints[0] - v.centers[0]) <= v.sizes[0] / 2
    assert inside.all()  # the annotation's square holds every joint
    with pytest.raises(DatasetError, match="S9, S11; found none"):
        load_h36m(root, "test", check_images=False)


def test_coco_json_layout_gives_the_same_videos(tmp_path, real):
    a = load_h36m(_npz_root(tmp_path / "npz", real), "train", check_images=False)
    (tmp_path / "coco" / "annotations").mkdir(parents=True)
    shutil.copy(SHARED / "h36m_coco.json", tmp_path / "coco" / "annotations")
    b = load_h36m(tmp_path / "coco", "train", check_images=False)
    assert [v.video_id for v in a] == [v.video_id for v in b]
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x.joints, y.joints, atol=1e-4)
        np.testing.assert_allclose(x.centers, y.centers, atol=1e-3)
        np.testing.assert_allclose(x.sizes, y.sizes, atol=1e-3)


def test_protocol_subjects_strides_and_domains(tmp_path, real):
    # the real rows, relabelled: test subjects keep every 200th frame, training ones every 5th
    names = ["S9/S9_Walking_1.54138969/S9_Walking_1.54138969_000001.jpg",
             "S9/S9_Walking_1.54138969/S9_Walking_1.54138969_000006.jpg",     # not on the 200 grid
             "S9/S9_Walking_1.55011271/S9_Walking_1.55011271_000201.jpg",     # another camera: another domain
             "S1/S1_Directions_1.54138969/S1_Directions_1.54138969_000003.jpg"]  # not on the 5 grid
    names[2] = "S9_Walking_1.55011271_000201.jpg"  # a bare file name: the folders are derived
    arrays = {**real, "imgname": np.array(names)}
    root = _npz_root(tmp_path, arrays, "h36m_test.npz")
    test = load_h36m(root, "test", check_images=False)
    assert [(v.video_id, v.frame_ids.tolist()) for v in test] == [
        ("S9_Walking_1.54138969", [0]), ("S9_Walking_1.55011271", [200])]
    assert test[1].images.paths[0] == root / "images/S9/S9_Walking_1.55011271/S9_Walking_1.55011271_000201.jpg"
    with pytest.raises(DatasetError, match="found none"):
        load_h36m(root, "train", check_images=False)
    assert parse_image_name("S11_Sitting_2.60457274_000401.jpg", "x") == ("S11", "S11_Sitting_2.60457274", 401)
    assert parse_image_name("s_09_act_02_subact_01_ca_01_000201.jpg", "x") == (
        "S9", "s_09_act_02_subact_01_ca_01", 201)
    with pytest.raises(DatasetError, match="image names like"):
        parse_image_name("frame_0001.jpg", "ann.npz")


def test_images_are_checked_and_read_lazily(tmp_path, real):
    root = _npz_root(tmp_path, real)
    with pytest.raises(DatasetError, match=r"images: expected the extracted frames"):
        load_h36m(root, "train")
    for name in real["imgname"]:  # stand-in frames (the real images may not be redistributed)
        path = root / "images" / str(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), np.full((1002, 1000, 3), 90, np.uint8))
    videos = load_h36m(root, "train")
    assert videos[0].images[0].shape == (1002, 1000, 3)
    (root / "images" / str(real["imgname"][2])).unlink()
    with pytest.raises(DatasetError, match="S7_Greeting.55011271_000396.jpg: expected the first annotated frame"):
        load_h36m(root, "train")


def test_bad_annotation_file(tmp_path, real):
    root = _npz_root(tmp_path, {k: v for k, v in real.items() if k != "part"})
    with pytest.raises(DatasetError, match="missing part"):
        load_h36m(root, "train", check_images=False)
    with pytest.raises(DatasetError, match="h36m_train.npz / h36m_test.npz"):
        load_h36m(tmp_path / "annotation_body3d", "train")


def test_penn_action_joints_for_table_6(tmp_path, real):
    root = _npz_root(tmp_path, real)
    (v,) = [x for x in load_h36m(root, "train", check_images=False, skeleton="penn_action") if x.person_id == "S7"]
    assert v.skeleton is PENN_ACTION and v.joints.shape == (1, 13, 2)
    part = real["part"][2]
    np.testing.assert_allclose(v.joints[0, PENN_ACTION.index("head")], (part[9, :2] + part[10, :2]) / 2, rtol=1e-6)
    for name, h36m_index in (("left_wrist", 13), ("right_knee", 2), ("left_ankle", 6), ("right_shoulder", 14)):
        np.testing.assert_allclose(v.joints[0, PENN_ACTION.index(name)], part[h36m_index, :2], rtol=1e-6)
    with pytest.raises(ValueError, match="mpii or penn_action"):
        load_h36m(root, "train", check_images=False, skeleton="coco")


def test_prepare_index_and_load_videos(tmp_path, real):
    from ttpose.config import DataConfig
    from ttpose.data.build import load_videos, prepare

    root = _npz_root(tmp_path, real)
    for name in real["imgname"]:
        path = root / "images" / str(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), np.zeros((8, 8, 3), np.uint8))
    path, records = prepare("h36m", root, progress=False)
    assert path.is_file() and len(records) == 4 and records[0].joints.shape == (1, 17, 2)  # index keeps all 17
    cfg = DataConfig(dataset="h36m", root=str(root))
    mpii = load_videos(cfg, "train")
    penn = load_videos(cfg, "train", skeleton="penn_action")
    assert mpii[0].skeleton is MPII and penn[0].skeleton is PENN_ACTION
    np.testing.assert_array_equal(mpii[0].joints, load_h36m(root, "train", use_index=False)[0].joints)
