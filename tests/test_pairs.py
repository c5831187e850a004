"""(target, source) pairs: shared augmentation, flips, heatmaps, the online rule, determinism."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ttpose.data.crops import crop_frame, denormalize, normalize
from ttpose.data.pairs import (
    Augmentation,
    PairDataset,
    frames_batch,
    heatmap_targets,
    make_pair,
    offline_batch,
    online_batch,
    recent_targets,
    sample_augmentation,
    sample_translation,
)
from ttpose.data.types import Video
from ttpose.skeletons import PENN_ACTION

COLORS = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [255, 0, 255], [0, 255, 255],
                   [128, 0, 0], [0, 128, 0], [0, 0, 128], [128, 128, 0], [128, 0, 128], [0, 128, 128],
                   [255, 128, 0]], np.uint8)


def dot_video(n=6, size=96, seed=0) -> Video:
    """Frames with one coloured 5x5 square per joint; frame i's pixels encode i in the corner."""
    rng = np.random.default_rng(seed)
    joints = rng.uniform(30, 66, size=(n, 13, 2)).astype(np.float32)
    images = np.zeros((n, size, size, 3), np.uint8)
    for i in range(n):
        for j, (x, y) in enumerate(joints[i]):
            images[i, int(y) - 2:int(y) + 3, int(x) - 2:int(x) + 3] = COLORS[j]
        images[i, :4, :4] = 10 * i + 5
    boxes = np.tile(np.array([20, 20, 76, 76], np.float32), (n, 1))
    return Video("v", "p", PENN_ACTION, images, joints, np.ones((n, 13), bool), boxes,
                 np.tile(np.array([48, 48], np.float32), (n, 1)), np.full(n, 80, np.float32))


def test_heatmap_peak_at_joint_and_invisible_weight_zero():
    joints = np.array([[20.0, 36.0], [0.0, 0.0], [500.0, 10.0]])
    hm, w = heatmap_targets(joints, np.array([True, False, True]), 16, 4.0)
    assert np.unravel_index(hm[0].argmax(), hm[0].shape) == (9, 5) and hm[0].max() == 1.0
    assert w.tolist() == [1.0, 0.0, 0.0] and hm[1].max() == 0 and hm[2].max() == 0


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_flipped_pair_stays_consistent(seed):
    """Under a flip the heatmap labelled 'left wrist' peaks where the right wrist was drawn, and vice versa."""
    video = dot_video()
    video.visible[:] = False
    video.visible[:, [5, 6]] = True
    images = np.zeros_like(video.images)
    for i in range(len(video)):
        for j, colour in ((5, (255, 0, 0)), (6, (0, 0, 255))):
            x, y = video.joints[i, j].astype(int)
            images[i, y - 2:y + 3, x - 2:x + 3] = colour
    video.images = images
    aug = Augmentation(flip_prob=1.0, rotation_factor=20.0, scale_factor=0.1)
    pair = make_pair(video, 2, 4, 64, 16, np.random.default_rng(seed), aug)
    assert bool(pair["flip"])
    target = denormalize(pair["target"]).astype(int)
    drawn = {6: target[..., 2] > 100 + target[..., 0], 5: target[..., 0] > 100 + target[..., 2]}  # blue, red
    for label, original in ((5, 6), (6, 5)):  # after the swap, label 5 (left wrist) is the drawn right wrist
        if pair["target_weight"][label] == 0:
            continue
        ys, xs = np.nonzero(drawn[original])
        hm = pair["heatmaps"][label].numpy()
        y, x = np.unravel_index(hm.argmax(), hm.shape)
        assert abs(xs.mean() / 4 - x) <= 1.0 and abs(ys.mean() / 4 - y) <= 1.0


def test_shared_augmentation_between_target_and_source():
    video = dot_video()
    video.images = np.repeat(video.images[:1], len(video), axis=0)  # two frames with identical pixels
    pair = make_pair(video, 1, 3, 64, 16, np.random.default_rng(5), Augmentation(rotation_prob=1.0))
    assert torch.allclose(pair["target"], pair["source"])  # same pose, same augmentation -> same crop


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_translation_moves_the_crop_and_its_heatmaps_together(seed):
    """data.translate_factor: the crop centre moves by at most the factor x the crop side, target and source
    alike, and the heatmap labels follow the pixels; factor 0 draws nothing (the authors' stream is kept)."""
    video = dot_video()
    video.images = np.repeat(video.images[:1], len(video), axis=0)
    video.joints[:] = video.joints[:1]
    plain = Augmentation(scale_factor=0.0, rotation_factor=0.0, flip_prob=0.0)
    moved = Augmentation(scale_factor=0.0, rotation_factor=0.0, flip_prob=0.0, translate_factor=0.2)
    a, b = make_pair(video, 1, 3, 64, 16, np.random.default_rng(seed), plain), make_pair(
        video, 1, 3, 64, 16, np.random.default_rng(seed), moved)
    assert torch.allclose(b["target"], b["source"])  # the source moved with the target
    rng = np.random.default_rng(seed)
    sample_augmentation(rng, moved)
    offset = sample_translation(rng, moved)  # what make_pair drew: a fraction of the crop side, x and y
    assert np.all(np.abs(offset) <= 0.2)
    ja, jb = (np.stack([np.unravel_index(h.argmax(), h.shape)[::-1] for h in p["heatmaps"].numpy()]) for p in (a, b))
    assert np.all(np.abs((ja - jb) - offset * 16) <= 1.0)  # the labels moved by the offset (16 x 16 grid)
    rng0, rng1 = np.random.default_rng(seed), np.random.default_rng(seed)
    make_pair(video, 1, 3, 64, 16, rng0, Augmentation())
    make_pair(video, 1, 3, 64, 16, rng1, Augmentation(translate_factor=0.0))
    assert rng0.random() == rng1.random()


def test_online_batch_rule():
    video = dot_video(n=10)
    rng = np.random.default_rng(0)
    for t in (0, 3, 9):
        batch = online_batch(video, t, 16, rng, 64)
        assert batch["target"].shape == (16, 3, 64, 64)
        assert (batch["source_index"] <= t).all() and (batch["source_index"] >= 0).all()
        assert torch.equal(batch["target"][0], frames_batch(video, [t], 64)[0])  # slot 0 unaugmented
    batch = online_batch(video, 9, 64, rng, 64, first=5)
    assert (batch["source_index"] >= 5).all() and len(set(batch["source_index"].tolist())) > 1


def test_online_batch_reads_only_frames_up_to_t():
    video = dot_video(n=8)

    class Guard:
        def __len__(self):
            return 8

        def __getitem__(self, i):
            assert i <= 4, f"read future frame {i}"
            return video.images[i]

    guarded = Video("v", "p", PENN_ACTION, Guard(), video.joints, video.visible, video.boxes, video.centers,
                    video.sizes)
    online_batch(guarded, 4, 32, np.random.default_rng(1), 64)


@given(t=st.integers(0, 200), back=st.integers(0, 60), batch=st.integers(1, 40))
def test_recent_targets_cover_the_frames_since_the_previous_update(t, back, batch):
    """ttp.online_targets=recent: slot 0 is frame t, every target is in since..t, every such frame is a target when
    the batch has room for them all (cycling), and otherwise the targets are distinct (spread, not repeated)."""
    since = max(0, t - back)
    targets = recent_targets(t, since, batch)
    assert len(targets) == batch and targets[0] == t and ((targets >= since) & (targets <= t)).all()
    frames = t - since + 1
    if frames <= batch:
        assert set(targets.tolist()) == set(range(since, t + 1))
    else:
        assert len(set(targets.tolist())) == batch
    assert (recent_targets(t, t, batch) == t).all()  # the paper's rule
    with pytest.raises(ValueError, match="after frame t"):
        recent_targets(t, t + 1, batch)


def test_online_batch_since_takes_targets_from_the_recent_frames_only():
    """The targets of an online batch with ``since`` are `recent_targets`, slot 0 is frame t unaugmented, and no
    frame after t (nor before ``first``) is read."""
    video = dot_video(n=8)
    batch = online_batch(video, 6, 8, np.random.default_rng(0), 64, since=3)
    assert batch["target_index"].tolist() == recent_targets(6, 3, 8).tolist() == [6, 5, 4, 3, 6, 5, 4, 3]
    assert torch.equal(batch["target"][0], frames_batch(video, [6], 64)[0])
    plain = online_batch(video, 6, 8, np.random.default_rng(0), 64, Augmentation(enabled=False), since=3)
    assert torch.equal(plain["target"][1], frames_batch(video, [5], 64)[0])  # slot 1 is frame 5
    assert (online_batch(video, 6, 8, np.random.default_rng(0), 64, first=5, since=3)["target_index"] >= 5).all()
    paper = online_batch(video, 6, 8, np.random.default_rng(0), 64)
    assert (paper["target_index"] == 6).all()
    assert torch.equal(paper["source_index"], batch["source_index"])  # the same sources: only the targets differ


def test_offline_batch_and_indices():
    video = dot_video(n=10)
    batch = offline_batch(video, 8, np.random.default_rng(0), 64, indices=[2, 3])
    assert set(batch["target_index"].tolist()) <= {2, 3} and set(batch["source_index"].tolist()) <= {2, 3}


def test_pair_dataset_deterministic_and_epoch_dependent():
    ds = PairDataset([dot_video(), dot_video(n=4, seed=1)], 64, 16, seed=3)
    assert len(ds) == 10 and ds.locate(7) == (1, 1)
    a, b = ds[7], ds[7]
    assert torch.equal(a["target"], b["target"]) and torch.equal(a["heatmaps"], b["heatmaps"])
    ds.set_epoch(1)
    c = ds[7]
    assert not (torch.equal(a["target"], c["target"]) and torch.equal(a["source"], c["source"]))
    loader = torch.utils.data.DataLoader(ds, batch_size=5)
    batch = next(iter(loader))
    assert batch["target"].shape == (5, 3, 64, 64) and batch["heatmaps"].shape == (5, 13, 16, 16)


def test_pair_dataset_needs_videos():
    with pytest.raises(ValueError):
        PairDataset([], 64, 16)


def moving_window_video(n=6) -> Video:
    """dot_video whose crop windows move from frame to frame (a panning camera)."""
    video = dot_video(n=n)
    video.centers = np.array([[40 + 3 * i, 44 + 2 * i] for i in range(n)], np.float32)
    video.sizes = np.array([70 + 2 * i for i in range(n)], np.float32)
    return video


@pytest.mark.parametrize("rule", ["own", "target"])
def test_source_crop_rule_for_training_online_and_offline_pairs(rule):
    """data.source_crop / ttp.source_crop: the source frame is cut with its own window or the target's."""
    video = moving_window_video()
    plain = Augmentation(enabled=False, source_crop=rule)

    def expected(t, s):
        i = t if rule == "target" else s
        return normalize(crop_frame(video.images[s], video.centers[i], video.sizes[i], 64)[0])

    pair = make_pair(video, 4, 1, 64, 16, np.random.default_rng(0), plain)
    assert torch.equal(pair["source"], expected(4, 1))
    batch = online_batch(video, 5, 8, np.random.default_rng(1), 64, plain)
    for slot, s in enumerate(batch["source_index"].tolist()):
        assert torch.equal(batch["source"][slot], expected(5, s))
    batch = offline_batch(video, 8, np.random.default_rng(2), 64, plain)
    for slot, (t, s) in enumerate(zip(batch["target_index"].tolist(), batch["source_index"].tolist(), strict=True)):
        assert torch.equal(batch["source"][slot], expected(t, s))
        assert torch.equal(batch["target"][slot], normalize(crop_frame(video.images[t], video.centers[t],
                                                                       video.sizes[t], 64)[0]))
    own = normalize(crop_frame(video.images[1], video.centers[1], video.sizes[1], 64)[0])
    assert torch.equal(pair["source"], own) == (rule == "own")  # the windows differ, so the rule shows
