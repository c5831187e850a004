"""The shared encoder phi (Sec. 3.1, 4.2): a ResNet followed by three deconvolutions -> F (c x H/4 x W/4).

Module names are torchvision's (conv1, bn1, layer1..layer4, downsample.0/1), so an ImageNet state dict
saved by torchvision loads into `ResNet` by key, from a local file (`load_pretrained`).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ttpose.weights import read_tensors

BN_MOMENTUM = 0.1


class BasicBlock(nn.Module):
    expansion = 1
    conv_bn_pairs = (("conv1", "bn1"), ("conv2", "bn2"))  # each conv feeds only its BN (ttpose.model.fold_bn)

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4
    conv_bn_pairs = (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3"))  # see BasicBlock

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


RESNET_SPECS: dict[str, tuple[type[nn.Module], tuple[int, int, int, int]]] = {
    "resnet18": (BasicBlock, (2, 2, 2, 2)),
    "resnet34": (BasicBlock, (3, 4, 6, 3)),
    "resnet50": (Bottleneck, (3, 4, 6, 3)),
    "resnet101": (Bottleneck, (3, 4, 23, 3)),
    "resnet152": (Bottleneck, (3, 8, 36, 3)),
}


class ResNet(nn.Module):
    """torchvision's ResNet without the classifier (avgpool, fc): image -> C5 features (stride 32).

    ``width`` is the channel count of the stem and layer1 (64 in torchvision; every layer scales with it).
    Only width 64 matches ImageNet weights; narrower ones are for CPU-sized experiments.
    """

    conv_bn_pairs = (("conv1", "bn1"),)  # the stem's conv feeds only its BN (ttpose.model.fold_bn)

    def __init__(self, name: str = "resnet50", width: int = 64):
        super().__init__()
        if name not in RESNET_SPECS:
            raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(RESNET_SPECS)}")
        block, layers = RESNET_SPECS[name]
        self.inplanes = width
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, 2 * width, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 4 * width, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 8 * width, layers[3], stride=2)
        self.out_channels = 8 * width * block.expansion
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _make_layer(self, block: type[nn.Module], planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion, momentum=BN_MOMENTUM),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def deconv_layers(in_channels: int, channels: int = 256, num_layers: int = 3) -> nn.Sequential:
    """3 x [ConvTranspose2d(k=4, s=2, p=1, no bias), BN, ReLU]: stride 32 -> stride 4 (Sec. 4.2)."""
    layers: list[nn.Module] = []
    for _ in range(num_layers):
        deconv = nn.ConvTranspose2d(in_channels, channels, 4, 2, 1, output_padding=0, bias=False)
        nn.init.normal_(deconv.weight, std=0.001)
        layers += [deconv, nn.BatchNorm2d(channels, momentum=BN_MOMENTUM), nn.ReLU(inplace=True)]
        in_channels = channels
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    """phi: image (B x 3 x S x S) -> F (B x c x S/4 x S/4)."""

    def __init__(self, backbone: str = "resnet50", channels: int = 256, width: int = 64):
        super().__init__()
        self.backbone = ResNet(backbone, width)
        self.deconv_layers = deconv_layers(self.backbone.out_channels, channels)
        self.out_channels = channels

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.deconv_layers(self.backbone(images))


TTPOSE_BACKBONE = "encoder.backbone."  # where a ttpose model file keeps the ResNet's tensors


def load_pretrained(module: nn.Module, path: str | Path, drop_prefixes: tuple[str, ...] = ("fc.",)) -> None:
    """Load an ImageNet state dict (torchvision key names) strictly, after dropping the classifier keys; or the
    ResNet of a ttpose model file (its ``encoder.backbone.*`` tensors, e.g. a supervised-only baseline's backbone as
    the starting point of another model, the way the authors start from ImageNet)."""
    tensors = read_tensors(path)
    kind = "torchvision state dict"
    if any(k.startswith(TTPOSE_BACKBONE) for k in tensors):  # a ttpose model file: its ResNet alone
        tensors = {k[len(TTPOSE_BACKBONE):]: v for k, v in tensors.items() if k.startswith(TTPOSE_BACKBONE)}
        kind = "ttpose model's ResNet"
    state = {k: v for k, v in tensors.items() if not k.startswith(drop_prefixes)}
    own = module.state_dict()
    wrong = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    if wrong:
        raise ValueError(f"{path}: not a matching {kind}: {wrong[0]} is {tuple(state[wrong[0]].shape)}, the model's "
                         f"{tuple(own[wrong[0]].shape)} (another depth or model.backbone_width?)")
    missing, unexpected = module.load_state_dict(state, strict=False)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} keys (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} keys (e.g. {unexpected[0]})")
        raise ValueError(f"{path}: not a matching {kind}: {'; '.join(parts)}")
