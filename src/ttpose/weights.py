"""Weight files read safely: a flat name -> tensor dict, never unpickling arbitrary objects.

`read_tensors` reads .safetensors through safetensors and .pth/.pt/.bin only through
``torch.load(weights_only=True)``; a missing, empty, truncated or foreign file raises `CheckpointError`, one
line that names the file. It sits below the model and the losses, which read pretrained weights (ImageNet
ResNet, VGG-16) with it, and below `ttpose.checkpoint`, which adds ttpose's own checkpoint format on top.
"""

from __future__ import annotations

import hashlib
import pickle
import re
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file


class CheckpointError(ValueError):
    """A checkpoint that cannot be used, stated in one line that names the file."""


def read_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """A flat name -> tensor dict from .safetensors, or from .pth/.pt/.bin with weights_only=True."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: file is empty")
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError, RuntimeError) as e:
            raise CheckpointError(f"{path}: not a readable safetensors file ({first_line(e)})") from None
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:  # torch's own advice (weights_only=False) would run the file's code
        if "This file can still be loaded" in str(e):  # a valid torch file holding Python objects besides tensors
            found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(e))
            kind = found.group(1) if found else "not only tensors"
            what = (f"it holds Python objects ({kind}), which ttpose never unpickles: " + (
                "a pickled ttpose model; if you trust the file, save it once as a checkpoint with "
                "ttpose.save_checkpoint(path, model, config)" if kind.startswith("ttpose.") else
                "if you trust the file, save its tensors alone once, e.g. torch.save(model.state_dict(), ...) or "
                "the checkpoint's 'state_dict' entry"))
        else:
            what = "not a PyTorch weights file"
        raise CheckpointError(f"{path}: not a state dict of tensors ({what})") from None
    except Exception as e:  # truncated zip, a file of another kind, ...
        raise CheckpointError(f"{path}: not a readable PyTorch weights file (truncated, or a file of another "
                              f"kind; torch.load: {type(e).__name__}: {first_line(e)})") from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: expected a state dict of tensors, got {type(obj).__name__}")
    return obj


def first_line(e: BaseException) -> str:
    """The first line of an error's message (at most 200 characters, terminal colour codes removed), for a
    one-line `CheckpointError`."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(e)).strip().splitlines()
    return text[0][:200] if text else type(e).__name__


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a weights file's bytes (what ``sha256sum`` prints), read 1 MiB at a time: the identity of a
    checkpoint for a resume, the demo's shipped model and the benchmarks' results."""
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            sha.update(chunk)
    return sha.hexdigest()


def tensors_sha256(path: str | Path) -> str:
    """SHA-256 of the weights alone: each tensor's name, dtype, shape and bytes, in name order (`read_tensors`).
    Unlike `file_sha256` it ignores a file's metadata (a ttpose checkpoint stores its config there, which gains
    fields as ttpose grows) and its layout, so two checkpoints have the same digest exactly when they hold the
    same numbers: the check that a retrained model is the same model."""
    sha = hashlib.sha256()
    for name, tensor in sorted(read_tensors(path).items()):
        sha.update(f"{name}\0{tensor.dtype}\0{tuple(tensor.shape)}\0".encode())
        sha.update(tensor.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return sha.hexdigest()
