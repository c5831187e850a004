"""Outputs other tools read (ttpose.export): COCO keypoint JSON, CSV, H.264 overlay video; all atomic."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest

from ttpose.boxes import load_box_file
from ttpose.export import (
    OverlayVideoWriter,
    read_coco_keypoints,
    read_keypoints_csv,
    write_coco_keypoints,
    write_keypoints_csv,
)
from ttpose.skeletons import BBC_POSE, PENN_ACTION


def _predictions(n=5, k=13, seed=0):
    rng = np.random.default_rng(seed)
    joints = rng.uniform(0, 300, (n, k, 2)).astype(np.float32)
    scores = rng.uniform(0, 1, (n, k)).astype(np.float32)
    return joints, scores


def _no_leftovers(folder):
    return [p.name for p in folder.iterdir() if ".tmp" in p.name]


def test_coco_round_trip_and_layout(tmp_path):
    joints, scores = _predictions()
    frames = np.array([4, 0, 1, 2, 3])
    path = write_coco_keypoints(tmp_path / "out.json", joints, scores, PENN_ACTION, (320, 240),
                                frame_ids=frames)
    back_joints, back_scores, back_frames = read_coco_keypoints(path)
    order = np.argsort(frames)
    np.testing.assert_array_equal(back_frames, np.sort(frames))
    np.testing.assert_allclose(back_joints, joints[order], atol=0.006)
    np.testing.assert_allclose(back_scores, scores[order], atol=6e-5)

    doc = json.loads(path.read_text())
    category = doc["categories"][0]
    assert category["name"] == "person" and category["keypoints"] == list(PENN_ACTION.joint_names)
    assert category["skeleton"][0] == [1, 2] and min(min(p) for p in category["skeleton"]) == 1  # 1-based
    image, ann = doc["images"][0], doc["annotations"][0]
    assert (image["width"], image["height"]) == (320, 240)
    assert (image["frame_index"], image["file_name"]) == (4, "000004.jpg")
    assert ann["image_id"] == image["id"] and ann["category_id"] == 1 and ann["num_keypoints"] == 13
    assert ann["keypoints"][2::3] == [2] * 13
    assert ann["score"] == pytest.approx(scores[0].mean(), abs=1e-4)
    x, y, w, h = ann["bbox"]  # no boxes given: the joints' extent
    assert (x, y) == pytest.approx(joints[0].min(0), abs=0.01)
    assert x + w == pytest.approx(joints[0, :, 0].max(), abs=0.02)
    assert _no_leftovers(tmp_path) == []


def test_coco_file_with_boxes_is_a_box_file(tmp_path):
    joints, scores = _predictions(n=3, k=7)
    boxes = np.array([[10, 20, 110, 220], [12, 22, 112, 222], [14, 24, 114, 224]], np.float32)
    path = write_coco_keypoints(tmp_path / "k.json", joints, scores, BBC_POSE, (320, 240), boxes=boxes,
                                file_names=["a.png", "b.png", "c.png"])
    doc = json.loads(path.read_text())
    assert doc["annotations"][1]["bbox"] == [12, 22, 100, 200] and doc["images"][2]["file_name"] == "c.png"
    np.testing.assert_allclose(load_box_file(path, 3, 320, 240).boxes, boxes)


def test_coco_missing_joints_are_not_labelled(tmp_path):
    joints, scores = _predictions(n=2, k=7)
    joints[0, 3] = np.nan
    path = write_coco_keypoints(tmp_path / "k.json", joints, scores, BBC_POSE, (320, 240))
    ann = json.loads(path.read_text())["annotations"][0]
    assert ann["keypoints"][9:12] == [0, 0, 0] and ann["num_keypoints"] == 6
    assert ann["keypoint_scores"][3] == 0
    back, _, _ = read_coco_keypoints(path)
    assert np.isnan(back[0, 3]).all() and np.isfinite(back[0, [0, 1, 2, 4, 5, 6]]).all()


def test_coco_without_keypoint_scores_uses_the_score(tmp_path):
    doc = {"images": [{"id": 3}], "categories": [],
           "annotations": [{"image_id": 3, "keypoints": [1, 2, 2, 0, 0, 0], "score": 0.7}]}
    path = tmp_path / "plain.json"
    path.write_text(json.dumps(doc))
    joints, scores, frames = read_coco_keypoints(path)
    assert joints.shape == (1, 2, 2) and frames.tolist() == [3] and np.isnan(joints[0, 1]).all()
    np.testing.assert_allclose(scores, [[0.7, 0.0]])
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a COCO keypoint file"):
        read_coco_keypoints(path)


def test_csv_round_trip(tmp_path):
    joints, scores = _predictions(n=4, k=7, seed=1)
    path = write_keypoints_csv(tmp_path / "k.csv", joints, scores, BBC_POSE, frame_ids=[10, 11, 12, 13])
    lines = path.read_text().splitlines()
    assert lines[0] == "frame,joint,x,y,confidence" and len(lines) == 1 + 4 * 7
    assert lines[1].startswith("10,head,")
    back_joints, back_scores, frames = read_keypoints_csv(path, BBC_POSE)
    np.testing.assert_allclose(back_joints, joints, atol=0.006)
    np.testing.assert_allclose(back_scores, scores, atol=6e-5)
    assert frames.tolist() == [10, 11, 12, 13]


def test_bad_shapes_are_refused(tmp_path):
    joints, scores = _predictions(n=2, k=13)
    with pytest.raises(ValueError, match="N x 7 x 2"):
        write_keypoints_csv(tmp_path / "k.csv", joints, scores, BBC_POSE)
    with pytest.raises(ValueError, match="distinct"):
        write_coco_keypoints(tmp_path / "k.json", joints, scores, PENN_ACTION, (10, 10), frame_ids=[1, 1])
    assert list(tmp_path.iterdir()) == []


def test_exception_mid_write_leaves_nothing(tmp_path, monkeypatch):
    joints, scores = _predictions()
    target = tmp_path / "k.json"
    target.write_text("previous")

    def explode(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C while the file is being written

    monkeypatch.setattr(json, "dumps", explode)
    with pytest.raises(KeyboardInterrupt):
        write_coco_keypoints(target, joints, scores, PENN_ACTION, (320, 240))
    assert target.read_text() == "previous" and _no_leftovers(tmp_path) == []


@pytest.mark.parametrize(("width", "height"), [(64, 48), (63, 47)])
def test_overlay_video_decodes_back(tmp_path, width, height):
    path = tmp_path / "overlay.mp4"
    with OverlayVideoWriter(path, fps=30000 / 1001, width=width, height=height) as writer:
        for i in range(7):
            writer.write(np.full((height, width, 3), i * 30, np.uint8))
        assert not path.exists()  # only the temporary file while writing
    assert _no_leftovers(tmp_path) == []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert float(stream.average_rate) == pytest.approx(29.97, abs=0.01)
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    assert len(frames) == 7
    assert frames[0].shape == (height + height % 2, width + width % 2, 3)
    assert [round(f.mean() / 30) for f in frames] == list(range(7))


def test_overlay_video_exception_and_ctrl_c_leave_nothing(tmp_path):
    path = tmp_path / "overlay.mp4"
    with pytest.raises(RuntimeError, match="boom"), OverlayVideoWriter(path, 10, 32, 32) as writer:
        writer.write(np.zeros((32, 32, 3), np.uint8))
        raise RuntimeError("boom")
    with pytest.raises(KeyboardInterrupt), OverlayVideoWriter(path, 10, 32, 32) as writer:
        writer.write(np.zeros((32, 32, 3), np.uint8))
        raise KeyboardInterrupt
    with pytest.raises(ValueError, match="32x32x3 uint8"), OverlayVideoWriter(path, 10, 32, 32) as writer:
        writer.write(np.zeros((16, 32, 3), np.uint8))
    with pytest.raises(ValueError, match="no frames"), OverlayVideoWriter(path, 10, 32, 32):
        pass
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError, match="with-block"):
        OverlayVideoWriter(path, 10, 32, 32).write(np.zeros((32, 32, 3), np.uint8))
