"""Checkpoints: safetensors weights with the config beside them, atomic writes, safe loading.

- A model checkpoint is ``NAME.safetensors``: the model's state dict (plus the reconstruction loss's
  running means under ``loss.``), with the full config as JSON in the file's metadata so that one file
  suffices; the config is also written beside it as ``NAME.yaml`` for people to read.
- A training state (``train_state.safetensors``) adds the optimizer, the scheduler, the step and the
  RNG state, flattened to tensors + a JSON skeleton, so `--resume` continues bit for bit.
- Loading never unpickles arbitrary objects (`ttpose.weights.read_tensors`): .safetensors through safetensors,
  .pth/.pt only through ``torch.load(weights_only=True)``. A truncated or foreign file raises `CheckpointError`
  naming it.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import safe_open, save_file

from ttpose.atomic import atomic_path, atomic_write_text
from ttpose.config import Config, ConfigError, config_from_dict, dump_yaml, to_dict
from ttpose.model import TTPModel
from ttpose.weights import CheckpointError, first_line, read_tensors

FORMAT = "ttpose-checkpoint-1"


def _contiguous(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().contiguous() for k, v in state.items()}


def save_checkpoint(path: str | Path, model: torch.nn.Module, config: Config, loss: torch.nn.Module | None = None,
                    extra: dict[str, Any] | None = None) -> Path:
    """Write ``path`` (.safetensors) and ``path.with_suffix('.yaml')`` atomically."""
    path = Path(path).with_suffix(".safetensors")
    tensors = dict(model.state_dict())
    if loss is not None:
        tensors.update({f"loss.{k}": v for k, v in loss.state_dict().items() if not k.startswith("vgg.")})
    metadata = {"format": FORMAT, "config": json.dumps(to_dict(config)), "extra": json.dumps(extra or {})}
    with atomic_path(path) as tmp:
        save_file(_contiguous(tensors), str(tmp), metadata=metadata)
    atomic_write_text(path.with_suffix(".yaml"), dump_yaml(config))
    return path


def read_checkpoint(path: str | Path) -> tuple[Config, dict[str, torch.Tensor], dict[str, Any]]:
    """(config, tensors, extra) of a ttpose checkpoint, validated."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise CheckpointError(
            f"{path}: a ttpose checkpoint is a .safetensors file; for the authors' .pth checkpoints use "
            "ttpose.convert.from_official / `ttpose convert`"
        )
    tensors = read_tensors(path)
    config, extra = read_header(path)
    return config, tensors, extra


def read_header(path: str | Path) -> tuple[Config, dict[str, Any]]:
    """(config, extra) of a ttpose checkpoint from the file's header alone: no weight is read."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{path}: not a readable safetensors file ({first_line(e)})") from None
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a ttpose checkpoint (metadata format={metadata.get('format')!r})")
    try:
        config = config_from_dict(json.loads(metadata["config"]))
    except (KeyError, json.JSONDecodeError, ConfigError) as e:
        raise CheckpointError(f"{path}: its config is unreadable ({first_line(e)})") from None
    return config, json.loads(metadata.get("extra", "{}"))


def load_checkpoint(path: str | Path) -> TTPModel:
    """Build the model a checkpoint describes and load its weights (strictly).

    The training loss's config and running means travel with the model (``model.loss_config``,
    ``model.loss_running_mean``), for `ttpose.personalization.reconstruction_loss_for`; so do the checkpoint's TTP
    settings (``model.ttp_config``), which `ttpose.personalize` uses when given none, as `ttpose personalize` does.
    """
    config, tensors, _ = read_checkpoint(path)
    # the weights come from the file: the ResNet a training run started from (model.pretrained) is not read again,
    # so the model loads wherever it is and whether or not that file is still there; its config keeps the path
    model = TTPModel(replace(config.model, pretrained=None))
    model.config = config.model
    model_state = {k: v for k, v in tensors.items() if not k.startswith("loss.")}
    _load_strict(path, model, model_state)
    # the training loss travels with the model, so that personalization uses the same L_self
    model.loss_config = config.loss
    model.loss_running_mean = tensors.get("loss.running_mean")
    model.ttp_config = config.ttp
    return model


def _load_strict(path: Path | str, module: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and own[k].shape != state[k].shape]
    if missing or unexpected or wrong:
        what = (f"missing {missing[0]!r}" if missing else f"unexpected {unexpected[0]!r}" if unexpected
                else f"shape of {wrong[0]!r} is {tuple(state[wrong[0]].shape)}, expected {tuple(own[wrong[0]].shape)}")
        raise CheckpointError(f"{path}: weights do not match the model its config describes ({what})")
    module.load_state_dict(state)


# ------------------------------------------------------------------------------- nested state <-> tensors


def flatten_state(obj: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    """Move every tensor of a nested dict/list structure into ``tensors``; return a JSON-able skeleton."""
    if isinstance(obj, torch.Tensor):
        tensors[prefix] = obj.detach().contiguous().clone()
        return {"__tensor__": prefix}
    if isinstance(obj, dict):
        return {"__dict__": [[flatten_state(k, f"{prefix}.k{i}", tensors), flatten_state(v, f"{prefix}.{i}", tensors)]
                             for i, (k, v) in enumerate(obj.items())]}
    if isinstance(obj, (list, tuple)):
        return {"__list__" if isinstance(obj, list) else "__tuple__":
                [flatten_state(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} in a training state")


def unflatten_state(skeleton: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(skeleton, dict):
        if "__tensor__" in skeleton:
            return tensors[skeleton["__tensor__"]]
        if "__dict__" in skeleton:
            return {unflatten_state(k, tensors): unflatten_state(v, tensors) for k, v in skeleton["__dict__"]}
        if "__list__" in skeleton:
            return [unflatten_state(v, tensors) for v in skeleton["__list__"]]
        if "__tuple__" in skeleton:
            return tuple(unflatten_state(v, tensors) for v in skeleton["__tuple__"])
    return skeleton


def save_state(path: str | Path, state: dict[str, Any], config: Config) -> Path:
    """Atomically write a nested training state (model, optimizer, scheduler, step, RNG) as safetensors."""
    path = Path(path)
    tensors: dict[str, torch.Tensor] = {}
    skeleton = flatten_state(state, "s", tensors)
    metadata = {"format": FORMAT + "-state", "config": json.dumps(to_dict(config)), "state": json.dumps(skeleton)}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return path


def load_state(path: str | Path) -> tuple[Config, dict[str, Any]]:
    path = Path(path)
    tensors = read_tensors(path)
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata() or {}
    if metadata.get("format") != FORMAT + "-state":
        raise CheckpointError(f"{path}: not a ttpose training state")
    config = config_from_dict(json.loads(metadata["config"]))
    return config, unflatten_state(json.loads(metadata["state"]), tensors)
