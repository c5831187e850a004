"""BatchNorm folding: a frozen (eval-mode) BN that directly follows a convolution computes, per channel,
``y = x * gamma / sqrt(var + eps) + (beta - mean * gamma / sqrt(var + eps))``, so the conv can run with
weight ``W * gamma / sqrt(var + eps)`` and bias ``beta - mean * gamma / sqrt(var + eps)`` and the BN can be
skipped: the same outputs up to float rounding, one pass over the activations less.

`fold_batchnorm` does it in place and reversibly (`unfold_batchnorm`): the folded weight and bias are
recomputed from the live parameters at each call, so gradients still reach ``W``, ``gamma`` and ``beta``
(personalization keeps the model in eval mode, Sec. 3.2), and a BN in training mode is never folded (joint
training is unaffected). The module tree, the parameters and the ``state_dict`` are unchanged (the classes are
swapped in place). `bake_batchnorm` makes the folding permanent, for prediction-only copies
(`ttpose.speed.inference_model`).

Which (conv, BN) pairs are folded: consecutive children of an ``nn.Sequential``, and the pairs a module
declares by attribute name in ``conv_bn_pairs`` (a class attribute, e.g. ``(("conv1", "bn1"),)``): a module
declares a pair when its forward feeds the conv's output into the BN and nowhere else. Nothing is matched by
class name: a module that declares nothing has only its Sequential pairs folded.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn


def _bn_scale_shift(bn: nn.modules.batchnorm._BatchNorm) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode BN as y = x * scale + shift (per channel), differentiable in gamma and beta."""
    inv = torch.rsqrt(bn.running_var + bn.eps)
    scale = inv if bn.weight is None else bn.weight * inv
    shift = -bn.running_mean * scale
    if bn.bias is not None:
        shift = shift + bn.bias
    return scale, shift


class _Folded:
    """What a conv followed by a frozen BN (``_folded_bn``) computes as one conv: `folded` weight and bias."""

    out_dim = 0  # the weight's output-channel dimension

    def folded(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight, bias) of the conv with the BN folded in, from the live parameters."""
        scale, shift = _bn_scale_shift(self.__dict__["_folded_bn"])
        shape = [1] * self.weight.dim()
        shape[self.out_dim] = -1
        bias = shift if self.bias is None else self.bias * scale + shift
        return self.weight * scale.view(shape), bias


def applied_weight_bias(conv: nn.Conv2d) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The (weight, bias) ``conv`` applies in its current state: the folded pair when its BN is folded and in
    eval mode, else its own parameters. For code that computes the conv in another form."""
    if isinstance(conv, _Folded) and not conv.__dict__["_folded_bn"].training:
        return conv.folded()
    return conv.weight, conv.bias


class _FoldedConv2d(_Folded, nn.Conv2d):
    """A Conv2d followed by a frozen BN: one conv with the folded weight and bias."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, *applied_weight_bias(self))


class _FoldedConvTranspose2d(_Folded, nn.ConvTranspose2d):
    """A ConvTranspose2d (weight Cin x Cout x k x k) followed by a frozen BN, as one transposed conv."""

    out_dim = 1

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if self.__dict__["_folded_bn"].training:
            return super().forward(x, output_size)
        weight, bias = self.folded()
        pad = self._output_padding(x, output_size, self.stride, self.padding, self.kernel_size, 2, self.dilation)
        return F.conv_transpose2d(x, weight, bias, self.stride, self.padding, pad, self.groups, self.dilation)


class _FoldedBatchNorm2d(nn.BatchNorm2d):
    """The BN whose effect moved into the preceding conv: the identity in eval mode, a BN in train mode."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) if self.training else x


class _BakedBatchNorm2d(nn.BatchNorm2d):
    """A BN baked into the preceding conv's weight and bias (`bake_batchnorm`): the identity in every mode.
    Its buffers stay (the state-dict keys are unchanged) but no longer act."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


_FOLDED = {nn.Conv2d: _FoldedConv2d, nn.ConvTranspose2d: _FoldedConvTranspose2d}
_UNFOLDED = {v: k for k, v in _FOLDED.items()}


def _pairs(model: nn.Module) -> Iterator[tuple[nn.Module, nn.Module]]:
    """(conv, BN) pairs where the BN takes the conv's output and nothing else does: consecutive children of
    every Sequential, and the pairs each module declares in ``conv_bn_pairs``."""
    for module in model.modules():
        if isinstance(module, nn.Sequential):
            children = list(module)
            yield from zip(children[:-1], children[1:], strict=True)
        else:
            for conv, bn in getattr(module, "conv_bn_pairs", ()):
                yield getattr(module, conv), getattr(module, bn)


def fold_batchnorm(model: nn.Module) -> int:
    """Fold every eval-mode BatchNorm2d that directly follows a Conv2d / ConvTranspose2d; returns the count.

    In place and reversible (`unfold_batchnorm`); parameters, buffers and state-dict keys are unchanged,
    and a folded pair behaves as before whenever its BN is in training mode.
    """
    count = 0
    for conv, bn in _pairs(model):
        if type(conv) in _FOLDED and type(bn) is nn.BatchNorm2d and bn.track_running_stats:
            if conv.out_channels != bn.num_features or (isinstance(conv, nn.ConvTranspose2d) and conv.groups != 1):
                continue
            conv.__class__ = _FOLDED[type(conv)]
            conv.__dict__["_folded_bn"] = bn  # a plain reference, not a submodule: state_dict unchanged
            bn.__class__ = _FoldedBatchNorm2d
            count += 1
    return count


def unfold_batchnorm(model: nn.Module) -> int:
    """Undo `fold_batchnorm`; returns the number of pairs restored."""
    count = 0
    for module in model.modules():
        if type(module) in _UNFOLDED:
            module.__class__ = _UNFOLDED[type(module)]
            module.__dict__.pop("_folded_bn", None)
            count += 1
        elif type(module) is _FoldedBatchNorm2d:
            module.__class__ = nn.BatchNorm2d
    return count


def bake_batchnorm(model: nn.Module) -> int:
    """Make `fold_batchnorm`'s folding permanent: each folded conv gets the folded weight and bias as its own
    parameters (computed once, not per call) and its BN becomes the identity in every mode; returns the count.

    For prediction-only copies (`ttpose.speed.inference_model`): the model must not be trained or personalized
    afterwards.
    """
    count = 0
    with torch.no_grad():
        for module in model.modules():
            if type(module) in _UNFOLDED:
                weight, bias = module.folded()
                module.__class__ = _UNFOLDED[type(module)]
                module.__dict__.pop("_folded_bn").__class__ = _BakedBatchNorm2d
                module.weight = nn.Parameter(weight.detach().clone(), requires_grad=False)
                module.bias = nn.Parameter(bias.detach().clone(), requires_grad=False)
                count += 1
    return count
