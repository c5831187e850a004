"""The model call and losses of one batch, shared by joint training (Eq. 10) and personalization (Sec. 3.2).

`self_supervised_loss` is L_self of whichever self-supervised task the model has: the reconstruction
loss of Eq. 1 (keypoint task) or the rotation cross-entropy (rotation task). `joint_loss` adds the
supervised heatmap loss of Eq. 9: L = L_sup + lambda L_self (Eq. 10). Personalization minimises
`self_supervised_loss` alone with the supervised path frozen.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ttpose.losses import ReconstructionLoss, heatmap_loss, joint_objective, rotation_loss
from ttpose.model import TTPModel, TTPOutput


@dataclass
class Losses:
    total: torch.Tensor
    sup: torch.Tensor | None
    self: torch.Tensor | None
    output: TTPOutput
    # the reconstruction's plain pixel MSE (Eq. 1's first term, not normalised, detached): L_self divides each
    # term by its running mean and so sits near 1 whatever the model learns; this one shows the learning
    recon_error: torch.Tensor | None = None


def _core(model: torch.nn.Module) -> TTPModel:
    """The TTPModel inside a DistributedDataParallel wrapper (or the model itself)."""
    return getattr(model, "module", model)


def rotate_batch(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Rotate each image by labels[i] x 90 degrees (counter-clockwise): the rotation task's input."""
    return torch.stack([torch.rot90(img, int(k), dims=(1, 2)) for img, k in zip(images, labels, strict=True)])


def _self_loss(model: TTPModel, out: TTPOutput, target: torch.Tensor, recon: ReconstructionLoss | None,
               labels: torch.Tensor | None) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(L_self, the plain pixel MSE of the reconstruction or None)."""
    task = _core(model).config.self_task
    if task == "keypoint":  # the target in the colour order the model was trained on
        terms = recon.terms(out.reconstruction, _core(model).model_input(target).detach())
        return recon.normalised(terms), terms[0].detach()
    if task == "rotation":
        return rotation_loss(out.rotation_logits, labels), None
    return None, None


def _forward(model: TTPModel, batch: dict, generator: torch.Generator | None, sup: bool = True,
             self_to_encoder: float = 1.0):
    target = batch["target"]
    task = _core(model).config.self_task
    labels = rotated = None
    if task == "rotation":
        labels = torch.randint(0, 4, (target.shape[0],), generator=generator)
        rotated = rotate_batch(target, labels)
    source = batch["source"] if task == "keypoint" else None
    return model(target, source, rotated, sup=sup, self_to_encoder=self_to_encoder), labels


def joint_loss(model: TTPModel, batch: dict, recon: ReconstructionLoss | None, lam: float,
               generator: torch.Generator | None = None, self_to_encoder: float = 1.0) -> Losses:
    """Eq. 10 on a batch of pairs: ``target``, ``source``, ``heatmaps``, ``target_weight``. ``self_to_encoder``
    (loss.self_to_encoder, not in the paper): the share of lambda L_self's gradient the shared encoder gets."""
    out, labels = _forward(model, batch, generator, self_to_encoder=self_to_encoder)
    sup = heatmap_loss(out.sup_heatmaps, batch["heatmaps"], batch["target_weight"])
    self_loss, error = _self_loss(model, out, batch["target"], recon, labels)
    return Losses(joint_objective(sup, self_loss, lam), sup, self_loss, out, error)


def self_supervised_loss(model: TTPModel, batch: dict, recon: ReconstructionLoss | None,
                         generator: torch.Generator | None = None) -> Losses:
    """L_self on a batch of (target, source) pairs: the only loss of test-time personalization."""
    if _core(model).config.self_task == "none":
        raise ValueError("a model without a self-supervised task (self_task=none) cannot be personalized")
    out, labels = _forward(model, batch, generator, sup=False)  # H_sup is frozen and unused here
    self_loss, error = _self_loss(model, out, batch["target"], recon, labels)
    return Losses(self_loss, None, self_loss, out, error)
