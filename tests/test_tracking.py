"""Tracking the person with the pose model itself (ttpose.tracking): start, follow, widen, restart.

Most tests drive `Tracker` with a fake pose model whose answers depend on where the crop lies relative to a
known person (sure when the person fills the crop as in training, guessing when the person is not in it),
so each decision of the tracker can be checked; one test runs the real model code on a tiny model.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import TINY_MODEL
from ttpose.background import Background, BackgroundOptions
from ttpose.boxes import kind_runs
from ttpose.model import TTPModel
from ttpose.tracking import (
    SEARCH_BATCH,
    Track,
    Tracker,
    TrackingOptions,
    agrees,
    inside,
    joints_box,
    predict_regions,
    search_windows,
    track_frames,
    tracked_boxes,
)

W, H, K = 400, 300, 13
SHAPE = np.array([[0, -40], [-12, -25], [12, -25], [-18, -5], [18, -5], [-20, 12], [20, 12],
                  [-8, 5], [8, 5], [-9, 22], [9, 22], [-10, 40], [10, 40]], np.float32)  # K x 2, 80 px tall


def person_at(x: float, y: float) -> np.ndarray:
    return SHAPE + np.array([x, y], np.float32)


class FakeModel:
    """A pose model for one video whose person stands at ``positions[t]`` in frame t (the frame's first pixel
    holds t): sure where the person fills the crop as the training crops do (longer side / crop side 0.8),
    less sure as the person gets smaller in it, and guessing (low scores, joints near the crop centre) when
    the person's centre is not in the crop."""

    def __init__(self, positions):
        self.positions = positions
        self.calls = 0

    def __call__(self, image, centers, sizes):
        self.calls += 1
        joints = person_at(*self.positions[int(image[0, 0, 0])])
        out_j, out_s = [], []
        for c, s in zip(centers, sizes, strict=True):
            if np.all(np.abs(joints.mean(0) - c) < s / 2):
                fill = 80.0 / s
                out_j.append(joints)
                out_s.append(np.full(K, np.exp(-np.log(fill / 0.8) ** 2 / 2), np.float32))
            else:
                rng = np.random.default_rng(int(c[0]))
                out_j.append(c + rng.uniform(-s / 4, s / 4, (K, 2)).astype(np.float32))
                out_s.append(rng.uniform(0.02, 0.08, K).astype(np.float32))
        return np.stack(out_j), np.stack(out_s)


def frames(n: int) -> list[np.ndarray]:
    images = [np.zeros((H, W, 3), np.uint8) for _ in range(n)]
    for t, image in enumerate(images):
        image[0, 0, 0] = t
    return images


def iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def true_box(x, y, scale=1.15):
    j = person_at(x, y)
    lo, hi = j.min(0), j.max(0)
    c, half = (lo + hi) / 2, (hi - lo) / 2 * scale
    return np.concatenate([c - half, c + half])


def test_joints_box_uses_confident_joints_grown_to_the_body():
    joints = person_at(100, 100)
    scores = np.full(K, 0.9, np.float32)
    scores[0] = 0.1  # the head is unsure: left out of the box
    box, count = joints_box(joints, scores, TrackingOptions(body_scale=1.0))
    assert count == K - 1
    np.testing.assert_allclose(box, [80, 75, 120, 140])  # y from the shoulders (-25), not the head (-40)
    box, count = joints_box(joints, np.linspace(1, 0, K), TrackingOptions(joint_threshold=0.99, min_joints=3))
    assert count == 1  # too few sure joints: the three best make the box
    np.testing.assert_allclose(box, [100 - 12 * 1.15, 100 - 40 - 7.5 * 1.15 + 7.5, 112 + 12 * 0.15, 75 + 7.5 * 0.15],
                               atol=1e-4)


def search_calls() -> int:
    """Model calls of the default start search (the window batches) on a W x H frame."""
    return -(-len(search_windows(H, W, TrackingOptions().search_sides)[1]) // SEARCH_BATCH)


def test_search_windows_cover_the_frame_at_each_side():
    centers, sides = search_windows(H, W, (0.5, 0.25))
    assert sides[0] == W and tuple(centers[0]) == ((W - 1) / 2, (H - 1) / 2)  # the whole frame first
    for fraction in (0.5, 0.25):
        side = fraction * H
        mine = centers[sides == side]
        assert len(mine) > 1
        assert np.all(mine - side / 2 >= -0.5 - 1e-4) and np.all(mine[:, 0] + side / 2 <= W - 0.5 + 1e-4)
        assert np.all(mine[:, 1] + side / 2 <= H - 0.5 + 1e-4)  # inside the frame
        points = np.random.default_rng(0).uniform([0, 0], [W - 1, H - 1], (200, 2))
        inside = np.all(np.abs(points[:, None] - mine[None]) <= side / 2, axis=-1)
        assert inside.any(1).all()  # every pixel is in a window
        # a quarter side apart: a window's centre lies within side / 8 of any point away from the borders
        inner = np.random.default_rng(1).uniform([side / 2, side / 2], [W - side / 2, H - side / 2], (200, 2))
        assert np.all(np.abs(inner[:, None] - mine[None]).max(-1).min(1) <= side / 8 + 0.5)


def test_start_searches_the_windows_then_refines_on_the_small_person():
    model = FakeModel([(300, 200)])
    frame = Tracker(model).step(frames(1)[0])
    assert frame.source == "start" and model.calls == search_calls() + 2  # the window batches, two finer crops
    assert iou(frame.box, true_box(300, 200)) > 0.99 and frame.confidence > 0.9
    whole = Tracker(FakeModel([(300, 200)]), TrackingOptions(refine_steps=0, search_sides=())).step(frames(1)[0])
    assert whole.confidence < 0.5  # the whole-frame look alone is unsure of the small person


class DistractedModel(FakeModel):
    """`FakeModel` plus one background window (``distractor``: centre, side) that scores higher than any crop
    of the person, by chance: a crop closing in on the joints guessed there is unsure again."""

    def __init__(self, positions, distractor):
        super().__init__(positions)
        self.distractor = distractor

    def __call__(self, image, centers, sizes):
        joints, scores = super().__call__(image, centers, sizes)
        (dx, dy), side = self.distractor
        for i, (c, s) in enumerate(zip(centers, sizes, strict=True)):
            if np.allclose(c, (dx, dy)) and np.isclose(s, side):
                joints[i] = SHAPE * side / 160 + c  # a person-like guess filling the window
                scores[i] = 0.999
        return joints, scores


def test_start_refines_several_windows_so_a_lucky_background_window_loses():
    """Issue 14: the most confident window was background for people the model poses badly; the candidates'
    refined looks decide (``start_candidates``), and the background window's refined look is unsure."""
    centers, sides = search_windows(H, W, TrackingOptions().search_sides)
    far = int(np.argmax(np.linalg.norm(centers - (300, 200), axis=1) * (sides == sides[1])))  # a window far away
    distractor = (tuple(centers[far]), float(sides[far]))
    one = Tracker(DistractedModel([(300, 200)], distractor), TrackingOptions(start_candidates=1)).step(frames(1)[0])
    assert iou(one.box, true_box(300, 200)) == 0  # the lucky window alone: the track starts on the background
    model = DistractedModel([(300, 200)], distractor)
    frame = Tracker(model).step(frames(1)[0])
    assert iou(frame.box, true_box(300, 200)) > 0.99 and frame.confidence > 0.9
    assert model.calls == search_calls() + 2  # the candidates are refined together: one call per pass
    with pytest.raises(ValueError, match="start_candidates"):
        TrackingOptions(start_candidates=0)


def test_follows_a_moving_person_with_one_look_per_frame():
    path = [(60 + 8 * t, 150 + 2 * t) for t in range(20)]
    for refine in (0, 1):
        model = FakeModel(path)
        track = track_frames(model, frames(20), TrackingOptions(track_refine=refine))
        assert track.sources == ["start"] + ["tracked"] * 19
        assert model.calls == search_calls() + 2 + 19 * (1 + refine)
        assert min(iou(b, true_box(*p)) for b, p in zip(track.boxes, path, strict=True)) > 0.99


def test_widens_then_restarts_when_the_person_is_lost():
    path = [(100, 150), (100, 150), (165, 150), (165, 150), (330, 150), (330, 150)]
    track = track_frames(FakeModel(path), frames(len(path)))
    # a 65 px jump leaves the training-padded crop but not the widened one; a 165 px jump leaves both
    assert track.sources == ["start", "tracked", "widened", "tracked", "restart", "tracked"]
    assert min(iou(b, true_box(*p)) for b, p in zip(track.boxes, path, strict=True)) > 0.99


def test_tracked_boxes_hold_the_last_box_over_frames_that_did_not_decode():
    boxes = np.arange(12, dtype=np.float32).reshape(3, 4)
    track = Track(boxes, ["start", "tracked", "restart"], np.ones(3, np.float32))
    out = tracked_boxes(track, [0, 2, 3], num_frames=5)  # frame 1 and 4 not decoded
    np.testing.assert_array_equal(out.boxes, boxes[[0, 0, 1, 2, 2]])
    assert out.kinds == ["start", "start", "tracked", "restart", "restart"]
    assert "1 restart" in out.source and "tracked by the pose model" in out.source
    assert kind_runs(out.kinds, range(5)) == [{"frames": [0, 1], "source": "start"},
                                              {"frames": [2, 2], "source": "tracked"},
                                              {"frames": [3, 4], "source": "restart"}]


def test_options_out_of_range_are_refused():
    with pytest.raises(ValueError, match="widen"):
        TrackingOptions(widen=0.5)


def test_predict_regions_maps_the_real_model_back_to_each_region():
    torch.manual_seed(0)
    model = TTPModel(TINY_MODEL).eval()
    image = np.random.default_rng(0).integers(0, 255, (H, W, 3), dtype=np.uint8)
    centers, sizes = np.array([[50, 60], [300, 200]], np.float32), np.array([40, 120], np.float32)
    pred = predict_regions(model, image, centers, sizes)
    assert pred.joints.shape == (2, K, 2) and pred.scores.shape == (2, K)
    for j, c, s in zip(pred.joints, centers, sizes, strict=True):  # every joint inside its own region
        assert np.all(np.abs(j - c) <= s / 2)
    frame = Tracker(model).step(image)
    assert frame.source == "start" and np.isfinite(frame.box).all()


def drawn(path) -> list[np.ndarray]:
    """`frames` with the person drawn (their body: `true_box`, bright) on the still black scene."""
    images = frames(len(path))
    for image, (x, y) in zip(images, path, strict=True):
        x1, y1, x2, y2 = np.round(true_box(x, y)).astype(int)
        image[y1:y2 + 1, x1:x2 + 1] = 200
    return images


def test_agrees_means_enough_of_the_look_inside_the_region():
    region = np.array([0, 0, 100, 100], np.float32)
    options = TrackingOptions(agree_inside=0.5)
    assert agrees([10, 10, 50, 50], region, options)
    assert agrees([50, 0, 150, 100], region, options)  # half inside: the boundary agrees
    assert not agrees([60, 0, 160, 100], region, options)
    assert not agrees([10, 10, 10, 50], region, options)  # no area
    with pytest.raises(ValueError, match="agree_inside"):
        TrackingOptions(agree_inside=1.5)


def test_the_still_scene_guides_every_frame_without_a_search():
    path = [(60 + 30 * t, 150 + 5 * t) for t in range(8)]  # the person never twice on the same pixels
    images = drawn(path)
    background = Background.of_frames(images, BackgroundOptions(downsample=1))
    model = FakeModel(path)
    track = track_frames(model, images, background=background)
    assert track.sources == ["guided"] * 8
    assert model.calls == 8 * 2  # a look around the region and one refinement per frame; no window search
    assert min(iou(b, true_box(*p)) for b, p in zip(track.boxes, path, strict=True)) > 0.99


def test_inside_is_the_part_of_the_box_in_the_region():
    region = np.array([0, 0, 100, 100], np.float32)
    np.testing.assert_array_equal(inside([10, 10, 50, 50], region), [10, 10, 50, 50])
    np.testing.assert_array_equal(inside([-20, 50, 150, 130], region), [0, 50, 100, 100])
    np.testing.assert_array_equal(inside([120, 0, 160, 100], region), region)  # apart: the region


def test_a_guided_box_is_cut_to_the_region():
    """Issue 14: a badly posed person's stray joints stretched the guided box beyond what differs from the
    empty scene; the box is the agreeing look's, cut to the region."""
    path = [(60 + 30 * t, 150 + 5 * t) for t in range(6)]
    images = drawn(path)
    background = Background.of_frames(images, BackgroundOptions(downsample=1))

    def stray(image, centers, sizes):  # the person found, with one joint 60 px below their feet
        t = int(image[0, 0, 0])
        joints = person_at(*path[t])
        joints[-1, 1] += 60
        return np.stack([joints] * len(centers)), np.full((len(centers), K), 0.9, np.float32)

    track = track_frames(stray, images, background=background)
    assert track.sources == ["guided"] * 6
    for box, image, p in zip(track.boxes, images, path, strict=True):
        region = background.box(image)
        assert np.all(box[:2] >= region[:2]) and np.all(box[2:] <= region[2:])
        assert iou(box, true_box(*p)) > 0.9  # the stretched look alone: about 0.6


def test_the_region_is_the_box_when_no_look_agrees_with_it():
    path = [(60 + 30 * t, 150) for t in range(6)]
    images = drawn(path)
    background = Background.of_frames(images, BackgroundOptions(downsample=1))

    def elsewhere(image, centers, sizes):  # a model sure of a person far from the one in the frame
        return np.stack([person_at(350, 60)] * len(centers)), np.full((len(centers), K), 0.9, np.float32)

    track = track_frames(elsewhere, images, background=background)
    assert track.sources == ["background"] * 6
    for box, image in zip(track.boxes, images, strict=True):
        np.testing.assert_allclose(box, background.box(image))


def test_without_a_cue_the_model_tracks_alone():
    path = [(100, 150)] * 6  # a person who never moves is part of the median scene: no region is found
    images = drawn(path)
    background = Background.of_frames(images, BackgroundOptions(downsample=1))
    assert all(background.box(image) is None for image in images)
    track = track_frames(FakeModel(path), images, background=background)
    assert track.sources == ["start"] + ["tracked"] * 5
