"""What test-time personalization may change (Sec. 3.2 and the authors' code).

Updated: the backbone and deconvolutions (phi), the self-supervised head (psi_self, or the rotation
classifier for the rotation method), the appearance and pose encoders and the renderer.
Frozen: the joint queries, the Transformer, the affinity projection, the supervised conv head, and the
affine parameters of every normalisation layer. The model runs in eval mode for the whole procedure
(frozen BatchNorm statistics, no dropout), as in the authors' code.

A cheaper update (not the paper; ``TTPConfig.update_reconstruction=False``, issue 16) also freezes the
reconstruction path (`RECONSTRUCTION_PATH`): L_self then adapts only the shared encoder and the self-supervised
head, and no weight gradient of the full-resolution encoders and renderer is computed.
"""

from __future__ import annotations

from torch import nn

NORM_LAYERS = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm)


RECONSTRUCTION_PATH = ("appearance_encoder", "pose_encoder", "renderer")  # the TTPModel modules of Eq. 1's decoder


def personalization_parameters(model: nn.Module, reconstruction: bool = True) -> list[nn.Parameter]:
    """Freeze what personalization must not change, put ``model`` in eval mode, return what it updates.

    ``reconstruction=False`` freezes the reconstruction path too (the cheaper update, see the module docstring)."""
    model.eval()
    frozen: set[int] = set()
    for module in model.modules():
        if isinstance(module, NORM_LAYERS):
            frozen.update(id(p) for p in module.parameters(recurse=False))
    frozen.update(id(p) for p in model.sup_head.parameters())
    if not reconstruction:
        for name in RECONSTRUCTION_PATH:
            module = getattr(model, name, None)
            if module is not None:
                frozen.update(id(p) for p in module.parameters())
    updated = []
    for p in model.parameters():
        p.requires_grad_(id(p) not in frozen)
        if p.requires_grad:
            updated.append(p)
    return updated
