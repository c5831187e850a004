"""Speed options (ttpose.speed): each gives the default computation's outputs within a stated tolerance."""

import copy
from dataclasses import replace

import numpy as np
import pytest
import torch

from conftest import TINY_MODEL, tiny_model_section
from ttpose.config import LossConfig, SpeedConfig, TTPConfig, load_config
from ttpose.data.synthetic import SyntheticConfig, make_video, materialize
from ttpose.losses import ReconstructionLoss
from ttpose.model import TTPModel, personalization_parameters
from ttpose.model.heads import TransformerAffinityHead
from ttpose.personalization import Personalizer, personalize
from ttpose.speed import (
    autocast,
    bf16_units,
    describe,
    fast_speed,
    fold_batchnorm,
    inference_model,
    precision_on,
    prediction_model,
    prepare_input,
    prepare_model,
    private_copy,
    require_compiler,
    unfold_batchnorm,
)

FP32_TOL = 1e-4  # relative: the same maths, another rounding order
BF16_TOL = 5e-2  # relative: bfloat16 keeps 8 mantissa bits


def tiny_model_with_bn_stats(seed=0, backbone="resnet18", **config) -> TTPModel:
    """A tiny model with non-trivial BN statistics and affine parameters, so that folding matters."""
    torch.manual_seed(seed)
    model = TTPModel(replace(TINY_MODEL, backbone=backbone, **config))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
        for p in model.parameters():
            if p.dim() > 1:
                torch.nn.init.normal_(p, std=0.1)
    model.loss_config = LossConfig(perceptual="pixel")
    return model.eval()


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """Relative difference; the absolute one where ``b`` is all zero (e.g. a layer behind dead ReLUs)."""
    diff, scale = (a.float() - b.float()).norm(), b.float().norm()
    return (diff / scale if scale > 0 else diff).item()


def _images(seed=1, n=3):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 32, 32, generator=g), torch.randn(n, 3, 32, 32, generator=g)


def _forward_backward(model, speed, target, source):
    """Outputs and parameter gradients of L_self-like sums, personalization style (eval mode)."""
    model = copy.deepcopy(model)
    params = personalization_parameters(model)
    prepare_model(model, speed)
    with autocast(speed):
        out = model(prepare_input(target, speed), prepare_input(source, speed))
        loss = out.reconstruction.float().pow(2).mean() + out.self_heatmaps.float().pow(2).mean()
    loss.backward()
    pred = model.predict(prepare_input(target, speed))
    return out, pred, [p.grad.clone() for p in params]


@pytest.mark.parametrize("backbone", ["resnet18", "resnet50"])
def test_bn_folding_is_exact_in_fp32(backbone):
    model = tiny_model_with_bn_stats(backbone=backbone)
    target, source = _images()
    ref_out, ref_pred, ref_grads = _forward_backward(model, None, target, source)
    out, pred, grads = _forward_backward(model, SpeedConfig(fold_bn=True), target, source)
    for name in ("reconstruction", "self_heatmaps", "self_keypoints"):
        assert rel(getattr(out, name), getattr(ref_out, name)) < 1e-5, name
    assert rel(pred.sup_heatmaps, ref_pred.sup_heatmaps) < 1e-5
    for g, g0 in zip(grads, ref_grads, strict=True):
        assert rel(g, g0) < 1e-4


@pytest.mark.parametrize("others", [{}, {"fold_bn": True, "channels_last": True}])
def test_separable_gaussians_are_exact_in_fp32(others):
    """The pose encoder's first conv on the Gaussians' profiles (with or without folding and NHWC): the
    outputs and personalization gradients of the plain computation."""
    model = tiny_model_with_bn_stats()
    target, source = _images()
    ref_out, _, ref_grads = _forward_backward(model, SpeedConfig(**others), target, source)
    speed = SpeedConfig(separable_gaussians=True, **others)
    out, _, grads = _forward_backward(model, speed, target, source)
    assert describe(speed).endswith("separable_gaussians")
    assert rel(out.reconstruction, ref_out.reconstruction) < 1e-5
    for g, g0 in zip(grads, ref_grads, strict=True):
        assert rel(g, g0) < 1e-4


def test_folding_keeps_parameters_state_dict_and_train_mode():
    model = tiny_model_with_bn_stats()
    keys, params = list(model.state_dict()), [id(p) for p in model.parameters()]
    folded = copy.deepcopy(model)
    n = fold_batchnorm(folded)
    bns = sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert n == bns  # every BN of this model follows a conv
    assert list(folded.state_dict()) == keys
    model_params = [id(p) for p in model.parameters()]
    assert model_params == params
    # a deep copy refers to its own BN, not to the original's
    copied = copy.deepcopy(folded)
    conv = copied.encoder.backbone.conv1
    assert conv.__dict__["_folded_bn"] is copied.encoder.backbone.bn1
    # train mode: BN normalises with batch statistics, folding is bypassed
    target, source = _images()
    torch.manual_seed(0)
    a = model.train()(target, source, sup=False).reconstruction
    torch.manual_seed(0)
    b = folded.train()(target, source, sup=False).reconstruction
    assert torch.equal(a, b)
    assert unfold_batchnorm(folded) == n  # the convs (their BNs are restored alongside)
    assert type(folded.encoder.backbone.conv1) is torch.nn.Conv2d
    assert type(folded.encoder.backbone.bn1) is torch.nn.BatchNorm2d


def test_channels_last_matches_fp32():
    model = tiny_model_with_bn_stats()
    target, source = _images()
    ref_out, ref_pred, ref_grads = _forward_backward(model, None, target, source)
    out, pred, grads = _forward_backward(model, SpeedConfig(channels_last=True, fold_bn=True), target, source)
    assert rel(out.reconstruction, ref_out.reconstruction) < FP32_TOL
    assert rel(pred.sup_heatmaps, ref_pred.sup_heatmaps) < FP32_TOL
    assert max(rel(g, g0) for g, g0 in zip(grads, ref_grads, strict=True)) < 1e-3


def test_bf16_is_close_to_fp32():
    model = tiny_model_with_bn_stats()
    target, source = _images()
    ref_out, ref_pred, ref_grads = _forward_backward(model, None, target, source)
    speed = SpeedConfig(precision="bf16", channels_last=True, fold_bn=True)
    out, pred, grads = _forward_backward(model, speed, target, source)
    assert out.reconstruction.dtype == torch.bfloat16  # autocast did run the convolutions in bf16
    assert rel(out.reconstruction, ref_out.reconstruction) < BF16_TOL
    assert rel(out.self_heatmaps, ref_out.self_heatmaps) < BF16_TOL
    assert rel(pred.sup_heatmaps, ref_pred.sup_heatmaps) < BF16_TOL
    assert np.median([rel(g, g0) for g, g0 in zip(grads, ref_grads, strict=True)]) < 0.1
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_fp16_on_cpu_is_refused_with_a_clear_error():
    with pytest.raises(ValueError, match="fp16 is for CUDA"):
        autocast(SpeedConfig(precision="fp16"), "cpu")


def test_config_overrides_and_labels():
    cfg = load_config(None, ["ttp.speed.precision=bf16", "ttp.speed.fold_bn=true", "train.speed.channels_last=true"])
    assert cfg.ttp.speed == SpeedConfig(precision="bf16", fold_bn=True)
    assert cfg.train.speed.channels_last and cfg.train.speed.precision == "fp32"
    assert describe(cfg.ttp.speed) == "bf16+fold_bn" and describe(None) == "fp32"


@pytest.fixture(scope="module")
def video():
    return materialize(make_video("test", 0, config=SyntheticConfig(frame_size=48, frames_per_video=3)))


@pytest.mark.parametrize("speed,tol", [(SpeedConfig(fold_bn=True, channels_last=True), FP32_TOL),
                                       (SpeedConfig(precision="bf16", fold_bn=True, channels_last=True), BF16_TOL),
                                       (SpeedConfig(precision="bf16", fold_bn=True, channels_last=True,
                                                    separable_gaussians=True), BF16_TOL)])
def test_personalization_with_speed_options_matches_the_default(video, speed, tol):
    model = tiny_model_with_bn_stats()
    fast_cfg = TTPConfig(batch_size=4, lr=1e-3, speed=speed)
    base = personalize(model, video, "online", TTPConfig(batch_size=4, lr=1e-3), seed=3, progress=False)
    fast = personalize(model, video, "online", fast_cfg, seed=3, progress=False)
    assert np.abs(fast.losses - base.losses).max() / np.abs(base.losses).max() < tol
    assert np.abs(fast.self_keypoints - base.self_keypoints).max() < 100 * tol  # full-frame pixels
    # the trained weights are untouched and the private copy is folded
    tuner = Personalizer(model, fast_cfg)
    assert type(tuner.model.encoder.backbone.bn1).__name__ == "_FoldedBatchNorm2d"
    assert type(model.encoder.backbone.bn1) is torch.nn.BatchNorm2d


def test_vgg_loss_under_bf16_stays_float32():
    torch.manual_seed(0)
    loss = ReconstructionLoss(LossConfig(perceptual="vgg16", vgg_weights=None))
    x, y = _images(n=2)
    base = loss.terms(x, y)
    with autocast(SpeedConfig(precision="bf16")):
        fast = loss.terms(x, y)
    assert fast.dtype == torch.float32
    assert rel(fast, base) < BF16_TOL


def test_training_with_speed_options_tracks_the_default(tmp_path):
    """train() with train.speed (bf16, channels_last, fold_bn): same losses within the bf16 tolerance,
    and a checkpoint that loads as a plain model."""
    import csv

    from ttpose.checkpoint import load_checkpoint
    from ttpose.config import config_from_dict
    from ttpose.training import train

    def losses(run, **speed):
        cfg = config_from_dict({
            "model": tiny_model_section(),
            "loss": dict(perceptual="pixel", lam=0.1),
            "data": dict(dataset="synthetic", train_videos=2, val_videos=1, test_videos=1, frames_per_video=6,
                         frame_size=64),
            "train": dict(batch_size=4, steps=2, lr_steps=[4], log_every=1, val_every=2, checkpoint_every=2,
                          speed=speed),
            "output_dir": str(tmp_path / run)})
        result = train(cfg, progress=False)
        rows = [r for r in csv.DictReader(open(tmp_path / run / "log.csv")) if r["loss"]]
        return np.array([float(r["loss"]) for r in rows]), result

    base, _ = losses("base")
    fast, result = losses("fast", precision="bf16", channels_last=True, fold_bn=True)
    assert len(fast) == len(base) == 2
    assert np.abs(fast - base).max() / np.abs(base).max() < BF16_TOL
    loaded = load_checkpoint(result.checkpoint)
    assert type(loaded.encoder.backbone.bn1) is torch.nn.BatchNorm2d
    for k, v in loaded.state_dict().items():
        assert torch.allclose(v.float(), result.model.state_dict()[k].float()), k


# ------------------------------------------------------------------------------- prediction-only copies


def _predict(model, speed, images):
    with torch.no_grad(), autocast(speed):
        return model.predict(prepare_input(images, speed))


def test_inference_model_folds_for_good_and_leaves_the_model_alone():
    model = tiny_model_with_bn_stats()
    images, _ = _images()
    speed = SpeedConfig(fold_bn=True, channels_last=True)
    net = inference_model(model, speed)
    ref, out = _predict(model, None, images), _predict(net, speed, images)
    for name in ("sup_heatmaps", "self_heatmaps", "affinity"):
        assert rel(getattr(out, name), getattr(ref, name)) < FP32_TOL, name
    conv = net.encoder.backbone.conv1
    assert type(conv) is torch.nn.Conv2d and conv.bias is not None  # the BN lives in the conv's weight and bias
    assert not any(p.requires_grad for p in net.parameters()) and not net.training
    assert type(model.encoder.backbone.bn1) is torch.nn.BatchNorm2d and model.encoder.backbone.conv1.bias is None
    assert inference_model(net, speed) is net  # prepared once, passed on
    with pytest.raises(ValueError, match="already an inference copy"):
        inference_model(net, SpeedConfig())
    with pytest.raises(ValueError, match="already an inference copy"):
        prediction_model(net, SpeedConfig())  # not silently run without its options
    assert prediction_model(model, SpeedConfig()) is model and prediction_model(net, speed) is net
    with pytest.raises(ValueError, match="prediction-only copy"):
        Personalizer(net)
    # a baked BN stays the identity in train mode too (it lives in the conv now)
    features = net.encoder(prepare_input(images, speed))
    assert torch.equal(net.encoder.train()(prepare_input(images, speed)), features)


@pytest.mark.parametrize("config", [dict(sup_head="conv", self_task=task) for task in ("keypoint", "none", "rotation")])
def test_inference_model_of_every_method(config):
    model = tiny_model_with_bn_stats(**config)
    images, _ = _images()
    speed = SpeedConfig(fold_bn=True, channels_last=True)
    ref, out = _predict(model, None, images), _predict(inference_model(model, speed), speed, images)
    assert rel(out.sup_heatmaps, ref.sup_heatmaps) < FP32_TOL


def test_copies_do_not_call_the_original_compiled_forward():
    """nn.Module.compile() keeps a compiled forward bound to the ORIGINAL module; a deep copy would run it
    (the original's weights) and never compile itself. Nothing is compiled here (compilation is lazy)."""
    model = tiny_model_with_bn_stats()
    model.encoder.compile()
    model.encoder._ttpose_compiled = True
    for copy_ in (private_copy(model), inference_model(model, SpeedConfig(fold_bn=True)), Personalizer(model).model):
        assert copy_.encoder._compiled_call_impl is None and not hasattr(copy_.encoder, "_ttpose_compiled")
    assert model.encoder._compiled_call_impl is not None  # the original keeps its own


def test_bf16_affinity_head_does_not_expand_its_weights_per_token():
    """Regression: with the tokens as a transposed view, autocast's bf16 attention turned the K/V projection
    into a batched product with the weight copied once per token (1024 x 256 x 512 values, 180 ms at batch 1)."""
    head = TransformerAffinityHead(64, 13, 30).eval()
    features, maps = torch.randn(1, 64, 32, 32), torch.randn(1, 30, 32, 32)
    with torch.no_grad(), autocast(SpeedConfig(precision="bf16")), torch.profiler.profile(record_shapes=True) as prof:
        heatmaps, _ = head(features, maps)
    assert heatmaps.shape == (1, 13, 32, 32)
    largest = max(int(np.prod(shape)) for e in prof.events() for shape in e.input_shapes if shape)
    assert largest < 32 * 32 * 64 * 64  # tokens x c x c: never a per-token copy of a weight


def _has_compiler():
    try:
        require_compiler(torch.nn.Linear(1, 1))
        return True
    except RuntimeError:
        return False


@pytest.mark.skipif(not _has_compiler(), reason="torch.compile on CPU needs a C++ compiler")
def test_frozen_inference_matches_the_plain_model():
    """speed.compile_frozen (BN folded by ttpose, encoder compiled with inductor's weight freezing) gives the plain
    model's predictions; inductor's own BN folding of ConvTranspose2d + BN under freezing does not (torch
    2.13), which is why inference_model folds first."""
    from torch._dynamo.utils import counters

    model = tiny_model_with_bn_stats()
    images, _ = _images()
    speed = SpeedConfig(channels_last=True, compile_frozen=True)
    net = inference_model(model, speed)
    ref = _predict(model, None, images)
    counters.clear()
    out = _predict(net, speed, images)
    assert counters["inductor"]["mkldnn_conv_weight_pack_matcher_count"] > 0  # frozen: weights packed once
    for name in ("sup_heatmaps", "self_heatmaps"):
        assert rel(getattr(out, name), getattr(ref, name)) < FP32_TOL, name
    out1 = _predict(net, speed, images[:1])  # another batch size: recompiled, frozen again
    assert rel(out1.sup_heatmaps, ref.sup_heatmaps[:1]) < FP32_TOL
    assert describe(speed) == "fp32+channels_last+compile_frozen"


def test_missing_compiler_is_a_clear_error(monkeypatch):
    import ttpose.speed

    monkeypatch.setattr(ttpose.speed.shutil, "which", lambda name: None)
    monkeypatch.delenv("CXX", raising=False)
    with pytest.raises(RuntimeError, match="C\\+\\+ compiler"):
        inference_model(tiny_model_with_bn_stats(), SpeedConfig(compile_frozen=True))


def test_evaluate_without_ttp_uses_the_inference_options(video, monkeypatch):
    import ttpose.evaluate
    import ttpose.speed

    made = []
    monkeypatch.setattr(ttpose.speed, "inference_model", lambda m, s: made.append(m) or inference_model(m, s))
    model = tiny_model_with_bn_stats()
    base, _ = ttpose.evaluate.evaluate(model, [video, video], "none", TTPConfig(), progress=False)
    assert made == []  # default options: the model as it is
    speed = SpeedConfig(fold_bn=True)
    fast, _ = ttpose.evaluate.evaluate(model, [video, video], "none", TTPConfig(speed=speed), progress=False)
    assert len(made) == 3 and made[0] is model and made[1] is made[2]  # one copy, passed on to each video
    assert fast.table == pytest.approx(base.table)
    one = personalize(model, video, "none", TTPConfig(speed=speed), progress=False)  # the library call too
    np.testing.assert_allclose(one.joints, personalize(model, video, "none", progress=False).joints, atol=1e-3)
    assert type(model.encoder.backbone.bn1) is torch.nn.BatchNorm2d  # the caller's model is untouched


@pytest.mark.skipif(not _has_compiler(), reason="torch.compile on CPU needs a C++ compiler")
def test_the_live_camera_example_of_docs_speed_md_runs(tmp_path, monkeypatch):
    from pathlib import Path

    from ttpose.checkpoint import save_checkpoint
    from ttpose.config import Config

    text = (Path(__file__).resolve().parents[1] / "docs" / "speed.md").read_text()
    section = text[text.index("## Inference at batch 1"):]
    code = section[section.index("```python") + len("```python"):section.index("```", section.index("```python") + 9)]
    model = tiny_model_with_bn_stats()
    save_checkpoint(tmp_path / "model", model, Config(model=model.config))
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "docs/speed.md", "exec"), scope)
    assert scope["heatmaps"].shape == (1, model.skeleton.num_joints, 8, 8)
    assert scope["net"] is not scope["model"] and torch.isfinite(scope["heatmaps"]).all()


def test_fp16_is_refused_where_gradients_flow(tmp_path):
    """Regression: fp16 had no gradient scaling; the heatmap loss's gradients underflow float16."""
    from ttpose.training import train

    with pytest.raises(ValueError, match="fp16 would lose the gradients"):
        Personalizer(tiny_model_with_bn_stats(), TTPConfig(speed=SpeedConfig(precision="fp16")))
    cfg = load_config(None, ["train.speed.precision=fp16", f"output_dir={tmp_path}"])
    with pytest.raises(ValueError, match="training \\(train.speed\\).*fp16"):
        train(cfg, progress=False)


def test_bf16_units_reads_the_cpu_flags(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_bf16\n")
    assert bf16_units(info)
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_vnni\n")
    assert not bf16_units(info)
    assert not bf16_units(tmp_path / "missing")  # unreadable: assume no bf16 units (plain float32 is safe)


def test_fast_speed_uses_bf16_only_where_it_is_fast(monkeypatch):
    import ttpose.speed as speed

    monkeypatch.setattr(speed, "bf16_units", lambda: False)
    assert fast_speed("cpu") == SpeedConfig(precision="fp32", channels_last=True, fold_bn=True,
                                            separable_gaussians=True)
    assert fast_speed("cuda").precision == "bf16"
    monkeypatch.setattr(speed, "bf16_units", lambda: True)
    assert fast_speed("cpu").precision == "bf16"


def test_auto_precision_is_bf16_only_where_it_is_fast(monkeypatch):
    """A config with ``precision: auto`` (configs/synthetic/cpu.yaml) runs fp32 on CPUs without bf16 units,
    where emulated bf16 is slower than fp32 (benchmarks/SPEED.md, table1_step_time), and bf16 where it is fast."""
    import ttpose.speed as speed

    auto = load_config(None, ["ttp.speed.precision=auto"]).ttp.speed
    x = torch.ones(2, 2)
    monkeypatch.setattr(speed, "bf16_units", lambda: False)
    assert precision_on(auto, "cpu") == "fp32" and describe(auto) == "auto=fp32"
    with autocast(auto, "cpu"):
        assert (x @ x).dtype == torch.float32
    assert precision_on(auto, "cuda") == "bf16"
    monkeypatch.setattr(speed, "bf16_units", lambda: True)
    assert precision_on(auto, "cpu") == "bf16" and describe(auto) == "auto=bf16"
    with autocast(auto, "cpu"):
        assert (x @ x).dtype == torch.bfloat16
    assert precision_on(SpeedConfig(precision="fp32"), "cuda") == "fp32"  # an explicit precision is kept
    with pytest.raises(ValueError, match="precision"):
        load_config(None, ["ttp.speed.precision=bf17"])
