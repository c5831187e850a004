"""Shapes, the affinity head (Eq. 7-8), the bottleneck and the personalization partition."""

import copy

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ttpose.config import ModelConfig
from ttpose.model import TTPModel, personalization_parameters
from ttpose.model.bottleneck import (
    SeparableMaps,
    condensed_keypoints,
    gaussian_maps,
    gaussian_profiles,
    keypoint_bottleneck,
)
from ttpose.model.heads import mix_heatmaps

TINY = dict(deconv_channels=32, encoder_widths=(8, 8, 16, 16), renderer_widths=(16, 8, 8, 8),
            transformer_ff=64, num_maps=10, input_size=64)


@pytest.mark.parametrize("backbone", ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"])
def test_shapes_every_depth(backbone):
    torch.manual_seed(0)
    model = TTPModel(ModelConfig(backbone=backbone, **TINY)).eval()
    x = torch.randn(1, 3, 64, 64)
    out = model(x, x)
    assert out.sup_heatmaps.shape == (1, 13, 16, 16)
    assert out.self_heatmaps.shape == (1, 10, 16, 16)
    assert out.self_keypoints.shape == (1, 10, 2)
    assert out.reconstruction.shape == (1, 3, 64, 64)
    assert out.affinity.shape == (1, 13, 10)


@pytest.mark.parametrize(
    "sup_head,self_task,skeleton,k",
    [("conv", "none", "penn_action", 13), ("conv", "keypoint", "mpii", 16), ("conv", "rotation", "bbc_pose", 7),
     ("transformer", "keypoint", "mpii", 16)],
)
def test_shapes_every_head(sup_head, self_task, skeleton, k):
    model = TTPModel(ModelConfig(backbone="resnet18", sup_head=sup_head, self_task=self_task, skeleton=skeleton,
                                 **TINY)).eval()
    x = torch.randn(2, 3, 64, 64)
    out = model(x, x if self_task == "keypoint" else None, rotated=x if self_task == "rotation" else None)
    assert out.sup_heatmaps.shape == (2, k, 16, 16)
    assert (out.affinity is not None) == (sup_head == "transformer")
    assert (out.reconstruction is not None) == (self_task == "keypoint")
    assert (out.rotation_logits is not None) == (self_task == "rotation")
    if self_task == "rotation":
        assert out.rotation_logits.shape == (2, 4)


def test_input_sizes_divisible_by_32():
    model = TTPModel(ModelConfig(backbone="resnet18", **{**TINY, "input_size": 96})).eval()
    x = torch.randn(1, 3, 96, 96)
    out = model(x, x)
    assert out.sup_heatmaps.shape[-2:] == (24, 24) and out.reconstruction.shape[-2:] == (96, 96)


def test_paper_resnet18_parameter_count():
    model = TTPModel(ModelConfig(backbone="resnet18"))
    assert sum(p.numel() for p in model.parameters()) == 21_194_367
    assert sum(p.numel() for p in model.sup_head.parameters()) == 1_064_990


def test_affinity_rows_sum_to_one_and_eq8():
    torch.manual_seed(1)
    model = TTPModel(ModelConfig(backbone="resnet18", **TINY)).eval()
    out = model.predict(torch.randn(3, 3, 64, 64))
    assert torch.allclose(out.affinity.sum(-1), torch.ones(3, 13), atol=1e-6)
    assert (out.affinity >= 0).all()
    # Eq. 8 by hand: H_sup[b, j] = sum_i W[b, j, i] H_self[b, i]
    manual = torch.einsum("bji,bihw->bjhw", out.affinity, out.self_heatmaps)
    assert torch.allclose(out.sup_heatmaps, manual, atol=1e-6)
    assert torch.allclose(mix_heatmaps(out.affinity, out.self_heatmaps), manual, atol=1e-6)


def test_predict_matches_forward_pose_path_and_skips_renderer():
    torch.manual_seed(2)
    model = TTPModel(ModelConfig(backbone="resnet18", **TINY)).eval()
    x = torch.randn(2, 3, 64, 64)
    calls = []
    model.renderer.register_forward_hook(lambda *a: calls.append(1))
    pred = model.predict(x)
    assert not calls and pred.reconstruction is None
    full = model(x, x)
    assert calls
    assert torch.allclose(pred.sup_heatmaps, full.sup_heatmaps, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(x=st.integers(0, 15), y=st.integers(0, 15), k=st.integers(1, 4))
def test_sharp_peak_condenses_to_its_peak(x, y, k):
    h = torch.full((1, k, 16, 16), -50.0)
    h[:, :, y, x] = 50.0
    kp = condensed_keypoints(h)
    assert torch.allclose(kp, torch.tensor([float(x), float(y)]).expand(1, k, 2), atol=1e-3)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.01, 100.0))
def test_condensed_keypoints_stay_inside_the_grid(seed, scale):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(2, 5, 8, 12, generator=g) * scale
    kp = condensed_keypoints(h)
    assert (kp[..., 0] >= 0).all() and (kp[..., 0] <= 11).all()
    assert (kp[..., 1] >= 0).all() and (kp[..., 1] <= 7).all()


def test_gaussian_maps_peak_value_and_bottleneck_upsampling():
    kp = torch.tensor([[[3.0, 5.0]]])
    g = gaussian_maps(kp, 8, 8, sigma=2.0)
    assert g[0, 0, 5, 3] == 1.0 and g.argmax() == 5 * 8 + 3
    assert torch.isclose(g[0, 0, 5, 5], torch.exp(torch.tensor(-4.0 / 8.0)))
    _, maps = keypoint_bottleneck(torch.randn(2, 3, 8, 8), upsample=4)
    assert maps.shape == (2, 3, 32, 32) and maps.max() <= 1.0 and maps.min() >= 0.0


@settings(max_examples=40, deadline=None)
@given(b=st.integers(1, 3), k=st.integers(1, 5), c=st.integers(1, 4), h=st.integers(1, 12), w=st.integers(1, 12),
       kernel=st.sampled_from([1, 3, 5, 7]), pad=st.integers(0, 3), seed=st.integers(0, 10_000))
def test_separable_maps_conv_is_the_dense_conv(b, k, c, h, w, kernel, pad, seed):
    """SeparableMaps.conv2d = F.conv2d on the outer-product maps (zero padding, any kernel and padding)."""
    g = torch.Generator().manual_seed(seed)
    maps = SeparableMaps(torch.randn(b, k, h, generator=g, dtype=torch.float64),
                         torch.randn(b, k, w, generator=g, dtype=torch.float64))
    weight = torch.randn(c, k, kernel, kernel, generator=g, dtype=torch.float64)
    bias = torch.randn(c, generator=g, dtype=torch.float64)
    if h + 2 * pad < kernel or w + 2 * pad < kernel:
        return  # no output position
    dense = torch.nn.functional.conv2d(maps.dense(), weight, bias, padding=pad)
    assert torch.allclose(maps.conv2d(weight, bias, pad), dense, atol=1e-10)
    assert torch.allclose(maps.conv2d(weight, None, pad), dense - bias.view(1, -1, 1, 1), atol=1e-10)


def test_gaussian_profiles_are_the_factors_of_the_bottleneck_maps():
    heatmaps = torch.randn(2, 5, 8, 8, dtype=torch.float64)
    kp = condensed_keypoints(heatmaps)
    assert torch.allclose(gaussian_profiles(kp, 8, 8, 2.0).dense(), gaussian_maps(kp, 8, 8, 2.0), atol=1e-12)
    for up in (1, 4):  # bilinear upsampling of each map = linear interpolation of its rows and columns
        kp_dense, dense = keypoint_bottleneck(heatmaps, 2.0, upsample=up)
        kp_sep, separable = keypoint_bottleneck(heatmaps, 2.0, upsample=up, separable=True)
        assert isinstance(separable, SeparableMaps) and torch.equal(kp_dense, kp_sep)
        assert torch.allclose(separable.dense(), dense, atol=1e-12)


def test_model_with_separable_gaussians_reconstructs_and_learns_the_same():
    """The speed option changes how the pose encoder's first conv is computed, not what: same reconstruction
    and same gradients, in training mode (BN on batch statistics) and in eval mode. In float64: in training mode
    BatchNorm on a batch of 2 amplifies float32 rounding of the two summation orders (the float32 form of this
    test failed in CI, a gradient 1.6e-3 of its norm apart against a bound of 1e-4)."""
    torch.manual_seed(0)
    dense = TTPModel(ModelConfig(backbone="resnet18", **TINY)).double()
    separable = copy.deepcopy(dense)
    separable.separable_gaussians = True
    x, s = torch.randn(2, 3, 64, 64, dtype=torch.float64), torch.randn(2, 3, 64, 64, dtype=torch.float64)
    for train in (True, False):
        outs = []
        for model in (dense, separable):
            model.train(train).zero_grad()
            out = model(x, s, sup=False)
            out.reconstruction.square().mean().backward()
            grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
            outs.append((out.reconstruction.detach(), grads))
        (r0, g0), (r1, g1) = outs
        assert ((r1 - r0).norm() / r0.norm()).item() < 1e-10 and len(g0) == len(g1) > 0
        for a, b in zip(g0, g1, strict=True):  # relative, or rounding-level where a gradient is ~0 in theory
            assert ((b - a).norm()).item() < 1e-8 * a.norm().item() + 1e-12


def test_personalization_partition_adam_step():
    """Frozen tensors bit-identical after an Adam step on L_self; every updated tensor changed."""
    from ttpose.config import LossConfig
    from ttpose.losses import ReconstructionLoss

    torch.manual_seed(3)
    model = TTPModel(ModelConfig(backbone="resnet18", **TINY))
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    params = personalization_parameters(model)
    assert not model.training and all(not m.training for m in model.modules())
    names = {id(p): n for n, p in model.named_parameters()}
    updated = {names[id(p)] for p in params}
    for n, _ in model.named_parameters():
        frozen = n.startswith("sup_head.") or ".bn" in n or "downsample.1" in n or _is_norm(model, n)
        assert (n not in updated) == frozen, n
    loss_fn = ReconstructionLoss(LossConfig(perceptual="pixel"))
    # tiny eps: an untrained model (heads init std 0.001) has gradients far below Adam's default eps
    opt = torch.optim.Adam(params, lr=1e-3, eps=1e-30)
    x, s = torch.randn(2, 3, 64, 64), torch.randn(2, 3, 64, 64)
    out = model(x, s)
    loss_fn(out.reconstruction, x).backward()
    opt.step()
    after = model.state_dict()
    for k, v in before.items():
        if k in updated:
            assert not torch.equal(v, after[k]), f"{k} did not change"
        else:
            assert torch.equal(v, after[k]), f"{k} changed"  # includes BN running stats (eval mode)


def _is_norm(model, name):
    module = model.get_submodule(name.rsplit(".", 1)[0])
    return isinstance(module, (torch.nn.BatchNorm2d, torch.nn.LayerNorm))


def _std(t: torch.Tensor) -> float:
    return float(t.detach().float().std())


def test_authors_initialisation_of_the_heads():
    """model.head_init=authors (default) as their init_weights: every Linear of the Transformer decoder N(0, 0.001)
    with bias 0; the affinity projection P and the self-supervised head keep PyTorch's default; so W does not
    start uniform and the supervised maps differ between joints. head_init=small: the earlier ttpose init."""
    torch.manual_seed(0)
    model = TTPModel(ModelConfig(**TINY)).eval()
    head = model.sup_head
    linears = [m for m in head.decoder.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 4  # self- and cross-attention output projections, the two FFN layers
    for m in linears:
        assert 0.0005 < _std(m.weight) < 0.002 and not m.bias.any()
    assert _std(head.decoder.layers[0].multihead_attn.in_proj_weight) > 0.05  # packed in-projection: not a Linear
    default_bound = 1 / TINY["deconv_channels"] ** 0.5  # kaiming_uniform(a=sqrt 5) bound of a Linear/1x1 conv
    for layer in (head.affinity_proj, model.self_head):
        weight = layer.weight.detach()
        assert _std(weight) > 0.3 * default_bound and float(weight.abs().max()) <= default_bound + 1e-6
    out = model(torch.randn(2, 3, 64, 64))
    assert float(out.affinity.max() - out.affinity.min()) > 0.02  # W is not uniform at step 0
    assert float((out.sup_heatmaps[:, 0] - out.sup_heatmaps[:, 1]).abs().max()) > 1e-2

    torch.manual_seed(0)
    small = TTPModel(ModelConfig(head_init="small", **TINY)).eval()
    for layer in (small.sup_head.affinity_proj, small.self_head):
        assert 0.0005 < _std(layer.weight) < 0.002
    out = small(torch.randn(2, 3, 64, 64))
    assert float(out.affinity.max() - out.affinity.min()) < 0.01  # the near-uniform start issue 13 measured


def test_pytorch_initialisation_keeps_the_decoders_default():
    """model.head_init=pytorch (not the authors'): the decoder's Linear layers keep PyTorch's default, so the
    cross-attention moves W with the image from step 0; with the authors' N(0, 0.001) W barely depends on it."""
    def spread(head_init: str) -> float:
        torch.manual_seed(0)
        model = TTPModel(ModelConfig(head_init=head_init, **TINY)).eval()
        if head_init == "pytorch":
            for m in model.sup_head.decoder.modules():
                if isinstance(m, torch.nn.Linear):
                    assert _std(m.weight) > 0.01
        with torch.no_grad():
            return float(model(torch.randn(4, 3, 64, 64)).affinity.std(0).mean())  # over images

    assert spread("pytorch") > 5 * spread("authors")


def test_conv_head_keeps_the_authors_small_init():
    torch.manual_seed(0)
    model = TTPModel(ModelConfig(sup_head="conv", **TINY))
    assert 0.0005 < _std(model.sup_head.conv.weight) < 0.002 and _std(model.self_head.weight) > 0.05


@pytest.mark.parametrize("input_size,expected", [(64, 1.0), (128, 2.0), (256, 4.0)])
def test_sigma_scales_with_the_heatmap_grid(input_size, expected):
    """sigma = 2 on the paper's 32 x 32 grid, scaled with the grid unless set (targets and bottleneck alike)."""
    from ttpose.config import config_from_dict

    cfg = config_from_dict({"model": {"input_size": input_size}})
    assert cfg.model.gaussian_sigma == expected and cfg.target_sigma == expected
    cfg = config_from_dict({"model": {"input_size": input_size, "sigma": 3.0}, "data": {"heatmap_sigma": 2.5}})
    assert cfg.model.gaussian_sigma == 3.0 and cfg.target_sigma == 2.5
    model = TTPModel(ModelConfig(**{**TINY, "input_size": input_size}))
    sharp = torch.full((1, 1, input_size // 4, input_size // 4), -50.0)
    sharp[0, 0, 5, 6] = 50.0
    _, maps = keypoint_bottleneck(sharp, model.config.gaussian_sigma, upsample=1)
    # the Gaussian at one sigma from its peak is exp(-1/2)
    assert torch.isclose(maps[0, 0, 5, 6 + int(expected)], torch.tensor(0.6065), atol=2e-3)


def _grads(model, names):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None and n.startswith(names)}


@pytest.mark.parametrize("sup_head,self_task", [("transformer", "keypoint"), ("conv", "keypoint"),
                                                ("conv", "rotation")])
def test_self_to_encoder_scales_only_the_encoders_share_of_the_self_supervised_gradient(sup_head, self_task):
    """loss.self_to_encoder: the same outputs; the encoder's gradient from L_self scaled by the share, the
    self-supervised head's (and the reconstruction path's) untouched; L_sup's gradient untouched everywhere."""
    torch.manual_seed(0)
    model = TTPModel(ModelConfig(backbone="resnet18", sup_head=sup_head, self_task=self_task, **TINY)).eval()
    x, s = torch.randn(2, 3, 64, 64), torch.randn(2, 3, 64, 64)
    runs = {}
    for share in (1.0, 0.25):
        model.zero_grad()
        out = model(x, s if self_task == "keypoint" else None, rotated=x if self_task == "rotation" else None,
                    self_to_encoder=share)
        self_loss = (out.reconstruction.square().mean() if self_task == "keypoint"
                     else out.rotation_logits.square().mean())
        self_loss.backward(retain_graph=True)
        self_grads = _grads(model, ("encoder", "self_head", "renderer", "rotation_head"))
        model.zero_grad()
        out.sup_heatmaps.square().mean().backward()
        runs[share] = out, self_grads, _grads(model, ("encoder",))
    (full, full_self, full_sup), (part, part_self, part_sup) = runs[1.0], runs[0.25]
    assert torch.equal(full.sup_heatmaps, part.sup_heatmaps)
    if self_task == "keypoint":
        assert torch.allclose(full.reconstruction, part.reconstruction)
    encoder = [n for n in full_self if n.startswith("encoder")]
    assert encoder and any(full_self[n].abs().sum() > 0 for n in encoder)
    for n in encoder:
        torch.testing.assert_close(part_self[n], 0.25 * full_self[n], rtol=1e-4, atol=1e-9)
    heads = [n for n in full_self if not n.startswith("encoder")]
    assert heads
    for n in heads:
        torch.testing.assert_close(part_self[n], full_self[n], rtol=1e-4, atol=1e-9)
    for n in full_sup:
        torch.testing.assert_close(part_sup[n], full_sup[n])
