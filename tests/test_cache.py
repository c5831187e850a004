"""The dataset index (`ttpose prepare`): written once, reused while fresh, rebuilt when stale; no pickles."""

import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from ttpose.cli import main
from ttpose.data import cache, penn_action
from ttpose.data.build import prepare
from ttpose.data.cache import index_path, load_index, save_index

SHARED_PENN = Path(__file__).resolve().parents[2] / "shared" / "data" / "penn_action"


@pytest.fixture
def penn_root(tmp_path) -> Path:
    if not SHARED_PENN.is_dir():
        pytest.skip(f"real Penn Action files {SHARED_PENN} are absent")
    for sub in ("labels", "frames"):
        (tmp_path / sub).mkdir()
    shutil.copyfile(SHARED_PENN / "labels" / "0001.mat", tmp_path / "labels" / "0001.mat")
    (tmp_path / "frames" / "0001").symlink_to(SHARED_PENN / "frames" / "0001")
    return tmp_path


def _same(a, b):
    assert [v.video_id for v in a] == [v.video_id for v in b]
    for x, y in zip(a, b, strict=True):
        assert x.images.paths == y.images.paths
        for name in ("joints", "visible", "boxes", "centers", "sizes", "frame_ids"):
            np.testing.assert_array_equal(getattr(x, name), getattr(y, name))


def test_prepare_cli_writes_a_pickle_free_index_that_loading_reuses(penn_root, monkeypatch, capsys):
    assert main(["prepare", "penn_action", str(penn_root), "--quiet"]) == 0
    assert "indexed 1 videos (train 0, test 1), 151 frames" in capsys.readouterr().out
    path = index_path(penn_root, "penn_action")
    with np.load(path, allow_pickle=False) as z:  # would raise on any object array
        assert z["frames"].shape == (151,) and z["joints"].shape == (151, 13, 2)
    fresh = penn_action.load_penn_action(penn_root, "test", use_index=False)

    def no_scan(*a, **k):
        raise AssertionError("the fresh index should have been used")

    monkeypatch.setattr(penn_action, "scan", no_scan)
    _same(penn_action.load_penn_action(penn_root, "test"), fresh)


def test_stale_index_is_ignored(penn_root, monkeypatch):
    path, _ = prepare("penn_action", penn_root, progress=False)
    label = penn_root / "labels" / "0001.mat"
    stamp = cache.fingerprint(penn_root, [label], "penn_action")
    assert load_index(path, "penn_action", stamp) is not None
    assert load_index(path, "h36m", stamp) is None  # another dataset's name
    st = os.stat(label)
    os.utime(label, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    calls = []
    real_scan = penn_action.scan
    monkeypatch.setattr(penn_action, "scan", lambda *a, **k: calls.append(1) or real_scan(*a, **k))
    penn_action.load_penn_action(penn_root, "test")
    assert calls == [1]  # the label changed -> the index is stale -> scanned again


def test_index_round_trip_and_version(tmp_path):
    rec = cache.VideoRecord("a", "p", "train", ["x/1.jpg", "x/2.jpg"], np.ones((2, 3, 2), np.float32),
                            np.array([[1, 0, 1], [0, 1, 1]], bool), np.zeros((2, 4), np.float32),
                            np.zeros((2, 2), np.float32), np.full(2, 5, np.float32), np.array([3, 7]))
    path = save_index(tmp_path / "i.npz", "h36m", "stamp", [rec, rec])
    back = load_index(path, "h36m", "stamp")
    assert len(back) == 2 and back[1].frames == rec.frames and back[1].frame_ids.tolist() == [3, 7]
    np.testing.assert_array_equal(back[0].visible, rec.visible)
    assert load_index(path, "h36m", "other") is None
    assert load_index(tmp_path / "missing.npz", "h36m", "stamp") is None


def test_damaged_index_or_changed_loader_code_means_a_rescan(penn_root, monkeypatch):
    """Regressions: a truncated index crashed the loader (BadZipFile); an index built by other loader code
    (another protocol) was reused."""
    path, _ = prepare("penn_action", penn_root, progress=False)
    label = penn_root / "labels" / "0001.mat"
    good = path.read_bytes()
    stamp = cache.fingerprint(penn_root, [label], "penn_action")
    assert stamp != cache.fingerprint(penn_root, [label], "bbc_pose")  # the loader's source is part of it
    with monkeypatch.context() as m:
        m.setattr(cache, "PROTOCOL_MODULES", ())
        assert stamp != cache.fingerprint(penn_root, [label], "penn_action")  # and the crop rule's (data.crops)
    path.write_bytes(good[: len(good) // 2])
    assert load_index(path, "penn_action", stamp) is None
    with np.load(io.BytesIO(good)) as z:
        arrays = {k: z[k] for k in z.files if k != "joints"}
    np.savez(path, **arrays)
    assert load_index(path, "penn_action", stamp) is None  # an array missing
    calls = []
    real_scan = penn_action.scan
    monkeypatch.setattr(penn_action, "scan", lambda *a, **k: calls.append(1) or real_scan(*a, **k))
    assert len(penn_action.load_penn_action(penn_root, "test")) == 1 and calls == [1]


def test_prepare_reports_a_bad_folder(tmp_path, capsys):
    assert main(["prepare", "penn_action", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "nowhere: expected the penn_action dataset folder" in err and "fix:" in err
