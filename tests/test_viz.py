"""Pictures (ttpose.viz): skeletons, overlays, strips, the paper's Fig. 5 affinity arrows and heatmap."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ttpose.skeletons import BBC_POSE, PENN_ACTION
from ttpose.viz import affinity_matrix_figure, draw_affinity, draw_skeleton, image_strip, overlay_two


def _pose(skeleton, size=100, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(size * 0.2, size * 0.8, (skeleton.num_joints, 2))


def test_draw_skeleton_changes_pixels_on_a_copy_only():
    image = np.zeros((100, 120, 3), np.uint8)
    joints = _pose(BBC_POSE)
    out = draw_skeleton(image, joints, BBC_POSE, color=(0, 255, 0))
    assert image.max() == 0  # the input is untouched
    changed = out.any(axis=2)
    for x, y in joints:  # every joint's pixel is painted, in the colour asked for (RGB)
        assert changed[round(y), round(x)]
        assert out[round(y), round(x), 1] > out[round(y), round(x), 0]
    assert not changed[:, 90:].any() and not changed[90:].any()  # joints lie in [20, 80]: nothing far off


def test_hidden_and_low_confidence_joints_are_not_drawn():
    image = np.zeros((100, 100, 3), np.uint8)
    joints = np.full((BBC_POSE.num_joints, 2), 50.0)
    joints[0] = (10, 10)
    visible = np.ones(7, bool)
    visible[0] = False
    out = draw_skeleton(image, joints, BBC_POSE, visible=visible)
    assert out[10, 10].max() == 0 and out[50, 50].max() > 0
    confidence = np.ones(7)
    confidence[0] = 0.05
    out = draw_skeleton(image, joints, BBC_POSE, confidence=confidence, min_confidence=0.1)
    assert out[10, 10].max() == 0
    with pytest.raises(ValueError, match="7 x 2"):
        draw_skeleton(image, joints[:3], BBC_POSE)


@settings(deadline=None, max_examples=40)
@given(arrays(np.float64, (13, 2), elements=st.one_of(st.floats(-1e9, 1e9), st.just(np.nan))),
       st.integers(1, 40), st.integers(1, 40))
def test_drawing_anywhere_never_crashes(joints, width, height):
    image = np.zeros((height, width, 3), np.uint8)
    out = draw_skeleton(image, joints, PENN_ACTION)
    assert out.shape == image.shape
    weights = np.abs(np.nan_to_num(joints[:, :1] / 1e9))  # 13 x 1
    out, n = draw_affinity(image, np.nan_to_num(joints[:1]), np.nan_to_num(joints), weights)
    assert out.shape == image.shape and n == int((weights > 0.1).sum())


def test_overlay_two_draws_both_and_a_legend():
    image = np.full((120, 160, 3), 128, np.uint8)
    a, b = _pose(PENN_ACTION, 120, 1), _pose(PENN_ACTION, 120, 2) + 10
    out = overlay_two(image, a, b, PENN_ACTION)
    assert out.shape == image.shape and (out != image).any()
    assert (out[:10, :30] != 128).any()  # the legend sits in the top-left corner
    only_a = draw_skeleton(image, a, PENN_ACTION)
    assert (out != only_a).any()


def test_image_strip_grid_and_titles():
    images = [np.full((40, 60, 3), v, np.uint8) for v in (0, 100, 200)] + [np.zeros((20, 20), np.uint8)]
    strip = image_strip(images, titles=["a", "b", "c", "d"], pad=2, background=255)
    assert strip.shape[0] > 40 + 4 and strip.shape[1] == 4 * 60 + 5 * 2  # one row, cells of the widest
    grid = image_strip(images, cols=2, pad=2)
    assert grid.shape == (2 * 42 + 2, 2 * 62 + 2, 3)
    assert grid[2 + 20, 2 + 30].tolist() == [0, 0, 0] and grid[2 + 20, 64 + 30].tolist() == [100] * 3
    with pytest.raises(ValueError, match="cannot hold"):
        image_strip(images, rows=1, cols=2)


def test_affinity_arrows_count_and_colour():
    image = np.zeros((128, 128, 3), np.uint8)
    rng = np.random.default_rng(0)
    k_self, k_sup = 30, 13
    logits = rng.normal(0, 2, (k_sup, k_self))
    weights = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)  # softmax over self keypoints
    self_kp = rng.uniform(10, 118, (k_self, 2))
    sup_kp = rng.uniform(10, 118, (k_sup, 2))
    out, n = draw_affinity(image, self_kp, sup_kp, weights, threshold=0.1)
    assert n == int((weights > 0.1).sum()) and n > 0
    assert out.any(axis=2).sum() > 200
    _, none = draw_affinity(image, self_kp, sup_kp, weights, threshold=1.0)
    assert none == 0

    two = np.array([[0.9, 0.0], [0.0, 0.2]])  # a strong arrow along y = 30 and a weak one along y = 90
    out, n = draw_affinity(image, np.array([[10.0, 30], [10, 90]]), np.array([[110.0, 30], [110, 90]]), two)
    assert n == 2
    strong, weak = out[30, 60].astype(int), out[90, 60].astype(int)
    assert strong[0] > strong[2] + 50 and weak[2] > weak[0] + 50  # warm (red) vs cold (blue)
    with pytest.raises(ValueError, match="affinity"):
        draw_affinity(image, self_kp, sup_kp, weights.T)


def test_affinity_matrix_figure_is_written(tmp_path):
    weights = np.random.default_rng(0).dirichlet(np.ones(30), size=13)
    path = affinity_matrix_figure(weights, PENN_ACTION.joint_names, tmp_path / "figs" / "affinity.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000
    assert [p.name for p in path.parent.iterdir()] == ["affinity.png"]
    with pytest.raises(ValueError, match="13 joint names"):
        affinity_matrix_figure(weights.T, PENN_ACTION.joint_names, tmp_path / "bad.png")
