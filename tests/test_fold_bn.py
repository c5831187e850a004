"""BatchNorm folding (ttpose.model.fold_bn): which (conv, BN) pairs fold, and that a fold keeps the outputs."""

from dataclasses import replace

import pytest
import torch
from torch import nn

from conftest import TINY_MODEL
from ttpose.model import TTPModel
from ttpose.model.fold_bn import bake_batchnorm, fold_batchnorm, unfold_batchnorm


def _with_statistics(module: nn.Module) -> nn.Module:
    """``module`` in eval mode with non-trivial BN statistics and affine parameters, so that folding matters."""
    torch.manual_seed(0)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 1)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
    return module.eval()


class Block(nn.Module):
    """conv1 -> bn1 -> ReLU, as a residual block's first half; declares nothing."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn1(self.conv1(x)))


class DeclaredBlock(Block):
    conv_bn_pairs = (("conv1", "bn1"),)


def test_pairs_are_declared_by_the_module_never_matched_by_class_name():
    """Issue 15: speed.py folded the convs of any class named "BasicBlock", "Bottleneck", "ResNet", "RotationHead"
    or "OfficialPoseNet" (a benchmark's class). Now a module declares its pairs in ``conv_bn_pairs``."""
    for name in ("OfficialPoseNet", "BasicBlock", "ResNet"):  # the names once matched, declaring nothing
        assert fold_batchnorm(_with_statistics(type(name, (Block,), {})())) == 0, name
    block = _with_statistics(DeclaredBlock())
    x = torch.randn(2, 3, 8, 8)
    expected = block(x)
    assert fold_batchnorm(block) == 1
    assert block.conv1.__dict__["_folded_bn"] is block.bn1
    torch.testing.assert_close(block(x), expected, rtol=1e-5, atol=1e-6)
    assert unfold_batchnorm(block) == 1 and type(block.conv1) is nn.Conv2d and type(block.bn1) is nn.BatchNorm2d


@pytest.mark.parametrize("config", [dict(), dict(backbone="resnet50", sup_head="conv", self_task="rotation")])
def test_every_batchnorm_of_the_model_follows_a_declared_or_sequential_conv(config):
    """ResNet's stem, BasicBlock, Bottleneck and RotationHead declare their pairs; the rest are Sequentials."""
    model = TTPModel(replace(TINY_MODEL, **config)).eval()
    bns = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert fold_batchnorm(model) == bns


def test_baked_folding_keeps_the_outputs_in_every_mode():
    block = _with_statistics(nn.Sequential(nn.ConvTranspose2d(4, 4, 4, 2, 1, bias=False), nn.BatchNorm2d(4)))
    x = torch.randn(1, 4, 5, 5)
    expected = block(x)
    fold_batchnorm(block)
    assert bake_batchnorm(block) == 1
    assert type(block[0]) is nn.ConvTranspose2d and block[0].bias is not None  # the BN lives in weight and bias
    torch.testing.assert_close(block(x), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(block.train()(x), expected, rtol=1e-5, atol=1e-6)  # the baked BN stays out


def test_grouped_transposed_conv_keeps_its_batchnorm():
    """Regression: a grouped ConvTranspose2d ran unfolded while its BN had become the identity (BN dropped)."""
    torch.manual_seed(0)
    block = torch.nn.Sequential(torch.nn.ConvTranspose2d(4, 4, 4, 2, 1, groups=2, bias=False), torch.nn.BatchNorm2d(4))
    with torch.no_grad():
        block[1].running_mean.normal_(0, 1)
        block[1].running_var.uniform_(0.5, 2.0)
    block.eval()
    x = torch.randn(1, 4, 5, 5)
    expected = block(x)
    assert fold_batchnorm(block) == 0
    assert torch.equal(block(x), expected)
