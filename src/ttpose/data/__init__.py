"""Data: synthetic people, the paper's datasets, users' videos, crops and (target, source) pairs."""

from ttpose.data.types import ImageFiles, PoseFrame, Video, unlabeled_video

__all__ = ["ImageFiles", "PoseFrame", "Video", "unlabeled_video"]
