"""TTPModel: the whole network of Fig. 2.

    F_t          = phi(I_t)                                   shared encoder (ResNet + deconvs)
    H_self       = psi_self(F_t)                              self-supervised head, k_self maps
    H_sup, W     = Transformer(Q_sup, F_t), H_self W^T        Eq. 2-8   (or a 1x1 conv on F_t)
    I_hat_t      = renderer(phi_app(I_s), pose_enc(bottleneck(H_self)))    Sec. 3.1.1

`model(target, source)` runs all of it for joint training and personalization; `model.predict(images)`
runs only the pose path (no encoders, no renderer), which is all inference needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ttpose.config import LossConfig, ModelConfig
from ttpose.model.autoencoder import ConvEncoder, Renderer
from ttpose.model.backbone import Encoder, load_pretrained
from ttpose.model.bottleneck import condensed_keypoints, keypoint_bottleneck
from ttpose.model.colour import to_input_order
from ttpose.model.heads import ConvHead, RotationHead, TransformerAffinityHead, head_conv
from ttpose.skeletons import get_skeleton


@dataclass
class TTPOutput:
    sup_heatmaps: torch.Tensor | None  # B x K x h x w (None when the supervised path was skipped)
    self_heatmaps: torch.Tensor | None = None  # B x k_self x h x w, raw logits
    self_keypoints: torch.Tensor | None = None  # B x k_self x 2, (x, y) heatmap pixels
    reconstruction: torch.Tensor | None = None  # B x 3 x S x S, normalised as `model_input` gives the input
    affinity: torch.Tensor | None = None  # B x K x k_self (Transformer head only)
    rotation_logits: torch.Tensor | None = None  # B x 4 (rotation task only)


class TTPModel(nn.Module):
    def __init__(self, config: ModelConfig | None = None):
        super().__init__()
        self.config = cfg = config or ModelConfig()
        self.skeleton = get_skeleton(cfg.skeleton)
        c, k = cfg.deconv_channels, self.skeleton.num_joints
        self.encoder = Encoder(cfg.backbone, c, cfg.backbone_width)
        if cfg.pretrained:
            load_pretrained(self.encoder.backbone, cfg.pretrained)

        small = cfg.head_init == "small"
        self.self_head = head_conv(c, cfg.num_maps, small) if cfg.self_task == "keypoint" else None
        if cfg.sup_head == "transformer":
            self.sup_head = TransformerAffinityHead(
                c, k, cfg.num_maps, cfg.transformer_heads, cfg.transformer_ff, cfg.transformer_layers,
                cfg.transformer_dropout, small_projection=small, small_decoder=cfg.head_init != "pytorch",
            )
        else:
            self.sup_head = ConvHead(c, k)
        if cfg.self_task == "keypoint":
            self.appearance_encoder = ConvEncoder(3, cfg.encoder_widths)
            self.pose_encoder = ConvEncoder(cfg.num_maps, cfg.encoder_widths)
            self.renderer = Renderer(2 * cfg.encoder_widths[-1], cfg.renderer_widths)
        self.rotation_head = RotationHead(c) if cfg.self_task == "rotation" else None
        # the L_self the model was trained with (set by training and load_checkpoint), for personalization
        self.loss_config: LossConfig | None = None
        self.loss_running_mean: torch.Tensor | None = None
        # the pose encoder takes the Gaussians as row / column profiles (speed option, ttpose.speed); the
        # same numbers up to float rounding
        self.separable_gaussians = False

    @property
    def heatmap_size(self) -> int:
        return self.config.input_size // 4

    def model_input(self, images: torch.Tensor) -> torch.Tensor:
        """ttpose's normalised RGB crops -> the colour order the weights were trained on (`ttpose.model.colour`)."""
        return to_input_order(images, self.config.input_order)

    def pose(self, features: torch.Tensor, sup: bool = True) -> TTPOutput:
        """The pose path on F: H_self (+ condensed keypoints) and H_sup (+ W); ``sup=False`` skips H_sup."""
        if self.self_head is None:
            return TTPOutput(sup_heatmaps=self.sup_head(features) if sup else None)
        self_heatmaps = self.self_head(features)
        keypoints = None
        if not sup:
            sup_heatmaps, affinity = None, None
        elif isinstance(self.sup_head, TransformerAffinityHead):
            sup_heatmaps, affinity = self.sup_head(features, self_heatmaps)
        else:
            sup_heatmaps, affinity = self.sup_head(features), None
        return TTPOutput(sup_heatmaps, self_heatmaps, keypoints, None, affinity)

    def reconstruct(self, self_heatmaps: torch.Tensor, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Sec. 3.1.1: (condensed keypoints of the target, I_hat_t from them and the source's appearance)."""
        keypoints, gaussians = keypoint_bottleneck(self_heatmaps, self.config.gaussian_sigma, upsample=4,
                                                   separable=self.separable_gaussians)
        return keypoints, self.renderer(self.appearance_encoder(source), self.pose_encoder(gaussians))

    def forward(
        self,
        target: torch.Tensor,
        source: torch.Tensor | None = None,
        rotated: torch.Tensor | None = None,
        sup: bool = True,
        self_to_encoder: float = 1.0,
    ) -> TTPOutput:
        """Joint forward: target (and source) B x 3 x S x S; ``rotated``: images for the rotation task.

        ``sup=False`` skips the supervised head (personalization updates never use its output). Images are
        ttpose's normalised RGB crops; the reconstruction is in the model's own order (`model_input`).
        ``self_to_encoder`` < 1 (loss.self_to_encoder, not in the paper): the self-supervised task's gradient
        reaches the shared encoder scaled by it (the bottleneck reads H_self of a second, scaled-gradient copy
        of F; the same values), while L_sup's reaches it whole and the heads and reconstruction path get both.
        """
        features = self.encoder(self.model_input(target))
        out = self.pose(features, sup)
        if out.self_heatmaps is not None:
            if source is not None:
                bottleneck_maps = (out.self_heatmaps if self_to_encoder == 1
                                   else self.self_head(scale_gradient(features, self_to_encoder)))
                out.self_keypoints, out.reconstruction = self.reconstruct(bottleneck_maps, self.model_input(source))
            else:
                out.self_keypoints = condensed_keypoints(out.self_heatmaps)
        if rotated is not None:
            if self.rotation_head is None:
                raise ValueError("this model has no rotation task (model.self_task != rotation)")
            rotated_features = scale_gradient(self.encoder(self.model_input(rotated)), self_to_encoder)
            out.rotation_logits = self.rotation_head(rotated_features)
        return out

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> TTPOutput:
        """Inference: the pose path only (encoder, heads); no encoders, renderer or gradients."""
        out = self.pose(self.encoder(self.model_input(images)))
        if out.self_heatmaps is not None:
            out.self_keypoints = condensed_keypoints(out.self_heatmaps)
        return out


def scale_gradient(x: torch.Tensor, share: float) -> torch.Tensor:
    """``x`` unchanged forward; backward passes ``share`` x the gradient (loss.self_to_encoder)."""
    return x if share == 1 else x.detach() + share * (x - x.detach())


def build_model(config: ModelConfig | None = None) -> TTPModel:
    return TTPModel(config)
