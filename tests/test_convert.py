"""The authors' checkpoints: key names, round trips, and equality with an independent re-creation."""

from pathlib import Path

import pytest
import torch

from ttpose.convert import from_official, load_model_file, official_config, to_official
from ttpose.model.colour import to_input_order

SPEC = Path(__file__).resolve().parents[1].parent / "shared" / "spec" / "official-keys-resnet18.txt"


def spec_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors under the authors' key names and shapes (from the spec file)."""
    if not SPEC.is_file():
        pytest.skip(f"{SPEC} is absent")
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for line in SPEC.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        key, shape = line.split(" ", 1)
        shape = tuple(int(s) for s in shape.strip("()").split(",") if s.strip())
        if key.endswith("num_batches_tracked"):
            sd[key] = torch.randint(0, 1000, shape, generator=g)
        elif key.endswith("running_var"):
            sd[key] = torch.rand(shape, generator=g) + 0.5
        else:
            sd[key] = torch.randn(shape, generator=g) * 0.05
    return sd


def test_config_read_from_keys():
    cfg = official_config(spec_state_dict())
    assert (cfg.backbone, cfg.skeleton, cfg.num_maps, cfg.sup_head) == ("resnet18", "penn_action", 30, "transformer")
    assert cfg.transformer_ff == 1024 and cfg.deconv_channels == 256
    assert (cfg.input_order, cfg.label_origin) == ("bgr", 1.0)  # BGR frames, MATLAB 1-based Penn labels


def test_roundtrip_is_bit_exact():
    sd = spec_state_dict()
    back = to_official(from_official(sd))
    assert list(back) == list(sd) or set(back) == set(sd)
    for k, v in sd.items():
        assert back[k].dtype == v.dtype and torch.equal(back[k], v), k


def test_module_prefix_accepted_and_query_transposed():
    sd = spec_state_dict(1)
    model = from_official({f"module.{k}": v for k, v in sd.items()})
    assert torch.equal(model.sup_head.query, sd["pose_net.sup_query.weight"].t())


def test_foreign_state_dict_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="not an authors"):
        from_official({"conv.weight": torch.zeros(1)})
    # bug: converting a ttpose model said "unknown ResNet layout [0, 0, 0, 0]" without naming the file
    from safetensors.torch import save_file

    ours = tmp_path / "ours.safetensors"
    save_file({"encoder.backbone.conv1.weight": torch.zeros(1)}, str(ours))
    with pytest.raises(ValueError, match="ours.safetensors: holds ttpose.s own key names"):
        from_official(ours)
    sd = spec_state_dict()
    sd["pose_net.extra.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match="unexpected key"):
        from_official(sd)


@pytest.mark.parametrize("depth,head", [(18, "transformer"), (50, "transformer"), (18, "conv")])
def test_converted_model_matches_the_authors_computation(depth, head):
    """Eval mode: (reconstruction, self_heatmaps, sup_heatmaps) == the authors' (pred_images, pose_unsup,
    pose_sup) for the same weights and inputs, within 1e-4 relative error."""
    from benchmarks.reference.official_model import OfficialTTP

    torch.manual_seed(depth)
    official = OfficialTTP(depth=depth, head=head).eval()
    with torch.no_grad():  # non-trivial statistics and heads, so that every path matters
        for name, buf in official.named_buffers():
            if name.endswith("running_mean"):
                buf.normal_(0, 0.1)
            elif name.endswith("running_var"):
                buf.uniform_(0.5, 1.5)
        for name, p in official.named_parameters():
            if "final_layer" in name or "sup_weight" in name or "deconv_layers.0" in name:
                p.normal_(0, 0.05)
    model = from_official(official.state_dict()).eval()
    source, target = torch.randn(2, 3, 128, 128), torch.randn(2, 3, 128, 128)
    with torch.no_grad():
        pred_images, pose_unsup, pose_sup = official(torch.stack([source, target], dim=1))
        # ttpose feeds RGB crops and the converted model rewrites them to BGR (an involution, so this
        # hands the authors' network the very tensors it got above)
        ours = model(to_input_order(target, "bgr"), to_input_order(source, "bgr"))

    def rel(a, b):
        return ((a - b).norm() / b.norm()).item()

    assert rel(ours.reconstruction, pred_images) < 1e-4
    assert rel(ours.self_heatmaps, pose_unsup) < 1e-4
    assert rel(ours.sup_heatmaps, pose_sup) < 1e-4
    back = to_official(model)
    for k, v in official.state_dict().items():
        assert torch.equal(back[k], v), k


@pytest.mark.parametrize("form", ["plain", "module", "checkpoint"])
def test_authors_pth_loads_directly_with_a_note(tmp_path, form):
    """final_state.pth (plain or DataParallel's module. prefix) and checkpoint.pth (a dict with state_dict)."""
    sd = spec_state_dict(2)
    if form == "module":
        sd = {f"module.{k}": v for k, v in sd.items()}
    obj = {"epoch": 3, "model": "pose_resnet", "state_dict": sd, "perf": 0.5} if form == "checkpoint" else sd
    torch.save(obj, tmp_path / "their.pth")
    config, model, note = load_model_file(tmp_path / "their.pth")
    assert config.model.input_order == "bgr" and "converted in memory" in note and "their.pth" in note
    assert torch.equal(model.sup_head.query, spec_state_dict(2)["pose_net.sup_query.weight"].t())
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="neither a ttpose .safetensors checkpoint nor the authors'"):
        load_model_file(tmp_path / "other.pth")


def test_personalize_takes_the_authors_pth_and_a_vgg_override(tmp_path):
    """`ttpose personalize --checkpoint their.pth loss.vgg_weights=PATH`: converted in memory, said in one line,
    and the VGG-16 file (which their checkpoint does not name) reaches the model's L_self."""
    from ttpose.video_personalize import LoadedModel, PersonalizeOptions

    torch.save(spec_state_dict(3), tmp_path / "final_state.pth")
    said = []
    loaded = LoadedModel.of(tmp_path / "final_state.pth", said.append)
    assert len(said) == 1 and said[0].startswith("note: ") and "final_state.pth" in said[0]
    assert loaded.model.config.label_origin == 1.0
    cfg = loaded.ttp_config(PersonalizeOptions(overrides=["ttp.lr=1e-5", "loss.vgg_weights=/weights/vgg16.pth"]))
    assert (cfg.lr, cfg.mode, loaded.model.loss_config.vgg_weights) == (1e-5, "online", "/weights/vgg16.pth")
