"""The still scene of a video (`ttpose.background`): the median of sampled frames, and the box of what differs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ttpose.background import Background, BackgroundOptions, sample_indices

H, W = 60, 80


def scene() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(60, 120, (H, W, 3)).astype(np.uint8)


def with_square(x: int, y: int, side: int = 12) -> np.ndarray:
    image = scene()
    image[y:y + side, x:x + side] = 250
    return image


@given(st.integers(1, 500), st.integers(3, 64))
def test_sample_indices_spread_over_the_video(count, samples):
    idx = sample_indices(count, samples)
    assert len(idx) <= samples and np.all(np.diff(idx) > 0)
    assert idx[0] == 0 and idx[-1] == count - 1
    if count <= samples:
        np.testing.assert_array_equal(idx, np.arange(count))


@pytest.mark.parametrize("downsample", [1, 2])
def test_a_moving_square_is_found_and_the_scene_is_the_median(downsample):
    frames = [with_square(4 + 12 * t, 10 + 3 * t) for t in range(5)]  # never twice at one pixel
    background = Background.of_frames(frames, BackgroundOptions(downsample=downsample, min_pixels=4))
    if downsample == 1:
        np.testing.assert_array_equal(background.scene, scene().astype(np.float32))
    box = background.box(with_square(30, 20))
    np.testing.assert_allclose(box, [30, 20, 41, 31], atol=downsample)  # the square's pixels 30..41, 20..31
    assert background.box(scene()) is None  # nothing differs


def test_no_box_when_most_of_the_frame_differs_or_too_little():
    frames = [with_square(4 + 12 * t, 10) for t in range(5)]
    background = Background.of_frames(frames, BackgroundOptions(downsample=1))
    assert background.box(np.full((H, W, 3), 255, np.uint8)) is None  # the light changed: no cue
    one = scene()
    one[5, 5] = 255
    assert background.box(one) is None  # one pixel is noise, not a person (min_pixels)


def test_bad_input_is_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="at least 3"):
        Background.of_frames([scene(), scene()])
    with pytest.raises(ValueError, match="different sizes"):
        Background.of_frames([scene(), scene(), np.zeros((10, 10, 3), np.uint8)])
    background = Background.of_frames([scene()] * 3)
    with pytest.raises(ValueError, match="size"):
        background.box(np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(ValueError, match="threshold"):
        BackgroundOptions(threshold=0)
