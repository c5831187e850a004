"""Loss values against hand computations."""

import pytest
import torch

from ttpose.config import LossConfig
from ttpose.losses import (
    PERCEPTUAL_SLICES,
    ReconstructionLoss,
    VGG16Features,
    heatmap_loss,
    joint_objective,
    lambda_at,
    rotation_loss,
)


def test_heatmap_loss_hand_computation():
    pred = torch.zeros(1, 2, 2, 2)
    gt = torch.zeros(1, 2, 2, 2)
    pred[0, 0, 0, 0] = 2.0  # joint 0: one pixel off by 2 -> MSE 4/4 = 1
    pred[0, 1] = 1.0  # joint 1: every pixel off by 1 -> MSE 1, but invisible
    w = torch.tensor([[1.0, 0.0]])
    # 0.5 * mean over joints of (1, 0) = 0.25
    assert heatmap_loss(pred, gt, w).item() == pytest.approx(0.25)
    assert heatmap_loss(pred, gt, torch.ones(1, 2)).item() == pytest.approx(0.5)


def test_rotation_loss_is_cross_entropy():
    logits = torch.tensor([[0.0, 0.0, 0.0, 0.0]])
    assert rotation_loss(logits, torch.tensor([2])).item() == pytest.approx(torch.log(torch.tensor(4.0)).item())


def test_joint_objective_eq10():
    assert joint_objective(torch.tensor(1.0), torch.tensor(10.0), 1e-3).item() == pytest.approx(1.01)
    assert joint_objective(torch.tensor(1.0), None, 1e-3).item() == 1.0


def test_lambda_at_switches_to_lam_late_at_the_first_lr_drop():
    paper, late = LossConfig(lam=1e-3), LossConfig(lam=1e-3, lam_late=3e-4)
    assert [lambda_at(s, paper, 2250) for s in (0, 2249, 2250, 2999)] == [1e-3] * 4
    assert [lambda_at(s, late, 2250) for s in (0, 2249, 2250, 2999)] == [1e-3, 1e-3, 3e-4, 3e-4]
    assert lambda_at(5, LossConfig(lam=1e-3, lam_late=0.0), 5) == 0.0  # 0 is a value, not "unset"


def test_pixel_loss_running_mean_update_before_dividing():
    loss = ReconstructionLoss(LossConfig(perceptual="pixel", running_mean_init=(0.5, 1, 1, 1, 1, 1)))
    a, b = torch.zeros(1, 3, 4, 4), torch.ones(1, 3, 4, 4)  # MSE = 1
    value = loss(a, b)
    mean = 0.5 + 0.01 * (1.0 - 0.5)
    assert loss.running_mean.item() == pytest.approx(mean)
    assert value.item() == pytest.approx(1.0 / mean)
    value2 = loss(a, b)
    mean2 = mean + 0.01 * (1.0 - mean)
    assert value2.item() == pytest.approx(1.0 / mean2)


def test_perceptual_loss_six_terms_hand_computation(tmp_path):
    torch.manual_seed(0)
    vgg = VGG16Features()
    path = tmp_path / "vgg16.pth"
    state = vgg.state_dict()
    state["classifier.0.weight"] = torch.zeros(2, 2)  # torchvision files carry the classifier too
    torch.save(state, path)
    init = (0.2, 0.9, 3.4, 7.4, 4.1, 1.1)
    loss = ReconstructionLoss(LossConfig(perceptual="vgg16", vgg_weights=str(path), running_mean_init=init))
    x, y = torch.randn(1, 3, 32, 32), torch.randn(1, 3, 32, 32)
    expected_terms = [torch.mean((x - y) ** 2)]
    fx, fy = x, y
    for start, stop in PERCEPTUAL_SLICES:
        fx, fy = vgg.features[start:stop](fx), vgg.features[start:stop](fy)
        expected_terms.append(torch.mean((fx - fy) ** 2))
    terms = torch.stack(expected_terms)
    means = torch.tensor(init) + 0.01 * (terms - torch.tensor(init))
    value = loss(x, y)
    assert torch.allclose(loss.running_mean, means, rtol=1e-5)
    assert value.item() == pytest.approx((terms / means).sum().item(), rel=1e-5)


def test_perceptual_loss_gradients_reach_reconstruction_only():
    loss = ReconstructionLoss(LossConfig(perceptual="pixel"))
    x = torch.randn(1, 3, 8, 8, requires_grad=True)
    y = torch.randn(1, 3, 8, 8, requires_grad=True)
    loss(x, y).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0 and y.grad is None


def test_missing_vgg_weights_warns_once_loudly(monkeypatch):
    import ttpose.losses as losses

    monkeypatch.setattr(losses, "_warned_no_vgg", False)
    with pytest.warns(UserWarning, match="RANDOMLY"):
        ReconstructionLoss(LossConfig(perceptual="vgg16"))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ReconstructionLoss(LossConfig(perceptual="vgg16"))  # second time: silent


def test_vgg16_loads_torchvision_state_dict_strictly(tmp_path):
    vgg = VGG16Features()
    names = [k for k in vgg.state_dict()]
    assert names[0] == "features.0.weight" and names[-1] == "features.28.bias" and len(names) == 26
    bad = {k: v for k, v in vgg.state_dict().items() if k != "features.28.bias"}
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="not a torchvision VGG-16"):
        VGG16Features().load_weights(tmp_path / "bad.pth")
