"""Options of `facegraft mask train`, declared once for the CLI, the service and host panels (no torch)."""

from __future__ import annotations

from dataclasses import dataclass

from facegraft.errors import InputError
from facegraft.models.precision import BF16_MODES
from facegraft.options import opt

LABEL = "label"  # the stored mask that hand-made labels live in (255 = visible face, 0 = not face)
PREDICTED = "occlusion"  # the stored mask `mask apply` writes by default


@dataclass
class MaskTrainOptions:
    """How the mask network is shaped, fed and stopped."""

    resolution: int = opt(256, "face resolution the mask network sees (64..512, a multiple of 16)")
    dims: int = opt(24, "channels of the network's first level (doubled at each of its four levels)")
    label: str = opt(LABEL, "the stored mask holding the hand-made labels to learn from")
    batch: int = opt(8, "faces per step")
    iterations: int = opt(0, "stop after this many steps in total (0: use --minutes)")
    minutes: float = opt(0.0, "stop after this many minutes of this run (0: use --iterations)")
    lr: float = opt(1e-3, "Adam learning rate")
    occluder_chance: float = opt(
        0.5, "probability of pasting another face's non-face area over a face (synthetic occluders)"
    )
    blur_chance: float = opt(0.25, "probability of a random gaussian blur of a face")
    random_flip: bool = opt(True, "mirror half of the faces left/right")
    save_every: int = opt(200, "steps between checkpoints")
    preview_every: int = opt(100, "steps between preview images")
    keep: int = opt(3, "checkpoints kept besides the best one")
    seed: int = opt(0, "random seed")
    threads: int = opt(0, "CPU threads for the network (0: every core; 1 is faster on a busy machine)")
    bf16: str = opt(
        "auto",
        "bf16 autocast: auto (on for CUDA only: on CPUs this network measured ~9x slower in bf16), on, off",
        choices=BF16_MODES,
    )

    def validate(self) -> None:
        """Raise InputError naming the first option out of range."""
        if self.iterations <= 0 and self.minutes <= 0:
            raise InputError("give --iterations or --minutes")
        if not 64 <= self.resolution <= 512 or self.resolution % 16:
            raise InputError(f"--resolution must be a multiple of 16 from 64 to 512, got {self.resolution}")
        if self.dims < 4:
            raise InputError(f"--dims must be at least 4, got {self.dims}")
        if self.threads < 0:
            raise InputError(f"--threads must be 0 (every core) or a count, got {self.threads}")
        if self.batch < 1 or self.save_every < 1 or self.preview_every < 1 or self.keep < 1:
            raise InputError("--batch, --save-every, --preview-every and --keep must be positive")
        for name in ("occluder_chance", "blur_chance"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InputError(f"--{name.replace('_', '-')} must be a probability (0..1)")
        if self.bf16 not in BF16_MODES:
            raise InputError(f"--bf16 must be one of {', '.join(BF16_MODES)}, got {self.bf16!r}")

    def use_bf16(self, cuda: bool) -> bool:
        """Whether this run autocasts to bf16: `on`, or `auto` on CUDA."""
        return self.bf16 == "on" or (self.bf16 == "auto" and cuda)
