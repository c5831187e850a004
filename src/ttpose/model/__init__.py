"""The network of Fig. 2: shared encoder, heads, keypoint bottleneck, reconstruction path."""

from ttpose.model.partition import personalization_parameters
from ttpose.model.ttp import TTPModel, TTPOutput, build_model

__all__ = ["TTPModel", "TTPOutput", "build_model", "personalization_parameters"]
