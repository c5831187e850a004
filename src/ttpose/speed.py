"""Speed options for joint training, test-time personalization and inference (issue 8, docs/speed.md).

Every option is off by default (float32, the model as it is); each one is an exact or near-exact rewrite of
the same computation, not a change of method:

- ``precision``: ``bf16`` (or ``fp16``, GPU, prediction only) runs the convolutions and matrix products under
  ``torch.autocast``; parameters, Adam's state and the losses stay float32. On CPUs with AMX/AVX-512 BF16
  (``lscpu`` flags ``amx_bf16`` / ``avx512_bf16``) oneDNN uses the bfloat16 units. Not exact: outputs differ
  by about 1e-2 relative (bfloat16 has an 8-bit mantissa).
- ``channels_last``: parameters and inputs in NHWC memory layout (oneDNN's native one on CPU).
  Exact up to float rounding order.
- ``fold_bn``: every BatchNorm in eval mode that directly follows a convolution is folded into it: the
  conv runs with weight ``W * gamma / sqrt(var + eps)`` and bias ``beta - mean * gamma / sqrt(var + eps)``,
  recomputed from the live weights at each call, so gradients still reach ``W`` and the BN stays frozen,
  as in personalization (Sec. 3.2: the model stays in eval mode). A BN in training mode is never folded,
  so joint training (BN in train mode) is unaffected. Exact up to float rounding. The module tree, the
  parameters and the ``state_dict`` are unchanged (the two classes are swapped in place).
- ``compile``: ``torch.compile`` of the model's forward. Pays only after a long warm-up; see docs/speed.md.
- ``compile_frozen`` (prediction with a model that no longer changes: `inference_model`): BN folded for good,
  then the encoder compiled with inductor's weight freezing (weights become constants: BN-free graph, oneDNN
  weight prepacking). This is what makes batch-1 inference fast on CPU, where the plain computation spends
  most of its time re-laying-out weights for every call. A snapshot: later changes to the weights are not seen.

Usage (what `Personalizer`, `train` and `predict_video` do):

    speed = SpeedConfig(precision="bf16", fold_bn=True)
    prepare_model(model, speed)            # layout, folding, compile: once, on a private copy
    with autocast(speed, images.device):   # around the forward and the loss; backward outside
        out = model(prepare_input(images, speed))
"""

from __future__ import annotations

import contextlib
import copy
import os
import shutil
from collections.abc import Iterator
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from ttpose.config import SpeedConfig

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(speed: SpeedConfig | None, device: torch.device | str = "cpu") -> contextlib.AbstractContextManager:
    """``torch.autocast`` for ``speed.precision`` (a no-op context for fp32)."""
    if speed is None or speed.precision == "fp32":
        return contextlib.nullcontext()
    device_type = torch.device(device).type
    if device_type == "cpu" and speed.precision == "fp16":
        raise ValueError("speed.precision=fp16 is for CUDA devices; on CPU use bf16")
    return torch.autocast(device_type, dtype=_DTYPES[speed.precision])


def require_trainable(speed: SpeedConfig | None, what: str) -> None:
    """Refuse fp16 where gradients flow (training, personalization): without gradient scaling, which ttpose
    does not do, the heatmap loss's gradients (~1e-8 at the paper's sizes) underflow float16 to zero."""
    if speed is not None and speed.precision == "fp16":
        raise ValueError(f"{what}: speed.precision=fp16 would lose the gradients (float16 underflows without "
                         f"gradient scaling); use bf16, or fp16 for inference only")


def prepare_input(images: torch.Tensor, speed: SpeedConfig | None) -> torch.Tensor:
    """Images in the memory layout the model expects under ``speed`` (NHWC for channels_last)."""
    if speed is not None and speed.channels_last and images.dim() == 4:
        return images.contiguous(memory_format=torch.channels_last)
    return images


def prepare_batch(batch: dict, speed: SpeedConfig | None) -> dict:
    """`prepare_input` on every 4-D image tensor of a training / personalization batch."""
    if speed is None or not speed.channels_last:
        return batch
    return {k: prepare_input(v, speed) if k in ("target", "source") else v for k, v in batch.items()}


def prepare_model(model: nn.Module, speed: SpeedConfig | None) -> nn.Module:
    """Apply ``speed``'s model rewrites in place (layout, BN folding, compile) and return ``model``.

    Call it on a private copy (personalization already works on one): the parameters keep their identity,
    names and values, so optimizers, ``state_dict`` and checkpoints are unaffected.
    """
    if speed is None:
        return model
    if speed.channels_last:
        model.to(memory_format=torch.channels_last)
    if speed.fold_bn:
        fold_batchnorm(model)
    if speed.compile:
        compile_model(model)
    return model


def private_copy(model: nn.Module) -> nn.Module:
    """``copy.deepcopy`` without the compiled forwards of ``nn.Module.compile`` (`compile_model`): a deep copy
    would keep calling the ORIGINAL module's compiled forward (and skip compiling itself), so the copy's own
    weights, folding and mode would be ignored. The copy runs eagerly until it is compiled again."""
    net = copy.deepcopy(model)
    for module in net.modules():
        if getattr(module, "_compiled_call_impl", None) is not None:
            module._compiled_call_impl = None
        module.__dict__.pop("_ttpose_compiled", None)
    return net


def require_compiler(model: nn.Module) -> None:
    """A one-line error, before any compilation starts, when torch.compile cannot work here (CPU without a
    C++ compiler: inductor generates C++)."""
    param = next(model.parameters(), None)
    if param is not None and param.device.type != "cpu":
        return
    if not any(shutil.which(c) for c in (os.environ.get("CXX", ""), "g++", "c++", "clang++") if c):
        raise RuntimeError("speed.compile / speed.compile_frozen need a C++ compiler on CPU (torch.compile "
                           "generates C++); install g++ (e.g. apt install g++) or set CXX, or turn the option off")


def compile_model(model: nn.Module) -> None:
    """``torch.compile`` the heavy submodules in place (the encoders, renderer and backbone).

    Whole-model compilation breaks on the data-dependent Python of the heads; compiling the convolutional
    blocks gives the fusions (conv + BN + ReLU) that matter. Needs a C++ compiler on CPU.
    """
    require_compiler(model)
    for name in ("encoder", "appearance_encoder", "pose_encoder", "renderer"):
        module = getattr(model, name, None)
        if module is not None and not getattr(module, "_ttpose_compiled", False):
            module.compile()
            module._ttpose_compiled = True


# ------------------------------------------------------------------------------------------- BN folding


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


class _FoldedConv2d(_Folded, nn.Conv2d):
    """A Conv2d followed by a frozen BN: one conv with the folded weight and bias."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.__dict__["_folded_bn"].training:
            return super().forward(x)
        return self._conv_forward(x, *self.folded())


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
# Modules whose forward feeds ``convN`` straight into ``bnN`` (and ``downsample`` is a Sequential).
_PAIRED_BY_NAME = ("BasicBlock", "Bottleneck", "ResNet", "OfficialPoseNet", "RotationHead")


def _pairs(model: nn.Module) -> Iterator[tuple[nn.Module, nn.Module]]:
    """(conv, BN) pairs where the BN takes the conv's output and nothing else does."""
    for module in model.modules():
        if isinstance(module, nn.Sequential):
            children = list(module)
            yield from zip(children[:-1], children[1:], strict=True)
        elif type(module).__name__ in _PAIRED_BY_NAME:
            for name, child in module.named_children():
                if name.startswith("conv"):
                    bn = getattr(module, "bn" + name[4:], None)
                    if bn is not None:
                        yield child, bn


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

    For prediction-only copies (`inference_model`): the model must not be trained or personalized afterwards.
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


class _Frozen(nn.Module):
    """``torch.compile`` of ``module`` with inductor's weight freezing (every call, so that recompilations
    for new input shapes freeze too): parameters become constants of the compiled graph."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.compiled = torch.compile(module)

    def forward(self, *args, **kwargs):
        import torch._inductor.config as inductor_config

        with torch.no_grad(), inductor_config.patch(freezing=True):
            return self.compiled(*args, **kwargs)


def inference_model(model: nn.Module, speed: SpeedConfig | None = None) -> nn.Module:
    """A prediction-only copy of ``model`` with ``speed``'s options applied for good (``model`` is untouched).

    Use it with `autocast` / `prepare_input` of the same ``speed`` around ``predict`` (`predict_video` does).
    Eval mode, no gradients; ``fold_bn``: BN folded into the convs once (`bake_batchnorm`); ``channels_last``;
    ``compile_frozen``: BN folded for good, then the encoder compiled with weight freezing (`_Frozen`; it
    takes the place of ``compile``); else ``compile``: the heavy blocks compiled (`compile_model`). Freezing
    always folds BN first: inductor's own folding of a ConvTranspose2d + BatchNorm2d pair under freezing gave
    wrong outputs here (torch 2.13, CPU; tests/test_speed.py checks that ours stays exact). The copy is a
    snapshot: personalize the model first, then build the inference copy. Given a model this function
    already made for the same ``speed``, returns it as it is (so callers can prepare once and pass it on).
    """
    speed = replace(speed or SpeedConfig())
    made_for = getattr(model, "_ttpose_inference", None)
    if made_for is not None:
        if made_for != speed:
            raise ValueError(f"this model is already an inference copy for {describe(made_for)}; "
                             f"build the copy for {describe(speed)} from the original model")
        return model
    net = private_copy(model).eval().requires_grad_(False)
    net._ttpose_inference = speed
    if speed.fold_bn or speed.compile_frozen:
        fold_batchnorm(net)
        bake_batchnorm(net)
    if speed.channels_last:
        net.to(memory_format=torch.channels_last)
    if speed.compile_frozen:
        require_compiler(net)
        net.encoder = _Frozen(net.encoder)
    elif speed.compile:
        compile_model(net)
    return net


def prediction_model(model: nn.Module, speed: SpeedConfig | None) -> nn.Module:
    """What predictions of a model that stays as it is should run on: ``model`` itself when every option of
    ``speed`` is off (the plain computation, no copy), else its `inference_model` copy."""
    if (speed is None or speed == SpeedConfig()) and getattr(model, "_ttpose_inference", None) is None:
        return model
    return inference_model(model, speed)


def bf16_units(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> bool:
    """Whether this CPU has bfloat16 matrix units (Linux ``/proc/cpuinfo`` flags ``amx_bf16`` or ``avx512_bf16``),
    where ``precision=bf16`` is fast; elsewhere (or where the flags cannot be read) oneDNN emulates bfloat16
    and it is slower than float32."""
    try:
        with open(cpuinfo) as f:
            flags = set(f.read().split())
    except OSError:
        return False
    return bool(flags & {"amx_bf16", "avx512_bf16"})


def fast_speed(device: torch.device | str = "cpu") -> SpeedConfig:
    """The speed options worth turning on for personalization on ``device`` without a compiler: channels-last
    and folded BatchNorm everywhere, bf16 autocast on GPUs and on CPUs with `bf16_units`."""
    bf16 = torch.device(device).type == "cuda" or bf16_units()
    return SpeedConfig(precision="bf16" if bf16 else "fp32", channels_last=True, fold_bn=True)


FAST_OPTIONS = ("precision", "channels_last", "fold_bn")  # what `fast_speed` decides (compiling is left as it is)


def speed_overrides(speed: SpeedConfig, fields=FAST_OPTIONS, prefix: str = "ttp.speed") -> list[str]:
    """``fields`` of ``speed`` as dotted config overrides (``ttp.speed.precision=bf16`` ...), for `load_config`
    and the CLI."""
    values = {name: getattr(speed, name) for name in fields}
    return [f"{prefix}.{name}={str(v).lower() if isinstance(v, bool) else v}" for name, v in values.items()]


def describe(speed: SpeedConfig | None) -> str:
    """A short label such as ``bf16+fold_bn`` (``fp32`` when every option is off)."""
    if speed is None:
        return "fp32"
    flags = [name for name in ("channels_last", "fold_bn", "compile", "compile_frozen") if getattr(speed, name)]
    return "+".join([speed.precision, *flags])


__all__ = ["SpeedConfig", "autocast", "bake_batchnorm", "bf16_units", "compile_model", "describe", "fast_speed",
           "fold_batchnorm", "inference_model", "prediction_model", "prepare_batch", "prepare_input", "prepare_model",
           "private_copy", "require_compiler", "require_trainable", "speed_overrides", "unfold_batchnorm"]
