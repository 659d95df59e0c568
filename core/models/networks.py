"""DF and LIAE face-swap autoencoders, chosen by name from one registry (`MODELS`).

Both architectures share one encoder. `df` has one inter block and a decoder per identity; `liae` has two
inter blocks (`inter_AB`, seen by both identities, and `inter_B`, seen only by the destination) and one
shared decoder. Every decoder has an RGB head and a learned mask head.

Tensor contract: images go in as (N, 3, R, R) float32 in 0..1 (working encoding, RGB) and come out in the
same range; masks come out as (N, 1, R, R) float32 in 0..1. Contiguous and channels_last inputs both work
and give the same result. R is `ModelConfig.resolution` (64..512, a multiple of 16); the encoder's lowest
resolution is R // 16, the inter blocks upscale it to R // 8 and the decoders' three upscales reach R.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from facegraft.errors import InputError
from facegraft.geometry.alignment import FACE_TYPES
from facegraft.registry import require_choice

MIN_RESOLUTION = 64
MAX_RESOLUTION = 512
# fields whose change changes the shapes of the weights: a checkpoint cannot be resumed across them
SHAPE_FIELDS = ("arch", "resolution", "ae_dims", "e_dims", "d_dims", "d_mask_dims")


class ModelConfigError(InputError, ValueError):
    """A model configuration that cannot be built (exit 2; also a ValueError for library callers)."""


@dataclass
class ModelConfig:
    """The shape-defining settings of a face-swap model; stored beside its checkpoints."""

    arch: str = "df"  # "df" | "liae"
    resolution: int = 128  # face crop size in px: 64..512, a multiple of 16
    face_type: str = "full"  # crop the model was trained on (see facegraft.geometry.alignment.FACE_TYPES)
    ae_dims: int = 256  # bottleneck width
    e_dims: int = 64  # encoder channels of the first downscale (then 2x, 4x, 8x)
    d_dims: int = 64  # decoder channels (8x, 4x, 2x through the three upscales)
    d_mask_dims: int = 22  # mask-branch channels (8x, 4x, 2x)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ModelConfigError (a ValueError) naming the first bad field."""
        require_choice(self.arch, MODELS, "model arch", ModelConfigError)
        r = self.resolution
        if not isinstance(r, int) or isinstance(r, bool):
            raise ModelConfigError(f"model resolution must be an integer, got {r!r}")
        if not MIN_RESOLUTION <= r <= MAX_RESOLUTION or r % 16:
            raise ModelConfigError(
                f"model resolution {r} is invalid: it must be a multiple of 16 from "
                f"{MIN_RESOLUTION} to {MAX_RESOLUTION} (e.g. 64, 96, 128, 192, 256)"
            )
        require_choice(self.face_type, FACE_TYPES, "face type", ModelConfigError)
        for name in ("ae_dims", "e_dims", "d_dims", "d_mask_dims"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ModelConfigError(f"model {name} must be a positive integer, got {v!r}")

    @property
    def lowest_res(self) -> int:
        """Spatial size of the encoder's output (resolution // 16)."""
        return self.resolution // 16

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """The config stored by `to_dict`; unknown keys are refused (a newer engine's model)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ModelConfigError(f"unknown model config field(s): {', '.join(unknown)}")
        return cls(**data)

    def compatible_with(self, other: ModelConfig) -> list[str]:
        """Names of the fields that differ in a way that changes the weights' shapes (empty: compatible)."""
        return [n for n in SHAPE_FIELDS if getattr(self, n) != getattr(other, n)]


# --- building blocks ----------------------------------------------------------------------------------


class Downscale(nn.Module):
    """5x5 convolution, stride 2, LeakyReLU(0.1): (N, C, H, W) -> (N, out, H/2, W/2)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 5, stride=2, padding=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.conv(x), 0.1)


class Upscale(nn.Module):
    """3x3 conv to 4*out channels, PixelShuffle(2), LeakyReLU(0.1): (N, C, H, W) -> (N, out, 2H, 2W)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch * 4, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.shuffle(self.conv(x)), 0.1)


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with a skip connection; shape preserving."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.leaky_relu(self.conv1(x), 0.2)
        return F.leaky_relu(x + self.conv2(y), 0.2)


class Encoder(nn.Module):
    """Four downscales (e, 2e, 4e, 8e channels) then flatten: (N, 3, R, R) -> (N, 8e * (R/16)^2)."""

    def __init__(self, e_dims: int) -> None:
        super().__init__()
        chans = [3, e_dims, e_dims * 2, e_dims * 4, e_dims * 8]
        self.down = nn.Sequential(*(Downscale(a, b) for a, b in zip(chans[:-1], chans[1:])))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(x).reshape(x.shape[0], -1)


class Inter(nn.Module):
    """Linear(ae_dims) -> Linear(low^2 * out_ch) -> reshape -> Upscale: (N, in) -> (N, out_ch, 2low, 2low)."""

    def __init__(self, in_features: int, ae_dims: int, out_ch: int, lowest_res: int) -> None:
        super().__init__()
        self.out_ch, self.lowest_res = out_ch, lowest_res
        self.dense1 = nn.Linear(in_features, ae_dims)
        self.dense2 = nn.Linear(ae_dims, lowest_res * lowest_res * out_ch)
        self.up = Upscale(out_ch, out_ch)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        x = self.dense2(self.dense1(code))
        x = x.reshape(-1, self.out_ch, self.lowest_res, self.lowest_res)
        return self.up(x)


class Decoder(nn.Module):
    """Three upscales with residual blocks to RGB (sigmoid) plus a mask branch (sigmoid).

    (N, in_ch, R/8, R/8) -> ((N, 3, R, R), (N, 1, R, R)), both in 0..1."""

    def __init__(self, in_ch: int, d_dims: int, d_mask_dims: int) -> None:
        super().__init__()
        d, m = d_dims, d_mask_dims
        self.up = nn.Sequential(
            Upscale(in_ch, d * 8),
            ResidualBlock(d * 8),
            Upscale(d * 8, d * 4),
            ResidualBlock(d * 4),
            Upscale(d * 4, d * 2),
            ResidualBlock(d * 2),
        )
        self.out = nn.Conv2d(d * 2, 3, 3, padding=1)
        self.mask_up = nn.Sequential(Upscale(in_ch, m * 8), Upscale(m * 8, m * 4), Upscale(m * 4, m * 2))
        self.mask_out = nn.Conv2d(m * 2, 1, 3, padding=1)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        face = torch.sigmoid(self.out(self.up(z)))
        mask = torch.sigmoid(self.mask_out(self.mask_up(z)))
        return face, mask


# --- the two architectures -----------------------------------------------------------------------------


class FaceSwapModel(nn.Module):
    """Base class: an encoder plus the arch-specific inter/decoder blocks.

    `forward(src, dst)` reconstructs each identity through its own path (the training step); `swap(dst)`
    renders the destination face through the source path; `reconstruct_dst(dst)` is the control."""

    name: ClassVar[str] = ""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg.e_dims)
        self.code_features = cfg.e_dims * 8 * cfg.lowest_res**2

    def forward(self, src: torch.Tensor, dst: torch.Tensor) -> dict[str, torch.Tensor]:
        """src, dst: (N, 3, R, R) float32 0..1 -> src_rec, dst_rec (N, 3, R, R) and src_mask, dst_mask
        (N, 1, R, R), all 0..1."""
        n = src.shape[0]
        codes = self.encoder(torch.cat([src, dst], 0))  # one encoder pass for both identities
        (src_rec, src_mask), (dst_rec, dst_mask) = self._decode_pair(codes[:n], codes[n:])
        return {"src_rec": src_rec, "src_mask": src_mask, "dst_rec": dst_rec, "dst_mask": dst_mask}

    def swap(self, dst: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The destination face rendered as the source identity: ((N, 3, R, R), (N, 1, R, R)), 0..1."""
        return self._decode_as_src(self.encoder(dst))

    def reconstruct_dst(self, dst: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The destination face through its own path (the control for a swap)."""
        return self._decode_as_dst(self.encoder(dst))

    def _decode_pair(self, src_code: torch.Tensor, dst_code: torch.Tensor):
        return self._decode_as_src(src_code), self._decode_as_dst(dst_code)

    def _decode_as_src(self, code: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def _decode_as_dst(self, code: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError


class DFModel(FaceSwapModel):
    """One shared inter block, one decoder per identity; the swap uses `decoder_src`."""

    name = "df"

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__(cfg)
        ch = cfg.ae_dims * 2
        self.inter = Inter(self.code_features, cfg.ae_dims, ch, cfg.lowest_res)
        self.decoder_src = Decoder(ch, cfg.d_dims, cfg.d_mask_dims)
        self.decoder_dst = Decoder(ch, cfg.d_dims, cfg.d_mask_dims)

    def _decode_pair(self, src_code: torch.Tensor, dst_code: torch.Tensor):
        n = src_code.shape[0]
        z = self.inter(torch.cat([src_code, dst_code], 0))
        return self.decoder_src(z[:n]), self.decoder_dst(z[n:])

    def _decode_as_src(self, code: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.decoder_src(self.inter(code))

    def _decode_as_dst(self, code: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.decoder_dst(self.inter(code))


class LIAEModel(FaceSwapModel):
    """inter_AB (both identities) and inter_B (destination only), one decoder.

    dst -> concat(inter_B, inter_AB); src and the swap -> concat(inter_AB, inter_AB)."""

    name = "liae"

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__(cfg)
        ch = cfg.ae_dims * 2
        self.inter_AB = Inter(self.code_features, cfg.ae_dims, ch, cfg.lowest_res)
        self.inter_B = Inter(self.code_features, cfg.ae_dims, ch, cfg.lowest_res)
        self.decoder = Decoder(ch * 2, cfg.d_dims, cfg.d_mask_dims)

    def _decode_pair(self, src_code: torch.Tensor, dst_code: torch.Tensor):
        n = src_code.shape[0]
        ab = self.inter_AB(torch.cat([src_code, dst_code], 0))
        b = self.inter_B(dst_code)
        z = torch.cat([torch.cat([ab[:n], ab[:n]], 1), torch.cat([b, ab[n:]], 1)], 0)
        face, mask = self.decoder(z)
        return (face[:n], mask[:n]), (face[n:], mask[n:])

    def _decode_as_src(self, code: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ab = self.inter_AB(code)
        return self.decoder(torch.cat([ab, ab], 1))

    def _decode_as_dst(self, code: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.decoder(torch.cat([self.inter_B(code), self.inter_AB(code)], 1))


MODELS: dict[str, type[FaceSwapModel]] = {cls.name: cls for cls in (DFModel, LIAEModel)}


def build_model(cfg: ModelConfig) -> FaceSwapModel:
    """The model registered as `cfg.arch`, freshly initialised (float32, on the CPU)."""
    cfg.validate()
    return MODELS[cfg.arch](cfg)
