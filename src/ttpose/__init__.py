"""ttpose: test-time personalization of a 2D human pose estimator (Li et al., NeurIPS 2021). The package's front
door: the calls most users need (load a checkpoint, personalize, train), each from the module that owns it;
docs/architecture.md shows the layers and what each module owns.

    import ttpose
    model = ttpose.load_checkpoint("src/ttpose/demo_model/model.safetensors")  # the demo's small model
    result = ttpose.personalize(model, video, mode="online")     # one prediction per frame
"""

__version__ = "0.1.0"

from ttpose.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from ttpose.config import Config, load_config  # noqa: E402
from ttpose.model import TTPModel, build_model  # noqa: E402
from ttpose.personalization import personalize  # noqa: E402
from ttpose.training import train  # noqa: E402

__all__ = ["Config", "TTPModel", "build_model", "load_checkpoint", "load_config", "personalize", "save_checkpoint",
           "train"]
