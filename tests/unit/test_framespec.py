"""Frame specs: farm syntax in, sorted frames out, compact formatting that round-trips, plate selection."""

from __future__ import annotations

import pytest

from facegraft.errors import InputError
from facegraft.io.framespec import format_frame_spec, parse_frame_spec, select_frames


@pytest.mark.parametrize(
    ("spec", "frames"),
    [
        ("1001", [1001]),
        ("1001-1005", [1001, 1002, 1003, 1004, 1005]),
        ("1001-1010x3", [1001, 1004, 1007, 1010]),
        ("1001, 1005 ,1010-1012", [1001, 1005, 1010, 1011, 1012]),
        ("-5--3", [-5, -4, -3]),
        ("-2-1", [-2, -1, 0, 1]),
        ("5,1-3,2", [1, 2, 3, 5]),
    ],
)
def test_parse_frame_spec(spec: str, frames: list[int]) -> None:
    assert parse_frame_spec(spec) == frames


@pytest.mark.parametrize("spec", ["10-a", "", "1,,2", "5-1", "1-10x0", "1-10x", "x", "1 2"])
def test_bad_spec_names_the_spec(spec: str) -> None:
    with pytest.raises(InputError, match=f"bad frame spec '{spec}'"):
        parse_frame_spec(spec)


def test_format_is_compact_and_round_trips() -> None:
    frames = [1001, 1002, 1003, 1004, 1005, 1010, 1012, 1014, 1016, 1020, 1021]
    spec = format_frame_spec(frames)
    assert spec == "1001-1005,1010-1016x2,1020,1021"
    assert parse_frame_spec(spec) == frames
    assert format_frame_spec([3, 1, 2, 2]) == "1-3"
    assert format_frame_spec([-3, -2, -1, 5]) == "-3--1,5"
    assert format_frame_spec([]) == ""


def test_format_round_trips_random_sets() -> None:
    import random

    rng = random.Random(7)
    for _ in range(200):
        frames = sorted(set(rng.randrange(-20, 60) for _ in range(rng.randrange(1, 30))))
        assert parse_frame_spec(format_frame_spec(frames)) == frames


def test_select_frames() -> None:
    plate = list(range(1001, 1101))
    assert select_frames(plate) == plate
    assert select_frames(plate, "1001-1010", every=3) == [1001, 1004, 1007, 1010]
    assert select_frames(plate, None, every=50) == [1001, 1051]
    assert select_frames([5, 1, 3], None) == [1, 3, 5]


def test_select_frames_lists_missing_frames_compactly() -> None:
    with pytest.raises(InputError, match=r"frames 1101-1105 are not in the plate \(1001-1100\)"):
        select_frames(range(1001, 1101), "1095-1105")


@pytest.mark.parametrize("every", [0, -1])
def test_select_frames_every_must_be_positive(every: int) -> None:
    with pytest.raises(InputError, match="every"):
        select_frames([1, 2, 3], None, every=every)
