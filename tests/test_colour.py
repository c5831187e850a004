"""A model trained on BGR images (the authors' checkpoints) sees, through ttpose's RGB pipeline, exactly
the pixels the authors' code feeds it: in prediction and in the reconstruction target of personalization."""

import copy

import numpy as np
import pytest
import torch

from ttpose.config import LossConfig, ModelConfig
from ttpose.data.crops import normalize
from ttpose.losses import ReconstructionLoss
from ttpose.model import TTPModel
from ttpose.model.colour import to_input_order
from ttpose.objective import self_supervised_loss

TINY = ModelConfig(backbone="resnet18", backbone_width=8, deconv_channels=16, encoder_widths=(4, 4, 8, 8),
                   renderer_widths=(8, 8, 4, 4), num_maps=5, transformer_ff=16, transformer_heads=2, input_size=64)


def _images(n: int = 2, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 64, 64, 3), dtype=np.uint8)  # RGB uint8


def test_bgr_input_is_the_bgr_image_normalised_with_rgb_statistics():
    rgb = _images()
    authors = normalize(rgb[..., ::-1].copy())  # what their loader makes: BGR channels, RGB mean/std
    assert torch.allclose(to_input_order(normalize(rgb), "bgr"), authors, atol=1e-5)
    assert to_input_order(normalize(rgb), "rgb").equal(normalize(rgb))
    with pytest.raises(ValueError, match="input order"):
        to_input_order(normalize(rgb), "yuv")


def _pair() -> tuple[TTPModel, TTPModel]:
    """The same weights, declared BGR-trained (fed ttpose's RGB crops) and RGB (fed BGR crops by hand)."""
    torch.manual_seed(0)
    rgb = TTPModel(copy.deepcopy(TINY)).eval()
    bgr = copy.deepcopy(rgb)
    bgr.config.input_order = "bgr"
    return bgr, rgb


def test_bgr_model_predicts_as_the_authors_feed_it():
    bgr, rgb = _pair()
    images = _images()
    ours = bgr.predict(normalize(images)).sup_heatmaps
    theirs = rgb.predict(normalize(images[..., ::-1].copy())).sup_heatmaps
    assert torch.allclose(ours, theirs, atol=1e-5)
    with torch.no_grad():  # the order matters: the features differ from those of the RGB crops
        features = bgr.encoder(bgr.model_input(normalize(images)))
        assert (features - rgb.encoder(normalize(images))).abs().max() > 1e-2 * features.abs().max()


def test_reconstruction_target_follows_the_input_order():
    bgr, rgb = _pair()
    target, source = _images(2, 1), _images(2, 2)
    cfg = LossConfig(perceptual="pixel")
    ours = self_supervised_loss(bgr, {"target": normalize(target), "source": normalize(source)},
                                ReconstructionLoss(cfg)).total
    swap = {"target": normalize(target[..., ::-1].copy()), "source": normalize(source[..., ::-1].copy())}
    theirs = self_supervised_loss(rgb, swap, ReconstructionLoss(cfg)).total
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-5)
