"""`facegraft alignments` from the command line, on a shot extracted from a plate moved by known shifts:
export in the documented JSON format, import of edited landmarks, counts, and the faces-folder jobs."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from facegraft.sample_plates import Move, render, write_png_sequence

CANVAS = (640, 480)
SHIFTS = [(0.0, 0.0), (25.0, -10.0), (-30.0, 15.0)]
FIRST = 1001
FRAMES = [FIRST + i for i in range(len(SHIFTS))]
BLANK = FIRST + len(SHIFTS)  # a last frame without a face


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "facegraft", *args], capture_output=True, text=True, timeout=120
    )
    if check:
        assert proc.returncode == 0, f"{args}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def shot(tmp_path_factory, photos) -> dict:
    root = tmp_path_factory.mktemp("cli_alignments")
    frames = [render(photos["astronaut"], Move(shift=s), CANVAS)[0] for s in SHIFTS]
    frames.append(np.full((CANVAS[1], CANVAS[0], 3), 128, np.uint8))
    write_png_sequence(frames, root / "plate" / "plate.%04d.png", first=FIRST)
    plate = str(root / "plate" / "plate.####.png")
    shot_dir = root / "shot"
    # Detection on every frame: the alignments jobs are tested on faces found frame by frame (the default
    # tracking has its own test below).
    _run("extract", plate, "-o", str(shot_dir), "--no-embeddings", "--detect-every", "1", "--quiet")
    exported = root / "export.json"
    _run("alignments", "export", str(shot_dir), "--json", str(exported))
    return {"root": root, "plate": plate, "shot": shot_dir, "json": exported}


def _copy_shot(shot: dict, tmp_path: Path) -> Path:
    dst = tmp_path / "shot"
    shutil.copytree(shot["shot"], dst)
    return dst


def _export(shot_dir: Path, path: Path) -> dict:
    _run("alignments", "export", str(shot_dir), "--json", str(path))
    return json.loads(path.read_text())


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_export_writes_the_documented_format(shot) -> None:
    doc = json.loads(shot["json"].read_text())
    assert list(doc) == ["schema", "plate", "frames"]
    assert doc["schema"] == "facegraft.alignments/2"
    assert isinstance(doc["plate"], (dict, str)) and doc["plate"]
    assert [f["frame"] for f in doc["frames"]] == FRAMES + [BLANK]
    for frame in doc["frames"]:
        assert set(frame) == {"frame", "pts", "cut", "faces"}
        assert frame["pts"] is None or isinstance(frame["pts"], (int, float))
    for frame in doc["frames"][:3]:
        assert len(frame["faces"]) == 1, frame["frame"]
        face = frame["faces"][0]
        assert set(face) == {"id", "box", "score", "landmarks", "pose", "landmark_confidence", "flags"}
        assert 0 <= face["landmark_confidence"] <= 1 and isinstance(face["flags"], list)
        assert isinstance(face["id"], int)
        assert len(face["box"]) == 4 and face["box"][0] < face["box"][2] and face["box"][1] < face["box"][3]
        assert isinstance(face["score"], float)
        lms = np.asarray(face["landmarks"])
        assert lms.shape == (68, 2) and np.all(np.isfinite(lms))
        assert np.all(lms >= 0) and np.all(lms < CANVAS)
        box = np.asarray(face["box"])
        assert np.all(lms[17:].mean(0) > box[:2]) and np.all(lms[17:].mean(0) < box[2:])
        assert len(face["pose"]) == 3 and abs(face["pose"][2]) < 10  # upright: small roll
    assert doc["frames"][3]["faces"] == []
    ids = [f["faces"][0]["id"] for f in doc["frames"][:3]]
    assert len(set(ids)) == 3


def test_exported_landmarks_follow_the_known_shifts(shot) -> None:
    doc = json.loads(shot["json"].read_text())
    lms = [np.asarray(f["faces"][0]["landmarks"]) for f in doc["frames"][:3]]
    for i in range(1, len(SHIFTS)):
        expected = np.subtract(SHIFTS[i], SHIFTS[0])
        moved = (lms[i] - lms[0]).mean(0)
        assert np.allclose(moved, expected, atol=1.5), (i, moved, expected)
        boxes = [np.asarray(doc["frames"][k]["faces"][0]["box"]) for k in (0, i)]
        box_moved = (boxes[1] - boxes[0]).reshape(2, 2).mean(0)
        # Detector boxes snap to HOG's 8-pixel cells: they follow the move only to about a cell.
        assert np.allclose(box_moved, expected, atol=12.0), (i, box_moved, expected)


@pytest.fixture(scope="module")
def tracked(shot) -> dict:
    """The same plate extracted with the default settings: detect every 5th frame, follow in between."""
    shot_dir = shot["root"] / "tracked"
    _run("extract", shot["plate"], "-o", str(shot_dir), "--no-embeddings", "--quiet")
    return _export(shot_dir, shot["root"] / "tracked.json")


def test_default_tracking_follows_the_shifts(tracked) -> None:
    lms = [np.asarray(f["faces"][0]["landmarks"]) for f in tracked["frames"][:3] if f["faces"]]
    assert len(lms) == 3
    errors = [
        float(np.abs((lms[i] - lms[0]).mean(0) - np.subtract(SHIFTS[i], SHIFTS[0])).max())
        for i in range(1, len(SHIFTS))
    ]
    assert max(errors) < 1.5, f"tracked faces do not follow the shifts: errors {errors} px"


def test_default_tracking_drops_the_face_at_a_cut_to_grey(tracked) -> None:
    found = {f["frame"]: f["faces"] for f in tracked["frames"]}
    assert found[BLANK] == [], f"a face was kept on the plain grey frame {BLANK}: {found[BLANK]}"


def test_import_of_edited_landmarks_reads_back_moved(shot, tmp_path: Path) -> None:
    """Landmarks moved by +5 px and a second face added to one frame come back from a new shot."""
    doc = json.loads(shot["json"].read_text())
    for frame in doc["frames"]:
        for face in frame["faces"]:
            face["landmarks"] = [[x + 5.0, y + 5.0] for x, y in face["landmarks"]]
    first = doc["frames"][1]["faces"][0]
    twin = dict(first, landmarks=[[x + 200.0, y] for x, y in first["landmarks"]])
    twin["box"] = [first["box"][0] + 200, first["box"][1], first["box"][2] + 200, first["box"][3]]
    doc["frames"][1]["faces"].append(twin)
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(doc))
    new_shot = tmp_path / "new_shot"
    proc = _run("alignments", "import", str(new_shot), "--json", str(edited))
    assert "imported 4 frames" in proc.stdout
    back = _export(new_shot, tmp_path / "back.json")
    original = json.loads(shot["json"].read_text())
    assert [f["frame"] for f in back["frames"]] == FRAMES + [BLANK]
    for got, was in zip(back["frames"], original["frames"]):
        assert len(got["faces"]) == len(was["faces"]) + (got["frame"] == FRAMES[1])
        for g, w in zip(got["faces"], was["faces"]):
            np.testing.assert_allclose(
                np.asarray(g["landmarks"]) - np.asarray(w["landmarks"]), 5.0, atol=1e-3
            )
            np.testing.assert_allclose(g["box"], w["box"], atol=1e-3)
            np.testing.assert_allclose(g["pose"], w["pose"], atol=1e-3)
    twin_back = np.asarray(back["frames"][1]["faces"][1]["landmarks"])
    np.testing.assert_allclose(twin_back, np.asarray(twin["landmarks"]), atol=1e-3)
    assert _run("alignments", "multi-faces", str(new_shot)).stdout.split() == [str(FRAMES[1])]


def test_stats_and_frame_lists(shot) -> None:
    stats = json.loads(_run("alignments", "stats", str(shot["shot"])).stdout)
    assert stats == {
        "frames": 4,
        "faces": 3,
        "frames_without_faces": 1,
        "frames_with_several_faces": 0,
        "flagged_faces": 0,
        "shots": stats["shots"],  # the cut to grey may or may not start a shot: extraction decides
    }
    assert stats["shots"] in (1, 2)
    assert _run("alignments", "no-faces", str(shot["shot"])).stdout.split() == [str(BLANK)]
    assert _run("alignments", "multi-faces", str(shot["shot"])).stdout.split() == []


def test_remove_deleted_removes_exactly_that_face(shot, tmp_path: Path) -> None:
    shot_dir = _copy_shot(shot, tmp_path)
    faces = sorted(p.name for p in (shot_dir / "faces").glob("*.png"))
    assert faces == [f"{f:06d}_0.png" for f in FRAMES]
    (shot_dir / "faces" / f"{FRAMES[1]:06d}_0.png").unlink()
    proc = _run("alignments", "remove-deleted", str(shot_dir))
    assert "removed 1 " in proc.stdout
    before = json.loads(shot["json"].read_text())
    after = _export(shot_dir, tmp_path / "after.json")
    kept = {f["frame"]: [face["id"] for face in f["faces"]] for f in after["frames"]}
    was = {f["frame"]: [face["id"] for face in f["faces"]] for f in before["frames"]}
    assert kept == {**was, FRAMES[1]: []}
    stats = json.loads(_run("alignments", "stats", str(shot_dir)).stdout)
    assert stats["faces"] == 2 and stats["frames_without_faces"] == 2


def test_rename_restores_swapped_names(shot, tmp_path: Path) -> None:
    shot_dir = _copy_shot(shot, tmp_path)
    folder = shot_dir / "faces"
    a, b = folder / f"{FRAMES[0]:06d}_0.png", folder / f"{FRAMES[2]:06d}_0.png"
    hashes = {p.name: _sha(p) for p in folder.glob("*.png")}
    assert hashes[a.name] != hashes[b.name]
    tmp = folder / "swap.tmp"
    a.rename(tmp)
    b.rename(a)
    tmp.rename(b)
    assert _sha(a) == hashes[b.name]
    proc = _run("alignments", "rename", str(shot_dir))
    assert "renamed 2 " in proc.stdout
    assert {p.name: _sha(p) for p in folder.glob("*.png")} == hashes
    assert sorted(p.name for p in folder.iterdir()) == sorted(hashes)


def test_draw_writes_one_jpeg_per_frame(shot, tmp_path: Path) -> None:
    out = tmp_path / "drawn"
    proc = _run("alignments", "draw", str(shot["shot"]), shot["plate"], "-o", str(out))
    assert "drew 4 frames" in proc.stdout
    files = sorted(p.name for p in out.iterdir())
    assert files == [f"{f:06d}.jpg" for f in FRAMES + [BLANK]]
    plain = cv2.imread(str(Path(shot["plate"].replace("####", str(FRAMES[0])))))
    drawn = cv2.imread(str(out / files[0]))
    assert drawn is not None and drawn.shape == (CANVAS[1], CANVAS[0], 3)
    # Landmarks and the box were drawn: the face region differs from the plate, the corners do not.
    doc = json.loads(shot["json"].read_text())
    x0, y0, x1, y1 = (int(v) for v in doc["frames"][0]["faces"][0]["box"])
    diff = np.abs(drawn.astype(int) - plain.astype(int)).sum(2)
    assert diff[y0 - 2 : y1 + 3, x0 - 2 : x1 + 3].mean() > 3 * max(diff[:40, :40].mean(), 1.0)


def test_missing_shot_is_a_one_line_error(tmp_path: Path) -> None:
    proc = _run("alignments", "stats", str(tmp_path / "nothing"), check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("facegraft: error:")


def test_import_of_a_bad_json_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        '{"schema": "facegraft.alignments/1", "frames": [{"frame": 1, "faces": [{"landmarks": []}]}]}'
    )
    proc = _run("alignments", "import", str(tmp_path / "s"), "--json", str(bad), check=False)
    assert proc.returncode == 2
    assert str(bad) in proc.stderr and "landmarks" in proc.stderr


def _cut_shot(tmp_path: Path) -> Path:
    """A shot imported from JSON: frames 1-6, a hard cut before frame 4, one face of frame 5 flagged."""
    lms = [[100 + i, 100 + i % 7] for i in range(68)]
    frames = []
    for frame in range(1, 7):
        faces = [{"landmarks": lms}]
        if frame == 5:
            faces.append({"landmarks": lms, "landmark_confidence": 0.125, "flags": ["landmarks-unreliable"]})
        frames.append({"frame": frame, "cut": frame == 4, "faces": faces})
    doc = tmp_path / "cuts.json"
    doc.write_text(json.dumps({"schema": "facegraft.alignments/2", "plate": "/p.mov", "frames": frames}))
    shot_dir = tmp_path / "cuts"
    _run("alignments", "import", str(shot_dir), "--json", str(doc))
    return shot_dir


def test_shots_flagged_and_their_counts(tmp_path: Path) -> None:
    shot_dir = _cut_shot(tmp_path)
    shots = json.loads(_run("alignments", "shots", str(shot_dir), "--json").stdout)
    assert shots == [
        {"index": 0, "first_frame": 1, "last_frame": 3, "frames": 3, "faces": 3, "tracks": []},
        {"index": 1, "first_frame": 4, "last_frame": 6, "frames": 3, "faces": 4, "tracks": []},
    ]
    table = _run("alignments", "shots", str(shot_dir)).stdout.splitlines()
    assert table[0].split() == ["shot", "frames", "count", "faces", "tracks"]
    assert [row.split() for row in table[1:]] == [["0", "1-3", "3", "3", "-"], ["1", "4-6", "3", "4", "-"]]
    flagged = json.loads(_run("alignments", "flagged", str(shot_dir), "--json").stdout)
    assert [(f["frame"], f["index"], f["flags"], f["landmark_confidence"]) for f in flagged] == [
        (5, 1, ["landmarks-unreliable"], 0.125)
    ]
    table = _run("alignments", "flagged", str(shot_dir)).stdout.splitlines()
    assert table[0].split() == ["frame", "index", "track", "flags", "confidence"]
    assert table[1].split() == ["5", "1", "-", "landmarks-unreliable", "0.12"]
    stats = json.loads(_run("alignments", "stats", str(shot_dir)).stdout)
    assert (stats["shots"], stats["flagged_faces"], stats["faces"]) == (2, 1, 7)
    doc = _export(shot_dir, tmp_path / "back.json")
    assert [f["cut"] for f in doc["frames"]] == [False, False, False, True, False, False]
    assert [face["flags"] for face in doc["frames"][4]["faces"]] == [[], ["landmarks-unreliable"]]


def test_no_flagged_faces_says_so(shot) -> None:
    assert "no flagged faces" in _run("alignments", "flagged", str(shot["shot"])).stdout
    assert json.loads(_run("alignments", "flagged", str(shot["shot"]), "--json").stdout) == []
