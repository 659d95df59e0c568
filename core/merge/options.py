"""Options of `facegraft convert`, declared once for the CLI, the engine service and host panels."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from facegraft.errors import InputError
from facegraft.merge.recolour import RECOLOUR_MODES
from facegraft.options import check, opt

COLOUR_MODES = tuple(RECOLOUR_MODES)
MASK_MODES = (
    "learned",
    "landmark",
    "learned*landmark",
    "occlusion",
    "occlusion*learned",
    "occlusion*landmark",
)
LAYOUTS = ("single", "multipart", "files")
SIDES = ("top", "right", "bottom", "left")


def _formats() -> list[str]:
    """The registered output writers (`facegraft.merge.writers.WRITERS`)."""
    from facegraft.merge.writers import WRITERS

    return list(WRITERS)


@dataclass
class MergeOptions:
    """How a learned face is put back on the plate. Pixel sizes are plate pixels."""

    colour: str = opt("rct", "colour transfer from the plate's face to the swap", choices=COLOUR_MODES)
    colour_window: int = opt(
        1,
        "frames whose colour statistics are pooled (1: each frame alone; 0: the whole shot)",
        bounds=(0, None),
    )
    mask: str = opt(
        "learned*landmark",
        "which mask the matte is made from; occlusion modes use the stored mask --occlusion-mask "
        "(facegraft mask apply), alone or times the model's learned mask or the landmark mask",
        choices=MASK_MODES,
    )
    occlusion_mask: str = opt(
        "occlusion", "the stored mask the occlusion modes use ('label': the hand-made labels)"
    )
    erode: float = opt(0.0, "shrink the matte by this many pixels (negative: grow it)")
    erode_sides: str = opt(
        "", "extra erosion per side of the face, 'top=6,bottom=0,left=2,right=2' (top: towards the brow)"
    )
    feather: float = opt(6.0, "soften the matte edge over about this many pixels", bounds=(0, None))
    face_scale: float = opt(0.0, "scale the swapped face by this percentage (-50..50)", bounds=(-50, 50))
    sharpen: float = opt(0.0, "unsharp-mask amount for the swap (negative: blur)")
    motion_blur: float = opt(
        0.0, "motion blur from the face's landmark motion (1: one frame's travel)", bounds=(0, None)
    )
    degrade: str = opt("", "match a softer plate: 'blur=1.5,noise=0.01' (blur sigma in px, noise std)")
    smooth: bool = opt(True, "smooth landmarks over time so the face does not jitter")
    smooth_frames: int = opt(2, "frames each side that the landmark smoothing looks at", bounds=(0, None))
    seed: int = opt(0, "seed of the degrade noise (outputs are deterministic)")
    control: bool = opt(
        False, "quality check: render the plate's face through its own decoder instead of the source's"
    )

    def validate(self) -> None:
        """Raise InputError naming the first bad option."""
        check(self)  # choices and bounds, as declared
        if self.stored_mask() == "":
            raise InputError("--occlusion-mask must name a stored mask")
        self.sides()
        self.degradation()

    def stored_mask(self) -> str | None:
        """The name of the stored face mask the mask mode reads (None when it reads none)."""
        return self.occlusion_mask if "occlusion" in self.mask.split("*") else None

    def sides(self) -> dict[str, float]:
        """`erode_sides` parsed: pixels of extra erosion for each named side."""
        return _pairs(self.erode_sides, "--erode-sides", SIDES)

    def degradation(self) -> dict[str, float]:
        """`degrade` parsed: {'blur': sigma, 'noise': std} (missing keys are 0)."""
        return _pairs(self.degrade, "--degrade", ("blur", "noise"))

    def to_dict(self) -> dict:
        return asdict(self)


def _pairs(text: str, flag: str, keys: tuple[str, ...]) -> dict[str, float]:
    out = dict.fromkeys(keys, 0.0)
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in keys:
            raise InputError(f"{flag}: '{item}' is not KEY=VALUE with KEY one of {', '.join(keys)}")
        try:
            out[key] = float(value)
        except ValueError:
            raise InputError(f"{flag}: '{value}' is not a number") from None
        if out[key] < 0:
            raise InputError(f"{flag}: {key} cannot be negative")
    return out


@dataclass
class OutputOptions:
    """Where and how the passes are written."""

    layout: str = opt(
        "single", "single: one EXR with every pass; multipart; files: one sequence per pass", choices=LAYOUTS
    )
    format: str = opt(
        "exr", "exr passes, png/tiff comp and matte sequences, or mov/mp4 comp video", choices=_formats
    )
    patch: bool = opt(False, "also write the aligned face at model resolution with its face-to-frame matrix")
    name: str = opt("", "file name stem of the outputs (default: the plate's)")
    fps: float = opt(0.0, "frame rate for headers and videos (default: the plate's, else 24)")
    colourspace: str = opt("", "the plate's colour space (default: scene-linear for EXR, sRGB otherwise)")
    sign_key: str = opt(
        "",
        "PEM private key: sign a C2PA manifest (embedded in png/mp4/mov, a .c2pa sidecar for exr)",
        path="file",
    )
    sign_cert: str = opt("", "PEM certificate chain (signer first) for --sign-key", path="file")


@dataclass
class PersonOptions:
    """Whose faces convert swaps, and with which model (issue 24). Persons are given as the alignments
    store knows them: an id (``2``), a name (``lead``) or a reference photo (``actor.jpg``); see
    `facegraft.persons.select.resolve_person`. With neither option every face is swapped with --model, as
    before persons existed. A face marked not-target is never swapped, whatever the options say."""

    person: list[str] = opt(
        [],
        "swap only this person's faces, with --model: an id, a name or a reference photo (comma-"
        "separated too; default: every face)",
        flag="--person",
        repeat="PERSON",
        person_of="shot",
    )
    swap: list[str] = opt(
        [],
        "PERSON=MODELDIR: swap this person with its own model (several persons, each with its own model, "
        "in one pass)",
        flag="--swap",
        repeat="PERSON=MODELDIR",
        person_of="shot",
        paired=True,
    )
    identity_every: int = opt(
        5,
        "identity QC: compare the plate face with its person's reference on every Nth frame of each track "
        "(1: every frame; 0: off; a check costs 60-100 ms a face on a CPU, hence the sampling)",
    )

    def validate(self) -> None:
        """Raise InputError naming the first bad option."""
        self.pairs()
        self.specs()
        if self.identity_every < 0:
            raise InputError("--identity-every must be 0 (off) or a number of frames")

    def specs(self) -> list[str]:
        """The --person specs, one person each (comma-separated values split; a photo path kept whole)."""
        out: list[str] = []
        for value in _values(self.person):
            if Path(value).is_file():
                out.append(value.strip())
                continue
            parts = [p.strip() for p in value.split(",")]
            if not all(parts):
                raise InputError(f"--person {value!r}: an empty person (give ids, names or photos)")
            out.extend(parts)
        return out

    def pairs(self) -> list[tuple[str, str]]:
        """The --swap values as (person spec, model folder), split at the first '='."""
        from facegraft.persons.select import split_pair

        return [split_pair(value) for value in _values(self.swap)]

    def to_dict(self) -> dict:
        return asdict(self)


def _values(value) -> list[str]:
    """A repeatable option's values: a list (or tuple) as given, one string as one value."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]
