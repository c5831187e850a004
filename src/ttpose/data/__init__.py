"""Data: synthetic people, the paper's datasets, users' videos, crops and (target, source) pairs; the package
re-exports the structures every source produces (`ttpose.data.types`)."""

from ttpose.data.types import ImageFiles, PoseFrame, Video, unlabeled_video

__all__ = ["ImageFiles", "PoseFrame", "Video", "unlabeled_video"]
