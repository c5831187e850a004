"""Person boxes for users' videos (ttpose.boxes): box files, fixed box, whole frame, smoothing, clamping."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ttpose.boxes import (
    BoxError,
    clamp_boxes,
    fixed_boxes,
    load_box_file,
    parse_box,
    resolve_boxes,
    smooth_boxes,
    whole_frame_boxes,
)


def _write(path, content):
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def _one_line(excinfo, name: str) -> str:
    message = str(excinfo.value)
    assert "\n" not in message and name in message
    return message


def test_csv_with_missing_frames_is_interpolated(tmp_path):
    content = "frame,x1,y1,x2,y2\n1,10,20,50,80\n3,30,20,70,100\n\n4,30,20,70,100\n"  # with a blank line
    path = _write(tmp_path / "boxes.csv", content)
    boxes = load_box_file(path, num_frames=5, width=100, height=120)
    assert boxes.boxes.dtype == np.float32 and boxes.boxes.shape == (5, 4)
    np.testing.assert_allclose(boxes.boxes[0], [10, 20, 50, 80])  # held before the first given frame
    np.testing.assert_allclose(boxes.boxes[2], [20, 20, 60, 90])  # halfway between frames 1 and 3
    np.testing.assert_allclose(boxes.boxes[4], [30, 20, 70, 100])
    assert boxes.interpolated.tolist() == [True, False, True, False, False]
    assert "boxes.csv" in boxes.source and "CSV" in boxes.source and "2 interpolated" in boxes.source


def test_csv_columns_in_any_order_with_extras(tmp_path):
    path = _write(tmp_path / "b.csv", "score, X2,Y2,x1 ,y1,frame\n0.9,50,80,10,20,0\n0.8,52,82,12,22,1\n")
    np.testing.assert_allclose(load_box_file(path, 2).boxes, [[10, 20, 50, 80], [12, 22, 52, 82]])


def test_coco_json_by_frame_index_and_by_file_name(tmp_path):
    coco = {
        "images": [{"id": 7, "file_name": "a.jpg", "frame_index": 1},
                   {"id": 8, "file_name": "b.jpg", "frame": 0}],
        "annotations": [{"image_id": 7, "bbox": [10, 20, 40, 60]}, {"image_id": 8, "bbox": [0, 0, 5, 5]}],
    }
    boxes = load_box_file(_write(tmp_path / "c.json", coco), num_frames=2)
    np.testing.assert_allclose(boxes.boxes, [[0, 0, 5, 5], [10, 20, 50, 80]])
    assert "COCO JSON" in boxes.source
    by_name = {"images": [{"id": 1, "file_name": "frames/10.jpg"}, {"id": 2, "file_name": "2.jpg"}],
               "annotations": [{"image_id": 1, "bbox": [1, 1, 2, 2]}, {"image_id": 2, "bbox": [3, 3, 2, 2]}]}
    boxes = load_box_file(_write(tmp_path / "n.json", by_name), 2, frame_names=["2.jpg", "10.jpg"])
    np.testing.assert_allclose(boxes.boxes, [[3, 3, 5, 5], [1, 1, 3, 3]])
    with pytest.raises(BoxError, match="not the name of a frame") as e:
        load_box_file(tmp_path / "n.json", 2)  # no frame index and no names to match: refused, not guessed
    _one_line(e, "n.json")


def test_plain_json_list(tmp_path):
    items = [{"frame": i, "bbox": [i, 0, 10, 10]} for i in range(3)]
    boxes = load_box_file(_write(tmp_path / "l.json", items), 3, 64, 48)
    np.testing.assert_allclose(boxes.boxes[:, 0], [0, 1, 2])
    np.testing.assert_allclose(boxes.boxes[:, 2], [10, 11, 12])
    assert not boxes.interpolated.any()


@pytest.mark.parametrize(("content", "name", "message"), [
    ("frame,x1,y1,x2,y2\n0,1,1,5,5\n9,1,1,5,5\n", "b.csv", "up to frame 9, but the video has 4 frames"),
    ("frame,x1,y1,x2,y2\n0,1,1,5,5\n", "b.csv", "only 1 of the video's 4 frames"),
    ("frame,x1,y1,x2,y2\n0,1,1,abc,5\n1,1,1,5,5\n", "b.csv", "row 2 .*expected a number, got 'abc'"),
    ("frame,x1,y1,x2,y2\n0,1,1,nan,5\n1,1,1,5,5\n", "b.csv", "finite"),
    ("frame,x1,y1,x2,y2\n0.5,1,1,5,5\n", "b.csv", "whole number"),
    ("frame,x1,y1,x2,y2\n0,1,1,5,5\n0,2,2,6,6\n1,1,1,5,5\n", "b.csv", "frame 0 has more than one box"),
    ("frame,x1,y1,x2,y2\n-1,1,1,5,5\n0,1,1,5,5\n", "b.csv", "negative"),
    ("frame,x1,y1,x2,y2\n0,5,1,5,5\n1,1,1,5,5\n", "b.csv", "empty box"),
    ("frame,x1,y1,x2,y2\n0,500,1,505,5\n1,1,1,5,5\n", "b.csv", "outside the 64x48 frame"),
    ("frame,left,top\n0,1,1\n", "b.csv", "header must name"),
    ("frame,x1,y1,x2,y2\n", "b.csv", "no boxes"),
    ('[{"frame": 0, "bbox": ["a", 1, 2, 3]}, {"frame": 1, "bbox": [0, 0, 2, 3]}]', "b.json",
     "expected a number"),
    ('[{"frame": 0, "bbox": [1, 2, 3]}]', "b.json", r"bbox must be \[x, y, w, h\]"),
    ('{"images": [], "annotations": [{"image_id": 3, "bbox": [0, 0, 1, 1]}]}', "b.json", "image id 3"),
    ('{"boxes": []}', "b.json", "expected COCO JSON"),
    ("{not json", "b.json", "not valid JSON"),
    ("frame x1 y1 x2 y2", "b.txt", "must be .json"),
])
def test_bad_box_files(tmp_path, content, name, message):
    path = _write(tmp_path / name, content)
    with pytest.raises(BoxError, match=message) as e:
        load_box_file(path, num_frames=4, width=64, height=48)
    _one_line(e, name)


def test_missing_box_file(tmp_path):
    with pytest.raises(BoxError, match="not found"):
        load_box_file(tmp_path / "none.csv", 3)


def test_fixed_and_whole_frame_and_resolve(tmp_path):
    assert parse_box("10,20, 30,40") == (10, 20, 30, 40)
    with pytest.raises(BoxError, match="four numbers"):
        parse_box("1,2,3")
    fixed = fixed_boxes((10, 20, 30, 40), 3, 64, 48)
    assert fixed.boxes.shape == (3, 4) and "fixed box (10, 20, 30, 40)" in fixed.source
    with pytest.raises(BoxError, match="empty box"):
        fixed_boxes((30, 20, 10, 40), 3)
    whole = whole_frame_boxes(64, 48, 5)
    np.testing.assert_array_equal(whole.boxes, np.tile([0, 0, 63, 47], (5, 1)))
    assert "whole frame" in whole.source
    assert "whole frame" in resolve_boxes(5, 64, 48).source
    assert "fixed box" in resolve_boxes(5, 64, 48, box="1,2,30,40").source
    csv_path = _write(tmp_path / "b.csv", "frame,x1,y1,x2,y2\n0,1,1,5,5\n")
    assert "box file" in resolve_boxes(1, 64, 48, box_file=csv_path).source
    with pytest.raises(BoxError, match="not both"):
        resolve_boxes(1, 64, 48, box_file=csv_path, box="1,2,3,4")


# ---------------------------------------------------------------------------------------------- properties

coords = st.floats(-500, 500, allow_nan=False, width=32)


@settings(deadline=None, max_examples=60)
@given(arrays(np.float32, st.tuples(st.integers(1, 20), st.just(4)), elements=coords),
       st.integers(1, 300), st.integers(1, 300))
def test_clamped_boxes_lie_in_the_image(boxes, width, height):
    out = clamp_boxes(boxes, width, height)
    assert out.shape == boxes.shape
    assert (out[:, 0] <= out[:, 2]).all() and (out[:, 1] <= out[:, 3]).all()
    assert (out[:, [0, 2]] >= 0).all() and (out[:, [0, 2]] <= width - 1).all()
    assert (out[:, [1, 3]] >= 0).all() and (out[:, [1, 3]] <= height - 1).all()
    np.testing.assert_array_equal(clamp_boxes(out, width, height), out)  # idempotent


@settings(deadline=None, max_examples=40)
@given(st.tuples(coords, coords, coords, coords), st.integers(1, 30), st.integers(1, 15))
def test_smoothing_a_constant_track_is_identity(box, n, window):
    boxes = np.tile(np.array(box, np.float32), (n, 1))
    np.testing.assert_allclose(smooth_boxes(boxes, window), boxes, rtol=1e-5, atol=1e-3)


@settings(deadline=None, max_examples=60)
@given(arrays(np.float64, st.tuples(st.integers(2, 40), st.just(4)), elements=st.floats(-100, 100)),
       st.integers(2, 15))
def test_smoothing_never_adds_jitter(boxes, window):
    out = smooth_boxes(boxes, window).astype(np.float64)
    assert out.shape == boxes.shape
    jitter = np.abs(np.diff(boxes, axis=0)).sum(axis=0)  # total movement per coordinate
    assert (np.abs(np.diff(out, axis=0)).sum(axis=0) <= jitter + 1e-3).all()
    assert (out >= boxes.min(axis=0) - 1e-3).all() and (out <= boxes.max(axis=0) + 1e-3).all()


def test_smoothing_reduces_noise_around_a_moving_track():
    rng = np.random.default_rng(0)
    t = np.arange(60, dtype=np.float64)[:, None]
    truth = np.concatenate([10 + t, 20 + 0 * t, 60 + t, 120 + 0 * t], axis=1)  # moving right at 1 px/frame
    noisy = truth + rng.normal(0, 3, truth.shape)
    smooth = smooth_boxes(noisy, 9)
    inner = slice(4, -4)  # away from the ends, where the moving average lags a moving box
    assert np.abs(smooth - truth)[inner].mean() < 0.5 * np.abs(noisy - truth)[inner].mean()
    with pytest.raises(ValueError, match="N x 4"):
        smooth_boxes(np.zeros((3, 3)))


@settings(max_examples=30, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(2, 20), st.just(4)), elements=st.floats(0, 500)),
       st.integers(1, 12), st.data())
def test_trailing_smoothing_never_looks_ahead(boxes, window, data):
    """Online crops must not depend on later frames: changing the future leaves the past boxes unchanged."""
    t = data.draw(st.integers(0, len(boxes) - 2))
    other = boxes.copy()
    other[t + 1:] += 100.0
    np.testing.assert_array_equal(smooth_boxes(boxes, window, causal=True)[: t + 1],
                                  smooth_boxes(other, window, causal=True)[: t + 1])
    expected = boxes[max(0, t - min(window, len(boxes)) + 1): t + 1].mean(axis=0)
    np.testing.assert_allclose(smooth_boxes(boxes, window, causal=True)[t], expected, rtol=1e-5, atol=1e-3)


def test_box_file_edge_cases(tmp_path):
    """A JSON box file with a byte-order mark is read (as CSV files are); an unhashable COCO id is a BoxError."""
    entries = [{"frame": 0, "bbox": [1, 2, 10, 20]}, {"frame": 1, "bbox": [2, 2, 10, 20]}]
    bom = tmp_path / "bom.json"
    bom.write_bytes(b"\xef\xbb\xbf" + json.dumps(entries).encode())
    assert resolve_boxes(2, 64, 64, bom).boxes.shape == (2, 4)
    coco = tmp_path / "coco.json"
    coco.write_text(json.dumps({"images": [{"id": [1], "frame_index": 0}],
                                "annotations": [{"image_id": [1], "bbox": [1, 2, 3, 4]}]}))
    with pytest.raises(BoxError, match="a number or a string"):
        resolve_boxes(1, 64, 64, coco)
    with pytest.raises(ValueError, match="at least 1 frame"):
        smooth_boxes(np.zeros((3, 4)), 0)
