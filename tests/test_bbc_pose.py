"""BBC Pose loader on a tiny bbcpose.mat written in the real file's structure (1 x 20 struct array)."""

from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io

from ttpose.data.bbc_pose import load_bbc_pose, read_annotations
from ttpose.data.build import prepare
from ttpose.data.errors import DatasetError
from ttpose.skeletons import BBC_POSE

FIELDS = ("videoName", "type", "source", "train_frames", "train_joints", "test_frames", "test_joints")


def _joints(rng, n):
    base = np.array([[360, 100], [300, 300], [420, 300], [310, 220], [410, 220], [320, 160], [400, 160]], float)
    return np.transpose(base[None] + rng.uniform(-20, 20, (n, 7, 2)), (2, 1, 0))  # 2 x 7 x n, 1-based pixels


def write_bbcpose(root: Path, train_n=3, test_n=2, seed=0, **field_names) -> dict:
    """bbcpose.mat as the dataset ships it (20 videos; the test videos also have tracker frames)."""
    rng = np.random.default_rng(seed)
    names = [field_names.get(f, f) for f in FIELDS]
    arr = np.zeros((1, 20), dtype=[(n, object) for n in names])
    truth = {}
    for i in range(20):
        number = i + 1
        kind = "train" if number <= 10 else "test"
        tr_frames = np.arange(1, 1 + 7 * train_n, 7)[::-1].reshape(1, -1).astype(float)  # unsorted in the file
        te_frames = (np.arange(test_n) * 11 + 5).reshape(1, -1).astype(float) if kind == "test" else np.zeros((1, 0))
        tr_joints, te_joints = _joints(rng, train_n), _joints(rng, test_n) if kind == "test" else np.zeros((0, 0))
        arr[0, i] = (f"video{number}", kind, "buehler11", tr_frames, tr_joints, te_frames, te_joints)
        truth[number] = (tr_frames, tr_joints) if kind == "train" else (te_frames, te_joints)
        folder = root / str(number)
        folder.mkdir(parents=True, exist_ok=True)
        for f in np.concatenate([tr_frames.ravel(), te_frames.ravel()]).astype(int):
            cv2.imwrite(str(folder / f"{f}.jpg"), np.full((480, 720, 3), number * 10, np.uint8))
    scipy.io.savemat(root / "bbcpose.mat", {"bbcpose": arr})
    return truth


def test_split_frames_joints_and_boxes(tmp_path):
    truth = write_bbcpose(tmp_path)
    loaded = read_annotations(tmp_path / "bbcpose.mat")
    assert len(loaded) == 20 and set(FIELDS) <= set(loaded[0].dtype.names)  # the real structure round-trips
    train, test = load_bbc_pose(tmp_path, "train"), load_bbc_pose(tmp_path, "test")
    assert [v.video_id for v in train] == [str(i) for i in range(1, 11)]
    assert [v.video_id for v in test] == [str(i) for i in range(11, 21)]
    assert all(len(v) == 3 for v in train) and all(len(v) == 2 for v in test)
    v = test[0]
    frames, joints = truth[11]
    assert v.skeleton is BBC_POSE and v.frame_ids.tolist() == (frames.ravel().astype(int) - 1).tolist()
    np.testing.assert_allclose(v.joints, np.transpose(joints, (2, 1, 0)) - 1, rtol=1e-6)
    assert v.visible.all() and v.images[0].shape == (480, 720, 3) and v.images[0][0, 0, 0] == 110
    # training frames are sorted by number; the joints follow their frames
    tr_frames, tr_joints = truth[1]
    assert train[0].frame_ids.tolist() == sorted(tr_frames.ravel().astype(int) - 1)
    np.testing.assert_allclose(train[0].joints[0], tr_joints[:, :, -1].T - 1, rtol=1e-6)
    # the authors' box: joints' extent +- 60 px, clipped to 720 x 480
    j = np.transpose(joints, (2, 1, 0))[0]
    x1, y1 = np.maximum(j.min(0) - 60, 0)
    x2, y2 = np.minimum(j.max(0) + 60, [720, 480])
    np.testing.assert_allclose(v.boxes[0], np.array([x1, y1, x2, y2]) - 1, rtol=1e-5)
    side = max(x2 - x1 + 1, y2 - y1 + 1)
    assert v.sizes[0] == pytest.approx(1.25 * side)
    assert v.centers[0][1] == pytest.approx((y1 + y2 - 1) / 2 + 15 * side / 200 - 1)


def test_camel_case_fields_and_index(tmp_path):
    write_bbcpose(tmp_path, train_frames="trainFrames", train_joints="trainJoints", test_frames="testFrames",
                  test_joints="testJoints")
    a = load_bbc_pose(tmp_path, "test", use_index=False)
    path, records = prepare("bbc_pose", tmp_path, progress=False)
    assert path.is_file() and len(records) == 20
    b = load_bbc_pose(tmp_path, "test")
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.joints, y.joints)
        assert x.images.paths == y.images.paths


def test_errors_name_the_file(tmp_path):
    with pytest.raises(DatasetError, match=r"bbcpose.mat: expected bbcpose.mat .*missing"):
        load_bbc_pose(tmp_path, "train")
    write_bbcpose(tmp_path)
    (tmp_path / "12" / "5.jpg").unlink()
    with pytest.raises(DatasetError, match=r"12/5.jpg: expected annotated frame 5 of video 12"):
        load_bbc_pose(tmp_path, "test", use_index=False)
    scipy.io.savemat(tmp_path / "bbcpose.mat", {"other": np.zeros(3)})
    with pytest.raises(DatasetError, match="a variable named bbcpose"):
        load_bbc_pose(tmp_path, "train")
