"""The losses: supervised heatmap MSE (Eq. 9), the self-supervised reconstruction loss (Eq. 1), the
rotation baseline's cross-entropy, and the joint objective L = L_sup + lambda L_self (Eq. 10).

Eq. 1 as the authors compute it: six terms, the pixel MSE and the MSE between VGG-16 features of the
reconstruction and of the target after five blocks of VGG-16's ``features`` ([0..3], [4..8], [9..13],
[14..20], [21..27]); each term is divided by a running mean of itself (updated before dividing) and
the six are summed. Unlike the authors' code, the running means are buffers saved with the checkpoint.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ttpose.config import LossConfig
from ttpose.weights import read_tensors

log = logging.getLogger(__name__)

VGG16_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")
PERCEPTUAL_SLICES = ((0, 4), (4, 9), (9, 14), (14, 21), (21, 28))  # half-open ranges of features.N


def heatmap_loss(pred: torch.Tensor, target: torch.Tensor, target_weight: torch.Tensor) -> torch.Tensor:
    """Eq. 9 with the authors' reduction: mean over joints of 0.5 * MSE(w_j * pred_j, w_j * gt_j).

    pred, target: B x K x h x w; target_weight: B x K (visibility, 0 or 1).
    """
    w = target_weight[:, :, None, None]
    per_joint = ((pred - target) * w).pow(2).mean(dim=(0, 2, 3))  # K
    return 0.5 * per_joint.mean()


def rotation_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The rotation task of "feat. shared (rotation)": cross-entropy over the 4 rotations."""
    return F.cross_entropy(logits, labels)


def joint_objective(sup_loss: torch.Tensor, self_loss: torch.Tensor | None, lam: float) -> torch.Tensor:
    """Eq. 10: L = L_sup + lambda * L_self."""
    return sup_loss if self_loss is None else sup_loss + lam * self_loss


def lambda_at(step: int, loss: LossConfig, first_lr_drop: int) -> float:
    """The lambda of Eq. 10 at a training step: ``loss.lam``, or ``loss.lam_late`` from the first learning-rate
    drop on where it is set (not in the paper: the encoder refits L_sup after the joint training has coupled the
    supervised joints to the self-supervised keypoints)."""
    late = loss.lam_late is not None and step >= first_lr_drop
    return loss.lam_late if late else loss.lam


class VGG16Features(nn.Module):
    """torchvision's ``vgg16().features`` (keys features.0.weight ... features.28.bias)."""

    def __init__(self):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for v in VGG16_LAYOUT:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(inplace=True)]
                cin = v
        self.features = nn.Sequential(*layers)

    def load_weights(self, path: str | Path) -> None:
        """Load torchvision's VGG-16 ImageNet state dict (classifier keys are ignored), strictly."""
        state = {k: v for k, v in read_tensors(path).items() if k.startswith("features.")}
        missing, unexpected = self.load_state_dict(state, strict=False)
        if missing or unexpected:
            bad = (missing or unexpected)[0]
            raise ValueError(f"{path}: not a torchvision VGG-16 state dict (mismatch at {bad!r})")


_warned_no_vgg = False


def _warn_no_vgg_weights() -> None:
    global _warned_no_vgg
    if not _warned_no_vgg:
        _warned_no_vgg = True
        msg = (
            "\n" + "!" * 100 + "\n"
            "ttpose: no VGG-16 weights given (loss.vgg_weights), so the perceptual loss uses RANDOMLY\n"
            "initialised VGG-16 features: this is NOT the paper's loss. Pass loss.vgg_weights=PATH to\n"
            "torchvision's ImageNet file (vgg16-397923af.pth), or set loss.perceptual=pixel for the pixel\n"
            "L2 term alone (see docs/losses.md).\n" + "!" * 100
        )
        warnings.warn(msg, stacklevel=3)
        log.warning(msg)


class ReconstructionLoss(nn.Module):
    """Eq. 1: Perceptual(I_t, I_hat_t) + ||I_t - I_hat_t||^2, each term normalised by its running mean.

    With ``perceptual="pixel"`` only the pixel term is used (no VGG-16). Inputs are images normalised
    as the model sees them (ImageNet mean/std), which is also what VGG-16 expects.
    """

    def __init__(self, config: LossConfig | None = None):
        super().__init__()
        cfg = config or LossConfig()
        self.momentum = cfg.running_mean_momentum
        self.vgg: VGG16Features | None = None
        if cfg.perceptual == "vgg16":
            self.vgg = VGG16Features()
            if cfg.vgg_weights:
                self.vgg.load_weights(cfg.vgg_weights)
            else:
                _warn_no_vgg_weights()
            self.vgg.requires_grad_(False)
            self.vgg.eval()
        # compare the images average-pooled by this factor (TTPConfig.loss_pool, set by the Personalizer; 1: Eq. 1)
        self.pool = 1
        n_terms = 6 if self.vgg is not None else 1
        self.register_buffer("running_mean", torch.tensor(cfg.running_mean_init[:n_terms], dtype=torch.float32))

    def train(self, mode: bool = True) -> ReconstructionLoss:
        super().train(mode)
        if self.vgg is not None:
            self.vgg.eval()  # VGG-16 is a fixed feature extractor
        return self

    def terms(self, reconstruction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The unnormalised terms: pixel MSE then one MSE per VGG-16 block (1 or 6 values), at 1 / ``pool`` of the
        resolution."""
        if self.pool > 1:
            reconstruction, target = F.avg_pool2d(reconstruction, self.pool), F.avg_pool2d(target, self.pool)
        terms = [F.mse_loss(reconstruction, target)]
        if self.vgg is not None:
            with torch.no_grad():
                target_features = self.vgg_features(target)
            for x, y in zip(self.vgg_features(reconstruction), target_features, strict=True):
                terms.append(F.mse_loss(x, y))
        return torch.stack(terms)

    def vgg_features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Outputs of the five VGG-16 blocks used by the perceptual loss."""
        features, x = [], images
        for start, stop in PERCEPTUAL_SLICES:
            x = self.vgg.features[start:stop](x)
            features.append(x)
        return features

    def forward(self, reconstruction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.normalised(self.terms(reconstruction, target.detach()))

    def normalised(self, terms: torch.Tensor) -> torch.Tensor:
        """Eq. 1 as the authors sum it: each term over its running mean (updated first), summed."""
        with torch.no_grad():
            observed = terms.detach().float()
            if torch.distributed.is_initialized():  # keep every rank's running means identical
                torch.distributed.all_reduce(observed)
                observed /= torch.distributed.get_world_size()
            self.running_mean += self.momentum * (observed - self.running_mean)
        return (terms / self.running_mean).sum()
