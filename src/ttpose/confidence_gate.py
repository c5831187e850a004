"""The confidence gate (not in the paper; ``ttp.confidence_gate``, ``ttp.relative_gate``): the personalized
predictions for a person the trained model is unsure of (threshold rule) or personalization made it surer of
(relative rule), the trained model's own otherwise.

Why: TTP helps the people the trained model fails on and costs a little on those it already gets right. On 64
validation people of the synthetic benchmark (the three Table 1 Transformers, Table 1's TTP settings) the people it
scores below 40 PCK gained +8.5 online and +11.7 offline, those at 80 PCK or more lost 3.0 and 1.8. Without labels
the trained model's confidence tells them apart: its heatmap maxima, averaged over joints and frames, follow its PCK
person by person (correlation 0.94 there). benchmarks/confidence_gate.py measures both rules and chooses one.

The rules, for the frames a `Personalizer` predicts in one call (online: frame t; offline: the video, or a chunk of
``reset_every`` frames); "so far" is every frame predicted so far, this call's included (online: frames 0 .. t, as
they arrive; offline: the chunks predicted so far, the whole video without ``reset_every``); c is a frame's mean over
joints of a model's heatmap maxima:

    threshold (ttp.confidence_gate = tau > 0):
        output = the personalized predictions   if mean so far of c(trained) < tau
                 the trained model's predictions otherwise
    relative (ttp.relative_gate = true; no threshold, so no scale to choose per model):
        output = the personalized predictions   if mean so far of c(personalized) - c(trained) > 0
                 the trained model's predictions otherwise

The relative rule trusts personalization where it made the model surer of this person than training alone did.
The updates are the method's (Sec. 3.2), unchanged: the gate only chooses which prediction is output. Its state (the
confidences seen so far) belongs to one person: a new `Personalizer` per video starts it afresh; `Personalizer.reset`
(a new chunk of the same person) keeps it; a resumed `ttpose personalize` run restores it (`state`, `load_state`).
"""

from __future__ import annotations

import numpy as np

from ttpose.config import SpeedConfig
from ttpose.data.types import Video
from ttpose.inference import Predictions, predict_video
from ttpose.model import TTPModel


class ConfidenceGate:
    """``threshold`` (tau; the threshold rule) or ``relative`` (the relative rule, tau 0) and the trained model (a
    prediction-only copy, `ttpose.speed.prediction_model`); called with the personalized predictions of a call,
    returns what the rule above outputs."""

    def __init__(self, threshold: float, trained: TTPModel, relative: bool = False):
        if relative == (threshold > 0) or threshold < 0:
            raise ValueError("a confidence gate needs a threshold above 0 or the relative rule (threshold 0), got "
                             f"threshold {threshold}, relative {relative}")
        self.threshold, self.trained, self.relative = threshold, trained, relative
        self.confidence_sum, self.frames = 0.0, 0  # the trained model's per-frame mean heatmap maxima, summed
        self.margin_sum, self.margin_frames = 0.0, 0  # the personalized model's minus the trained model's, summed

    def known_confidence(self, scores: np.ndarray) -> float:
        """The mean so far of c(trained) after the frames of ``scores`` (N x K, the trained model's heatmap maxima)
        join those seen before."""
        self.confidence_sum += float(scores.mean(axis=1).sum())
        self.frames += len(scores)
        return self.confidence_sum / self.frames

    def known_margin(self, trained: np.ndarray, personalized: np.ndarray) -> float:
        """The mean so far of c(personalized) - c(trained) after the frames of these heatmap maxima (N x K each)
        join those seen before."""
        self.margin_sum += float((personalized.mean(axis=1) - trained.mean(axis=1)).sum())
        self.margin_frames += len(trained)
        return self.margin_sum / self.margin_frames

    def state(self) -> dict:
        """The confidences seen so far, JSON-able (a saved run's; `load_state` restores them)."""
        return {"confidence_sum": self.confidence_sum, "frames": self.frames, "margin_sum": self.margin_sum,
                "margin_frames": self.margin_frames}

    def load_state(self, state: dict) -> None:
        self.confidence_sum, self.frames = float(state["confidence_sum"]), int(state["frames"])
        self.margin_sum, self.margin_frames = float(state["margin_sum"]), int(state["margin_frames"])

    def choose(self, trained: Predictions, personalized: Predictions) -> Predictions:
        """The rule above for one call's frames, given both models' predictions of them."""
        if not np.array_equal(trained.frame_index, personalized.frame_index):
            raise ValueError("the trained and personalized predictions must be of the same frames")
        if self.relative:
            return personalized if self.known_margin(trained.scores, personalized.scores) > 0 else trained
        return personalized if self.known_confidence(trained.scores) < self.threshold else trained

    def __call__(self, video: Video, indices, personalized: Predictions, speed: SpeedConfig | None = None
                 ) -> Predictions:
        """`choose` with the trained model's predictions of ``video[indices]`` made now."""
        return self.choose(predict_video(self.trained, video, indices, speed=speed), personalized)
