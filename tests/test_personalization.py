"""Test-time personalization (Sec. 3.2) on a tiny model and a few frames."""

import tracemalloc

import numpy as np
import pytest
import torch

from conftest import TINY_MODEL, tiny_model
from ttpose.config import LossConfig, TTPConfig
from ttpose.data.synthetic import SyntheticConfig, make_video, materialize
from ttpose.data.types import Video
from ttpose.losses import ReconstructionLoss
from ttpose.model import TTPModel
from ttpose.personalization import CropStore, Personalizer, StreamingPersonalizer, personalize

FAST = TTPConfig(batch_size=4, lr=1e-3)


@pytest.fixture(scope="module")
def video() -> Video:
    return materialize(make_video("test", 0, config=SyntheticConfig(frame_size=48, frames_per_video=5)))


def test_online_deterministic_for_a_seed(video):
    model = tiny_model()
    a = personalize(model, video, "online", FAST, seed=1, progress=False)
    b = personalize(model, video, "online", FAST, seed=1, progress=False)
    c = personalize(model, video, "online", FAST, seed=2, progress=False)
    assert a.joints.shape == (5, 13, 2) and a.scores.shape == (5, 13) and len(a.losses) == 5
    assert np.array_equal(a.joints, b.joints) and np.array_equal(a.losses, b.losses)
    assert not np.array_equal(a.losses, c.losses)


def test_callers_model_unchanged_and_frozen_parts_bit_identical(video):
    model = tiny_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    tuner = Personalizer(model, FAST, seed=0)
    rng = np.random.default_rng(0)
    for t in range(len(video)):
        tuner.online_update(video, t, rng)
    after = tuner.model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert any(k.startswith("encoder.backbone") for k in changed) and "self_head.weight" in changed
    for k in before:
        if k.startswith("sup_head.") or ".bn" in k or "running_" in k or "num_batches" in k or "downsample.1" in k:
            assert k not in changed, k
    for k, v in model.state_dict().items():  # the caller's model
        assert torch.equal(v, before[k]), k
    personalize(model, video, "offline", FAST, progress=False)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_recent_online_targets_are_the_frames_since_the_previous_update(video, monkeypatch):
    """ttp.online_targets=recent with an update on every 2nd frame: the update at frame t takes its targets from
    the frames since the previous update (t - 1 and t), the first from frame 0 alone; a reset starts afresh; the
    default keeps the paper's rule (frame t alone)."""
    import ttpose.personalization as personalization

    seen = []
    real = personalization.online_batch

    def recording(video, t, batch_size, rng, size, aug=None, first=0, since=None):
        batch = real(video, t, batch_size, rng, size, aug, first, since)
        seen.append((t, sorted(set(batch["target_index"].tolist()))))
        return batch

    monkeypatch.setattr(personalization, "online_batch", recording)
    recent = TTPConfig(batch_size=4, lr=1e-3, update_every=2, online_targets="recent")
    personalize(tiny_model(), video, "online", recent, progress=False)
    assert seen == [(0, [0]), (2, [1, 2]), (4, [3, 4])]
    seen.clear()
    personalize(tiny_model(), video, "online", recent, reset_every=3, progress=False)
    assert seen == [(0, [0]), (2, [1, 2]), (3, [3])]  # frame 3 starts a new chunk after the reset
    seen.clear()
    personalize(tiny_model(), video, "online", TTPConfig(batch_size=4, lr=1e-3, update_every=2), progress=False)
    assert seen == [(0, [0]), (2, [2]), (4, [4])]


def test_reset_restores_the_trained_weights_and_optimizer(video):
    model = tiny_model()
    loss = ReconstructionLoss(LossConfig(perceptual="pixel"))
    tuner = Personalizer(model, FAST, loss)
    trained = {k: v.clone() for k, v in tuner.model.state_dict().items()}
    tuner.online_update(video, 2, np.random.default_rng(0))
    assert not torch.equal(tuner.loss.running_mean, loss.running_mean)
    assert tuner.optimizer.state
    tuner.reset()
    for k, v in tuner.model.state_dict().items():
        assert torch.equal(v, trained[k]), k
    assert torch.equal(tuner.loss.running_mean, loss.running_mean) and not tuner.optimizer.state


def test_online_never_looks_ahead(video):
    model = tiny_model()
    changed = materialize(video)
    changed.images = np.array(changed.images)
    changed.images[3:] = 255 - changed.images[3:]  # different future frames
    a = personalize(model, video, "online", FAST, seed=0, progress=False)
    b = personalize(model, changed, "online", FAST, seed=0, progress=False)
    assert np.array_equal(a.joints[:3], b.joints[:3]) and np.array_equal(a.losses[:3], b.losses[:3])
    assert not np.array_equal(a.losses[3:], b.losses[3:])


def test_offline_with_zero_steps_equals_no_ttp(video):
    model = tiny_model()
    none = personalize(model, video, "none", progress=False)
    zero = personalize(model, video, "offline", FAST, offline_steps=0, progress=False)
    assert np.array_equal(none.joints, zero.joints) and np.array_equal(none.scores, zero.scores)
    assert len(zero.losses) == 0
    online = personalize(model, video, "online", FAST, progress=False)
    assert not np.array_equal(none.joints, online.joints) or not np.array_equal(none.scores, online.scores)


def test_offline_default_steps_match_online_and_reset_every_chunks(video):
    model = tiny_model()
    off = personalize(model, video, "offline", FAST, steps_per_frame=2, progress=False)
    assert len(off.losses) == 2 * len(video)
    chunks = personalize(model, video, "offline", FAST, reset_every=2, progress=False)
    assert len(chunks.losses) == len(video) and np.array_equal(chunks.frame_index, np.arange(5))


def test_reset_every_n_frames_online(video, monkeypatch):
    model = tiny_model()
    calls, firsts = [], []
    original_reset, original_update = Personalizer.reset, Personalizer.online_update
    monkeypatch.setattr(Personalizer, "reset", lambda self: (calls.append(1), original_reset(self))[1])
    monkeypatch.setattr(Personalizer, "online_update",
                        lambda self, v, t, rng, first=0: (firsts.append((t, first)), original_update(self, v, t, rng,
                                                                                                    first))[1])
    personalize(model, video, "online", FAST, reset_every=2, progress=False)
    assert len(calls) == 1 + 2  # at the start, then at t = 2 and t = 4
    assert firsts == [(0, 0), (1, 0), (2, 2), (3, 2), (4, 4)]  # sources only since the last reset


def test_update_every_k_frames_online_offline_and_streaming(video, monkeypatch):
    model = tiny_model()
    updated = []
    original = Personalizer.online_update
    monkeypatch.setattr(Personalizer, "online_update",
                        lambda self, v, t, rng, first=0: (updated.append((t, first)), original(self, v, t, rng,
                                                                                                 first))[1])
    sparse = personalize(model, video, "online", FAST, update_every=2, progress=False)
    assert updated == [(0, 0), (2, 0), (4, 0)] and len(sparse.losses) == 3
    assert np.array_equal(sparse.frame_index, np.arange(5))  # every frame still predicted
    updated.clear()
    personalize(model, video, "online", FAST, update_every=2, reset_every=3, progress=False)
    assert updated == [(0, 0), (2, 0), (3, 3)]  # counted from the last reset (frames 3, 5, ...)
    assert len(personalize(model, video, "offline", FAST, update_every=2, steps_per_frame=2,
                           progress=False).losses) == 3 * 2  # as many as online makes: ceil(5 / 2) x 2
    updated.clear()
    stream = StreamingPersonalizer(model, TTPConfig(batch_size=4, lr=1e-3, update_every=2), seed=0)
    preds = [stream.step(video.images[t], video.boxes[t]) for t in range(4)]
    assert updated == [(0, 0), (2, 0)]
    assert [len(p.losses) for p in preds] == [1, 0, 1, 0] and np.isnan(preds[1].loss) and np.isfinite(preds[2].loss)


def test_update_every_is_checked():
    from ttpose.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="update_every"):
        load_config(None, ["ttp.update_every=0"])


def test_unordered_images_and_baseline_refusal(video):
    model = tiny_model()
    images = [video.images[i] for i in (4, 0, 2)]
    result = personalize(model, images, "offline", FAST, progress=False)
    assert result.joints.shape == (3, 13, 2)
    baseline = tiny_model(sup_head="conv", self_task="none")
    with pytest.raises(ValueError, match="nothing to personalize"):
        personalize(baseline, video, "online", FAST, progress=False)
    with pytest.raises(ValueError, match="mode"):
        personalize(model, video, "sideways")


def test_rotation_method_personalizes(video):
    model = tiny_model(sup_head="conv", self_task="rotation")
    result = personalize(model, video, "online", FAST, progress=False)
    assert len(result.losses) == 5 and np.isfinite(result.losses).all()
    plain = personalize(model, video, "none", progress=False)
    assert not np.allclose(result.scores, plain.scores)  # the updates did change the predictions


def test_streaming_uses_past_frames_only_and_predicts_each(video):
    model = tiny_model()
    stream = StreamingPersonalizer(model, FAST, seed=0)
    preds = [stream.step(video.images[t], video.boxes[t]) for t in range(3)]
    again = StreamingPersonalizer(model, FAST, seed=0)
    preds2 = [again.step(video.images[t], video.boxes[t]) for t in range(3)]
    assert all(np.array_equal(a.joints, b.joints) for a, b in zip(preds, preds2, strict=True))
    assert preds[0].joints.shape == (13, 2) and len(stream.store) == 3
    # what it stores is small: JPEG crops, not frames
    assert all(isinstance(item, np.ndarray) and item.ndim == 1 for item in stream.store.items)


def test_crop_store_keeps_the_region():
    image = np.zeros((100, 100, 3), np.uint8)
    image[40:60, 40:60] = 200
    store = CropStore(32, margin=1.5, jpeg_quality=None)
    store.add(image, (50, 50), 40)
    crop = store[0]
    assert crop.shape == (48, 48, 3)
    assert crop[24, 24, 0] == 200 and crop[2, 2, 0] == 0  # centre inside the square, corner outside
    video = store.as_video(TTPModel(TINY_MODEL).skeleton)
    assert video.centers[0].tolist() == [24, 24] and video.sizes[0] == 32


def test_crop_store_video_is_a_view_not_rebuilt_on_every_step():
    """Regression (issue 15): every streaming step asked `CropStore.as_video` for a new `Video`, which rebuilt
    per-frame arrays of every stored crop (O(t) a frame, quadratic over a long video). The view now costs the
    same at any length, amortized, and still shows the crops stored when it was made."""
    skeleton = TTPModel(TINY_MODEL).skeleton
    store = CropStore(4, margin=1.0, jpeg_quality=None)
    image = np.zeros((8, 8, 3), np.uint8)
    steps, costs = 2000, []
    tracemalloc.start()
    try:
        for t in range(steps):  # as a stream does: one frame stored, then a view of all of them
            image[:] = t % 256
            store.add(image, (3.5, 3.5), 8)
            before = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            video = store.as_video(skeleton)
            costs.append(tracemalloc.get_traced_memory()[1] - before)
    finally:
        tracemalloc.stop()
    # a view costs ~2 kB (Python objects) at any length; a rebuilt video cost ~170 bytes per stored frame (the
    # joints alone 13 x 2 float32), ~330 kB a step at the end, 167 kB on average
    assert np.mean(costs[-100:]) < 10_000 and np.mean(costs) < 10_000, (np.mean(costs[-100:]), np.mean(costs))
    assert len(video) == steps and video.frame_ids.tolist() == list(range(steps))
    assert video.centers[-1].tolist() == [2, 2] and video.sizes[-1] == 4 and video.boxes[-1].tolist() == [0, 0, 3, 3]
    assert video.joints.shape == (steps, 13, 2) and not video.visible.any()
    store.add(image, (3.5, 3.5), 8)
    assert len(video) == steps and len(store.as_video(skeleton)) == steps + 1  # a view of what was stored then
    assert [int(video.images[i][2, 2, 0]) for i in (0, 1, -1)] == [0, 1, (steps - 1) % 256]
    with pytest.raises(IndexError):
        video.images[steps]


def test_pull_back_moves_each_update_that_fraction_back_to_the_trained_weights(video):
    """ttp.pull_back = a: after one update from the trained weights, theta = free update + a (trained - free)."""
    model = tiny_model()
    trained = {k: v.clone() for k, v in model.state_dict().items()}
    tuned = {}
    for pull in (0.0, 0.25):
        tuner = Personalizer(model, TTPConfig(batch_size=4, lr=1e-3, pull_back=pull), seed=0)
        tuner.online_update(video, 2, np.random.default_rng(0))
        tuned[pull] = {n: p.detach().clone() for n, p in tuner.model.named_parameters() if p.requires_grad}
    moved = [n for n in tuned[0.0] if not torch.equal(tuned[0.0][n], trained[n])]
    assert moved and all(n in tuned[0.25] for n in moved)
    for n in moved:
        expected = tuned[0.0][n] + 0.25 * (trained[n] - tuned[0.0][n])
        assert torch.allclose(tuned[0.25][n], expected, atol=1e-6)
    frozen = [n for n, p in model.named_parameters() if n not in tuned[0.0]]  # the Transformer, the sup. head
    assert frozen and all(torch.equal(dict(tuner.model.named_parameters())[n], trained[n]) for n in frozen)


def test_pull_back_is_checked():
    from ttpose.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="pull_back"):
        load_config(None, ["ttp.pull_back=1"])


def test_person_boxes_are_padded_as_in_training_and_empty_videos_refused():
    """Regression: personalize(frames, boxes=...) cropped the boxes with padding 1.0, 20 % tighter than the
    training crops (1.25); the whole-frame default stays unpadded."""
    from types import SimpleNamespace

    from ttpose.data.crops import BOX_PADDING
    from ttpose.data.types import unlabeled_video
    from ttpose.data.types import video_from_frames as _as_video
    from ttpose.skeletons import PENN_ACTION

    frames = np.zeros((2, 60, 80, 3), np.uint8)
    boxes = np.array([[10, 10, 30, 50], [20, 10, 40, 50]], np.float32)
    assert BOX_PADDING == 1.25
    np.testing.assert_allclose(_as_video(frames, boxes, PENN_ACTION).sizes, 40 * 1.25, rtol=1e-6)
    assert _as_video(frames, None, PENN_ACTION).sizes[0] == pytest.approx(80, abs=1)
    empty = unlabeled_video(frames[:0], PENN_ACTION, np.zeros((0, 4), np.float32))
    with pytest.raises(ValueError, match="has no frames"):
        personalize(SimpleNamespace(skeleton=PENN_ACTION), empty, "online")


def test_plain_reconstruction_error_is_recorded_for_every_update(video):
    """Issue 13: L_self sits near 1 (each term over its running mean); the plain pixel MSE shows learning."""
    model = tiny_model()
    result = personalize(model, video, "offline", FAST, offline_steps=6, progress=False)
    assert len(result.recon_errors) == len(result.losses) == 6 and (result.recon_errors > 0).all()
    # the pixel MSE is the loss's own first term: L_self = MSE / running mean, the running mean updated first
    assert not np.allclose(result.recon_errors, result.losses)
    none = personalize(model, video, "none", FAST, progress=False)
    assert len(none.recon_errors) == 0


def test_the_cheaper_update_keeps_the_reconstruction_path_as_trained(video):
    """Issue 16: ttp.update_reconstruction=false personalizes the encoder and the self-supervised head only;
    the appearance and pose encoders and the renderer stay bit-identical (and get no gradient)."""
    from ttpose.model import personalization_parameters
    from ttpose.model.partition import RECONSTRUCTION_PATH

    model = tiny_model()
    other = tiny_model()
    ids = {id(p) for p in personalization_parameters(other)}
    everything = {n for n, p in other.named_parameters() if id(p) in ids}
    trained = {k: v.clone() for k, v in model.state_dict().items()}
    tuner = Personalizer(model, TTPConfig(batch_size=4, lr=1e-3, update_reconstruction=False), seed=0)
    path = [p for name in RECONSTRUCTION_PATH for p in getattr(tuner.model, name).parameters()]
    assert path and not any(p.requires_grad for p in path)
    kept = {n for n in everything if not n.startswith(RECONSTRUCTION_PATH)}
    assert kept and kept != everything and len(tuner.params) == len(kept)
    rng = np.random.default_rng(0)
    for t in range(3):
        tuner.online_update(video, t, rng)
    after = tuner.model.state_dict()
    changed = {k for k in trained if not torch.equal(trained[k], after[k])}
    assert "self_head.weight" in changed and any(k.startswith("encoder.backbone") for k in changed)
    assert not any(k.startswith(RECONSTRUCTION_PATH) for k in changed)
    assert all(p.grad is None for p in path)


def test_loss_pool_compares_the_images_at_a_lower_resolution(video):
    """Issue 16: ttp.loss_pool=2 computes Eq. 1's terms on the images average-pooled by 2 (the renderer still
    renders at full resolution); the option must divide the input size."""
    from ttpose.config import ConfigError, load_config

    loss = ReconstructionLoss(LossConfig(perceptual="pixel"))
    g = torch.Generator().manual_seed(0)
    recon, target = torch.rand(2, 3, 8, 8, generator=g), torch.rand(2, 3, 8, 8, generator=g)
    full = loss.terms(recon, target)
    loss.pool = 2
    pooled = loss.terms(recon, target)
    expected = torch.nn.functional.avg_pool2d(recon - target, 2).pow(2).mean()
    assert torch.allclose(pooled[0], expected) and pooled[0] < full[0]
    tuner = Personalizer(tiny_model(), TTPConfig(batch_size=4, loss_pool=2))
    assert tuner.loss.pool == 2 and Personalizer(tiny_model(), FAST).loss.pool == 1
    with pytest.raises(ConfigError, match="loss_pool"):
        load_config(None, ["model.input_size=64", "ttp.loss_pool=3"])


def test_confidence_gate_outputs_the_trained_models_prediction_where_it_is_sure(video):
    """ttp.confidence_gate (ttpose.confidence_gate): a frame's output is the personalized prediction while the trained
    model's mean heatmap maximum over the frames predicted so far (online 0..t, offline all) is below the gate, else
    the trained model's; the updates are the same as without the gate."""
    model = tiny_model()
    none = personalize(model, video, "none", progress=False)
    online = personalize(model, video, "online", FAST, seed=0, progress=False)
    known = np.cumsum(none.scores.mean(axis=1)) / np.arange(1, len(video) + 1)  # c_t online
    assert known.max() > known.min()
    tau = (known.max() + known.min()) / 2
    gated = personalize(model, video, "online", FAST, seed=0, progress=False, confidence_gate=tau)
    assert np.array_equal(gated.losses, online.losses)
    use = known < tau
    assert use.any() and not use.all()
    assert np.array_equal(gated.joints[use], online.joints[use])
    assert np.array_equal(gated.joints[~use], none.joints[~use])
    assert np.allclose(gated.scores[~use], none.scores[~use], atol=1e-6)  # predicted one frame at a time here
    offline = personalize(model, video, "offline", FAST, seed=0, progress=False)
    c = float(none.scores.mean())
    above = personalize(model, video, "offline", FAST, seed=0, progress=False, confidence_gate=c * 1.001)
    below = personalize(model, video, "offline", FAST, seed=0, progress=False, confidence_gate=c * 0.999)
    assert np.array_equal(above.joints, offline.joints) and np.array_equal(below.joints, none.joints)


def test_confidence_gate_replays_on_saved_predictions_and_is_checked():
    """`ConfidenceGate.choose` (what benchmarks replay on saved predictions) keeps the confidence of every frame seen
    so far across calls; a gate must be above 0 (ttp.confidence_gate 0 is off; below 0 is an error)."""
    from ttpose.confidence_gate import ConfidenceGate
    from ttpose.config import ConfigError, load_config
    from ttpose.inference import Predictions

    def frames(t, score):
        return Predictions(np.array([t]), np.full((1, 2, 2), float(t)), np.full((1, 2), score))

    gate = ConfidenceGate(0.5, trained=None)
    outs = [gate.choose(frames(t, s), frames(t, 0.0)) for t, s in enumerate([0.2, 0.6, 0.9, 0.1, 0.1])]
    # c_t: 0.2, 0.4, 0.567, 0.45, 0.38 -> personalized (score 0), personalized, trained, personalized, personalized
    assert [float(o.scores[0, 0]) for o in outs] == [0.0, 0.0, 0.9, 0.0, 0.0]
    with pytest.raises(ValueError, match="same frames"):
        gate.choose(frames(0, 0.1), frames(1, 0.1))
    with pytest.raises(ValueError, match="above 0"):
        ConfidenceGate(0.0, trained=None)
    with pytest.raises(ValueError, match="above 0 or the relative rule"):
        ConfidenceGate(0.5, trained=None, relative=True)
    with pytest.raises(ConfigError, match="confidence_gate"):
        load_config(None, ["ttp.confidence_gate=-0.1"])
    with pytest.raises(ConfigError, match="0 with ttp.relative_gate"):
        load_config(None, ["ttp.confidence_gate=0.5", "ttp.relative_gate=true"])
    defaults = load_config(None, []).ttp
    assert defaults.confidence_gate == 0.0 and defaults.relative_gate is False


def test_relative_gate_replays_the_margin_of_every_frame_seen_so_far():
    """The relative rule: personalized while the mean so far of (personalized minus trained) per-frame mean heatmap
    maximum is above 0, across calls; no threshold."""
    from ttpose.confidence_gate import ConfidenceGate
    from ttpose.inference import Predictions

    def frames(t, score, value):
        return Predictions(np.array([t]), np.full((1, 2, 2), value), np.full((1, 2), score))

    gate = ConfidenceGate(0.0, trained=None, relative=True)
    trained, personalized = [0.5, 0.5, 0.5, 0.5], [0.6, 0.3, 0.5, 0.7]  # margins +0.1, -0.2, 0, +0.2
    outs = [gate.choose(frames(t, a, 0.0), frames(t, b, 1.0)) for t, (a, b) in enumerate(zip(trained, personalized,
                                                                                          strict=True))]
    # mean margin so far: +0.1, -0.05, -0.033, +0.025 -> personalized, trained, trained, personalized
    assert [float(o.joints[0, 0, 0]) for o in outs] == [1.0, 0.0, 0.0, 1.0]
    offline = ConfidenceGate(0.0, trained=None, relative=True)  # one call: the mean margin of all frames
    both = offline.choose(Predictions(np.arange(2), np.zeros((2, 2, 2)), np.array([[0.5, 0.5], [0.5, 0.5]])),
                          Predictions(np.arange(2), np.ones((2, 2, 2)), np.array([[0.7, 0.7], [0.2, 0.2]])))
    assert np.array_equal(both.joints, np.zeros((2, 2, 2)))  # (+0.2 - 0.3) / 2 < 0: the trained model's


def test_relative_gate_in_personalize_keeps_the_updates_and_mixes_as_replayed(video):
    """ttp.relative_gate through `personalize`: the losses are those without a gate, and each frame's output is the
    one the rule picks from the ungated personalized and the trained model's predictions."""
    model, cfg = tiny_model(), TTPConfig(batch_size=4, lr=1e-2)  # a step large enough to move the confidence
    none = personalize(model, video, "none", progress=False)
    online = personalize(model, video, "online", cfg, seed=0, progress=False)
    gated = personalize(model, video, "online", cfg, seed=0, progress=False, relative_gate=True)
    assert np.array_equal(gated.losses, online.losses)
    margin = online.scores.mean(axis=1) - none.scores.mean(axis=1)
    use = np.cumsum(margin) / np.arange(1, len(video) + 1) > 0
    assert use.any() and not use.all() and np.abs(np.cumsum(margin)).min() > 1e-4  # both sides, clear of rounding
    assert np.array_equal(gated.joints[use], online.joints[use])
    assert np.allclose(gated.joints[~use], none.joints[~use], atol=1e-4)
    offline = personalize(model, video, "offline", cfg, seed=0, progress=False)
    both = personalize(model, video, "offline", cfg, seed=0, progress=False, relative_gate=True)
    picked = offline if offline.scores.mean() > none.scores.mean() else none
    assert np.allclose(both.joints, picked.joints, atol=1e-4)


def test_personalize_names_what_it_takes_when_given_a_file_name_grey_or_float_frames():
    """Bugs: a file name gave "not enough values to unpack", grey frames a numpy broadcasting error, and float
    frames in 0..1 were taken silently (wrong predictions)."""
    from types import SimpleNamespace

    from ttpose.skeletons import PENN_ACTION

    model = SimpleNamespace(skeleton=PENN_ACTION)
    with pytest.raises(TypeError, match="not a file name"):
        personalize(model, "clip.avi", "online")
    with pytest.raises(ValueError, match=r"RGB uint8 images \(H x W x 3\), got uint8 60x80"):
        personalize(model, np.zeros((2, 60, 80), np.uint8), "online")
    with pytest.raises(ValueError, match="got float32 60x80x3"):
        personalize(model, [np.zeros((60, 80, 3), np.float32)], "online")


def test_every_entry_point_defaults_to_the_models_checkpoint_settings(video, monkeypatch):
    """`ttpose.load_checkpoint` sets model.ttp_config; personalize, Personalizer (StreamingPersonalizer),
    evaluate / personalize_people and personalize_video's LoadedModel use it unless given a config."""
    import ttpose.personalization as personalization

    seen = []
    monkeypatch.setattr(personalization, "Personalizer", lambda model, config, *a: seen.append(config) or 1 / 0)
    model = TTPModel(TINY_MODEL)
    model.ttp_config, model.loss_config = TTPConfig(lr=3e-5, batch_size=3), LossConfig(perceptual="pixel")
    for config, lr in ((None, 3e-5), (FAST, FAST.lr)):
        with pytest.raises(ZeroDivisionError):
            personalize(model, video, "offline", config, progress=False)
        assert seen[-1].lr == lr and seen[-1].mode == "offline"
    from ttpose.evaluate import evaluate
    from ttpose.video_personalize.loaded_model import LoadedModel

    monkeypatch.undo()
    assert Personalizer(model).config == model.ttp_config
    assert StreamingPersonalizer(model).tuner.config == model.ttp_config
    assert LoadedModel.of(model).ttp == model.ttp_config
    import ttpose.people

    monkeypatch.setattr(ttpose.people, "personalize", lambda m, v, mode, config, *a, **k: seen.append(config) or 1 / 0)
    with pytest.raises(ZeroDivisionError):
        evaluate(model, [video], "online", progress=False)
    assert seen[-1] == model.ttp_config
