"""The colour order a model's weights were trained on.

ttpose feeds every model RGB crops normalised with the ImageNet mean and std (``ttpose.data.crops.normalize``).
The authors' code reads frames with OpenCV, i.e. in BGR order, and normalises them with the same RGB
statistics (shared/spec/official-code.md, "Images are read as BGR ... normalized with the RGB ImageNet
mean/std"), so their released weights expect channel 0 to be (blue - 0.485) / 0.229. A model whose
``config.input_order`` is ``"bgr"`` rewrites its input into that form before its first layer; the
rewrite is exact (per pixel, before any padding), unlike permuting conv1's input channels, which cannot
reproduce the zero padding at the crop border. The reconstruction target of test-time personalization
goes through the same rewrite, so that the renderer is asked for the image it was trained to draw.
"""

from __future__ import annotations

import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # RGB, as in ttpose.data.crops
IMAGENET_STD = (0.229, 0.224, 0.225)
INPUT_ORDERS = ("rgb", "bgr")


def to_input_order(images: torch.Tensor, order: str) -> torch.Tensor:
    """B x 3 x S x S normalised RGB crops -> the same pixels as a model trained on ``order`` saw them.

    ``"bgr"``: undo the normalisation, reverse the channels, normalise again with the RGB statistics.
    """
    if order == "rgb":
        return images
    if order != "bgr":
        raise ValueError(f"input order must be one of {', '.join(INPUT_ORDERS)}, got {order!r}")
    mean = images.new_tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = images.new_tensor(IMAGENET_STD).view(3, 1, 1)
    pixels = images * std + mean  # B x 3 x S x S, RGB in [0, 1]
    return (pixels.flip(-3) - mean) / std  # B x 3 x S x S, BGR normalised with the RGB statistics
