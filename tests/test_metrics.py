"""Metrics (hypothesis where it helps): PCK conventions, per-part table, accuracy@d, decoding."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ttpose.metrics import accuracy_within, decode_heatmaps, pck, pck_hits, pck_table, torso_size
from ttpose.skeletons import BBC_POSE, MPII, PENN_ACTION


def random_pose(rng, n=5):
    gt = rng.uniform(0, 200, size=(n, 13, 2))
    # torso = 80
    gt[:, 1] = [80, 50]
    gt[:, 2] = [120, 50]
    gt[:, 7] = [85, 130]
    gt[:, 8] = [115, 130]
    return gt


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 1000), conv=st.sampled_from(["authors", "mmpose"]))
def test_perfect_predictions_score_100_and_far_joint_0(seed, conv):
    rng = np.random.default_rng(seed)
    gt = random_pose(rng)
    vis = np.ones((5, 13), bool)
    assert pck_table(gt, gt, vis, PENN_ACTION, convention=conv)["Mean"] == 100.0
    pred = gt.copy()
    pred[:, 5] += 1000
    acc = pck(pred, gt, vis, torso_size(gt, PENN_ACTION), convention=conv)
    assert acc.per_joint[5] == 0 and acc.per_joint[0] == 100


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 1000), shift=st.tuples(st.floats(-500, 500), st.floats(-500, 500)),
       factor=st.floats(0.1, 10))
def test_pck_invariant_to_translation_and_joint_scaling(seed, shift, factor):
    rng = np.random.default_rng(seed)
    gt = random_pose(rng)
    pred = gt + rng.normal(0, 10, gt.shape)
    vis = rng.random((5, 13)) > 0.2
    base = pck(pred, gt, vis, torso_size(gt, PENN_ACTION)).mean
    t = np.array(shift)
    assert pck(pred + t, gt + t, vis, torso_size(gt + t, PENN_ACTION)).mean == pytest.approx(base)
    scaled = pck(pred * factor, gt * factor, vis, torso_size(gt * factor, PENN_ACTION)).mean
    assert abs(scaled - base) < 1e-9 or abs(scaled - base) <= 100.0 / vis.sum() + 1e-9  # float ties only


def test_conventions_differ_exactly_at_threshold_and_in_pooling():
    gt = np.zeros((2, 13, 2))
    gt[:, 1:3] = [[0, 0], [0, 0]]
    gt[:, 7:9] = [[0, 10], [0, 10]]  # torso 10
    pred = gt.copy()
    pred[0, 0, 0] += 2.0  # exactly 0.2 torso
    vis = np.ones((2, 13), bool)
    norm = torso_size(gt, PENN_ACTION)
    a = pck(pred, gt, vis, norm, 0.2, "authors")
    m = pck(pred, gt, vis, norm, 0.2, "mmpose")
    assert a.per_joint[0] == 100.0 and m.per_joint[0] == 50.0
    # pooling: joint 0 visible in 1 frame, others in 2: authors pool hits, mmpose averages per-joint
    vis2 = vis.copy()
    vis2[1, 0] = False
    pred2 = gt.copy()
    pred2[0, 0] += 100
    a2, m2 = pck(pred2, gt, vis2, norm, 0.2, "authors"), pck(pred2, gt, vis2, norm, 0.2, "mmpose")
    assert a2.mean == pytest.approx(100 * 24 / 25) and m2.mean == pytest.approx(100 * 12 / 13)


def test_part_table_hand_example():
    gt = random_pose(np.random.default_rng(0), n=2)
    pred = gt.copy()
    pred[0, 3] += 500  # left elbow wrong in frame 0
    vis = np.ones((2, 13), bool)
    vis[1, 12] = False
    table = pck_table(pred, gt, vis, PENN_ACTION)
    assert list(table) == ["Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Mean"]
    assert table["Elbow"] == pytest.approx((50 + 100) / 2)
    assert table["Mean"] == pytest.approx(100 * 24 / 25)  # pooled: 25 visible joints, 1 miss


def test_accuracy_within_half_resolution():
    gt = np.zeros((1, 7, 2))
    pred = gt.copy()
    pred[0, 0, 0] = 12.0  # 6 px at half resolution: correct
    pred[0, 1, 0] = 12.5  # 6.25 px: wrong
    acc = accuracy_within(pred, gt, np.ones((1, 7), bool), d=6, scale=0.5)
    assert acc.per_joint[0] == 100 and acc.per_joint[1] == 0
    assert acc.mean == pytest.approx(100 * 6 / 7)
    assert BBC_POSE.torso is None


@settings(max_examples=40, deadline=None)
@given(x=st.floats(2, 13), y=st.floats(2, 13))
def test_decode_quarter_shift_toward_subpixel_peak(x, y):
    ys, xs = np.mgrid[0:16, 0:16]
    hm = np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / 8.0)[None, None]
    coords, maxvals = decode_heatmaps(hm)
    assert abs(coords[0, 0, 0] - x) <= 0.75 and abs(coords[0, 0, 1] - y) <= 0.75
    assert maxvals[0, 0] == pytest.approx(hm.max())
    ix = np.round(x)
    if abs(x - ix) > 0.05:
        assert np.sign(coords[0, 0, 0] - ix) == np.sign(x - ix)  # shifted toward the true peak


def test_decode_no_shift_at_border():
    hm = np.zeros((1, 1, 8, 8))
    hm[0, 0, 0, 7] = 1.0
    coords, _ = decode_heatmaps(hm)
    assert coords[0, 0].tolist() == [7.0, 0.0]


def test_decode_shifts_only_two_pixels_inside_on_both_axes():
    """The authors' rule: the quarter-pixel shift applies only when 2 <= x <= w - 2 and 2 <= y <= h - 2 together."""
    hm = np.zeros((1, 3, 8, 8))
    hm[0, 0, 1, 4], hm[0, 0, 1, 5], hm[0, 0, 2, 4] = 1.0, 0.5, 0.5  # y = 1: no shift, not even along x
    hm[0, 1, 4, 6], hm[0, 1, 4, 5], hm[0, 1, 5, 6] = 1.0, 0.5, 0.5  # x = 6 = w - 2: shifted on both axes
    hm[0, 2, 4, 7], hm[0, 2, 5, 7] = 1.0, 0.5  # x = 7 = w - 1: no shift
    coords, _ = decode_heatmaps(hm)
    assert coords[0].tolist() == [[4.0, 1.0], [5.75, 4.25], [7.0, 4.0]]


def test_human36m_is_scored_as_the_authors_score_it():
    """Their hm36.py: torso = |upper neck (8) - mid-hip (2, 3)|, Head column = head top (9) alone."""
    gt = np.zeros((1, 16, 2))
    gt[0, [12, 13]] = [[-10, 20], [10, 20]]  # shoulders 20 above the hips: not the torso here
    gt[0, 8] = [0, 50]  # upper neck 50 above the mid-hip
    gt[0, 9] = [0, 60]
    assert torso_size(gt, MPII)[0] == pytest.approx(50.0)
    pred = gt.copy()
    pred[0, 8] += [0, 11]  # upper neck off by 0.22 torso, head top right
    table = pck_table(pred, gt, np.ones((1, 16), bool), MPII)
    assert table["Head"] == 100.0 and table["Mean"] == pytest.approx(100 * 15 / 16)


def test_pck_hits_per_frame_pool_to_pck():
    """pck_hits is pck before pooling: any split of the frames pools back to the same authors' PCK."""
    rng = np.random.default_rng(0)
    gt = rng.uniform(0, 100, (10, 13, 2))
    pred = gt + rng.normal(0, 4, gt.shape)
    visible = rng.random((10, 13)) > 0.2
    norm = rng.uniform(10, 30, 10)
    norm[3] = 0  # a frame without a torso is not scored
    hit, scored = pck_hits(pred, gt, visible, norm)
    assert hit.shape == scored.shape == (10, 13) and not scored[3].any()
    assert np.isclose(100 * (hit & scored).sum() / scored.sum(), pck(pred, gt, visible, norm).mean)
    first = pck(pred[:4], gt[:4], visible[:4], norm[:4])
    assert np.isclose(100 * (hit[:4] & scored[:4]).sum() / scored[:4].sum(), first.mean)
