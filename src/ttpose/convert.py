"""The authors' released checkpoints in and out.

`from_official(state_dict)` builds the matching `TTPModel` (backbone depth, joints, k_self and head type
read from the keys; a ``module.`` prefix from DataParallel is accepted) and loads the weights;
`to_official(model)` returns a state dict under the authors' key names. Names map one to one:

    pose_net.{conv1,bn1,layer1..4}     <-> encoder.backbone.*
    pose_net.deconv_layers             <-> encoder.deconv_layers
    pose_net.final_layer_unsup         <-> self_head
    pose_net.sup_query.weight (c x K)  <-> sup_head.query (K x c, transposed)
    pose_net.mh_attn.decoder           <-> sup_head.decoder
    pose_net.sup_weight                <-> sup_head.affinity_proj
    pose_net.final_layer               <-> sup_head.conv            (plain-head variant)
    image_encoder / pose_encoder / image_renderer <-> appearance_encoder / pose_encoder / renderer

What the weights expect travels in the config, so that every ttpose path (evaluate, personalize, predict)
feeds and reads them as the authors' code did (docs/reproduce.md):

- ``input_order="bgr"``: their frames are read with OpenCV (BGR) and normalised with the RGB ImageNet
  statistics (`ttpose.model.colour`);
- ``label_origin=1``: their Penn Action and BBC Pose labels are MATLAB 1-based (only the crop centre gets
  -1), so their models answer one pixel right of and below the true 0-based position; ttpose subtracts it
  (`ttpose.inference.decode_output`) and scores against 0-based labels, which gives their PCK.
  Human3.6M (MPII joints) comes from their own cache, whose origin is not known: 0.

`load_model_file(path)` takes either kind of file: a ttpose ``.safetensors`` checkpoint, or the authors'
``.pth`` (plain or ``module.``-prefixed state dict, or their ``checkpoint.pth`` dict with ``state_dict``),
converted in memory.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from ttpose.checkpoint import load_checkpoint, read_header
from ttpose.config import Config, ModelConfig
from ttpose.model import TTPModel
from ttpose.model.backbone import TTPOSE_BACKBONE
from ttpose.weights import CheckpointError, read_tensors

_PREFIXES = (  # (official prefix, ttpose prefix); the longest match wins
    ("pose_net.deconv_layers.", "encoder.deconv_layers."),
    ("pose_net.final_layer_unsup.", "self_head."),
    ("pose_net.mh_attn.decoder.", "sup_head.decoder."),
    ("pose_net.sup_weight.", "sup_head.affinity_proj."),
    ("pose_net.final_layer.", "sup_head.conv."),
    ("pose_net.", "encoder.backbone."),
    ("image_encoder.", "appearance_encoder."),
    ("pose_encoder.", "pose_encoder."),
    ("image_renderer.", "renderer."),
)
_QUERY = ("pose_net.sup_query.weight", "sup_head.query")

_DEPTHS = {  # (block has conv3, blocks in layer1..4) -> depth
    (False, (2, 2, 2, 2)): "resnet18",
    (False, (3, 4, 6, 3)): "resnet34",
    (True, (3, 4, 6, 3)): "resnet50",
    (True, (3, 4, 23, 3)): "resnet101",
    (True, (3, 8, 36, 3)): "resnet152",
}
_SKELETONS = {13: "penn_action", 16: "mpii", 7: "bbc_pose"}
_LABEL_ORIGIN = {"penn_action": 1.0, "bbc_pose": 1.0, "mpii": 0.0}  # MATLAB label files are 1-based


def _rename(key: str, table: tuple[tuple[str, str], ...]) -> str:
    for src, dst in table:
        if key.startswith(src):
            return dst + key[len(src):]
    raise KeyError(key)


def official_config(state_dict: dict[str, torch.Tensor]) -> ModelConfig:
    """Read backbone depth, joints, k_self and head type from the authors' keys."""
    sd = _strip_module(state_dict)
    blocks = []
    for i in range(1, 5):
        idx = {int(m.group(1)) for k in sd if (m := re.match(rf"pose_net\.layer{i}\.(\d+)\.", k))}
        blocks.append(len(idx))
    bottleneck = "pose_net.layer1.0.conv3.weight" in sd
    backbone = _DEPTHS.get((bottleneck, tuple(blocks)))
    if backbone is None:
        raise ValueError(f"not an authors' TTP state dict: unknown ResNet layout {blocks} (bottleneck={bottleneck})")
    if "pose_net.final_layer_unsup.weight" not in sd:
        raise ValueError("not an authors' TTP state dict: no pose_net.final_layer_unsup (self-supervised head)")
    num_maps = sd["pose_net.final_layer_unsup.weight"].shape[0]
    if _QUERY[0] in sd:
        head, num_joints = "transformer", sd[_QUERY[0]].shape[1]
        layers = len({k.split(".")[4] for k in sd if k.startswith("pose_net.mh_attn.decoder.layers.")})
        ff = sd["pose_net.mh_attn.decoder.layers.0.linear1.weight"].shape[0]
    elif "pose_net.final_layer.weight" in sd:
        head, num_joints, layers, ff = "conv", sd["pose_net.final_layer.weight"].shape[0], 1, 1024
    else:
        raise ValueError("not an authors' TTP state dict: neither sup_query (Transformer) nor final_layer (conv)")
    if num_joints not in _SKELETONS:
        raise ValueError(f"{num_joints} joints: no known skeleton (13 Penn Action, 16 MPII, 7 BBC Pose)")
    deconv = sd["pose_net.deconv_layers.0.weight"].shape[1]
    enc = tuple(sd[f"image_encoder.layer{i}.0.weight"].shape[0] for i in range(1, 5))
    ren = tuple(sd[f"image_renderer.layer{i}.0.weight"].shape[0] for i in range(1, 5))
    return ModelConfig(
        backbone=backbone, skeleton=_SKELETONS[num_joints], num_maps=num_maps, sup_head=head,
        self_task="keypoint", deconv_channels=deconv, encoder_widths=enc, renderer_widths=ren,
        transformer_layers=max(layers, 1), transformer_ff=ff,
        input_order="bgr", label_origin=_LABEL_ORIGIN[_SKELETONS[num_joints]],
    )


def _strip_module(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    if sd and all(k.startswith("module.") for k in sd):
        return {k[len("module."):]: v for k, v in sd.items()}
    return dict(sd)


def from_official(state_dict: dict[str, torch.Tensor] | str | Path, input_size: int = 128) -> TTPModel:
    """An authors' state dict (or a path to their .pth, read with weights_only=True) -> TTPModel."""
    source = None
    if not isinstance(state_dict, dict):
        source, state_dict = state_dict, read_tensors(state_dict)
    sd = _strip_module(state_dict)
    if any(k.startswith(TTPOSE_BACKBONE) for k in sd):  # ttpose's own key names
        raise ValueError(f"{source or 'this state dict'}: holds ttpose's own key names, not an authors' state dict; "
                         "a ttpose model loads from its .safetensors checkpoint (ttpose.save_checkpoint writes one "
                         "with its config), as it is")
    try:
        config = official_config(sd)
    except ValueError as e:
        raise ValueError(f"{source}: {e}" if source else str(e)) from None
    config.input_size = input_size
    model = TTPModel(config)
    ours, origin = {}, {}
    for key, value in sd.items():
        if key == _QUERY[0]:
            new, value = _QUERY[1], value.t().contiguous()
        else:
            try:
                new = _rename(key, _PREFIXES)
            except KeyError:
                raise ValueError(f"unexpected key in the authors' state dict: {key!r}") from None
        ours[new], origin[new] = value, key
    own = model.state_dict()
    for key in ours:
        if key not in own:
            raise ValueError(f"unexpected key in the authors' state dict: {origin[key]!r}")
    missing = [k for k in own if k not in ours]
    if missing:
        raise ValueError(f"the authors' state dict lacks {len(missing)} keys the model needs (e.g. {missing[0]!r})")
    model.load_state_dict(ours, strict=True)
    return model


def to_official(model: TTPModel) -> dict[str, torch.Tensor]:
    """A TTPModel's weights under the authors' key names (the inverse of `from_official`)."""
    if model.config.self_task != "keypoint":
        raise ValueError("only keypoint-task models have an authors' counterpart (self_task=keypoint)")
    inverse = tuple((dst, src) for src, dst in _PREFIXES)
    inverse = tuple(sorted(inverse, key=lambda p: -len(p[0])))
    out = {}
    for key, value in model.state_dict().items():
        if key == _QUERY[1]:
            out[_QUERY[0]] = value.t().contiguous()
        else:
            out[_rename(key, inverse)] = value
    return out


def load_model_file(path: str | Path) -> tuple[Config, TTPModel, str | None]:
    """A ttpose checkpoint or the authors' .pth -> (config, model, note).

    The config is the checkpoint's (for an authors' file: its model section with ttpose's defaults for the
    rest); the note is None for a ttpose checkpoint, else one line saying that the file was converted in
    memory.
    """
    path = Path(path)
    if path.suffix == ".safetensors":  # the weights are read once; the config again from the header only
        model = load_checkpoint(path)
        return read_header(path)[0], model, None
    tensors = read_tensors(path)  # a CheckpointError naming the file if it is not a readable weights file
    try:
        model = from_official(tensors)
    except ValueError as e:
        raise CheckpointError(f"{path}: neither a ttpose .safetensors checkpoint nor the authors' .pth ({e})") from None
    cfg = model.config
    note = (f"{path}: the authors' checkpoint, converted in memory ({cfg.backbone}, {cfg.sup_head} head, "
            f"{model.skeleton.num_joints} joints, {cfg.input_order.upper()} input, labels from "
            f"{cfg.label_origin:g}); `ttpose convert` keeps a .safetensors copy")
    return Config(model=cfg), model, note
