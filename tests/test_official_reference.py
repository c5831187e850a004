"""benchmarks/reference/official_model.py (re-creation of the authors' model) against the spec."""

from pathlib import Path

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from torch import nn

from benchmarks.reference.official_model import (
    PERCEPTUAL_INITIAL_MEANS,
    OfficialPerceptualLoss,
    OfficialTTP,
    count_parameters,
    official_bottleneck,
    official_condense,
    official_freeze_for_ttp,
    official_gaussians,
    official_sup_loss,
    official_train_step,
    official_ttp_parameters,
    official_ttp_step,
)

REPO = Path(__file__).resolve().parents[1]
SHARED_SPEC = REPO.parent / "shared" / "spec"
TINY_VGG = (4, 4, 4, 4, 4)


@pytest.fixture
def shared_spec() -> Path:
    """The spec folder in ../shared/spec (CI has shared/ beside the checkout)."""
    if not SHARED_SPEC.is_dir():
        pytest.skip(f"spec folder {SHARED_SPEC} is absent")
    return SHARED_SPEC


@pytest.fixture(scope="module")
def r18() -> OfficialTTP:
    torch.manual_seed(0)
    return OfficialTTP(18).eval()


def _head_and_norm_counts(model: OfficialTTP) -> tuple[int, int]:
    head = sum(
        p.numel()
        for n, p in model.named_parameters()
        if n.split(".")[1] in ("sup_query", "mh_attn", "sup_weight", "final_layer")
    )
    norms = sum(
        p.numel()
        for m in model.modules()
        if isinstance(m, nn.BatchNorm2d | nn.LayerNorm)
        for p in m.parameters(recurse=False)
    )
    return head, norms


def test_resnet18_state_dict_matches_authors_keys(r18, shared_spec):
    lines = (shared_spec / "official-keys-resnet18.txt").read_text().splitlines()
    expected = [tuple(line.split(" ", 1)) for line in lines if line.strip() and not line.startswith("#")]
    assert len(expected) == 309
    got = [(k, str(tuple(v.shape))) for k, v in r18.state_dict().items()]
    assert got == expected  # same keys, same shapes, same order


def test_resnet18_parameter_counts(r18):
    assert len(r18.state_dict()) == 309
    assert count_parameters(r18.parameters()) == 21_194_367
    head, _ = _head_and_norm_counts(r18)
    assert head == 1_064_990


def test_resnet50_parameter_counts():
    m = OfficialTTP(50)
    assert len(m.state_dict()) == 507
    assert count_parameters(m.parameters()) == pytest.approx(39.8e6, rel=2e-3)
    assert m.pose_net.deconv_layers[0].weight.shape == (2048, 256, 4, 4)


def test_conv_head_variant():
    torch.manual_seed(0)
    m = OfficialTTP(18, head="conv").eval()
    keys = m.state_dict().keys()
    assert "pose_net.final_layer.weight" in keys and "pose_net.final_layer.bias" in keys
    assert not any(
        k.startswith(("pose_net.sup_query", "pose_net.mh_attn", "pose_net.sup_weight")) for k in keys
    )
    x = torch.randn(1, 2, 3, 64, 64)
    with torch.no_grad():
        _, unsup, sup = m(x)
        feat = m.pose_net.features(x[:, 1])
    assert unsup.shape == (1, 30, 16, 16) and sup.shape == (1, 13, 16, 16)
    torch.testing.assert_close(sup, m.pose_net.final_layer(feat))


def test_forward_shapes_at_128(r18):
    x = torch.randn(2, 2, 3, 128, 128)
    with torch.no_grad():
        pred, unsup, sup = r18(x)
    assert pred.shape == (2, 3, 128, 128)
    assert unsup.shape == (2, 30, 32, 32)
    assert sup.shape == (2, 13, 32, 32)
    with pytest.raises(ValueError, match="B x 2 x 3 x H x W"):
        r18(torch.randn(2, 3, 128, 128))


def test_affinity_rows_sum_to_one_and_sup_is_weighted_sum(r18):
    torch.manual_seed(1)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        feat = r18.pose_net.features(x)
        w = r18.pose_net.affinity(feat)
        unsup, sup = r18.pose_net(x)
        # the decoder called by hand, sequence-first: 13 query tokens, 16*16 memory tokens
        q = r18.pose_net.sup_query.weight.t()[:, None].expand(13, 2, 256)
        mem = feat.flatten(2).permute(2, 0, 1)
        w_hand = torch.softmax(r18.pose_net.sup_weight(r18.pose_net.mh_attn.decoder(q, mem)), -1).transpose(
            0, 1
        )
    assert w.shape == (2, 13, 30)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 13))
    torch.testing.assert_close(w, w_hand)
    torch.testing.assert_close(sup, torch.einsum("bjk,bkyx->bjyx", w, unsup), rtol=1e-5, atol=1e-6)


def test_transformer_is_pytorch_post_norm_decoder(r18):
    dec = r18.pose_net.mh_attn.decoder
    assert isinstance(dec, nn.TransformerDecoder) and len(dec.layers) == 1
    layer = dec.layers[0]
    assert isinstance(dec.norm, nn.LayerNorm)
    assert layer.norm_first is False and layer.self_attn.num_heads == 4 and layer.linear1.out_features == 1024
    assert layer.dropout.p == 0.1 and not layer.self_attn.batch_first


def test_init_follows_spec():
    torch.manual_seed(0)
    m = OfficialTTP(18)
    pn = m.pose_net
    for i in (0, 3, 6):
        assert pn.deconv_layers[i].weight.std().item() == pytest.approx(0.001, rel=0.05)
        assert torch.all(pn.deconv_layers[i + 1].weight == 1)
    for lin in (pn.final_layer_unsup, pn.sup_weight):
        assert lin.weight.std().item() == pytest.approx(0.001, rel=0.2)
        assert torch.all(lin.bias == 0)


@settings(deadline=None, max_examples=25)
@given(st.integers(0, 31), st.integers(0, 31), st.integers(0, 29))
@example(31, 31, 0)  # the last grid row and column: bilinear upsampling clamps there (found by CI)
def test_bottleneck_of_peaked_map_returns_peak(x0, y0, k):
    logits = torch.zeros(1, 30, 32, 32)
    logits[0, k, y0, x0] = 500.0
    pts = official_condense(logits)
    torch.testing.assert_close(pts[0, k], torch.tensor([float(x0), float(y0)]), atol=1e-4, rtol=0)
    g = official_gaussians(pts, (32, 32))
    assert g[0, k, y0, x0].item() == pytest.approx(1.0, abs=1e-4)
    if x0 < 31:  # unnormalised Gaussian, sigma 2: one pixel away -> exp(-1/8)
        assert g[0, k, y0, x0 + 1].item() == pytest.approx(torch.exp(torch.tensor(-1 / 8)).item(), abs=1e-4)
    up = official_bottleneck(logits)
    assert up.shape == (1, 30, 128, 128)
    peak = int(up[0, k].argmax())  # bilinear, align_corners=False: grid pixel i covers 4i .. 4i+3
    assert (peak // 128 // 4, peak % 128 // 4) == (y0, x0)
    if x0 < 31 and y0 < 31:  # inside, output pixel 4i + 1 samples i - 1/8: next to the maximum; on the last
        # row/column the coordinates past i clamp to i, so the maximum (1.0) sits at 4i + 2 .. 4i + 3 and 4i + 1
        # holds 7/8 of the peak plus 1/8 of its neighbour's value per axis (0.97 in the corner)
        assert up[0, k, 4 * y0 + 1, 4 * x0 + 1].item() == pytest.approx(up[0, k].max().item(), abs=0.02)


def test_condense_uses_row_and_column_marginals():
    logits = torch.zeros(1, 1, 8, 8)
    logits[0, 0, 5, 2] = logits[0, 0, 5, 6] = 200.0  # column sums tie at x = 2 and 6; row sum peaks at y = 5
    torch.testing.assert_close(official_condense(logits)[0, 0], torch.tensor([4.0, 5.0]), atol=1e-4, rtol=0)
    flat = official_condense(torch.zeros(1, 1, 32, 32))[0, 0]  # uniform map -> grid centre 15.5
    torch.testing.assert_close(flat, torch.tensor([15.5, 15.5]))


def test_sup_loss_matches_hrnet_loop():
    torch.manual_seed(0)
    pred, gt = torch.randn(2, 13, 8, 8), torch.randn(2, 13, 8, 8)
    tw = (torch.rand(2, 13, 1) > 0.3).float()
    loop = (
        sum(
            0.5
            * nn.functional.mse_loss(pred[:, j].reshape(2, -1) * tw[:, j], gt[:, j].reshape(2, -1) * tw[:, j])
            for j in range(13)
        )
        / 13
    )
    torch.testing.assert_close(official_sup_loss(pred, gt, tw), loop)
    torch.testing.assert_close(official_sup_loss(pred, gt, tw[..., 0]), loop)
    assert official_sup_loss(pred, gt, torch.zeros(2, 13)).item() == 0.0


def test_perceptual_loss_running_means_two_steps():
    torch.manual_seed(0)
    loss = OfficialPerceptualLoss(widths=TINY_VGG)
    assert "running_means" not in loss.state_dict()
    feats = loss.features
    target = torch.randn(1, 3, 32, 32)
    means = torch.tensor(PERCEPTUAL_INITIAL_MEANS, dtype=torch.float64)
    for step in range(2):
        pred = torch.randn(1, 3, 32, 32, requires_grad=True)
        with torch.no_grad():  # by hand: prefixes of `features` ending after relu1_2 .. relu5_2
            raw = [((pred - target) ** 2).mean()]
            raw += [((feats[:end](pred) - feats[:end](target)) ** 2).mean() for end in (4, 9, 14, 21, 28)]
        raw = torch.stack(raw).double()
        means = means + 0.01 * (raw - means)  # update BEFORE dividing
        value = loss(pred, target)
        torch.testing.assert_close(loss.running_means.double(), means, rtol=1e-5, atol=1e-7)
        assert value.item() == pytest.approx((raw / means).sum().item(), rel=1e-5), f"step {step}"
        # gradient flows through the terms only (the means are constants)
        value.backward()
        pred2 = pred.detach().clone().requires_grad_(True)
        ref = (
            sum(
                ((feats[:end](pred2) - feats[:end](target)) ** 2).mean() / means[i + 1].float()
                for i, end in enumerate((4, 9, 14, 21, 28))
            )
            + ((pred2 - target) ** 2).mean() / means[0].float()
        )
        ref.backward()
        torch.testing.assert_close(pred.grad, pred2.grad, rtol=1e-4, atol=1e-8)


def test_perceptual_vgg_layout_and_loading():
    full = OfficialPerceptualLoss()
    conv_idx = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    assert list(full.features.state_dict()) == [f"{i}.{s}" for i in conv_idx for s in ("weight", "bias")]
    assert count_parameters(full.features.parameters()) == 14_714_688  # torchvision vgg16().features
    assert not any(p.requires_grad for p in full.parameters())
    src = OfficialPerceptualLoss(widths=TINY_VGG)
    sd = {f"features.{k}": v + 1.0 for k, v in src.features.state_dict().items()}
    sd["classifier.0.weight"] = torch.zeros(1)  # a whole-network file is accepted; classifier ignored
    dst = OfficialPerceptualLoss(sd, widths=TINY_VGG)
    torch.testing.assert_close(dst.features[28].bias, src.features[28].bias + 1.0)
    with pytest.raises(ValueError, match="features"):
        OfficialPerceptualLoss({"classifier.0.weight": torch.zeros(1)}, widths=TINY_VGG)


def test_ttp_parameters_exclude_frozen_parts(r18):
    names = {n for n, p in r18.named_parameters() if any(p is q for q in official_ttp_parameters(r18))}
    assert "pose_net.conv1.weight" in names and "pose_net.final_layer_unsup.bias" in names
    assert "image_renderer.layer4.6.bias" in names and "pose_net.deconv_layers.3.weight" in names
    assert not any(k in n for n in names for k in ("sup_query", "mh_attn", "sup_weight", "bn", "norm"))
    head, norms = _head_and_norm_counts(r18)
    total = count_parameters(r18.parameters())
    assert count_parameters(official_ttp_parameters(r18)) == total - head - (
        norms - 2 * 256 * 4
    )  # LN in head


def test_ttp_step_updates_only_unfrozen_in_eval_mode():
    torch.manual_seed(0)
    model = OfficialTTP(18)
    loss = OfficialPerceptualLoss(widths=TINY_VGG)
    opt = torch.optim.Adam(official_freeze_for_ttp(model), lr=1e-4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    value = official_ttp_step(model, loss, opt, {"images": torch.randn(1, 2, 3, 64, 64)})
    assert value > 0 and not model.training
    params = dict(model.named_parameters())
    updated = {n for n, p in params.items() if p.requires_grad}
    assert all(params[n].grad is not None for n in updated)
    for k, v in model.state_dict().items():
        if k not in updated:  # frozen parameters and buffers (BN statistics) unchanged
            assert torch.equal(before[k], v), k
    # at this init the backbone gradient is ~1e-16 (tiny deconvs) and Adam's eps swallows it; the rest moves
    heads = [k for k in updated if not k.startswith(("pose_net.conv1", "pose_net.layer"))]
    assert len(heads) == 3 + 2 + 8 + 8 + 10  # deconvs, final_layer_unsup, 2 encoders, renderer (+ bias)
    assert all(not torch.equal(before[k], params[k]) for k in heads)


def test_train_step_updates_everything_and_combines_losses():
    torch.manual_seed(0)
    model = OfficialTTP(18)
    loss = OfficialPerceptualLoss(widths=TINY_VGG)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    batch = {
        "images": torch.randn(2, 2, 3, 64, 64),
        "target": torch.rand(2, 13, 16, 16),
        "target_weight": torch.ones(2, 13, 1),
    }
    q0 = model.pose_net.sup_query.weight.clone()
    rm0 = model.pose_net.bn1.running_mean.clone()
    out = official_train_step(model, loss, opt, batch, lam=1e-3)
    assert out["loss"] == pytest.approx(out["sup"] + 1e-3 * out["self"], rel=1e-6)
    assert model.training
    assert not torch.equal(model.pose_net.sup_query.weight, q0)
    assert not torch.equal(model.pose_net.bn1.running_mean, rm0)
