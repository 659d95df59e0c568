"""Options of `facegraft train`, declared once for the CLI, the service and host panels (no torch here)."""

from __future__ import annotations

from dataclasses import dataclass, field

from facegraft.models.precision import BF16_MODES, cpu_has_native_bf16
from facegraft.options import opt
from facegraft.train.sampler import SampleOptions

ARCHS = ("df", "liae")

__all__ = ["ARCHS", "SampleOptions", "TrainOptions"]


@dataclass
class TrainOptions:
    """Everything `facegraft train` can be told (model shape options live in ModelConfig)."""

    src_person: str = opt(
        "",
        "train on this person of the source shot only: a person id, name or photo (default: every face)",
        person_of="src",
    )
    dst_person: str = opt(
        "",
        "train on this person of the destination shot only, the one convert --person will swap "
        "(default: every face)",
        person_of="dst",
    )
    arch: str = opt("df", "architecture: df (one decoder per identity) or liae", choices=ARCHS)
    resolution: int = opt(64, "face resolution the model learns (64..512, a multiple of 16)")
    face_type: str = opt("full", "face type of the facesets")
    ae_dims: int = opt(256, "autoencoder bottleneck width")
    e_dims: int = opt(64, "encoder channels")
    d_dims: int = opt(64, "decoder channels")
    d_mask_dims: int = opt(22, "mask decoder channels")
    batch: int = opt(8, "faces of each identity per step")
    iterations: int = opt(0, "stop after this many steps in total (0: use --minutes)")
    minutes: float = opt(0.0, "stop after this many minutes of this run (0: use --iterations)")
    lr: float = opt(5e-5, "Adam learning rate")
    clip_grad: float = opt(1.0, "gradient norm clip (0: off)")
    eyes_mouth_priority: bool = opt(False, "extra weight on eye and mouth errors (sharper gaze and lips)")
    eyes_mouth_weight: float = opt(300.0, "weight of the eye/mouth term when --eyes-mouth-priority is on")
    lr_dropout: float = opt(
        0.0,
        "fraction of the per-weight updates dropped at random each step, a late-training regulariser "
        "(0: off; 0.7 keeps 30 percent, like DeepFaceLab's lr_dropout)",
    )
    gan_power: float = opt(
        0.0, "weight of the patch-GAN term on the source reconstruction (0: off; try 0.1 on a mature model)"
    )
    gan_dims: int = opt(16, "patch-GAN discriminator channels (fixed once the discriminator exists)")
    save_every: int = opt(200, "steps between checkpoints")
    preview_every: int = opt(100, "steps between preview images")
    keep: int = opt(3, "checkpoints kept besides the best one")
    workers: int = opt(1, "data loader processes")
    seed: int = opt(0, "random seed")
    bf16: str = opt(
        "auto",
        "bf16 autocast: auto (on for CUDA and for CPUs with native bf16, avx512_bf16 or AMX, where it "
        "measured 1.7-1.9x faster than fp32), on, off",
        choices=BF16_MODES,
    )
    sampling: SampleOptions = field(default_factory=SampleOptions)

    def validate(self) -> None:
        """Raise InputError naming the first loss or optimisation option out of range."""
        from facegraft.errors import InputError

        if not 0.0 <= self.lr_dropout < 1.0:
            raise InputError(f"--lr-dropout must be at least 0 and below 1, got {self.lr_dropout}")
        if self.bf16 not in BF16_MODES:
            raise InputError(f"--bf16 must be one of {', '.join(BF16_MODES)}, got {self.bf16!r}")
        if self.gan_power < 0:
            raise InputError(f"--gan-power must not be negative, got {self.gan_power}")
        if self.gan_dims < 1:
            raise InputError(f"--gan-dims must be a positive integer, got {self.gan_dims}")
        if self.eyes_mouth_weight < 0:
            raise InputError(f"--eyes-mouth-weight must not be negative, got {self.eyes_mouth_weight}")

    def model_config(self):  # -> ModelConfig (imported late: it needs torch)
        from facegraft.models.networks import ModelConfig

        return ModelConfig(
            arch=self.arch,
            resolution=self.resolution,
            face_type=self.face_type,
            ae_dims=self.ae_dims,
            e_dims=self.e_dims,
            d_dims=self.d_dims,
            d_mask_dims=self.d_mask_dims,
        )

    def use_bf16(self, cuda: bool) -> bool:
        """Whether this run autocasts to bf16: `on`, or `auto` on CUDA or a CPU with native bf16."""
        if self.bf16 == "on":
            return True
        return self.bf16 == "auto" and (cuda or cpu_has_native_bf16())
