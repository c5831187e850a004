"""Live personalization (`ttpose.live`): a synthetic 30 fps camera, predictions on time, updates behind them."""

import time

import numpy as np
import pytest
import torch

from tests.test_personalization import tiny_model
from ttpose.config import TTPConfig
from ttpose.data.synthetic import SyntheticConfig, make_video, materialize
from ttpose.inference import predict_video
from ttpose.live import LivePersonalizer

FPS = 30.0


@pytest.fixture(scope="module")
def clip():
    return materialize(make_video("test", 1, config=SyntheticConfig(frame_size=48, frames_per_video=60)))


def camera(video, fps: float = FPS):
    """Yields (scheduled arrival time, image, box) at ``fps``, sleeping until each frame is due."""
    start = time.perf_counter() + 0.05
    for i in range(len(video)):
        due = start + i / fps
        time.sleep(max(0.0, due - time.perf_counter()))
        yield due, video.images[i], video.boxes[i]


@pytest.fixture
def one_torch_thread():
    """The two sides on one intra-op thread each, as the module docstring advises on a small CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_live_predicts_every_frame_at_the_camera_rate_while_updates_run(clip, one_torch_thread):
    model = tiny_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    late = []
    with LivePersonalizer(model, TTPConfig(batch_size=4, lr=1e-3), seed=0) as live:
        preds = []
        for due, image, box in camera(clip):
            preds.append(live.push(image, box))
            late.append(time.perf_counter() - due)
        time.sleep(0.3)  # let an update finish on the last frames
    report = live.report()  # after close: no update in flight
    assert [p.index for p in preds] == list(range(len(clip)))
    assert all(p.joints.shape == (13, 2) and np.isfinite(p.joints).all() for p in preds)
    # no frame waits for an update: on average a prediction is ready within one frame's time of its arrival
    assert np.mean(late) < 1 / FPS, f"mean lateness {np.mean(late) * 1000:.1f} ms"
    # updates happened, on the stream's newest frames, and their lag is reported
    assert report["frames"] == len(clip) and report["updates"] >= 3
    assert len(live.lags) == report["updates"] and min(live.lags) >= 0
    served = [p.weights_from for p in preds]
    assert served[0] == -1 and served[-1] >= 0 and served == sorted(served)
    assert all(w < p.index for p, w in zip(preds, served, strict=True))  # never weights from the future
    # the caller's model is unchanged
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_first_live_frame_is_the_trained_models_prediction(clip):
    model = tiny_model()
    with LivePersonalizer(model, TTPConfig(batch_size=4, lr=1e-3)) as live:
        first = live.push(clip.images[0], clip.boxes[0])
    plain = predict_video(model, clip, [0])
    assert first.weights_from == -1
    np.testing.assert_allclose(first.joints, plain.joints[0], atol=1e-4)


def test_closed_live_personalizer_refuses_frames(clip):
    live = LivePersonalizer(tiny_model(), TTPConfig(batch_size=4))
    live.close()
    with pytest.raises(RuntimeError, match="closed"):
        live.push(clip.images[0], clip.boxes[0])


def test_live_needs_the_self_supervised_task():
    with pytest.raises(ValueError, match="self-supervised keypoint task"):
        LivePersonalizer(tiny_model(self_task="none", sup_head="conv"))


def test_live_confidence_gate_keeps_the_trained_models_prediction_where_it_is_sure(clip):
    """ttp.confidence_gate reaches live use too: with a gate no confidence is below, every frame is the trained model's
    prediction although updates ran; without the gate the same updates move the joints."""
    model = tiny_model()
    plain = predict_video(model, clip, list(range(12)))
    moved = {}
    for gate in (0.0, 1e-9):
        with LivePersonalizer(model, TTPConfig(batch_size=4, lr=1e-2, confidence_gate=gate)) as live:
            preds = []
            for i in range(12):
                preds.append(live.push(clip.images[i], clip.boxes[i]))
                time.sleep(0.05)
        assert live.report()["updates"] >= 1 and preds[-1].weights_from >= 0
        moved[gate] = np.abs(np.stack([p.joints for p in preds]) - plain.joints).max()
    assert moved[0.0] > 1.0 and moved[1e-9] < 1e-3


def test_live_relative_gate_weighs_every_pushed_frame(clip):
    """ttp.relative_gate in live use: the gate sees every pushed frame's two confidences, and a frame it keeps is the
    trained model's prediction."""
    model = tiny_model()
    plain = predict_video(model, clip, list(range(12)))
    with LivePersonalizer(model, TTPConfig(batch_size=4, lr=1e-2, relative_gate=True)) as live:
        preds = []
        for i in range(12):
            preds.append(live.push(clip.images[i], clip.boxes[i]))
            time.sleep(0.05)
        gate = live.tuner.gate
    assert gate.relative and gate.margin_frames == 12 and live.report()["updates"] >= 1
    for p, joints, scores in zip(preds, plain.joints, plain.scores, strict=True):
        trained = np.abs(p.joints - joints).max() < 1e-3
        assert trained or not np.allclose(p.scores, scores, atol=1e-5)  # else it is the personalized prediction
