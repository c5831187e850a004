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

The authors' images are BGR normalised with RGB statistics; see docs/reproduce.md for using their
weights with ttpose's RGB pipeline.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from ttpose.config import ModelConfig
from ttpose.model import TTPModel

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
    )


def _strip_module(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    if sd and all(k.startswith("module.") for k in sd):
        return {k[len("module."):]: v for k, v in sd.items()}
    return dict(sd)


def from_official(state_dict: dict[str, torch.Tensor] | str | Path, input_size: int = 128) -> TTPModel:
    """An authors' state dict (or a path to their .pth, read with weights_only=True) -> TTPModel."""
    if not isinstance(state_dict, dict):
        from ttpose.checkpoint import read_tensors

        state_dict = read_tensors(state_dict)
    sd = _strip_module(state_dict)
    config = official_config(sd)
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
