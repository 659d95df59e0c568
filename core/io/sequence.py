"""Image-sequence names: parse `####`, `%04d`, `$F4`, `@@@@` and range patterns, and find frames on disk."""

from __future__ import annotations

import os
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from facegraft.errors import InputError

IMAGE_EXTENSIONS = frozenset(
    {"exr", "dpx", "png", "tif", "tiff", "jpg", "jpeg", "bmp", "tga", "hdr", "sgi", "cin"}
)

# One frame token in a file name, optionally preceded by a "first-last" range (`plate.1001-1100#.exr`).
_TOKEN = re.compile(
    r"(?:(?P<first>-?\d+)-(?P<last>-?\d+))?"
    r"(?:(?P<hash>#+)|%(?P<printf>0?\d*)d|\$F(?P<houdini>\d*)|(?P<at>@+))"
)
# A numbered file: prefix, the last run of digits (with an optional sign after a separator), suffix.
_NUMBERED = re.compile(r"^(?P<prefix>.*?(?:[._]-)?)(?P<digits>\d+)(?P<suffix>\D*)$")


def split_numbered(name: str) -> tuple[str, str, str] | None:
    """(prefix, frame digits with their sign, suffix) of a numbered file name, the frame being its last run
    of digits ("plate.-0012.exr" -> ("plate.", "-0012", ".exr")); None for a name without digits."""
    match = _NUMBERED.match(name)
    if match is None:
        return None
    prefix, digits = match.group("prefix"), match.group("digits")
    if prefix.endswith(("._-", ".-", "_-")):
        prefix, digits = prefix[:-1], "-" + digits
    return prefix, digits, match.group("suffix")


def frame_of_name(name: str, separated: bool = False) -> int | None:
    """The frame number a numbered file name carries (see `split_numbered`); with `separated`, only one
    set off by "." or "_" ("shot.1001.exr", "shot_0042.png", not "IMG1234.png")."""
    parts = split_numbered(name)
    if parts is None or (separated and not parts[0].endswith((".", "_"))):
        return None
    return int(parts[1])


def sequence_regex(prefix: str, suffix: str, min_digits: int = 1) -> re.Pattern[str]:
    """A regex for the file names of one sequence (`prefix` + signed frame of `min_digits` or more digits
    + `suffix`); group 1 is the frame as written."""
    return re.compile(rf"^{re.escape(prefix)}(-?\d{{{min_digits},}}){re.escape(suffix)}$")


def format_frame(frame: int, padding: int) -> str:
    """A frame number as it appears in a file name: printf `%0Nd` (-1 at padding 4 is "-001")."""
    return f"{frame:0{padding}d}" if padding > 1 else str(frame)


@dataclass(frozen=True)
class SequencePattern:
    """A numbered image sequence on disk: `directory/prefix` + padded frame + `suffix`, and its frames."""

    directory: Path
    prefix: str
    suffix: str
    padding: int
    frames: tuple[int, ...]

    def path(self, frame: int) -> Path:
        """The file of one frame (whether or not it exists)."""
        return self.directory / f"{self.prefix}{format_frame(frame, self.padding)}{self.suffix}"

    @property
    def pattern(self) -> str:
        """The printf-style display path, e.g. "/shots/plate.%04d.exr"."""
        token = f"%0{self.padding}d" if self.padding > 1 else "%d"
        return str(self.directory / f"{self.prefix}{token}{self.suffix}")


def _padding(match: re.Match[str]) -> int:
    """The padding a pattern token asks for (`#` alone means 4, as in Nuke; `%d` and `$F` mean none)."""
    if match.group("hash") is not None:
        count = len(match.group("hash"))
        return 4 if count == 1 else count
    if match.group("printf") is not None:
        return int(match.group("printf") or 0)
    if match.group("houdini") is not None:
        return int(match.group("houdini") or 0)
    return len(match.group("at"))


def _frames_on_disk(directory: Path, prefix: str, suffix: str, padding: int) -> list[int]:
    """Frames whose files exist, found by one directory listing and matched exactly to the padding."""
    regex = sequence_regex(prefix, suffix)
    frames = []
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    for name in names:
        match = regex.match(name)
        if match and format_frame(int(match.group(1)), padding) == match.group(1):
            frames.append(int(match.group(1)))
    return sorted(frames)


def _from_token(path: Path, match: re.Match[str]) -> SequencePattern:
    """The sequence a name with a frame token describes; no matching file raises InputError."""
    name = path.name
    prefix, suffix = name[: match.start()], name[match.end() :]
    padding = _padding(match)
    directory = path.parent
    frames = _frames_on_disk(directory, prefix, suffix, padding)
    if match.group("first") is not None:
        first, last = int(match.group("first")), int(match.group("last"))
        if last < first:
            raise InputError(f"bad frame range {first}-{last} in the sequence name", str(path))
        frames = [f for f in frames if first <= f <= last]
    if not frames:
        where = "" if directory.is_dir() else " (the directory does not exist)"
        raise InputError(f"no frames match{where}", str(path))
    return SequencePattern(directory, prefix, suffix, padding, tuple(frames))


def _best_padding(digit_strings: list[str]) -> tuple[int, list[int]]:
    """The padding that names the most of these frame numbers exactly, and those frames."""
    candidates = {len(s) for s in digit_strings if s.lstrip("-").startswith("0")} | {0}
    best: tuple[int, list[int]] = (0, [])
    for padding in sorted(candidates):
        frames = sorted(int(s) for s in digit_strings if format_frame(int(s), padding) == s)
        if len(frames) > len(best[1]):
            best = (padding, frames)
    if best[0] == 0 and best[1]:  # unpadded numbers of one width (1001-1100) read as %04d, the same names
        width = min(len(s) for s in digit_strings if int(s) in best[1])
        if all(len(format_frame(f, width)) == len(str(f)) for f in best[1]) and width > 1:
            best = (width, best[1])
    return best


def _from_directory(directory: Path) -> SequencePattern:
    """The largest group of numbered image files in a directory with one prefix, suffix and padding."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    images = 0
    for name in os.listdir(directory):
        ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        if ext not in IMAGE_EXTENSIONS or name.startswith("."):
            continue
        images += 1
        parts = split_numbered(name)
        if parts is None:
            continue
        prefix, digits, suffix = parts
        groups[(prefix, suffix)].append(digits)
    if images == 0:
        raise InputError("no image files in this directory", str(directory))
    best: SequencePattern | None = None
    for (prefix, suffix), digit_strings in sorted(groups.items()):
        padding, frames = _best_padding(digit_strings)
        if frames and (best is None or len(frames) > len(best.frames)):
            best = SequencePattern(directory, prefix, suffix, padding, tuple(frames))
    if best is None:
        raise InputError("no numbered image files in this directory", str(directory))
    return best


def parse_sequence(path: str | Path) -> SequencePattern | None:
    """The sequence a pattern or directory names, with its frames on disk; None for a plain existing file."""
    path = Path(path)
    if path.is_dir():
        return _from_directory(path)
    if path.is_file():
        return None
    matches = list(_TOKEN.finditer(path.name))
    if not matches:
        raise InputError("no such file or directory", str(path))
    return _from_token(path, matches[-1])
