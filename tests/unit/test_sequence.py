"""Sequence patterns: every supported token form, range restriction, directories, padding and errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from facegraft.errors import InputError
from facegraft.io.sequence import (
    SequencePattern,
    frame_of_name,
    parse_sequence,
    sequence_regex,
    split_numbered,
)


def touch(directory: Path, *names: str) -> None:
    for name in names:
        (directory / name).write_bytes(b"")


@pytest.fixture
def plate_dir(tmp_path: Path) -> Path:
    touch(tmp_path, *(f"plate.{f:04d}.exr" for f in range(1001, 1011)))
    touch(tmp_path, "plate.01005.exr", "other.0001.exr", "plate.1003.exr.bak", "notes.txt")
    return tmp_path


@pytest.mark.parametrize(
    ("name", "padding"),
    [
        ("plate.####.exr", 4),
        ("plate.#.exr", 4),
        ("plate.%04d.exr", 4),
        ("plate.$F4.exr", 4),
        ("plate.@@@@.exr", 4),
    ],
)
def test_pattern_forms(plate_dir: Path, name: str, padding: int) -> None:
    seq = parse_sequence(plate_dir / name)
    assert seq is not None
    assert (seq.directory, seq.prefix, seq.suffix, seq.padding) == (plate_dir, "plate.", ".exr", padding)
    assert seq.frames == tuple(range(1001, 1011))  # plate.01005.exr has the wrong padding: not a frame
    assert seq.path(1001) == plate_dir / "plate.1001.exr"
    assert seq.pattern == str(plate_dir / "plate.%04d.exr")


def test_range_restricts_frames(plate_dir: Path) -> None:
    seq = parse_sequence(str(plate_dir / "plate.1003-1005#.exr"))
    assert seq is not None and seq.frames == (1003, 1004, 1005)


def test_unpadded_forms(tmp_path: Path) -> None:
    touch(tmp_path, *(f"img_{f}.png" for f in (1, 2, 10, 100)), "img_007.png")
    for name in ("img_%d.png", "img_$F.png"):
        seq = parse_sequence(tmp_path / name)
        assert seq is not None and seq.frames == (1, 2, 10, 100) and seq.padding == 0
    assert seq.pattern.endswith("img_%d.png")
    assert seq.path(12345) == tmp_path / "img_12345.png"


def test_path_padding_rules() -> None:
    seq = SequencePattern(Path("/s"), "p.", ".exr", 4, ())
    assert seq.path(7) == Path("/s/p.0007.exr")
    assert seq.path(123456) == Path("/s/p.123456.exr")
    assert seq.path(-1) == Path("/s/p.-001.exr")
    assert SequencePattern(Path("/s"), "p.", ".exr", 1, ()).path(7) == Path("/s/p.7.exr")


def test_negative_frames_on_disk(tmp_path: Path) -> None:
    touch(tmp_path, "neg.-002.exr", "neg.-001.exr", "neg.0000.exr", "neg.0001.exr")
    seq = parse_sequence(tmp_path / "neg.####.exr")
    assert seq is not None and seq.frames == (-2, -1, 0, 1)
    by_dir = parse_sequence(tmp_path)
    assert by_dir is not None and by_dir.frames == (-2, -1, 0, 1) and by_dir.prefix == "neg."


def test_directory_picks_largest_group(plate_dir: Path) -> None:
    seq = parse_sequence(plate_dir)
    assert seq is not None
    assert (seq.prefix, seq.suffix, seq.padding) == ("plate.", ".exr", 4)
    assert seq.frames == tuple(range(1001, 1011))


def test_directory_mixed_padded_and_long_numbers(tmp_path: Path) -> None:
    touch(tmp_path, "a.0998.dpx", "a.0999.dpx", "a.1000.dpx", "a.1001.dpx", "a.JPG")
    seq = parse_sequence(tmp_path)
    assert seq is not None and seq.frames == (998, 999, 1000, 1001) and seq.padding == 4


def test_plain_file_is_not_a_sequence(plate_dir: Path) -> None:
    assert parse_sequence(plate_dir / "plate.1001.exr") is None


def test_pattern_without_files(plate_dir: Path) -> None:
    with pytest.raises(InputError, match="no frames match") as err:
        parse_sequence(plate_dir / "missing.####.exr")
    assert "missing.####.exr" in str(err.value)
    with pytest.raises(InputError, match="no frames match"):
        parse_sequence(plate_dir / "plate.2000-2010#.exr")
    with pytest.raises(InputError, match="directory does not exist"):
        parse_sequence(plate_dir / "nowhere" / "plate.####.exr")


def test_directory_without_images(tmp_path: Path) -> None:
    touch(tmp_path, "readme.txt")
    with pytest.raises(InputError, match="no image files"):
        parse_sequence(tmp_path)
    touch(tmp_path, "cover.png")
    with pytest.raises(InputError, match="no numbered image files"):
        parse_sequence(tmp_path)


def test_missing_plain_path(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file or directory"):
        parse_sequence(tmp_path / "nothing.exr")


def test_many_frames_found_by_one_listing(tmp_path: Path) -> None:
    touch(tmp_path, *(f"big.{f:05d}.png" for f in range(2000)))
    seq = parse_sequence(tmp_path / "big.#####.png")
    assert seq is not None and len(seq.frames) == 2000 and seq.frames[-1] == 1999


@pytest.mark.parametrize(
    ("name", "parts", "frame", "separated"),
    [
        ("plate.1001.exr", ("plate.", "1001", ".exr"), 1001, 1001),
        ("plate.-0012.exr", ("plate.", "-0012", ".exr"), -12, -12),
        ("shot_0042.png", ("shot_", "0042", ".png"), 42, 42),
        ("IMG1234.png", ("IMG", "1234", ".png"), 1234, None),
        ("comp.v2.1001.exr", ("comp.v2.", "1001", ".exr"), 1001, 1001),
        ("astronaut.png", None, None, None),
    ],
)
def test_a_frame_number_is_read_from_a_file_name(name, parts, frame, separated):
    assert split_numbered(name) == parts
    assert frame_of_name(name) == frame
    assert frame_of_name(name, separated=True) == separated


def test_a_sequence_regex_matches_its_frames_only():
    regex = sequence_regex("plate.", ".exr", 4)
    assert regex.match("plate.1001.exr").group(1) == "1001" and regex.match("plate.-0001.exr")
    assert not regex.match("plate.101.exr") and not regex.match("plate.1001.exr.tmp")
