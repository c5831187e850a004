"""The reconstruction path of the self-supervised task (Sec. 3.1.1, Fig. 2):

    I_hat_t = renderer([appearance_encoder(I_s), pose_encoder(Gaussians(H_self_t))])

Both encoders share one structure: a 7x7 conv and a 3x3 conv at w0 channels, then three stages that each
halve the resolution (stride-2 3x3 conv) and double the channels (3x3 conv), every conv followed by BN and
ReLU, no biases: S x S -> w3 x S/8 x S/8. The renderer mirrors it: four stages of two 3x3 conv+BN+ReLU,
nearest x2 upsampling after the first three, and a final 3x3 conv to RGB. Sequential indices match the
authors' state dicts (see ttpose.convert).

The pose encoder may receive its Gaussian maps as row and column profiles (`SeparableMaps`, speed option
``separable_gaussians``): its 7x7 conv then runs on the profiles (`SeparableMaps.conv2d`), the same numbers
up to float rounding.
"""

from __future__ import annotations

import torch
from torch import nn

from ttpose.model.bottleneck import SeparableMaps
from ttpose.model.fold_bn import applied_weight_bias


def _conv_bn_relu(cin: int, cout: int, kernel: int = 3, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class ConvEncoder(nn.Module):
    """Appearance encoder phi_app (3 input channels) or pose encoder (k_self input channels)."""

    def __init__(self, in_channels: int, widths: tuple[int, ...] = (32, 64, 128, 256)):
        super().__init__()
        w0, w1, w2, w3 = widths
        self.layer1 = nn.Sequential(*_conv_bn_relu(in_channels, w0, 7), *_conv_bn_relu(w0, w0))
        self.layer2 = nn.Sequential(*_conv_bn_relu(w0, w1, stride=2), *_conv_bn_relu(w1, w1))
        self.layer3 = nn.Sequential(*_conv_bn_relu(w1, w2, stride=2), *_conv_bn_relu(w2, w2))
        self.layer4 = nn.Sequential(*_conv_bn_relu(w2, w3, stride=2), *_conv_bn_relu(w3, w3))
        self.out_channels = w3

    def forward(self, x: torch.Tensor | SeparableMaps) -> torch.Tensor:
        """B x C_in x S x S (or `SeparableMaps` of that shape) -> B x w3 x S/8 x S/8."""
        if isinstance(x, SeparableMaps):
            conv = self.layer1[0]
            weight, bias = applied_weight_bias(conv)
            first = x.conv2d(weight, bias, conv.padding[0])
            if weight.is_contiguous(memory_format=torch.channels_last):
                first = first.contiguous(memory_format=torch.channels_last)
            x = self.layer1[1:](first)
        else:
            x = self.layer1(x)
        return self.layer4(self.layer3(self.layer2(x)))


class Renderer(nn.Module):
    """phi_render: [F_app of the source, F_kp of the target] -> reconstructed target image."""

    def __init__(self, in_channels: int, widths: tuple[int, ...] = (256, 128, 64, 32)):
        super().__init__()
        stages, cin = [], in_channels
        for i, w in enumerate(widths):
            layers = [*_conv_bn_relu(cin, w), *_conv_bn_relu(w, w)]
            layers.append(nn.Upsample(scale_factor=2, mode="nearest") if i < 3 else nn.Conv2d(w, 3, 3, 1, 1))
            stages.append(nn.Sequential(*layers))
            cin = w
        self.layer1, self.layer2, self.layer3, self.layer4 = stages

    def forward(self, appearance: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        x = torch.cat([appearance, pose], dim=1)
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))
