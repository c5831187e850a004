"""Prediction without personalization: crops -> model.predict -> heatmap decoding -> full-frame joints.

Decoding is the authors': argmax of H_sup with the quarter-pixel shift toward the higher neighbour,
mapped back through the crop's centre and size; no flip test. A model whose training labels were
1-based (``config.label_origin`` 1, the authors' Penn Action checkpoints) answers one pixel right of and
below the true position; the origin is subtracted so that every prediction is in 0-based pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from ttpose.data.crops import uncrop_points
from ttpose.data.pairs import frames_batch, normalize
from ttpose.data.types import Video
from ttpose.metrics import decode_heatmaps
from ttpose.model import TTPModel, TTPOutput
from ttpose.speed import SpeedConfig, autocast, prepare_input


@dataclass
class Predictions:
    """Per-frame predictions for one video, in full-frame pixel coordinates."""

    frame_index: np.ndarray  # N, positions in the video
    joints: np.ndarray  # N x K x 2
    scores: np.ndarray  # N x K, the heatmap maxima (confidence)
    self_keypoints: np.ndarray | None = None  # N x k_self x 2, the condensed self-supervised keypoints
    affinity: np.ndarray | None = None  # N x K x k_self (Transformer head)

    @staticmethod
    def concat(parts: list[Predictions]) -> Predictions:
        def cat(name):
            values = [getattr(p, name) for p in parts]
            return None if any(v is None for v in values) else np.concatenate(values)

        return Predictions(*(cat(n) for n in ("frame_index", "joints", "scores", "self_keypoints", "affinity")))


def decode_output(out: TTPOutput, centers: np.ndarray, sizes: np.ndarray, input_size: int,
                  label_origin: float = 0.0) -> Predictions:
    """TTPOutput of N crops -> full-frame joints (and self-supervised keypoints).

    ``centers`` (N x 2) and ``sizes`` (N) are the crops' square regions in full-frame pixels; ``frame_index``
    of the result counts the crops 0..N-1 (`predict_video` puts the video's indices there).
    ``label_origin``: the model's ``config.label_origin``, subtracted from the joints (not from the
    self-supervised keypoints, which no label ever placed)."""
    heatmaps = out.sup_heatmaps.float()
    n, stride = len(heatmaps), input_size / heatmaps.shape[-1]
    coords, maxvals = decode_heatmaps(heatmaps.cpu().numpy())
    joints = np.stack([uncrop_points(coords[i], centers[i], sizes[i], input_size, stride=stride)
                       for i in range(n)]) - label_origin  # N x K x 2, 0-based pixels
    self_kp = None
    if out.self_keypoints is not None:
        kp = out.self_keypoints.float().cpu().numpy()
        self_kp = np.stack([uncrop_points(kp[i], centers[i], sizes[i], input_size, stride=stride) for i in range(n)])
    affinity = out.affinity.float().cpu().numpy() if out.affinity is not None else None
    return Predictions(np.arange(n), joints.astype(np.float32), maxvals.astype(np.float32), self_kp, affinity)


@torch.no_grad()
def predict_images(model: TTPModel, images: torch.Tensor, speed: SpeedConfig | None = None) -> TTPOutput:
    """``model.predict`` on normalised crops B x 3 x S x S under ``speed``'s autocast and input layout
    (the model is used as it is; see `predict_video`)."""
    with autocast(speed, images.device):
        return model.predict(prepare_input(images, speed))


@torch.no_grad()
def predict_crops(model: TTPModel, crops: Sequence[np.ndarray], centers: np.ndarray, sizes: np.ndarray,
                  speed: SpeedConfig | None = None) -> Predictions:
    """The model's predictions on model-input crops (S x S x 3 uint8 RGB each) of the square regions ``centers``
    (N x 2) / ``sizes`` (N), full-frame pixels; the model is used as it is, in eval mode (see `predict_video`)."""
    centers, sizes = np.asarray(centers, np.float32), np.asarray(sizes, np.float32)  # as a `Video` holds them
    model.eval()
    out = predict_images(model, normalize(np.stack(crops)), speed)  # N x 3 x S x S
    return decode_output(out, centers, sizes, model.config.input_size, model.config.label_origin)


@torch.no_grad()
def predict_video(model: TTPModel, video: Video, indices=None, batch_size: int = 64,
                  speed: SpeedConfig | None = None) -> Predictions:
    """Predict joints for ``video[indices]`` (all frames by default) with the model as it is.

    ``speed``: autocast precision and input layout (ttpose.speed). The model is used as it is: pass the copy
    `ttpose.speed.prediction_model(model, speed)` (or a model prepared with `ttpose.speed.prepare_model`, as
    `Personalizer` does) when ``speed`` asks for channels_last, BN folding or compilation.
    """
    was_training = model.training
    model.eval()
    indices = np.arange(len(video)) if indices is None else np.asarray(indices)
    parts = []
    for start in range(0, len(indices), batch_size):
        chunk = indices[start:start + batch_size]
        images = frames_batch(video, chunk, model.config.input_size)
        pred = decode_output(predict_images(model, images, speed), video.centers[chunk], video.sizes[chunk],
                             model.config.input_size, model.config.label_origin)
        parts.append(replace(pred, frame_index=chunk))
    model.train(was_training)
    if not parts:
        raise ValueError(f"video {video.video_id}: no frames to predict")
    return Predictions.concat(parts)
