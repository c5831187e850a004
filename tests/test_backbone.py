"""torchvision-named ResNets: an ImageNet state dict (with fc) loads strictly from a file."""

import pytest
import torch
from safetensors.torch import save_file

from ttpose.config import ModelConfig
from ttpose.model import TTPModel
from ttpose.model.backbone import ResNet, load_pretrained

TORCHVISION_KEY_COUNTS = {"resnet18": 122, "resnet50": 320}  # len(torchvision.models.X().state_dict())


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_torchvision_key_names(name):
    keys = list(ResNet(name).state_dict())
    assert keys[0] == "conv1.weight" and "layer1.0.bn1.running_mean" in keys
    assert len(keys) + 2 == TORCHVISION_KEY_COUNTS[name]  # + fc.weight, fc.bias


def test_pretrained_file_loads_strictly(tmp_path):
    torch.manual_seed(0)
    src = ResNet("resnet18")
    state = dict(src.state_dict())
    state["fc.weight"], state["fc.bias"] = torch.zeros(1000, 512), torch.zeros(1000)
    torch.save(state, tmp_path / "resnet18.pth")
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "resnet18.safetensors"))
    for file in ("resnet18.pth", "resnet18.safetensors"):
        model = TTPModel(ModelConfig(backbone="resnet18", pretrained=str(tmp_path / file), deconv_channels=32,
                                     input_size=64))
        for k, v in src.state_dict().items():
            assert torch.equal(model.encoder.backbone.state_dict()[k], v), k
    # a ttpose model file: its ResNet (encoder.backbone.*) is taken, the rest of the model ignored
    trained = TTPModel(ModelConfig(backbone="resnet18", deconv_channels=32, input_size=64))
    save_file({k: v.contiguous() for k, v in trained.state_dict().items()}, str(tmp_path / "model.safetensors"))
    started = TTPModel(ModelConfig(backbone="resnet18", pretrained=str(tmp_path / "model.safetensors"),
                                   deconv_channels=32, input_size=64))
    for k, v in trained.encoder.backbone.state_dict().items():
        assert torch.equal(started.encoder.backbone.state_dict()[k], v), k
    assert not torch.equal(started.encoder.deconv_layers[0].weight, trained.encoder.deconv_layers[0].weight)
    with pytest.raises(ValueError, match="model.s ResNet: .* is .*, the model.s .*another depth or model.backbone"):
        TTPModel(ModelConfig(backbone="resnet18", backbone_width=32, pretrained=str(tmp_path / "model.safetensors"),
                             deconv_channels=32, input_size=64))
    del state["layer1.0.conv1.weight"]
    torch.save(state, tmp_path / "broken.pth")
    with pytest.raises(ValueError, match="missing 1 keys"):
        load_pretrained(ResNet("resnet18"), tmp_path / "broken.pth")
