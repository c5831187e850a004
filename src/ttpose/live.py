"""Live personalization: every frame predicted at the camera's rate while updates run as fast as they can.

    with LivePersonalizer(model, config) as live:
        for image, box in camera:                # box: x1 y1 x2 y2 of the person, or None for the whole frame
            pred = live.push(image, box)         # returns at once: the newest weights, never waiting for an update
        print(live.report())                     # frames, updates, how many frames each update lagged

`StreamingPersonalizer.step` makes one online update per frame before it predicts it (the paper's online
protocol): at a few frames per second of update cost, a 30 fps camera falls further behind every frame. Here
the update runs on a background thread, always on the newest frame seen (its target; the sources are drawn
from every stored frame, the online rule of Sec. 3.2), while ``push`` predicts each frame at once with the
weights of the last finished update. An update therefore lags: by the time its weights are used, frames have
arrived that it did not see. ``report()`` says how many; ``LivePrediction.weights_from`` says, per frame, which
frame the weights it was predicted with were last updated on (-1: the trained weights).

On a small CPU, give torch one intra-op thread (``torch.set_num_threads(1)``): the update and the predictions
then run on a core each instead of both fighting over every core, and a prediction is not slowed by the update's
thread pool (on the 2-core test machine, with the default 2 threads, predictions fell behind a 30 fps camera when
other work was running; with 1 they kept up).

The caller's model is never changed; the personalized weights live in a private copy (`Personalizer`) and are
copied, under a lock held only for that copy, into a second private copy that predicts.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
import torch

from ttpose.config import TTPConfig
from ttpose.data.crops import BOX_PADDING
from ttpose.inference import predict_video
from ttpose.losses import ReconstructionLoss
from ttpose.model import TTPModel, personalization_parameters
from ttpose.personalization import CropStore, Personalizer, stream_frame
from ttpose.speed import private_copy


@dataclass
class LivePrediction:
    index: int  # the frame's position in the stream (0-based)
    joints: np.ndarray  # K x 2, full-frame pixels
    scores: np.ndarray  # K
    weights_from: int  # the frame the weights' last update targeted; -1 = the trained weights
    seconds: float  # time spent in push (storing the crop and predicting)


class LivePersonalizer:
    """Predicts every pushed frame at once; personalizes on a background thread (see module docstring).

    Use as a context manager, or call `close()`, so that the update thread stops."""

    def __init__(self, model: TTPModel, config: TTPConfig | None = None, loss: ReconstructionLoss | None = None,
                 seed: int = 0, margin: float = 1.5, jpeg_quality: int | None = 95, padding: float = BOX_PADDING):
        if model.config.self_task != "keypoint":
            raise ValueError("live personalization needs a model with the self-supervised keypoint task")
        self.tuner = Personalizer(model, config, loss, seed)
        self.predictor = private_copy(self.tuner.model)  # already prepared (ttp.speed) and in eval mode
        self._from = self.tuner.params
        self._to = personalization_parameters(self.predictor, self.tuner.config.update_reconstruction)
        self.store = CropStore(model.config.input_size, margin, jpeg_quality)
        self.padding = padding
        self.rng = np.random.default_rng(seed)
        self._weights = threading.Lock()  # the predictor's weights: held while predicting and while copying
        self._arrived = threading.Condition()  # the store: a frame arrived, or closing
        self._closing = False
        self._error: BaseException | None = None
        self.weights_from = -1
        self.lags: list[int] = []  # per update: frames that arrived while it ran (its weights then served them)
        self.update_seconds: list[float] = []
        self.frames = 0
        self._thread = threading.Thread(target=self._update_loop, name="ttpose-live-updates", daemon=True)
        self._thread.start()

    # -- the camera side ---------------------------------------------------------------------------------
    def push(self, image: np.ndarray, box=None) -> LivePrediction:
        """Store one RGB frame (with its person box x1 y1 x2 y2; default: the whole frame) and predict it with
        the newest personalized weights. Never waits for an update to finish."""
        if self._error is not None:
            raise RuntimeError("the live update thread failed") from self._error
        if self._closing:
            raise RuntimeError("this LivePersonalizer is closed")
        started = time.perf_counter()
        image = np.asarray(image)
        frame = stream_frame(image, box, self.tuner.model.skeleton, self.padding)
        with self._weights, torch.no_grad():
            pred = predict_video(self.predictor, frame, [0], speed=self.tuner.config.speed)
            weights_from = self.weights_from
        if self.tuner.gate is not None:  # ttp.confidence_gate or relative_gate (ttpose.confidence_gate)
            pred = self.tuner.gate(frame, [0], pred, self.tuner.config.speed)
        with self._arrived:
            index = self.frames
            self.store.add(image, frame.centers[0], frame.sizes[0])
            self.frames += 1
            self._arrived.notify()
        return LivePrediction(index, pred.joints[0], pred.scores[0], weights_from, time.perf_counter() - started)

    # -- the update side ---------------------------------------------------------------------------------
    def _update_loop(self) -> None:
        try:
            while True:
                with self._arrived:
                    while not self._closing and len(self.store) == 0:
                        self._arrived.wait()
                    if self._closing:
                        return
                    # the newest frame is the target (ttp.online_targets=recent: the frames since the previous
                    # update); the sources are frames 0..t
                    t = len(self.store) - 1
                    video = self.store.as_video(self.tuner.model.skeleton)
                started = time.perf_counter()
                self.tuner.online_update(video, t, self.rng)
                with self._weights, torch.no_grad():
                    for dst, src in zip(self._to, self._from, strict=True):
                        dst.copy_(src)
                    self.weights_from = t
                    self.lags.append(self.frames - 1 - t)
                self.update_seconds.append(time.perf_counter() - started)
        except BaseException as error:  # reported to the camera side by the next push
            self._error = error

    def close(self) -> None:
        """Stop the update thread (after the update in flight, if any)."""
        with self._arrived:
            self._closing = True
            self._arrived.notify_all()
        self._thread.join()

    def __enter__(self) -> LivePersonalizer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def report(self) -> dict:
        """Frames pushed, updates made, mean / max lag of the updates in frames, mean update time."""
        lags = np.asarray(self.lags, dtype=float)
        return {"frames": self.frames, "updates": len(self.lags),
                "mean_lag_frames": float(lags.mean()) if len(lags) else float("nan"),
                "max_lag_frames": int(lags.max()) if len(lags) else 0,
                "mean_update_seconds": float(np.mean(self.update_seconds)) if self.update_seconds else float("nan")}


__all__ = ["LivePersonalizer", "LivePrediction"]
