"""Heads on the shared features F: the Transformer affinity head (Eq. 2-8), a 1x1 conv head (the
baseline and "feat. shared" methods, Appendix A) and the 4-way rotation classifier (Sun et al. 2020).
"""

from __future__ import annotations

import torch
from torch import nn


def small_init_(layer: nn.Conv2d | nn.Linear) -> None:
    """The authors' head initialisation (``init_weights``): weight N(0, 0.001), bias 0."""
    nn.init.normal_(layer.weight, std=0.001)
    nn.init.zeros_(layer.bias)


def head_conv(in_channels: int, out_channels: int, small: bool = True) -> nn.Conv2d:
    """A 1 x 1 conv head: N(0, 0.001) as the authors initialise the supervised ``final_layer`` (``small``), or
    PyTorch's default, which their self-supervised head ``final_layer_unsup`` keeps."""
    conv = nn.Conv2d(in_channels, out_channels, 1)
    if small:
        small_init_(conv)
    return conv


def mix_heatmaps(affinity: torch.Tensor, self_heatmaps: torch.Tensor) -> torch.Tensor:
    """Eq. 8: H_sup = H_self W^T, i.e. each supervised map is a W-weighted sum of the self-supervised maps.

    affinity: B x K x k_self; self_heatmaps: B x k_self x h x w -> B x K x h x w.
    """
    b, k, h, w = self_heatmaps.shape
    return torch.bmm(affinity, self_heatmaps.reshape(b, k, h * w)).reshape(b, -1, h, w)


class TransformerAffinityHead(nn.Module):
    """Learnable joint queries Q_sup attend to F with a Transformer decoder (Eq. 2-6); a projection P
    and a softmax over the self-supervised maps give the affinity W (Eq. 7); H_sup = H_self W^T (Eq. 8).

    As in the authors' code this is PyTorch's decoder layer: self-attention among the queries, cross-
    attention to the h*w feature tokens (no positional encoding), FFN, post-norm, plus a final LayerNorm.
    """

    def __init__(
        self,
        channels: int,
        num_joints: int,
        num_maps: int,
        heads: int = 4,
        ff: int = 1024,
        layers: int = 1,
        dropout: float = 0.1,
        small_projection: bool = False,
        small_decoder: bool = True,
    ):
        super().__init__()
        self.query = nn.Parameter(torch.randn(num_joints, channels))  # Q_sup, K x c
        layer = nn.TransformerDecoderLayer(channels, heads, ff, dropout, batch_first=True)
        self.decoder = nn.TransformerDecoder(layer, layers, norm=nn.LayerNorm(channels))
        if small_decoder:  # as the authors' init_weights: every Linear (the attention output projections, the FFN),
            for module in self.decoder.modules():  # not the packed in-projections
                if isinstance(module, nn.Linear):
                    small_init_(module)
        self.affinity_proj = nn.Linear(channels, num_maps)  # P of Eq. 7: PyTorch's default init, as theirs
        if small_projection:  # ttpose before 2026-11-30 (model.head_init=small): W starts uniform
            small_init_(self.affinity_proj)

    def affinity(self, features: torch.Tensor) -> torch.Tensor:
        """Eq. 7: W = Softmax(F_aff P), B x K x k_self, each row sums to 1."""
        b = features.shape[0]
        # B x (h*w) x c: the memory. Contiguous, because as a transposed view under bf16 autocast the attention's
        # K/V projection became a batched product with its weight copied per token (slow at batch 1).
        tokens = features.flatten(2).transpose(1, 2).contiguous()
        queries = self.query.unsqueeze(0).expand(b, -1, -1)  # B x K x c
        f_aff = self.decoder(queries, tokens)  # B x K x c
        return torch.softmax(self.affinity_proj(f_aff), dim=-1)

    def forward(self, features: torch.Tensor, self_heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        affinity = self.affinity(features)
        return mix_heatmaps(affinity, self_heatmaps), affinity


class ConvHead(nn.Module):
    """psi_sup as a plain 1 x 1 conv: F -> K heatmaps (the baseline and the feature-shared methods)."""

    def __init__(self, channels: int, num_joints: int):
        super().__init__()
        self.conv = head_conv(channels, num_joints)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.conv(features)


class RotationHead(nn.Module):
    """4-way rotation classifier (0, 90, 180, 270 degrees) on F: the "feat. shared (rotation)" task.

    The authors' code for this head is not public; this is a small choice: 3x3 conv (stride 2) + BN +
    ReLU, global average pooling, linear.
    """

    conv_bn_pairs = (("conv", "bn"),)  # the conv feeds only its BN (ttpose.model.fold_bn)

    def __init__(self, channels: int, hidden: int = 128):
        super().__init__()
        self.conv = nn.Conv2d(channels, hidden, 3, 2, 1, bias=False)
        self.bn = nn.BatchNorm2d(hidden)
        self.fc = nn.Linear(hidden, 4)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn(self.conv(features)))
        return self.fc(x.mean(dim=(2, 3)))
