"""Crop geometry (hypothesis): crop -> uncrop round trips; warped pixels land where the points go; the one
padding and whole-frame box every crop region is made with."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ttpose.data.crops import (
    BOX_PADDING,
    authors_box_rule,
    box_to_center_size,
    crop_matrix,
    denormalize,
    invert_affine,
    normalize,
    transform_points,
    uncrop_points,
    warp_image,
    whole_frame_box,
)
from ttpose.data.types import unlabeled_video
from ttpose.skeletons import PENN_ACTION

finite = dict(allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(cx=st.floats(-50, 500, **finite), cy=st.floats(-50, 500, **finite), size=st.floats(10, 800, **finite),
       rot=st.floats(-60, 60, **finite), flip=st.booleans(), out=st.sampled_from([32, 64, 128]),
       pts=st.lists(st.tuples(st.floats(-100, 600, **finite), st.floats(-100, 600, **finite)), min_size=1,
                    max_size=13))
def test_crop_uncrop_roundtrip(cx, cy, size, rot, flip, out, pts):
    m = crop_matrix((cx, cy), size, out, rot, flip)
    points = np.array(pts)
    back = transform_points(transform_points(points, m), invert_affine(m))
    assert np.allclose(back, points, atol=1e-3)


@settings(max_examples=40, deadline=None)
@given(cx=st.floats(40, 80, **finite), cy=st.floats(40, 80, **finite), size=st.floats(40, 100, **finite),
       out=st.sampled_from([32, 64]), u=st.floats(0.1, 0.9), v=st.floats(0.1, 0.9))
def test_uncrop_points_inverts_the_plain_crop(cx, cy, size, out, u, v):
    m = crop_matrix((cx, cy), size, out)
    p = np.array([[cx - size / 2 + u * size, cy - size / 2 + v * size]])
    crop = transform_points(p, m)
    assert np.allclose(uncrop_points(crop, (cx, cy), size, out), p, atol=1e-6)
    assert np.allclose(uncrop_points(crop / 4, (cx, cy), size, out, stride=4), p, atol=1e-6)


@settings(max_examples=30, deadline=None)
@given(x=st.integers(50, 110), y=st.integers(50, 110), rot=st.sampled_from([0.0, 17.0, -40.0, 90.0]),
       flip=st.booleans())
def test_drawn_dot_lands_where_transform_points_puts_it(x, y, rot, flip):
    image = np.zeros((160, 160, 3), np.uint8)
    image[y - 1:y + 2, x - 1:x + 2] = 255
    m = crop_matrix((80, 80), 120, 64, rot, flip)
    crop = warp_image(image, m, 64)[..., 0].astype(float)
    expected = transform_points(np.array([x, y], float), m)
    ys, xs = np.nonzero(crop > 0)
    weights = crop[ys, xs]
    centroid = np.array([(xs * weights).sum(), (ys * weights).sum()]) / weights.sum()
    assert np.linalg.norm(centroid - expected) < 1.0


def test_rotation_is_counter_clockwise_on_screen_and_flip_mirrors():
    m = crop_matrix((0, 0), 100, 100, rotation=90)
    right_of_center = transform_points(np.array([10.0, 0.0]), m)
    assert np.allclose(right_of_center, [50, 40])  # moved up on screen
    mf = crop_matrix((0, 0), 100, 100, flip=True)
    assert np.allclose(transform_points(np.array([10.0, 0.0]), mf), [99 - 60, 50])


def test_box_to_center_size():
    center, size = box_to_center_size((10, 20, 50, 120), padding=1.25)
    assert np.allclose(center, [30, 70]) and size == 125.0


def test_authors_box_rule_by_hand():
    # 1-based box (11, 21) - (50, 120): w = 40, h = 100 -> scale 0.5; centre (30, 70) + 15 * 0.5 in y
    c, s = authors_box_rule(np.array([[11, 21, 50, 120]]))
    np.testing.assert_allclose(c[0], [30 - 1, 70 + 7.5 - 1])
    assert s[0] == pytest.approx(1.25 * 100)


def test_one_padding_for_person_boxes_and_an_unpadded_whole_frame():
    """Issue 15: the padding was defined in four places and the whole-frame box built three ways."""
    assert BOX_PADDING == 1.25
    box = np.array([10, 20, 50, 120], np.float32)  # longer side 100
    assert box_to_center_size(box)[1] == pytest.approx(100 * BOX_PADDING)
    video = unlabeled_video(np.zeros((1, 8, 8, 3), np.uint8), PENN_ACTION, box[None])
    assert video.sizes[0] == pytest.approx(100 * BOX_PADDING)
    assert authors_box_rule((box + 1)[None])[1][0] == pytest.approx(101 * BOX_PADDING)  # 1-based, w = x2 - x1 + 1
    whole = whole_frame_box(80, 60)
    np.testing.assert_array_equal(whole, [0, 0, 79, 59])
    center, side = box_to_center_size(whole, 1.0)
    np.testing.assert_allclose(center, [39.5, 29.5])
    assert side == 79


def test_normalize_roundtrip():
    img = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3)).astype(np.uint8)
    x = normalize(img)
    assert x.shape == (2, 3, 8, 8) and x.dtype == torch.float32
    assert np.array_equal(denormalize(x), img)
