"""Independent re-creation of the authors' network and one training / TTP step, for verification and speed.

Written from /work/shared/spec/official-code.md, the state-dict key list of the authors' ResNet-18 model and
the paper's Sec. 3 and 4.2, without reference to ``ttpose.model``: two independent implementations that must
agree.
The style follows the authors' code base (HRNet "simple baselines" ``pose_resnet`` plus their additions), and
every ``state_dict`` key matches theirs, so their checkpoints load with ``strict=True``.

Pieces (paper section in brackets):
- ``pose_net``: torchvision-named ResNet + ``deconv_layers`` -> F (256 x h x w) [4.2]; ``final_layer_unsup``
  -> H_self [3.1.1]; Transformer head ``sup_query`` / ``mh_attn.decoder`` / ``sup_weight``
  -> W = softmax(F_aff P)
  and H_sup = W H_self [Eq. 2-8], or the plain ``final_layer`` conv head (Appendix A).
- keypoint bottleneck: marginal softmaxes of H_self -> expected (x, y) -> Gaussians sigma 2 -> bilinear x4
  [3.1.1].
- ``image_encoder`` / ``pose_encoder`` / ``image_renderer``: reconstruction of the target [3.1.1].
- ``OfficialPerceptualLoss``: pixel MSE + 5 VGG-16 feature MSEs, each over its running mean [Eq. 1].
- ``official_sup_loss``: HRNet JointsMSELoss with target weights [Eq. 9].
- ``official_train_step`` [Eq. 10] and ``official_ttp_step`` [3.2].
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

BN_MOMENTUM = 0.1
NUM_DECONV_FILTERS = 256
DECONV_KERNEL = 4
NUM_DECONV_LAYERS = 3
GAUSSIAN_SIGMA = 2.0
D_MODEL = 256
N_HEAD = 4
DIM_FEEDFORWARD = 1024
NUM_DECODER_LAYERS = 1
INIT_STD = 0.001

# ---------------------------------------------------------------------------------------------------------
# ResNet (torchvision names: conv1, bn1, layer1..4; blocks conv1/bn1/conv2/bn2[/conv3/bn3]/downsample)
# ---------------------------------------------------------------------------------------------------------


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """3 x 3 convolution with padding 1 and no bias."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        residual = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            residual = self.downsample(x)
        return self.relu(out + residual)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        residual = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            residual = self.downsample(x)
        return self.relu(out + residual)


RESNET_SPEC: dict[int, tuple[type[BasicBlock] | type[Bottleneck], list[int]]] = {
    18: (BasicBlock, [2, 2, 2, 2]),
    34: (BasicBlock, [3, 4, 6, 3]),
    50: (Bottleneck, [3, 4, 6, 3]),
    101: (Bottleneck, [3, 4, 23, 3]),
    152: (Bottleneck, [3, 8, 36, 3]),
}

# ---------------------------------------------------------------------------------------------------------
# pose_net: ResNet + deconvs + self-supervised head + (Transformer | conv) supervised head
# ---------------------------------------------------------------------------------------------------------


class MultiHeadAttnHead(nn.Module):
    """Holds ``decoder`` (keys ``mh_attn.decoder.*``): 1 post-norm decoder layer + final LayerNorm."""

    def __init__(
        self,
        d_model: int = D_MODEL,
        nhead: int = N_HEAD,
        dim_feedforward: int = DIM_FEEDFORWARD,
        num_layers: int = NUM_DECODER_LAYERS,
        dropout: float = 0.1,
    ):
        super().__init__()
        layer = nn.TransformerDecoderLayer(d_model, nhead, dim_feedforward=dim_feedforward, dropout=dropout)
        self.decoder = nn.TransformerDecoder(layer, num_layers=num_layers, norm=nn.LayerNorm(d_model))

    def forward(self, tgt: Tensor, memory: Tensor) -> Tensor:
        """Sequence-first PyTorch layout: tgt (J, B, C), memory (N, B, C) -> (J, B, C)."""
        return self.decoder(tgt, memory)


class OfficialPoseNet(nn.Module):
    """Simple-baselines PoseResNet with the authors' self-supervised head and "comb attn" Transformer head."""

    def __init__(self, depth: int = 50, num_joints: int = 13, num_maps: int = 30, head: str = "transformer"):
        super().__init__()
        if depth not in RESNET_SPEC:
            raise ValueError(
                f"official_model.py: ResNet depth must be one of {sorted(RESNET_SPEC)}, got {depth}"
            )
        if head not in ("transformer", "conv"):
            raise ValueError(f"official_model.py: head must be 'transformer' or 'conv', got {head!r}")
        block, layers = RESNET_SPEC[depth]
        self.head = head
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        # Creation order fixes the state-dict order of the authors' file: head parameters before the deconvs.
        if head == "transformer":
            self.sup_query = nn.Embedding(D_MODEL, num_joints)  # weight used as 256 x J (channels x joints)
            self.mh_attn = MultiHeadAttnHead()
            self.sup_weight = nn.Linear(D_MODEL, num_maps)
        self.deconv_layers = self._make_deconv_layer(NUM_DECONV_LAYERS, NUM_DECONV_FILTERS, DECONV_KERNEL)
        if head == "conv":
            self.final_layer = nn.Conv2d(NUM_DECONV_FILTERS, num_joints, kernel_size=1, stride=1, padding=0)
        self.final_layer_unsup = nn.Conv2d(NUM_DECONV_FILTERS, num_maps, kernel_size=1, stride=1, padding=0)
        self.init_weights()

    def _make_layer(
        self, block: type[BasicBlock] | type[Bottleneck], planes: int, blocks: int, stride: int = 1
    ) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion, momentum=BN_MOMENTUM),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def _make_deconv_layer(self, num_layers: int, num_filters: int, kernel: int) -> nn.Sequential:
        """3 x [ConvTranspose2d(k4, s2, p1, output_padding 0, no bias), BN, ReLU] (indices 0-2, 3-5, 6-8)."""
        layers: list[nn.Module] = []
        for _ in range(num_layers):
            layers += [
                nn.ConvTranspose2d(
                    self.inplanes,
                    num_filters,
                    kernel_size=kernel,
                    stride=2,
                    padding=1,
                    output_padding=0,
                    bias=False,
                ),
                nn.BatchNorm2d(num_filters, momentum=BN_MOMENTUM),
                nn.ReLU(inplace=True),
            ]
            self.inplanes = num_filters
        return nn.Sequential(*layers)

    def init_weights(self) -> None:
        """Spec: deconvs, 1 x 1 heads and the head Linear normal(std 0.001), biases 0, BN weight 1 / bias 0.

        The backbone keeps PyTorch's default init (the authors load ImageNet weights into it by key), and the
        Transformer decoder keeps PyTorch's own init (``sup_weight`` is the head Linear this applies to).
        """
        for m in self.deconv_layers.modules():
            if isinstance(m, nn.ConvTranspose2d):
                nn.init.normal_(m.weight, std=INIT_STD)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        heads: list[nn.Module] = [self.final_layer_unsup]
        heads += [self.final_layer] if self.head == "conv" else [self.sup_weight]
        for m in heads:
            nn.init.normal_(m.weight, std=INIT_STD)
            nn.init.constant_(m.bias, 0)

    def features(self, x: Tensor) -> Tensor:
        """B x 3 x H x W -> F: B x 256 x H/4 x W/4."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.deconv_layers(x)

    def affinity(self, feat: Tensor) -> Tensor:
        """W = softmax over maps of sup_weight(decoder(queries, F)): B x J x K [Eq. 2-7]."""
        b = feat.shape[0]
        query = self.sup_query.weight.t().unsqueeze(1).repeat(1, b, 1)  # (256, J) -> (J, B, 256)
        memory = feat.flatten(2).permute(2, 0, 1)  # (B, 256, h, w) -> (h*w, B, 256), no positional encoding
        aff = self.mh_attn(query, memory)  # (J, B, 256)
        return F.softmax(self.sup_weight(aff), dim=-1).permute(1, 0, 2)  # (J, B, K) -> (B, J, K)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """B x 3 x H x W -> (H_self logits B x K x h x w, H_sup B x J x h x w)."""
        feat = self.features(x)
        pose_unsup = self.final_layer_unsup(feat)
        if self.head == "conv":
            return pose_unsup, self.final_layer(feat)
        w = self.affinity(feat)
        b, k, h, wd = pose_unsup.shape
        pose_sup = torch.bmm(w, pose_unsup.flatten(2))  # (B, J, K) @ (B, K, h*w) -> (B, J, h*w)   [Eq. 8]
        return pose_unsup, pose_sup.view(b, -1, h, wd)


# ---------------------------------------------------------------------------------------------------------
# Keypoint bottleneck [3.1.1]
# ---------------------------------------------------------------------------------------------------------


def official_condense(heatmaps: Tensor) -> Tensor:
    """Expected keypoints of logit maps B x K x h x w -> B x K x 2 (x, y) in grid pixels 0..w-1 / 0..h-1.

    p(y) = softmax of the per-row sums, p(x) = softmax of the per-column sums.
    """
    _, _, h, w = heatmaps.shape
    p_y = F.softmax(heatmaps.sum(dim=3), dim=2)  # (B, K, h)
    p_x = F.softmax(heatmaps.sum(dim=2), dim=2)  # (B, K, w)
    ys = torch.arange(h, device=heatmaps.device, dtype=heatmaps.dtype)
    xs = torch.arange(w, device=heatmaps.device, dtype=heatmaps.dtype)
    return torch.stack([(p_x * xs).sum(dim=2), (p_y * ys).sum(dim=2)], dim=-1)


def official_gaussians(points: Tensor, size: tuple[int, int], sigma: float = GAUSSIAN_SIGMA) -> Tensor:
    """Unnormalised Gaussians exp(-d^2 / (2 sigma^2)) of B x K x 2 (x, y) points on an h x w grid."""
    h, w = size
    ys = torch.arange(h, device=points.device, dtype=points.dtype).view(1, 1, h, 1)
    xs = torch.arange(w, device=points.device, dtype=points.dtype).view(1, 1, 1, w)
    dx = xs - points[..., 0, None, None]  # (B, K, 1, w)
    dy = ys - points[..., 1, None, None]  # (B, K, h, 1)
    return torch.exp(-(dx**2 + dy**2) / (2 * sigma**2))


def official_bottleneck(heatmaps: Tensor, upsample: int = 4) -> Tensor:
    """H_self logits B x K x h x w -> keypoint maps B x K x 4h x 4w.

    Upsampling is ``F.interpolate(mode="bilinear", align_corners=False)`` with scale factor 4.
    """
    maps = official_gaussians(official_condense(heatmaps), tuple(heatmaps.shape[-2:]))
    return F.interpolate(maps, scale_factor=upsample, mode="bilinear", align_corners=False)


# ---------------------------------------------------------------------------------------------------------
# Appearance / pose encoders and renderer [3.1.1]
# ---------------------------------------------------------------------------------------------------------


def _conv_bn_relu(cin: int, cout: int, kernel: int, stride: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(cin, cout, kernel_size=kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(cout, momentum=BN_MOMENTUM),
        nn.ReLU(inplace=True),
    ]


class OfficialEncoder(nn.Module):
    """in -> 32 (7x7 + 3x3, stride 1) -> 64 -> 128 -> 256 (stride-2 3x3 + 3x3 each).

    B x in x H x W -> B x 256 x H/8 x W/8; every conv is bias-free and followed by BN + ReLU.
    """

    def __init__(self, in_channels: int):
        super().__init__()
        self.layer1 = nn.Sequential(*_conv_bn_relu(in_channels, 32, 7), *_conv_bn_relu(32, 32, 3))
        self.layer2 = nn.Sequential(*_conv_bn_relu(32, 64, 3, 2), *_conv_bn_relu(64, 64, 3))
        self.layer3 = nn.Sequential(*_conv_bn_relu(64, 128, 3, 2), *_conv_bn_relu(128, 128, 3))
        self.layer4 = nn.Sequential(*_conv_bn_relu(128, 256, 3, 2), *_conv_bn_relu(256, 256, 3))

    def forward(self, x: Tensor) -> Tensor:
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class OfficialRenderer(nn.Module):
    """512 -> 256 -> 128 -> 64 -> 32 (two 3x3 conv+BN+ReLU each, nearest x2 after the first three) -> 3.

    The last conv (``layer4.6``) has a bias and no activation: B x 512 x H/8 x W/8 -> B x 3 x H x W.
    """

    def __init__(self, in_channels: int = 512):
        super().__init__()

        def up() -> nn.Upsample:
            return nn.Upsample(scale_factor=2, mode="nearest")

        self.layer1 = nn.Sequential(*_conv_bn_relu(in_channels, 256, 3), *_conv_bn_relu(256, 256, 3), up())
        self.layer2 = nn.Sequential(*_conv_bn_relu(256, 128, 3), *_conv_bn_relu(128, 128, 3), up())
        self.layer3 = nn.Sequential(*_conv_bn_relu(128, 64, 3), *_conv_bn_relu(64, 64, 3), up())
        self.layer4 = nn.Sequential(
            *_conv_bn_relu(64, 32, 3),
            *_conv_bn_relu(32, 32, 3),
            nn.Conv2d(32, 3, kernel_size=3, stride=1, padding=1, bias=True),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class OfficialTTP(nn.Module):
    """The authors' full model: ``pose_net``, ``image_encoder``, ``pose_encoder``, ``image_renderer``."""

    def __init__(self, depth: int = 50, num_joints: int = 13, num_maps: int = 30, head: str = "transformer"):
        super().__init__()
        self.pose_net = OfficialPoseNet(depth, num_joints, num_maps, head)
        self.image_encoder = OfficialEncoder(3)
        self.pose_encoder = OfficialEncoder(num_maps)
        self.image_renderer = OfficialRenderer(2 * 256)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """x: B x 2 x 3 x H x W (source at 1st index, target at 2nd) -> (pred_images, pose_unsup, pose_sup).

        pred_images B x 3 x H x W, pose_unsup (H_self logits) B x K x H/4 x W/4, pose_sup B x J x H/4 x W/4.
        """
        if x.dim() != 5 or x.shape[1] != 2 or x.shape[2] != 3:
            raise ValueError(f"official_model.py: expected images B x 2 x 3 x H x W, got {tuple(x.shape)}")
        source, target = x[:, 0], x[:, 1]
        pose_unsup, pose_sup = self.pose_net(target)
        keypoint_maps = official_bottleneck(pose_unsup)  # (B, K, H, W)
        app = self.image_encoder(source)  # (B, 256, H/8, W/8)
        kp = self.pose_encoder(keypoint_maps)  # (B, 256, H/8, W/8)
        pred_images = self.image_renderer(torch.cat([app, kp], dim=1))
        return pred_images, pose_unsup, pose_sup


# ---------------------------------------------------------------------------------------------------------
# Losses [Eq. 1, Eq. 9]
# ---------------------------------------------------------------------------------------------------------

VGG16_WIDTHS = (64, 128, 256, 512, 512)
VGG16_CONVS_PER_STAGE = (2, 2, 3, 3, 3)
PERCEPTUAL_SLICES = ((0, 4), (4, 9), (9, 14), (14, 21), (21, 28))  # features[a:b]: relu1_2 ... relu5_2
PERCEPTUAL_INITIAL_MEANS = (0.1966, 0.8725, 3.4260, 7.4396, 4.1430, 1.1304)  # pixel, then the five slices
RUNNING_MEAN_RATE = 0.01


def vgg16_features(widths: tuple[int, ...] = VGG16_WIDTHS) -> nn.Sequential:
    """torchvision ``vgg16().features`` layout (conv+ReLU, max-pool per stage; convs at 0, 2, 5, ..., 28).

    ``widths`` other than VGG-16's give a narrow VGG with the same indices (for fast tests).
    """
    layers: list[nn.Module] = []
    cin = 3
    for width, n in zip(widths, VGG16_CONVS_PER_STAGE, strict=True):
        for _ in range(n):
            layers += [nn.Conv2d(cin, width, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            cin = width
        layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


def _load_vgg_weights(vgg_weights: str | Path | Mapping[str, Tensor]) -> dict[str, Tensor]:
    if isinstance(vgg_weights, Mapping):
        state = dict(vgg_weights)
    else:
        path = Path(vgg_weights)
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    # Accept a whole torchvision vgg16 state dict (features.* + classifier.*) or the features alone.
    feats = {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
    if not feats:
        raise ValueError(
            "official_model.py: VGG weights hold no 'features.*' keys (expected torchvision vgg16)"
        )
    return feats


class OfficialPerceptualLoss(nn.Module):
    """Sum over 6 terms (pixel MSE, 5 VGG-16 feature MSEs) of term / running mean of the term.

    Inputs are the ImageNet-normalised images exactly as the model sees them (the renderer's raw output and
    the normalised target crop); they go into VGG with no further normalisation. Each running mean is updated
    ``mean += 0.01 * (term - mean)`` (detached) BEFORE the division. The means are non-persistent buffers: not
    in ``state_dict`` and never reset.
    """

    def __init__(
        self,
        vgg_weights: str | Path | Mapping[str, Tensor] | None = None,
        widths: tuple[int, ...] = VGG16_WIDTHS,
    ):
        super().__init__()
        self.features = vgg16_features(widths)
        if vgg_weights is not None:
            self.features.load_state_dict(_load_vgg_weights(vgg_weights))
        self.features.eval()
        for p in self.features.parameters():
            p.requires_grad_(False)
        self.register_buffer("running_means", torch.tensor(PERCEPTUAL_INITIAL_MEANS), persistent=False)

    def train(self, mode: bool = True) -> OfficialPerceptualLoss:
        super().train(mode)
        self.features.eval()  # frozen VGG (no BN / dropout in `features`, kept in eval anyway)
        return self

    def terms(self, pred: Tensor, target: Tensor) -> list[Tensor]:
        """The 6 raw MSE terms (pixel, then relu1_2, relu2_2, relu3_2, relu4_2, relu5_2)."""
        out = [F.mse_loss(pred, target)]
        x, y = pred, target
        for a, b in PERCEPTUAL_SLICES:
            x, y = self.features[a:b](x), self.features[a:b](y)
            out.append(F.mse_loss(x, y))
        return out

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        """pred, target: B x 3 x H x W normalised images -> scalar loss."""
        total = pred.new_zeros(())
        for i, term in enumerate(self.terms(pred, target)):
            with torch.no_grad():
                self.running_means[i] += RUNNING_MEAN_RATE * (term.detach() - self.running_means[i])
            total = total + term / self.running_means[i].clone()
        return total


def official_sup_loss(pred: Tensor, target: Tensor, target_weight: Tensor) -> Tensor:
    """HRNet JointsMSELoss(use_target_weight=True): mean over joints of 0.5 * MSE(pred_j * w_j, gt_j * w_j).

    pred, target: B x J x h x w; target_weight: B x J or B x J x 1. Every joint's MSE averages the same number
    of elements (B * h * w), so the mean over joints of per-joint means equals one mean over everything.
    """
    b, j = pred.shape[:2]
    w = target_weight.reshape(b, j, 1)
    diff = (pred.reshape(b, j, -1) - target.reshape(b, j, -1)) * w  # (B, J, h*w)
    return 0.5 * diff.pow(2).mean()


# ---------------------------------------------------------------------------------------------------------
# One training step [Eq. 10] and one test-time personalization step [3.2]
# ---------------------------------------------------------------------------------------------------------

TTP_FROZEN_MODULES = ("sup_query", "mh_attn", "sup_weight", "final_layer", "sup_f")


def _is_frozen_for_ttp(model: OfficialTTP, name: str) -> bool:
    """Frozen: supervised head (query, Transformer, sup_weight, final_layer), every BN / LayerNorm affine."""
    parts = name.split(".")
    if parts[0] == "pose_net" and len(parts) > 1 and parts[1] in TTP_FROZEN_MODULES:
        return True
    owner = model.get_submodule(".".join(parts[:-1]))
    return isinstance(owner, nn.modules.batchnorm._BatchNorm | nn.LayerNorm)


def official_ttp_parameters(model: OfficialTTP) -> list[nn.Parameter]:
    """Parameters updated at test time: backbone convs, deconvs, final_layer_unsup, encoders, renderer."""
    return [p for n, p in model.named_parameters() if not _is_frozen_for_ttp(model, n)]


def official_freeze_for_ttp(model: OfficialTTP) -> list[nn.Parameter]:
    """Set ``requires_grad=False`` on the frozen parameters; return the updated ones (for the optimizer)."""
    for n, p in model.named_parameters():
        p.requires_grad_(not _is_frozen_for_ttp(model, n))
    return official_ttp_parameters(model)


def official_train_step(
    model: OfficialTTP,
    loss: OfficialPerceptualLoss,
    optimizer: torch.optim.Optimizer,
    batch: Mapping[str, Tensor],
    lam: float,
) -> dict[str, float]:
    """One joint-training step, L = L_sup + lam * L_self, in train mode.

    batch: ``images`` B x 2 x 3 x H x W (source, target), ``target`` B x J x h x w Gaussian heatmaps,
    ``target_weight`` B x J (x 1) visibility. Returns the loss values (``.item()``, as the authors log them).
    """
    model.train()
    images = batch["images"]
    pred_images, _, pose_sup = model(images)
    l_sup = official_sup_loss(pose_sup, batch["target"], batch["target_weight"])
    l_self = loss(pred_images, images[:, 1])
    total = l_sup + lam * l_self
    optimizer.zero_grad()
    total.backward()
    optimizer.step()
    return {"loss": total.item(), "sup": l_sup.item(), "self": l_self.item()}


def official_ttp_step(
    model: OfficialTTP,
    loss: OfficialPerceptualLoss,
    optimizer: torch.optim.Optimizer,
    batch: Mapping[str, Tensor],
) -> float:
    """One TTP update in eval mode (BN statistics and dropout frozen) with the perceptual loss only.

    The optimizer is Adam(lr 1e-4) over ``official_freeze_for_ttp(model)``.
    batch: ``images`` B x 2 x 3 x H x W.
    """
    model.eval()
    images = batch["images"]
    pred_images, _, _ = model(images)
    l_self = loss(pred_images, images[:, 1])
    optimizer.zero_grad()
    l_self.backward()
    optimizer.step()
    return l_self.item()


def count_parameters(params: Iterable[nn.Parameter]) -> int:
    """Number of scalar parameters."""
    return sum(p.numel() for p in params)
