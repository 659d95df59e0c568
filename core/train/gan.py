"""Optional patch-GAN term: a small discriminator judges patches of the source reconstruction against the
source face, so the decoder is pushed towards sharp, plausible texture once the model is mature."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

PART = "disc"  # the discriminator's name among the checkpoint parts


class PatchDiscriminator(nn.Module):
    """Three 4x4 stride-2 convolutions and a 3x3 head: (N, 3, R, R) 0..1 -> (N, 1, R/8, R/8) logits, one
    per overlapping patch of about 30 px (real: a face as it was filmed; fake: a reconstruction)."""

    def __init__(self, dims: int = 16) -> None:
        super().__init__()
        if not isinstance(dims, int) or isinstance(dims, bool) or dims < 1:
            raise ValueError(f"discriminator dims must be a positive integer, got {dims!r}")
        self.dims = dims
        chans = [3, dims, dims * 2, dims * 4]
        self.layers = nn.ModuleList(nn.Conv2d(a, b, 4, stride=2, padding=1) for a, b in zip(chans, chans[1:]))
        self.head = nn.Conv2d(dims * 4, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * 2.0 - 1.0
        for conv in self.layers:
            x = F.leaky_relu(conv(x), 0.2)
        return self.head(x)

    @staticmethod
    def dims_of(state: dict[str, torch.Tensor]) -> int:
        """The `dims` a saved discriminator was built with (read from its first layer's weight)."""
        return int(state["layers.0.weight"].shape[0])


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """How far the discriminator is from calling the reconstruction real (non-saturating BCE), a scalar."""
    return F.binary_cross_entropy_with_logits(fake_logits.float(), torch.ones_like(fake_logits.float()))


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """BCE of telling real patches (1) from reconstructed ones (0), a scalar."""
    real, fake = real_logits.float(), fake_logits.float()
    return F.binary_cross_entropy_with_logits(
        real, torch.ones_like(real)
    ) + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))


def judge_frozen(disc: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The discriminator's logits for `x` with its weights detached: gradients reach `x` (the generator)
    but never the discriminator, and no DistributedDataParallel hook fires for this extra forward."""
    params = {k: v.detach() for k, v in disc.named_parameters()}
    return torch.func.functional_call(disc, params, (x,))
