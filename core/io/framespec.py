"""Frame specs in farm syntax ("1001-1100x2,1200"): parse, format compactly, and select plate frames."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from facegraft.errors import InputError, MissingFramesError

_TERM = re.compile(r"^(-?\d+)(?:-(-?\d+)(?:x(\d+))?)?$")


def _parse_term(term: str, spec: str) -> range:
    """One comma-separated term ("1001", "1001-1100", "1001-1100x2") as a range of frames."""
    match = _TERM.match(term)
    if match is None:
        raise InputError(f"bad frame spec '{spec}': cannot read '{term}' (use e.g. 1001-1100x2,1200)")
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) is not None else first
    step = int(match.group(3)) if match.group(3) is not None else 1
    if last < first:
        raise InputError(f"bad frame spec '{spec}': range '{term}' ends before it starts")
    if step < 1:
        raise InputError(f"bad frame spec '{spec}': step in '{term}' must be 1 or more")
    return range(first, last + 1, step)


def parse_frame_spec(spec: str) -> list[int]:
    """Frames named by a farm-syntax spec, sorted and unique; a bad spec raises InputError naming it."""
    terms = [term.strip() for term in str(spec).split(",")]
    if not any(terms):
        raise InputError(f"bad frame spec '{spec}': it names no frames")
    frames: set[int] = set()
    for term in terms:
        if not term:
            raise InputError(f"bad frame spec '{spec}': empty term between commas")
        frames.update(_parse_term(term, spec))
    return sorted(frames)


def _runs(frames: list[int]) -> list[tuple[int, int, int]]:
    """Greedy split of sorted unique frames into (first, last, step) runs; runs of two stay single frames."""
    runs: list[tuple[int, int, int]] = []
    i = 0
    while i < len(frames):
        if i + 2 < len(frames):
            step = frames[i + 1] - frames[i]
            j = i + 1
            while j + 1 < len(frames) and frames[j + 1] - frames[j] == step:
                j += 1
            if j - i >= 2:
                runs.append((frames[i], frames[j], step))
                i = j + 1
                continue
        runs.append((frames[i], frames[i], 1))
        i += 1
    return runs


def format_frame_spec(frames: Iterable[int]) -> str:
    """The compact spec of a set of frames ("1001-1005,1010,1012-1016x2"); parse_frame_spec inverts it."""
    ordered = sorted(set(int(f) for f in frames))
    parts = []
    for first, last, step in _runs(ordered):
        if first == last:
            parts.append(str(first))
        elif step == 1:
            parts.append(f"{first}-{last}")
        else:
            parts.append(f"{first}-{last}x{step}")
    return ",".join(parts)


def select_frames(available: Sequence[int], spec: str | None = None, every: int = 1) -> list[int]:
    """Frames of the plate that `spec` names (None: all), then every Nth of them; absent frames raise."""
    if not isinstance(every, int) or every < 1:
        raise InputError(f"--every must be a whole number of 1 or more, not {every!r}")
    have = sorted(set(available))
    if spec is None:
        chosen = have
    else:
        wanted = parse_frame_spec(spec)
        present = set(have)
        missing = [f for f in wanted if f not in present]
        if missing:
            noun = "frame" if len(missing) == 1 else "frames"
            verb = "is" if len(missing) == 1 else "are"
            plate = format_frame_spec(have) if have else "no frames"
            raise MissingFramesError(f"{noun} {format_frame_spec(missing)} {verb} not in the plate ({plate})")
        chosen = wanted
    return chosen[::every]
