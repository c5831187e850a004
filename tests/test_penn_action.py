"""Penn Action loader on the real label files in ../shared/data/penn_action (all 2,326) and real video 0001."""

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from ttpose.data import penn_action
from ttpose.data.errors import DatasetError
from ttpose.data.penn_action import load_penn_action, read_label, scan
from ttpose.data.types import ImageFiles

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="module")
def penn_root() -> Path:
    root = SHARED_DATA / "penn_action"
    if not root.is_dir():
        pytest.skip(f"real Penn Action files {root} are absent")
    return root


@pytest.fixture(scope="module")
def records(penn_root):
    return {r.video_id: r for r in scan(penn_root)}  # every label file, one pass


def test_every_real_label_file_parses(records, penn_root):
    assert len(records) == 2326
    splits = [r.split for r in records.values()]
    assert splits.count("train") == 1258 and splits.count("test") == 1068
    for vid, r in records.items():
        n = len(r.frames)
        assert r.joints.shape == (n, 13, 2) and r.joints.dtype == np.float32, vid
        assert r.visible.shape == (n, 13) and r.visible.dtype == bool, vid
        assert r.boxes.shape == (n, 4) and r.centers.shape == (n, 2) and r.sizes.shape == (n,), vid
        assert np.isfinite(r.joints).all() and (r.sizes >= 1.25).all(), vid
        assert r.frames[0] == f"frames/{vid}/000001.jpg" and r.frames[-1] == f"frames/{vid}/{n:06d}.jpg"


def test_integer_typed_labels_match_the_file(records, penn_root):
    for vid in ("1114", "1042", "2318"):
        raw = scipy.io.loadmat(penn_root / "labels" / f"{vid}.mat")
        assert raw["x"].dtype.kind == "u"  # the quirk is really in these files
        np.testing.assert_allclose(records[vid].joints[..., 0], raw["x"].astype(np.float64) - 1)
        np.testing.assert_allclose(records[vid].joints[..., 1], raw["y"].astype(np.float64) - 1)
    raw = scipy.io.loadmat(penn_root / "labels" / "0743.mat")
    assert raw["nframes"].dtype == np.uint16 and len(records["0743"].frames) == int(raw["nframes"][0, 0])


def test_short_bbox_reuses_the_last_row(records, penn_root):
    for vid in ("1154", "1865"):
        raw = scipy.io.loadmat(penn_root / "labels" / f"{vid}.mat")
        n = int(raw["nframes"][0, 0])
        assert len(raw["bbox"]) == n - 1
        r = records[vid]
        assert len(r.boxes) == n
        np.testing.assert_array_equal(r.boxes[-1], r.boxes[-2])
        np.testing.assert_allclose(r.boxes[-1], raw["bbox"][-1] - 1)


def test_real_video_0001(penn_root):
    (video,) = load_penn_action(penn_root, "test", videos=["0001"])
    assert len(video) == 151 and video.video_id == "0001" and video.skeleton.num_joints == 13
    assert isinstance(video.images, ImageFiles)  # lazily read files, not decoded arrays
    image = video.images[150]
    assert image.shape == (360, 480, 3) and image.dtype == np.uint8
    raw = scipy.io.loadmat(penn_root / "labels" / "0001.mat")
    np.testing.assert_allclose(video.joints[:, :, 0], raw["x"] - 1)
    np.testing.assert_array_equal(video.visible, raw["visibility"] > 0)
    vis = video.joints[video.visible]
    assert (vis >= 0).all() and (vis[:, 0] < 480).all() and (vis[:, 1] < 360).all()
    # the crop region contains the visible joints of every frame
    inside = np.abs(video.joints - video.centers[:, None]) <= video.sizes[:, None, None] / 2
    assert inside.all(-1)[video.visible].all()
    assert load_penn_action(penn_root, "train", videos=["0001"]) == []


def _root_with(tmp_path: Path, penn_root: Path, clip: str = "0001") -> Path:
    (tmp_path / "labels").mkdir()
    (tmp_path / "frames").mkdir()
    (tmp_path / "labels" / f"{clip}.mat").symlink_to(penn_root / "labels" / f"{clip}.mat")
    (tmp_path / "frames" / clip).symlink_to(penn_root / "frames" / clip)
    return tmp_path


def test_whole_folder_load_and_errors(tmp_path, penn_root):
    root = _root_with(tmp_path, penn_root)
    videos = load_penn_action(root, "test")
    assert [v.video_id for v in videos] == ["0001"]
    with pytest.raises(DatasetError, match=r"frames.*fix:"):
        load_penn_action(tmp_path / "nowhere", "test")
    # a label whose frame folder is missing
    raw = {k: v for k, v in scipy.io.loadmat(penn_root / "labels" / "0001.mat").items() if not k.startswith("__")}
    scipy.io.savemat(root / "labels" / "0002.mat", raw)
    with pytest.raises(DatasetError, match=r"frames/0002: expected the frames of clip 0002"):
        load_penn_action(root, "test")
    # a label without bbox, and one with the wrong joint count
    scipy.io.savemat(root / "labels" / "0002.mat", {k: v for k, v in raw.items() if k != "bbox"})
    with pytest.raises(DatasetError, match=r"0002.mat: expected keys .* missing bbox"):
        load_penn_action(root, "test")
    scipy.io.savemat(root / "labels" / "0002.mat", {**raw, "x": raw["x"][:, :12]})
    with pytest.raises(DatasetError, match=r"'x' of shape \(151, 13\)"):
        read_label(root / "labels" / "0002.mat")
    (root / "labels" / "0002.mat").write_bytes(b"not a mat file")
    with pytest.raises(DatasetError, match="MATLAB"):
        penn_action.read_label(root / "labels" / "0002.mat")
