"""Test-time personalization (Sec. 3.2): fine-tune on one person's unlabeled frames with L_self only.

    result = ttpose.personalize(model, video, mode="online")     # or "offline"
    result.joints, result.scores                                  # one prediction per frame

What is updated is `ttpose.model.personalization_parameters` (backbone, deconvs, self-supervised head,
encoders, renderer); the Transformer, queries, affinity projection and norm layers stay frozen, and the
model stays in eval mode, as in the authors' code. Adam, lr 1e-4, batch 32 by default (`TTPConfig`). Not the
paper's: two cheaper updates, `TTPConfig.update_reconstruction` = False (the reconstruction path stays as trained)
and `TTPConfig.loss_pool` (L_self at a lower resolution), and `TTPConfig.online_targets` (see online).

- online: frames arrive in order; for frame t, `steps_per_frame` updates on batches whose targets are
  frame t (slot 0 plain, the others augmented) and whose sources are drawn from frames 0..t; then frame
  t is predicted. A prediction never depends on a later frame. With `update_every` = k > 1 (not in the paper;
  a cheaper schedule) only every k-th frame is updated on; the frames between are predicted as they come, and
  with `online_targets` = "recent" they are targets of the next update (with frame t; sources still first..t).
- offline: `offline_steps` updates (default: as many as online would make, `TTPConfig.offline_updates`) on
  random pairs from the whole set, then every frame is predicted. Works on any unordered set of one person's
  images. `personalize_offline` is the one loop, also behind `ttpose personalize --mode offline` (resumable).
- reset: the weights, the optimizer state and the loss's running means go back to the trained ones at
  the start of every call (one person / video), and also every `reset_every` frames when set (offline:
  the set is split into consecutive chunks of that many frames, each personalized from the trained model).

The caller's model is never changed: personalization works on a copy.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from tqdm.auto import tqdm

from ttpose.confidence_gate import ConfidenceGate
from ttpose.config import LossConfig, TTPConfig
from ttpose.data.crops import BOX_PADDING, box_to_center_size, crop_frame, whole_frame_box
from ttpose.data.pairs import Augmentation, offline_batch, online_batch
from ttpose.data.types import Video, unlabeled_video, video_from_frames
from ttpose.inference import Predictions, predict_video
from ttpose.losses import ReconstructionLoss
from ttpose.model import TTPModel, personalization_parameters
from ttpose.objective import self_supervised_loss
from ttpose.speed import (
    autocast,
    prediction_model,
    prepare_batch,
    prepare_model,
    private_copy,
    require_trainable,
)

MODES = ("online", "offline", "none")


@dataclass
class Personalized(Predictions):
    losses: np.ndarray = field(default=None)  # L_self of every update, in order
    recon_errors: np.ndarray = field(default=None)  # the reconstruction's pixel MSE of every update (not normalised)
    seconds: float = 0.0


def reconstruction_loss_for(model: TTPModel) -> ReconstructionLoss | None:
    """The model's own L_self: its checkpoint's loss config and running means (set by load_checkpoint)."""
    if model.config.self_task != "keypoint":
        return None
    loss = ReconstructionLoss(model.loss_config or LossConfig())
    saved = model.loss_running_mean
    if saved is not None and saved.shape == loss.running_mean.shape:
        loss.running_mean.copy_(saved)
    return loss


def model_ttp_config(model: TTPModel) -> TTPConfig:
    """The TTP settings a model personalizes with when the caller gives none: those of the checkpoint it was loaded
    from or the run that trained it (``model.ttp_config``, set by `ttpose.load_checkpoint` and `ttpose.train`; the
    ones `ttpose personalize` uses), else `TTPConfig`'s defaults."""
    return getattr(model, "ttp_config", None) or TTPConfig()


class Personalizer:
    """A private copy of a trained model that can be updated with L_self, predicted with, and reset."""

    def __init__(self, model: TTPModel, config: TTPConfig | None = None, loss: ReconstructionLoss | None = None,
                 seed: int = 0):
        if getattr(model, "_ttpose_inference", None) is not None:
            raise ValueError("this is a prediction-only copy (ttpose.speed.inference_model): its BatchNorms are "
                             "folded and its weights frozen; personalize the original model")
        self.config = config or model_ttp_config(model)
        require_trainable(self.config.speed, "personalization (ttp.speed)")
        self.model = private_copy(model)
        self.params = personalization_parameters(self.model, self.config.update_reconstruction)
        # theta_trained of every personalized weight, for ttp.pull_back
        self._pull_to = [p.detach().clone() for p in self.params] if self.config.pull_back > 0 else None
        self.loss = copy.deepcopy(loss) if loss is not None else reconstruction_loss_for(model)
        if self.loss is not None:
            self.loss.pool = self.config.loss_pool
        self._trained = copy.deepcopy(self.model.state_dict())
        prepare_model(self.model, self.config.speed)  # ttp.speed options (ttpose.speed; all off by default)
        if self.loss is not None:
            prepare_model(self.loss, self.config.speed)  # VGG-16 in the same memory layout
        self._trained_loss = copy.deepcopy(self.loss.state_dict()) if self.loss is not None else None
        # ttp.confidence_gate / relative_gate: the trained model as it was (a prediction-only copy), confidences so far
        self.gate = ConfidenceGate(self.config.confidence_gate, prediction_model(model, self.config.speed),
                                   self.config.relative_gate) \
            if self.config.confidence_gate > 0 or self.config.relative_gate else None
        self.seed = seed
        self.updates = 0
        self.recon_errors: list[float] = []  # plain pixel MSE of every update (Losses.recon_error)
        self.reset()

    @property
    def augmentation(self) -> Augmentation:
        return Augmentation(enabled=self.config.augment, source_crop=self.config.source_crop)

    def reset(self) -> None:
        """Back to the trained weights, a fresh optimizer and the trained loss state (Sec. 3.2)."""
        self.model.load_state_dict(self._trained)
        self.last_update: int | None = None  # the frame of the previous online update (online_targets "recent")
        if self.loss is not None:
            self.loss.load_state_dict(self._trained_loss)
        self.optimizer = torch.optim.Adam(self.params, lr=self.config.lr, weight_decay=self.config.weight_decay)

    def update(self, batch: dict) -> float:
        """One Adam step on L_self of a batch of (target, source) pairs; returns the loss."""
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.updates)
        with autocast(self.config.speed, self.params[0].device):
            losses = self_supervised_loss(self.model, prepare_batch(batch, self.config.speed), self.loss, generator)
        self.optimizer.zero_grad(set_to_none=True)
        losses.total.backward()
        self.optimizer.step()
        if self.config.pull_back > 0:
            self._pull_back()
        self.updates += 1
        if losses.recon_error is not None:
            self.recon_errors.append(losses.recon_error.item())
        return losses.total.item()

    @torch.no_grad()
    def _pull_back(self) -> None:
        """TTPConfig.pull_back: theta <- theta + pull_back * (theta_trained - theta), every personalized weight."""
        torch._foreach_lerp_(self.params, self._pull_to, self.config.pull_back)

    def due(self, t: int, first: int = 0) -> bool:
        """Whether the online rule updates at frame ``t``: on every ``update_every``-th frame since ``first``."""
        return (t - first) % self.config.update_every == 0

    def online_update(self, video: Video, t: int, rng: np.random.Generator, first: int = 0) -> list[float]:
        """The online rule for frame t: ``steps_per_frame`` updates, targets frame t (``online_targets`` "recent":
        the frames since the previous online update, `ttpose.data.pairs.recent_targets`), sources first..t."""
        cfg, size = self.config, self.model.config.input_size
        since = None
        if cfg.online_targets == "recent":
            since = first if self.last_update is None else min(t, self.last_update + 1)  # online_batch clamps at first
        self.last_update = t
        return [self.update(online_batch(video, t, cfg.batch_size, rng, size, self.augmentation, first, since))
                for _ in range(cfg.steps_per_frame)]

    @torch.no_grad()
    def predict(self, video: Video, indices) -> Predictions:
        """The personalized model's predictions of ``video[indices]`` (with a gate: `ConfidenceGate`)."""
        pred = predict_video(self.model, video, indices, speed=self.config.speed)
        return pred if self.gate is None else self.gate(video, indices, pred, self.config.speed)



def personalize(
    model: TTPModel,
    frames: Video | Sequence[np.ndarray],
    mode: str = "online",
    config: TTPConfig | None = None,
    loss: ReconstructionLoss | None = None,
    boxes: np.ndarray | None = None,
    seed: int = 0,
    progress: bool = True,
    **overrides,
) -> Personalized:
    """Personalize ``model`` to the person in ``frames`` and predict every frame (see module docstring).

    ``frames`` is a `Video` (crop regions included) or a sequence of RGB uint8 images of one person
    with ``boxes`` (N x 4, x1 y1 x2 y2; default: the whole frame). ``config`` defaults to the TTP settings of the
    checkpoint the model was loaded from (``model.ttp_config``, set by `ttpose.load_checkpoint`; the same ones
    `ttpose personalize` uses), else `TTPConfig`'s. ``overrides`` replace fields of ``config`` (e.g. ``lr=1e-5,
    steps_per_frame=2``). ``mode="none"`` predicts without personalization.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    config = replace(config or model_ttp_config(model), mode=mode, **overrides)
    video = video_from_frames(frames, boxes, model.skeleton)
    if len(video) == 0:
        raise ValueError(f"personalize: video {video.video_id!r} has no frames")
    started = time.time()
    if mode == "none":  # the model as it is; ttp.speed options through a prediction-only copy (ttpose.speed)
        pred = predict_video(prediction_model(model, config.speed), video, speed=config.speed)
        return Personalized(**pred.__dict__, losses=np.zeros(0, np.float32), recon_errors=np.zeros(0, np.float32),
                            seconds=time.time() - started)
    if model.config.self_task == "none":
        raise ValueError("this model has no self-supervised task (the supervised-only baseline): "
                         "nothing to personalize")
    tuner = Personalizer(model, config, loss, seed)
    rng = np.random.default_rng(seed)
    if mode == "online":
        pred, losses = _online(tuner, video, rng, progress)
    else:
        parts, losses = [], []
        personalize_offline(tuner, video, rng, progress, on_update=losses.append, on_chunk=parts.append)
        pred = Predictions.concat(parts)
    return Personalized(**pred.__dict__, losses=np.asarray(losses, np.float32),
                        recon_errors=np.asarray(tuner.recon_errors, np.float32), seconds=time.time() - started)


def _online(tuner: Personalizer, video: Video, rng: np.random.Generator, progress: bool):
    every = tuner.config.reset_every
    parts, losses = [], []
    for t in tqdm(range(len(video)), desc=f"online TTP {video.video_id}", unit="frame", disable=not progress):
        if every and t > 0 and t % every == 0:
            tuner.reset()
        first = (t // every) * every if every else 0
        if tuner.due(t, first):
            losses += tuner.online_update(video, t, rng, first=first)
        parts.append(tuner.predict(video, [t]))
    return Predictions.concat(parts), losses


def personalize_offline(tuner: Personalizer, video: Video, rng: np.random.Generator, progress: bool = True, *,
                        updates_done: int = 0, frames_done: int = 0, on_update: Callable[[float], None] | None = None,
                        on_chunk: Callable[[Predictions], None] | None = None) -> None:
    """Sec. 3.2 offline: ``offline_updates`` updates of ``tuner`` on random (target, source) pairs of the whole
    set, then every frame is predicted. With ``reset_every`` the set is split into consecutive chunks of that
    many frames, each personalized from the trained weights (`Personalizer.reset`).

    Each update's L_self goes to ``on_update``, each chunk's predictions (``frame_index``: positions in
    ``video``) to ``on_chunk``, in order. A run that resumes passes how far it had come: ``updates_done``
    updates (over all chunks) and ``frames_done`` frames predicted (whole chunks), with ``tuner`` and ``rng``
    restored to the state they had then; the rest is then what an uninterrupted run would do.
    """
    cfg, size, n = tuner.config, tuner.model.config.input_size, len(video)
    chunk = cfg.reset_every or n
    before = 0  # updates of the chunks before this one
    for first in range(0, n, chunk):
        indices = np.arange(first, min(first + chunk, n))
        steps = cfg.offline_updates(len(indices))
        if frames_done >= indices[-1] + 1:  # predicted before a resume
            before += steps
            continue
        if first > 0 and updates_done == before:  # a new chunk starts from the trained weights
            tuner.reset()
        for _ in tqdm(range(updates_done - before, steps), total=steps, initial=updates_done - before, unit="step",
                      desc=f"{video.video_id} offline updates", disable=not progress, dynamic_ncols=True):
            batch = offline_batch(video, cfg.batch_size, rng, size, tuner.augmentation, indices=indices)
            loss = tuner.update(batch)
            updates_done += 1
            if on_update is not None:
                on_update(loss)
        before += steps
        pred = tuner.predict(video, indices)
        if on_chunk is not None:
            on_chunk(pred)


class CropStore:
    """Past frames of a stream, kept as padded crops around the person (bounded memory for long videos).

    Each frame is stored as the square region of side ``size x margin`` around its crop centre, resized
    to ``input_size x margin`` pixels (so augmentations that zoom out or rotate still find pixels), and
    JPEG-encoded at ``jpeg_quality`` (None keeps raw pixels). At 128 x 128 input this is about 15 kB a
    frame: a 10-minute, 30 fps video keeps ~270 MB of sources instead of every decoded frame.
    """

    def __init__(self, input_size: int, margin: float = 1.5, jpeg_quality: int | None = 95):
        self.input_size, self.margin, self.jpeg_quality = input_size, margin, jpeg_quality
        self.side = int(round(input_size * margin))
        self.items: list = []
        # every stored frame's crop region, in the store's pixels: the model's input around the stored square's
        # centre (the frame's own region, margin removed); one row, broadcast to every frame by `as_video`
        self._box = np.array([0, 0, self.side - 1, self.side - 1], np.float32)
        self._center = np.full(2, self.side / 2, np.float32)
        self._size = np.float32(input_size)
        self._frame_ids = np.arange(0, dtype=np.int64)  # 0, 1, 2, ...: grown by doubling, sliced by `as_video`

    def add(self, image: np.ndarray, center, size: float) -> None:
        import cv2

        crop, _ = crop_frame(image, center, size * self.margin, self.side)
        if self.jpeg_quality is not None:
            ok, crop = cv2.imencode(".jpg", crop[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
            if not ok:
                raise RuntimeError("JPEG encoding of a stored crop failed")
        self.items.append(crop)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> np.ndarray:
        item = self.items[i]
        if self.jpeg_quality is None:
            return item
        import cv2

        return cv2.imdecode(item, cv2.IMREAD_COLOR)[..., ::-1]

    def as_video(self, skeleton, video_id: str = "stream") -> Video:
        """The frames stored so far as an unlabeled `Video` whose crop regions are the original ones.

        A view, built in constant time (amortized) at any length, as every streaming step asks for one: the
        images are the store's first ``len(self)`` crops (frames stored later are not part of it), and the
        per-frame arrays are the one region (and zero labels) broadcast to every frame, read-only."""
        n, k = len(self), skeleton.num_joints
        if len(self._frame_ids) < n:
            self._frame_ids = np.arange(max(2 * n, 64), dtype=np.int64)
            self._frame_ids.flags.writeable = False
        return Video(video_id=video_id, person_id="person", skeleton=skeleton, images=_StoredCrops(self, n),
                     joints=np.broadcast_to(np.zeros((k, 2), np.float32), (n, k, 2)),
                     visible=np.broadcast_to(np.zeros(k, bool), (n, k)), boxes=np.broadcast_to(self._box, (n, 4)),
                     centers=np.broadcast_to(self._center, (n, 2)), sizes=np.broadcast_to(self._size, (n,)),
                     frame_ids=self._frame_ids[:n])


class _StoredCrops:
    """The first ``n`` crops of a `CropStore`, as a `Video`'s images (decoded when read)."""

    def __init__(self, store: CropStore, n: int):
        self.store, self.n = store, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> np.ndarray:
        if not -self.n <= i < self.n:
            raise IndexError(f"stored crop {i} of {self.n}")
        return self.store[i % self.n]


@dataclass
class FramePrediction:
    joints: np.ndarray  # K x 2, full-frame pixels
    scores: np.ndarray  # K
    self_keypoints: np.ndarray | None
    affinity: np.ndarray | None
    loss: float  # L_self of the last update (nan: no update on this frame, ttp.update_every)
    losses: list[float] = field(default_factory=list)  # L_self of every update of this step (ttp.steps_per_frame)


def stream_frame(image: np.ndarray, box, skeleton, padding: float = BOX_PADDING) -> Video:
    """One RGB frame of a stream as a one-frame `Video` whose crop region is the person box x1 y1 x2 y2 padded
    as in training (default: the whole frame, unpadded)."""
    h, w = image.shape[:2]
    center, size = (box_to_center_size(box, padding) if box is not None
                    else box_to_center_size(whole_frame_box(w, h), 1.0))
    frame = unlabeled_video([image], skeleton, np.zeros((1, 4), np.float32))
    frame.centers[0], frame.sizes[0] = center, size
    return frame


class StreamingPersonalizer:
    """Online personalization for live use: ``step(frame)`` updates on the stream so far and predicts it.

        tuner = StreamingPersonalizer(model)
        for frame, box in camera:
            pred = tuner.step(frame, box)      # uses frames <= this one only
    """

    def __init__(self, model: TTPModel, config: TTPConfig | None = None, loss: ReconstructionLoss | None = None,
                 seed: int = 0, margin: float = 1.5, jpeg_quality: int | None = 95, padding: float = BOX_PADDING):
        self.tuner = Personalizer(model, config, loss, seed)
        self.store = CropStore(model.config.input_size, margin, jpeg_quality)
        self.rng = np.random.default_rng(seed)
        self.padding = padding
        self.first = 0  # the first frame since the last reset

    def step(self, image: np.ndarray, box=None) -> FramePrediction:
        """Add one RGB frame (with its person box x1 y1 x2 y2; default: the whole frame) and predict it."""
        image = np.asarray(image)
        frame = stream_frame(image, box, self.tuner.model.skeleton, self.padding)
        center, size = frame.centers[0], frame.sizes[0]
        t = len(self.store)
        every = self.tuner.config.reset_every
        if every and t > 0 and t % every == 0:
            self.tuner.reset()
            self.first = t
        self.store.add(image, center, size)
        losses = []
        if self.tuner.due(t, self.first):
            losses = self.tuner.online_update(self.store.as_video(self.tuner.model.skeleton), t, self.rng, self.first)
        pred = self.tuner.predict(frame, [0])
        return FramePrediction(pred.joints[0], pred.scores[0],
                               None if pred.self_keypoints is None else pred.self_keypoints[0],
                               None if pred.affinity is None else pred.affinity[0],
                               losses[-1] if losses else float("nan"), list(losses))


__all__ = ["CropStore", "FramePrediction", "Personalized", "Personalizer", "StreamingPersonalizer", "personalize",
           "personalize_offline", "reconstruction_loss_for", "stream_frame"]
