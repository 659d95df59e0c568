"""A compositor hands `facegraft extract` bad input: a missing file, a truncated or fake EXR, a corrupt movie,
an unknown colour space or detector. Each time the answer is exit code 2 and one line on stderr that names
the file (or the option) and the problem, no traceback unless asked for with --verbose, and no half-made shot
folder left behind. A sequence that goes bad part-way keeps the frames before the bad one, and resumes once
the bad file is replaced."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from facegraft.sample_plates import Move, camera_path, render, write_exr_sequence
from facegraft.store.alignments import AlignmentsStore

CANVAS = (640, 480)


def facegraft(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "facegraft", *map(str, args)], capture_output=True, text=True, timeout=120
    )


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.fixture(scope="module")
def files(tmp_path_factory, photos) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad")
    frame = render(photos["astronaut"], Move(), CANVAS)[0]
    (good,) = write_exr_sequence([frame], root / "good.%04d.exr", first=1)
    truncated = root / "truncated.exr"
    shutil.copy(good, truncated)
    truncate(truncated)
    corrupt = root / "corrupt.mp4"
    corrupt.write_bytes(np.random.default_rng(7).bytes(64 * 1024))
    text = root / "notes.exr"
    text.write_text("this is a text file, not an image\n")
    return {
        "good": good,
        "missing": root / "missing.mp4",
        "truncated": truncated,
        "corrupt": corrupt,
        "text": text,
    }


# (plate file, extra options, what the error line must mention: the file's path, or these words)
CASES = {
    "missing file": ("missing", (), None),
    "truncated exr": ("truncated", (), None),
    "corrupt video": ("corrupt", (), None),
    "text file named .exr": ("text", (), None),
    "unknown colourspace": ("good", ("--colourspace", "bogus"), ("colourspace", "bogus")),
    "unknown detector": ("good", ("--detector", "bogus"), ("--detector", "bogus")),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_error_line_and_leaves_nothing(tmp_path, files, case):
    name, extra, mentions = CASES[case]
    shot = tmp_path / "SHOT"
    result = facegraft("extract", files[name], "-o", shot, *extra)
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert not shot.exists(), f"left behind: {sorted(p.name for p in shot.rglob('*'))}"
    lines = result.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("facegraft: error:"), result.stderr
    for word in mentions or (str(files[name]),):
        assert word in lines[-1], f"{word!r} not named in: {lines[-1]}"
    assert len(lines) == 1, f"stderr should be exactly the error line, got:\n{result.stderr}"


def test_verbose_adds_a_traceback(tmp_path, files):
    result = facegraft("extract", files["truncated"], "-o", tmp_path / "SHOT", "--verbose")
    assert result.returncode == 2
    assert "Traceback" in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("facegraft: error:") and str(files["truncated"]) in last, last
    assert not (tmp_path / "SHOT").exists()


def test_sequence_that_goes_bad_keeps_the_good_frames_and_resumes(tmp_path, photos):
    frames = [render(photos["astronaut"], move, CANVAS)[0] for move in camera_path(6)]
    paths = write_exr_sequence(frames, tmp_path / "plate" / "plate.%04d.exr", first=1)
    bad = paths[4]  # frame 5
    good_copy = tmp_path / "frame5.exr"
    shutil.copy(bad, good_copy)
    truncate(bad)
    plate, shot = tmp_path / "plate" / "plate.####.exr", tmp_path / "shot"

    result = facegraft("extract", plate, "-o", shot)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith("facegraft: error:"), result.stderr
    assert str(bad) in errors[0], errors[0]
    with AlignmentsStore.open(shot) as store:
        assert store.frames_done() == {1, 2, 3, 4}
        recs = list(store.iter_frames(load_masks=True))
    for rec in recs:
        assert len(rec.faces) == 1, (rec.frame, len(rec.faces))
        face = rec.faces[0]
        assert face.embedding is not None and face.matrix is not None and face.masks, rec.frame
        assert (shot / "faces" / face.image).is_file(), face.image
    assert sorted(p.name for p in (shot / "faces").iterdir()) == sorted(r.faces[0].image for r in recs)

    shutil.copy(good_copy, bad)
    result = facegraft("extract", plate, "-o", shot, "--quiet")
    assert result.returncode == 0, result.stderr
    with AlignmentsStore.open(shot) as store:
        assert store.frames_done() == set(range(1, 7))
        assert all(len(rec.faces) == 1 for rec in store.iter_frames())
