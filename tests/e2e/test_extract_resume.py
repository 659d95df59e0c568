"""A farm node dies in the middle of an extraction and the task is run again: the shot it finishes with must
be the shot an uninterrupted run makes, frame for frame and face image for face image. Running a finished
extraction again does nothing, and running it with different settings is refused rather than mixed in."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from facegraft.sample_plates import camera_path, render, write_png_sequence
from facegraft.store.alignments import AlignmentsStore

CANVAS = (640, 480)
FRAMES = 56
KILL_AFTER = 10  # frames stored: the second batch, so the first has its images


def facegraft(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "facegraft", *args], capture_output=True, text=True, timeout=timeout
    )


def stored_frames(db: Path) -> int:
    """Rows in `frames`, read through a read-only connection; -1 while the store cannot be read."""
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.05)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM frames").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return -1


def frames_in_copy(db: Path, folder: Path) -> int:
    """Frames stored in a killed run's database, counted on a copy (a hot journal is rolled back there, so
    the rerun still meets the store exactly as the killed process left it)."""
    folder.mkdir()
    for source in (db, Path(f"{db}-journal")):
        if source.exists():
            shutil.copy(source, folder / source.name)
    with AlignmentsStore.open(folder / db.name) as store:
        return len(store.frames_done())


def summary_of(stdout: str) -> dict:
    lines = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    summaries = [obj for obj in lines if obj.get("event") == "summary"]
    assert len(summaries) == 1, stdout
    return summaries[0]


def snapshot(shot: Path) -> dict:
    """Everything a later stage reads: store rows (without face ids) and the face images' pixels."""
    frames = {}
    with AlignmentsStore.open(shot) as store:
        for rec in store.iter_frames(load_masks=True):
            frames[rec.frame] = rec
    images = {}
    for path in sorted((shot / "faces").iterdir()):
        bgr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        assert bgr is not None, f"unreadable face image {path}"
        images[path.name] = bgr
    return {"frames": frames, "images": images}


def assert_same_shot(a: dict, b: dict) -> None:
    assert sorted(a["frames"]) == sorted(b["frames"]), "different frames stored"
    for frame, ra in a["frames"].items():
        rb = b["frames"][frame]
        assert (ra.pts, ra.pts_raw, ra.width, ra.height) == (rb.pts, rb.pts_raw, rb.width, rb.height), frame
        assert len(ra.faces) == len(rb.faces), f"frame {frame}: {len(ra.faces)} vs {len(rb.faces)} faces"
        for fa, fb in zip(ra.faces, rb.faces):
            where = f"frame {frame} face {fa.index}"
            assert fa.index == fb.index, where
            assert np.array_equal(fa.landmarks, fb.landmarks), f"{where}: landmarks differ"
            assert fa.track_id == fb.track_id, f"{where}: track {fa.track_id} vs {fb.track_id}"
            assert fa.box == fb.box, f"{where}: box {fa.box} vs {fb.box}"
            assert fa.score == fb.score, f"{where}: score"
            assert fa.pose == fb.pose, f"{where}: pose {fa.pose} vs {fb.pose}"
            assert (fa.embedding is None) == (fb.embedding is None), f"{where}: embedding presence"
            if fa.embedding is not None:
                assert np.array_equal(fa.embedding, fb.embedding), f"{where}: embedding differs"
            assert np.array_equal(fa.matrix, fb.matrix), f"{where}: matrix differs"
            assert (fa.face_type, fa.size, fa.image) == (fb.face_type, fb.size, fb.image), where
            assert sorted(fa.masks) == sorted(fb.masks), f"{where}: masks {sorted(fa.masks)}"
            for name in fa.masks:
                assert np.array_equal(fa.masks[name], fb.masks[name]), f"{where}: mask {name} differs"
    assert sorted(a["images"]) == sorted(b["images"]), "different face images"
    for name, pixels in a["images"].items():
        assert np.array_equal(pixels, b["images"][name]), f"face image {name} differs"


@pytest.fixture(scope="module")
def plate(tmp_path_factory, photos) -> Path:
    root = tmp_path_factory.mktemp("resume")
    frames = [render(photos["grace_hopper"], move, CANVAS)[0] for move in camera_path(FRAMES)]
    write_png_sequence(frames, root / "plate.%04d.png")
    return root / "plate.####.png"


@pytest.fixture(scope="module")
def uninterrupted(plate) -> Path:
    shot = plate.parent / "shotA"
    result = facegraft("extract", str(plate), "-o", str(shot), "--progress", "json")
    assert result.returncode == 0, result.stderr
    assert summary_of(result.stdout)["frames_done"] == FRAMES
    return shot


def test_killed_extraction_resumes_to_the_same_shot(plate, uninterrupted):
    shot = plate.parent / "shotB"
    db = shot / "alignments.db"
    cmd = [sys.executable, "-m", "facegraft", "extract", str(plate), "-o", str(shot), "--progress", "json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while stored_frames(db) < KILL_AFTER:
            assert proc.poll() is None, f"extraction ended before it could be killed: {proc.stderr.read()}"
            assert time.monotonic() < deadline, "no frames stored in time"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    killed_at = frames_in_copy(db, plate.parent / "killed_copy")
    assert KILL_AFTER <= killed_at < FRAMES, f"{killed_at} frames stored when killed: not mid-way"
    # The kill may land while a face image is being written: its temporary stays (planted here too, so
    # the rerun meets one every time).
    (shot / "faces" / ".000007_0.png.k1lled.tmp").write_bytes(b"\x89PNG half")

    result = facegraft("extract", str(plate), "-o", str(shot), "--progress", "json")
    assert result.returncode == 0, result.stderr
    summary = summary_of(result.stdout)
    assert summary["frames_skipped"] + summary["frames_done"] == FRAMES
    assert summary["frames_skipped"] > 0, f"the rerun should resume, not start again: {summary}"
    assert not Path(f"{db}-journal").exists()
    assert not list((shot / "faces").glob(".*.tmp")), "a killed run's temporary files were left"
    assert_same_shot(snapshot(uninterrupted), snapshot(shot))


def _dump(shot: Path) -> tuple[list[str], dict[str, tuple[int, bytes]]]:
    conn = sqlite3.connect(f"file:{shot / 'alignments.db'}?mode=ro", uri=True)
    try:
        rows = sorted(conn.iterdump())  # INSERT OR REPLACE of an equal value may move a row
    finally:
        conn.close()
    files = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted((shot / "faces").iterdir())}
    return rows, files


def test_rerun_of_a_finished_extraction_changes_nothing(plate, uninterrupted):
    before = _dump(uninterrupted)
    result = facegraft("extract", str(plate), "-o", str(uninterrupted), "--progress", "json")
    assert result.returncode == 0, result.stderr
    summary = summary_of(result.stdout)
    assert (summary["frames_skipped"], summary["frames_done"]) == (FRAMES, 0), summary
    after = _dump(uninterrupted)
    assert before[0] == after[0], "the store changed"
    assert before[1] == after[1], "face images were rewritten"


def test_rerun_with_other_settings_is_refused(plate, uninterrupted):
    before = _dump(uninterrupted)
    result = facegraft("extract", str(plate), "-o", str(uninterrupted), "--face-type", "head")
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("facegraft: error:"), lines[0]
    assert "--restart" in lines[0] and "face_type" in lines[0], lines[0]
    assert _dump(uninterrupted) == before, "a refused run must leave the shot alone"
