"""Speed options for joint training, test-time personalization and inference (issue 8, docs/speed.md).

Every option is off by default (float32, the model as it is); each one is an exact or near-exact rewrite of
the same computation, not a change of method:

- ``precision``: ``bf16`` (or ``fp16``, GPU, prediction only) runs the convolutions and matrix products under
  ``torch.autocast``; parameters, Adam's state and the losses stay float32. On CPUs with AMX/AVX-512 BF16
  (``lscpu`` flags ``amx_bf16`` / ``avx512_bf16``) oneDNN uses the bfloat16 units. Not exact: outputs differ
  by about 1e-2 relative (bfloat16 has an 8-bit mantissa). Elsewhere oneDNN emulates bfloat16, slower than
  float32 (a TTP update of the synthetic Table 1's Transformer took 1.4x the fp32 time, benchmarks/SPEED.md,
  section table1_step_time); ``auto`` picks bf16 only where it is fast (`precision_on`), so one config runs at
  its best on any machine.
- ``channels_last``: parameters and inputs in NHWC memory layout (oneDNN's native one on CPU).
  Exact up to float rounding order.
- ``fold_bn``: every BatchNorm in eval mode that directly follows a convolution is folded into it
  (`ttpose.model.fold_bn`): the conv runs with weight ``W * gamma / sqrt(var + eps)`` and bias
  ``beta - mean * gamma / sqrt(var + eps)``, recomputed from the live weights at each call, so gradients
  still reach ``W`` and the BN stays frozen, as in personalization (Sec. 3.2: the model stays in eval mode).
  A BN in training mode is never folded, so joint training (BN in train mode) is unaffected. Exact up to
  float rounding. The module tree, the parameters and the ``state_dict`` are unchanged (the two classes are
  swapped in place).
- ``separable_gaussians``: the pose encoder's 7x7 conv computed on the bottleneck Gaussians' row and column
  profiles (each upsampled Gaussian map is an outer product: `ttpose.model.bottleneck.SeparableMaps`)
  instead of on the k_self full-resolution maps; no precision change, exact up to float rounding. That
  conv was the single most expensive operation of a personalization update with ``encoder_widths`` as
  small as the CPU presets'. Affects the reconstruction path only (training, personalization).
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
import functools
import os
import shutil
from dataclasses import replace

import torch
from torch import nn

from ttpose.config import SpeedConfig
from ttpose.model.fold_bn import bake_batchnorm, fold_batchnorm, unfold_batchnorm

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def precision_on(speed: SpeedConfig | None, device: torch.device | str = "cpu") -> str:
    """The autocast precision ``speed`` means on ``device``: ``speed.precision``, with ``auto`` decided as
    `fast_speed` decides (bf16 on GPUs and on CPUs with `bf16_units`, else fp32)."""
    if speed is None:
        return "fp32"
    if speed.precision != "auto":
        return speed.precision
    return _fast_precision(device)


def autocast(speed: SpeedConfig | None, device: torch.device | str = "cpu") -> contextlib.AbstractContextManager:
    """``torch.autocast`` for ``speed``'s precision on ``device`` (`precision_on`; a no-op context for fp32)."""
    precision = precision_on(speed, device)
    if precision == "fp32":
        return contextlib.nullcontext()
    device_type = torch.device(device).type
    if device_type == "cpu" and precision == "fp16":
        raise ValueError("speed.precision=fp16 is for CUDA devices; on CPU use bf16")
    return torch.autocast(device_type, dtype=_DTYPES[precision])


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
    if speed.separable_gaussians and hasattr(model, "separable_gaussians"):
        model.separable_gaussians = True
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


def bf16_units(cpuinfo: str | os.PathLike | None = None) -> bool:
    """Whether this CPU has bfloat16 matrix units (Linux ``/proc/cpuinfo`` flags ``amx_bf16`` or ``avx512_bf16``),
    where ``precision=bf16`` is fast; elsewhere (or where the flags cannot be read) oneDNN emulates bfloat16
    and it is slower than float32. ``cpuinfo``: another file to read; this machine's answer is read once."""
    return _has_bf16_flags(cpuinfo) if cpuinfo is not None else _this_cpu_has_bf16_units()


def _has_bf16_flags(cpuinfo: str | os.PathLike) -> bool:
    try:
        with open(cpuinfo) as f:
            flags = set(f.read().split())
    except OSError:
        return False
    return bool(flags & {"amx_bf16", "avx512_bf16"})


@functools.cache
def _this_cpu_has_bf16_units() -> bool:  # `precision_on` asks at every autocast: read the file once
    return _has_bf16_flags("/proc/cpuinfo")


def _fast_precision(device: torch.device | str) -> str:
    """bf16 where it is fast (GPUs, CPUs with `bf16_units`), else fp32."""
    return "bf16" if torch.device(device).type == "cuda" or bf16_units() else "fp32"


def fast_speed(device: torch.device | str = "cpu") -> SpeedConfig:
    """The speed options worth turning on for personalization on ``device`` without a compiler: channels-last,
    folded BatchNorm and separable Gaussians everywhere, bf16 autocast on GPUs and on CPUs with `bf16_units`."""
    return SpeedConfig(precision=_fast_precision(device), channels_last=True, fold_bn=True, separable_gaussians=True)


# what `fast_speed` decides (compiling is left as it is)
FAST_OPTIONS = ("precision", "channels_last", "fold_bn", "separable_gaussians")


def speed_overrides(speed: SpeedConfig, fields=FAST_OPTIONS, prefix: str = "ttp.speed") -> list[str]:
    """``fields`` of ``speed`` as dotted config overrides (``ttp.speed.precision=bf16`` ...), for `load_config`
    and the CLI."""
    values = {name: getattr(speed, name) for name in fields}
    return [f"{prefix}.{name}={str(v).lower() if isinstance(v, bool) else v}" for name, v in values.items()]


def describe(speed: SpeedConfig | None, device: torch.device | str = "cpu") -> str:
    """A short label such as ``bf16+fold_bn`` (``fp32`` when every option is off; ``auto=fp32+...`` with what
    ``auto`` means on ``device``)."""
    if speed is None:
        return "fp32"
    flags = [name for name in ("channels_last", "fold_bn", "separable_gaussians", "compile", "compile_frozen")
             if getattr(speed, name)]
    precision = speed.precision if speed.precision != "auto" else f"auto={precision_on(speed, device)}"
    return "+".join([precision, *flags])


__all__ = ["SpeedConfig", "autocast", "bake_batchnorm", "bf16_units", "compile_model", "describe", "fast_speed",
           "fold_batchnorm", "inference_model", "precision_on", "prediction_model", "prepare_batch", "prepare_input",
           "prepare_model", "private_copy", "require_compiler", "require_trainable", "speed_overrides",
           "unfold_batchnorm"]
