"""The mask network: a small U-Net (four stride-2 levels, skip connections) that segments the visible face.

Tensor contract: faces go in as (N, 3, R, R) float32 0..1 (working encoding, RGB, an aligned crop of the
config's face type); out come (N, 1, R, R) logits (sigmoid: probability that a pixel is visible face).
R is `MaskConfig.resolution` (64..512, a multiple of 16).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from facegraft.errors import InputError
from facegraft.geometry.alignment import FACE_TYPES
from facegraft.registry import require_choice

KIND = "mask"  # the `kind` a mask model's checkpoints record, so a face-swap model is never taken for one
LEVELS = 4


@dataclass
class MaskConfig:
    """The shape-defining settings of a mask network; stored beside its checkpoints."""

    resolution: int = 256
    dims: int = 24
    face_type: str = "full"  # the crop of the faces it learned; it is applied to faces of this type only

    def __post_init__(self) -> None:
        r = self.resolution
        if not isinstance(r, int) or isinstance(r, bool) or not 64 <= r <= 512 or r % 16:
            raise InputError(f"mask resolution must be a multiple of 16 from 64 to 512, got {r!r}")
        if not isinstance(self.dims, int) or isinstance(self.dims, bool) or self.dims < 4:
            raise InputError(f"mask network dims must be an integer of at least 4, got {self.dims!r}")
        require_choice(self.face_type, FACE_TYPES, "face type")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MaskConfig:
        """The config stored by `to_dict`; unknown keys are refused (a newer engine's model)."""
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise InputError(f"unknown mask config field(s): {', '.join(unknown)}")
        return cls(**data)


class _Block(nn.Module):
    """Two 3x3 convolutions with GroupNorm and LeakyReLU: (N, in, H, W) -> (N, out, H, W)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        groups = max(1, out_ch // 8)
        self.body = nn.Sequential(
            nn.Conv2d(in_ch, out_ch, 3, padding=1),
            nn.GroupNorm(groups, out_ch),
            nn.LeakyReLU(0.1),
            nn.Conv2d(out_ch, out_ch, 3, padding=1),
            nn.GroupNorm(groups, out_ch),
            nn.LeakyReLU(0.1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class MaskNet(nn.Module):
    """U-Net: levels of d, 2d, 4d, 8d channels down to R/16 (16d), then back up with skip connections."""

    def __init__(self, cfg: MaskConfig) -> None:
        super().__init__()
        self.cfg = cfg
        chans = [cfg.dims * 2**i for i in range(LEVELS + 1)]
        self.down = nn.ModuleList(_Block(a, b) for a, b in zip([3, *chans[:-2]], chans[:-1]))
        self.pool = nn.ModuleList(nn.Conv2d(c, c, 3, stride=2, padding=1) for c in chans[:-1])
        self.bottom = _Block(chans[-2], chans[-1])
        self.up = nn.ModuleList(nn.Conv2d(chans[i + 1], chans[i], 1) for i in reversed(range(LEVELS)))
        self.merge = nn.ModuleList(_Block(2 * chans[i], chans[i]) for i in reversed(range(LEVELS)))
        self.head = nn.Conv2d(chans[0], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, R, R) float 0..1 -> (N, 1, R, R) logits."""
        skips = []
        for block, pool in zip(self.down, self.pool):
            x = block(x)
            skips.append(x)
            x = pool(x)
        x = self.bottom(x)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips)):
            x = up(F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False))
            x = merge(torch.cat([x, skip], 1))
        return self.head(x)


def build_mask_net(cfg: MaskConfig) -> MaskNet:
    """A freshly initialised mask network (float32, on the CPU, channels_last)."""
    return MaskNet(cfg).to(memory_format=torch.channels_last)
