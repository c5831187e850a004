import pytest
import torch

from ttpose.checkpoint import CheckpointError, load_checkpoint, load_state, save_checkpoint, save_state
from ttpose.config import Config, ModelConfig
from ttpose.losses import ReconstructionLoss
from ttpose.model import TTPModel
from ttpose.personalization import reconstruction_loss_for
from ttpose.weights import file_sha256, read_tensors, tensors_sha256

TINY = ModelConfig(backbone="resnet18", deconv_channels=32, encoder_widths=(8, 8, 16, 16),
                   renderer_widths=(16, 8, 8, 8), transformer_ff=64, num_maps=10, input_size=64)


def _cfg():
    cfg = Config()
    cfg.model = TINY
    cfg.loss.perceptual = "pixel"
    return cfg


def test_save_load_roundtrip_with_running_means(tmp_path):
    cfg = _cfg()
    model = TTPModel(cfg.model)
    loss = ReconstructionLoss(cfg.loss)
    loss.running_mean.fill_(0.123)
    path = save_checkpoint(tmp_path / "model", model, cfg, loss)
    assert path.suffix == ".safetensors" and path.with_suffix(".yaml").is_file()
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]
    model2 = load_checkpoint(path)
    for (k, v), (k2, v2) in zip(model.state_dict().items(), model2.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(v, v2)
    assert model2.config == cfg.model and model2.loss_config == cfg.loss
    # the saved running means reach the L_self that personalization builds for the loaded model
    assert torch.equal(model2.loss_running_mean, loss.running_mean)
    assert torch.equal(reconstruction_loss_for(model2).running_mean, loss.running_mean)


def test_a_model_started_from_another_loads_without_that_file(tmp_path):
    """Bug: load_checkpoint rebuilt the model with model.pretrained and read that file again, so a model trained
    from a baseline's ResNet (a relative path) failed to load from another folder or once the file was gone."""
    cfg = _cfg()
    save_checkpoint(tmp_path / "start", TTPModel(cfg.model), cfg)
    cfg.model = ModelConfig(**{**TINY.__dict__, "pretrained": str(tmp_path / "start.safetensors")})
    model = TTPModel(cfg.model)
    with torch.no_grad():
        model.encoder.backbone.conv1.weight.add_(1.0)  # trained on: no longer the starting ResNet
    path = save_checkpoint(tmp_path / "model", model, cfg)
    (tmp_path / "start.safetensors").unlink()
    loaded = load_checkpoint(path)
    assert torch.equal(loaded.encoder.backbone.conv1.weight, model.encoder.backbone.conv1.weight)
    assert loaded.config.pretrained == str(tmp_path / "start.safetensors")  # the config still says where it began


def test_truncated_and_foreign_files_one_line_errors(tmp_path):
    cfg = _cfg()
    path = save_checkpoint(tmp_path / "m", TTPModel(cfg.model), cfg)
    data = path.read_bytes()
    trunc = tmp_path / "trunc.safetensors"
    trunc.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="trunc.safetensors") as e:
        load_checkpoint(trunc)
    assert "\n" not in str(e.value)
    foreign = tmp_path / "foreign.safetensors"
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(2)}, str(foreign))
    with pytest.raises(CheckpointError, match="not a ttpose checkpoint"):
        load_checkpoint(foreign)
    text = tmp_path / "notes.pth"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="notes.pth"):
        read_tensors(text)
    with pytest.raises(CheckpointError, match="empty"):
        (tmp_path / "empty.safetensors").write_bytes(b"")
        read_tensors(tmp_path / "empty.safetensors")


def test_pth_refuses_arbitrary_pickles(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    path = tmp_path / "evil.pth"
    torch.save({"a": Evil()}, path)
    with pytest.raises(CheckpointError, match="evil.pth"):
        read_tensors(path)


def test_a_pickled_module_or_a_text_file_gets_ttposes_message_not_torchs(tmp_path):
    """Bug: a whole pickled nn.Module or a text file named .pth printed torch's advice to reload with
    weights_only=False (unsafe for untrusted files), with terminal colour codes."""
    module, text = tmp_path / "module.pth", tmp_path / "notes.pth"
    torch.save(torch.nn.Linear(2, 2), module)
    text.write_text("not weights\n" * 20)
    with pytest.raises(CheckpointError) as pickled:
        read_tensors(module)
    assert "module.pth" in str(pickled.value) and "torch.nn.modules.linear.Linear" in str(pickled.value)
    with pytest.raises(CheckpointError, match="notes.pth: not a state dict of tensors") as prose:
        read_tensors(text)
    ours = tmp_path / "ours.pth"
    torch.save(TTPModel(TINY), ours)
    with pytest.raises(CheckpointError, match=r"ours.pth: .*ttpose.save_checkpoint\(path, model, config\)"):
        read_tensors(ours)
    for message in (str(pickled.value), str(prose.value)):
        assert "weights_only" not in message and "\x1b" not in message and "\n" not in message


def test_load_checkpoint_carries_the_checkpoints_ttp_settings_to_personalize(tmp_path):
    """Bug: `ttpose personalize` used the checkpoint's TTP settings, `ttpose.personalize` TTPConfig's defaults."""
    from ttpose.config import TTPConfig

    cfg = _cfg()
    cfg.ttp = TTPConfig(lr=3e-5, batch_size=7)
    path = save_checkpoint(tmp_path / "m.safetensors", TTPModel(TINY), cfg)
    assert load_checkpoint(path).ttp_config == cfg.ttp


def test_other_models_checkpoint_is_rejected(tmp_path):
    cfg = _cfg()
    path = save_checkpoint(tmp_path / "m", TTPModel(cfg.model), cfg)
    config, tensors, _ = __import__("ttpose.checkpoint", fromlist=["read_checkpoint"]).read_checkpoint(path)
    tensors["self_head.weight"] = torch.zeros(3, 3)
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    bad = tmp_path / "bad.safetensors"
    save_file(tensors, str(bad), metadata=meta)
    with pytest.raises(CheckpointError, match="do not match"):
        load_checkpoint(bad)


def test_training_state_roundtrip(tmp_path):
    cfg = _cfg()
    model = TTPModel(cfg.model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.randn(1, 3, 64, 64)).sup_heatmaps.sum().backward()
    opt.step()
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "step": 7, "rng": torch.get_rng_state()}
    save_state(tmp_path / "s.safetensors", state, cfg)
    cfg2, state2 = load_state(tmp_path / "s.safetensors")
    assert cfg2 == cfg and state2["step"] == 7 and torch.equal(state2["rng"], state["rng"])
    opt2 = torch.optim.Adam(TTPModel(cfg.model).parameters(), lr=1e-3)
    opt2.load_state_dict(state2["optimizer"])
    s1, s2 = opt.state_dict(), opt2.state_dict()
    assert s1["param_groups"] == s2["param_groups"]
    for k in s1["state"]:
        assert torch.equal(s1["state"][k]["exp_avg"], s2["state"][k]["exp_avg"])


def test_tensors_sha256_names_the_weights_whatever_the_metadata(tmp_path):
    """Same tensors with another config in the metadata (a field added since): the file's digest changes, the
    tensors' does not; one changed number, name, dtype or shape changes it."""
    from safetensors.torch import save_file

    weights = {"b": torch.zeros(3), "a.weight": torch.arange(6.0).reshape(2, 3)}

    def digests(tensors, metadata, name):
        path = tmp_path / f"{name}.safetensors"
        save_file(tensors, str(path), metadata=metadata)
        return file_sha256(path), tensors_sha256(path)

    file0, tensors0 = digests(weights, {"config": "{}"}, "first")
    file1, tensors1 = digests(dict(reversed(weights.items())), {"config": '{"new_field": 1}'}, "second")
    assert file0 != file1 and tensors0 == tensors1
    changed = [{**weights, "b": torch.tensor([0.0, 0.0, 1e-7])},  # a number
               {"c": weights["b"], "a.weight": weights["a.weight"]},  # a name
               {**weights, "b": torch.zeros(3, dtype=torch.float64)},  # a dtype
               {**weights, "a.weight": weights["a.weight"].T.contiguous()}]  # a shape
    assert len({tensors0, *(digests(t, {"config": "{}"}, f"changed{i}")[1] for i, t in enumerate(changed))}) == 5
