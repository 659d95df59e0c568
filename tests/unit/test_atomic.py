"""Files written the safe way (facegraft.io.atomic): a reader sees the old file or the new one, a failed
write leaves the old one and no temporary, a killed one leaves a temporary the next run can remove."""

from __future__ import annotations

import stat

import pytest

from facegraft.errors import InputError
from facegraft.io.atomic import (
    MOVING_PREFIX,
    is_temporary,
    move,
    move_batch,
    recover_moves,
    remove_leftovers,
    replacing,
    temporary_name,
    write_bytes_atomic,
    write_text_atomic,
)


def test_a_write_replaces_the_file_whole_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "plate.exr"
    target.write_bytes(b"old")
    write_bytes_atomic(target, b"new", durable=True)
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["plate.exr"]
    write_text_atomic(tmp_path / "token", "secret\n", private=True)
    assert stat.S_IMODE((tmp_path / "token").stat().st_mode) == 0o600


def test_a_writer_that_fails_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "comp.mov"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), replacing(target, keep_extension=True) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".mov" and is_temporary(tmp)
        tmp.write_bytes(b"half")
        raise RuntimeError("encoder died")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["comp.mov"]


def test_a_folder_is_replaced_whole(tmp_path):
    files = tmp_path / "report_files"
    (files / "stale.png").parent.mkdir()
    (files / "stale.png").write_bytes(b"x")
    with replacing(files) as tmp:
        tmp.mkdir()
        (tmp / "fresh.png").write_bytes(b"y")
    assert [p.name for p in files.iterdir()] == ["fresh.png"]
    assert [p.name for p in tmp_path.iterdir()] == ["report_files"]


def test_a_writer_that_wrote_nothing_is_an_error_naming_the_file(tmp_path):
    with pytest.raises(InputError, match="was not written"), replacing(tmp_path / "a.png"):
        pass


def test_leftovers_of_a_killed_writer_are_found_by_name_and_nothing_else(tmp_path):
    keep = [tmp_path / "000001_0.png", tmp_path / ".hidden", tmp_path / "notes.tmp"]
    for p in keep:
        p.write_bytes(b"k")
    left = [temporary_name(tmp_path / "000002_0.png"), temporary_name(tmp_path / "c.mov", True)]
    for p in left:
        p.write_bytes(b"half")
    assert sorted(remove_leftovers(tmp_path)) == sorted(left)
    assert sorted(tmp_path.iterdir()) == sorted(keep)
    assert remove_leftovers(tmp_path / "missing") == []


def test_a_move_that_cannot_happen_is_a_one_line_error_naming_the_file(tmp_path):
    with pytest.raises(InputError, match="cannot move the face image") as err:
        move(tmp_path / "gone.png", tmp_path / "there.png", "the face image")
    assert "gone.png" in str(err.value)


def test_a_batch_of_moves_swaps_names_without_clobbering_and_a_killed_one_is_recovered(tmp_path):
    a, b = tmp_path / "000001_0.png", tmp_path / "000002_0.png"
    a.write_bytes(b"A")
    b.write_bytes(b"B")
    assert move_batch(tmp_path, [(a, b), (b, a)]) == [(a, b), (b, a)]
    assert (a.read_bytes(), b.read_bytes()) == (b"B", b"A")
    with pytest.raises(InputError, match="already exists"):
        move_batch(tmp_path, [(a, b)])  # b stays: nothing moves
    assert (a.read_bytes(), b.read_bytes()) == (b"B", b"A")
    (tmp_path / f"{MOVING_PREFIX}77-0.png").write_bytes(b"C")  # a batch killed between its phases
    (restored,) = recover_moves(tmp_path)
    assert restored.name == "recovered-77-0.png" and restored.read_bytes() == b"C"
