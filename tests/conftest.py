import os
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import settings

os.environ.setdefault("OMP_NUM_THREADS", "2")  # before torch loads (ttpose imports it): OpenMP reads it once
import torch  # noqa: E402

from ttpose.config import LossConfig, ModelConfig  # noqa: E402
from ttpose.model import TTPModel  # noqa: E402

# Tests are deterministic: hypothesis draws the same examples on every run (a CI run once drew a corner case no
# earlier run had). HYPOTHESIS_PROFILE=explore searches afresh each run, for finding new cases by hand.
settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

REPO = Path(__file__).resolve().parents[1]

# The tiny model of the tests that run a whole model (personalization, videos, training, speed options): a
# ResNet-18 of width 8 at 32 x 32 pixels, every part a few channels wide. Tests import it from here
# (``from conftest import TINY_MODEL``: pytest imports this file as the module ``conftest``, after the
# repository root's conftest.py); `tiny_model_section` is its config-file form, `tiny_model` an untrained one.
TINY_MODEL_FIELDS = dict(backbone="resnet18", backbone_width=8, deconv_channels=16, input_size=32, num_maps=6,
                         encoder_widths=(4, 4, 8, 8), renderer_widths=(8, 4, 4, 4), transformer_heads=2,
                         transformer_ff=32)
TINY_MODEL = ModelConfig(**TINY_MODEL_FIELDS)


def tiny_model_section() -> dict:
    """`TINY_MODEL` as the ``model`` section of `ttpose.config.config_from_dict`'s values (lists for tuples)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in TINY_MODEL_FIELDS.items()}


def tiny_model(seed: int = 0, **config) -> TTPModel:
    """An untrained `TINY_MODEL` (with ``config``'s fields changed) in eval mode, its weights drawn large enough
    for the heatmaps to have peaks that move under Adam; L_self's perceptual term is the pixel one."""
    torch.manual_seed(seed)
    model = TTPModel(replace(TINY_MODEL, **config))
    for p in model.parameters():
        if p.dim() > 1:
            torch.nn.init.normal_(p, std=0.1)
    model.loss_config = LossConfig(perceptual="pixel")
    return model.eval()


SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The real third-party files in ../shared/data (CI has shared/ beside the checkout)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent")
    return SHARED_DATA
