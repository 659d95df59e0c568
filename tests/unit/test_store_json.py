"""Landmarks JSON exchange: exact format, round trip, validation errors naming file and location."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from facegraft.errors import InputError
from facegraft.store import json_format
from facegraft.store.alignments import LANDMARKS_UNRELIABLE, AlignmentsStore, Face, FrameRecord
from facegraft.store.json_format import export_json, import_json, load_json


def _store(tmp_path: Path, name: str = "shot") -> AlignmentsStore:
    rng = np.random.default_rng(11)
    store = AlignmentsStore.open(tmp_path / name, create=True)
    store.set_plate({"path": "/plates/a.%04d.exr", "fps": 24})
    recs = []
    for frame in (1001, 1002, 1004):
        faces = [
            Face(
                frame=frame,
                index=i,
                box=tuple(float(v) for v in rng.random(4) * 100),
                score=float(rng.random()),
                landmarks=(rng.random((68, 2)) * 1000).astype(np.float32),
                pose=(1.5, -2.25, 3.0),
                embedding=rng.random(128).astype(np.float32),
                matrix=rng.random((2, 3)),
                landmark_confidence=0.25 if i else 0.875,
                flags=(LANDMARKS_UNRELIABLE,) if i else (),
            )
            for i in range(frame % 3)
        ]
        pts = (frame - 1001) / 24 if frame != 1004 else None
        recs.append(FrameRecord(frame=frame, pts=pts, faces=faces, cut=frame == 1004))
    store.write_frames(recs)
    return store


def _doc(frames: list) -> dict:
    return {"schema": "facegraft.alignments/1", "plate": "/p.mov", "frames": frames}


def _face(n: int = 68) -> dict:
    return {"box": [0, 0, 10, 10], "score": 0.5, "landmarks": [[i, i + 0.5] for i in range(n)]}


def test_export_format(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        out = tmp_path / "a.json"
        assert export_json(store, out) == 3
        doc = json.loads(out.read_text())
        assert list(doc) == ["schema", "plate", "frames"] and doc["schema"] == "facegraft.alignments/2"
        assert doc["plate"] == {"path": "/plates/a.%04d.exr", "fps": 24}
        assert [f["frame"] for f in doc["frames"]] == [1001, 1002, 1004]
        assert [f["pts"] for f in doc["frames"]] == [0.0, 1 / 24, None]
        assert [f["cut"] for f in doc["frames"]] == [False, False, True]
        face = doc["frames"][0]["faces"][1]
        want = store.faces(1001)[1]
        assert list(face) == ["id", "box", "score", "landmarks", "pose", "landmark_confidence", "flags"]
        assert face["id"] == want.id
        assert face["flags"] == [LANDMARKS_UNRELIABLE] and face["landmark_confidence"] == 0.25
        assert (
            doc["frames"][0]["faces"][0]["flags"] == []
            and doc["frames"][0]["faces"][0]["landmark_confidence"] == 0.875
        )
        assert np.allclose(face["landmarks"], want.landmarks, atol=5e-5) and len(face["landmarks"]) == 68
        assert face["box"] == [round(v, 4) for v in want.box] and face["pose"] == [1.5, -2.25, 3.0]
        assert doc["frames"][1]["faces"] == []
        assert [p.name for p in tmp_path.iterdir() if p.is_file()] == ["a.json"]  # temp file renamed


def test_round_trip_into_a_new_store(tmp_path: Path) -> None:
    out = tmp_path / "a.json"
    with _store(tmp_path) as src:
        export_json(src, out)
        src_faces = src.faces()
    with AlignmentsStore.open(tmp_path / "new", create=True) as dst:
        assert import_json(dst, out) == 3
        assert dst.plate() == {"path": "/plates/a.%04d.exr", "fps": 24}
        assert dst.frames_done() == {1001, 1002, 1004} and dst.frame(1004).pts is None
        got = dst.faces()
        assert [(f.frame, f.index) for f in got] == [(f.frame, f.index) for f in src_faces]
        for g, s in zip(got, src_faces, strict=True):
            np.testing.assert_allclose(g.landmarks, s.landmarks, atol=5e-5)
            assert g.box == pytest.approx(s.box, abs=5e-5) and g.pose == (1.5, -2.25, 3.0)
            assert g.embedding is None and g.matrix is None
            assert (g.landmark_confidence, g.flags) == (s.landmark_confidence, s.flags)
        assert [r.cut for r in dst.iter_frames()] == [False, False, True]
        assert dst.stats()["shots"] == 2 and dst.stats()["flagged_faces"] == 2
        # Exporting the imported store gives the same document, ids aside.
        again = tmp_path / "b.json"
        export_json(dst, again)
        a, b = json.loads(out.read_text()), json.loads(again.read_text())
        for doc in (a, b):
            for frame in doc["frames"]:
                for face in frame["faces"]:
                    face.pop("id")
        assert a == b


def test_replace_and_keep(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text(json.dumps(_doc([{"frame": 1002, "pts": None, "faces": [_face(), _face()]}])))
    with _store(tmp_path) as store:
        assert import_json(store, path, replace=False) == 0
        assert len(store.faces(1002)) == 0
        assert import_json(store, path) == 1
        assert len(store.faces(1002)) == 2 and len(store.faces(1001)) == 2
        assert store.faces(1002)[0].score == 0.5
        assert store.plate()["fps"] == 24  # an existing plate is kept


def test_optional_fields(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    face = {"landmarks": [[i, 2 * i] for i in range(68)]}
    path.write_text(json.dumps(_doc([{"frame": 5, "faces": [face]}])))
    with AlignmentsStore.open(tmp_path / "s", create=True) as store:
        assert import_json(store, path) == 1
        (got,) = store.faces()
        assert got.box == (0.0, 0.0, 67.0, 134.0) and got.score == 1.0 and got.pose == (0.0, 0.0, 0.0)
        assert (got.landmark_confidence, got.flags, store.frame(5).cut) == (1.0, (), False)
        assert store.plate() == {"path": "/p.mov"}


def test_version_1_documents_get_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(_doc([{"frame": 1, "faces": [_face()]}, {"frame": 2, "faces": []}])))
    doc = load_json(path)
    assert doc["schema"] == "facegraft.alignments/2"
    assert [f["cut"] for f in doc["frames"]] == [False, False]
    face = doc["frames"][0]["faces"][0]
    assert (face["landmark_confidence"], face["flags"]) == (1.0, [])


def test_version_2_cut_and_flags_import(tmp_path: Path) -> None:
    path = tmp_path / "v2.json"
    flagged = {**_face(), "landmark_confidence": 0.125, "flags": [LANDMARKS_UNRELIABLE]}
    frames = [{"frame": 1, "faces": [_face()]}, {"frame": 2, "cut": True, "faces": [flagged]}]
    path.write_text(json.dumps({**_doc(frames), "schema": "facegraft.alignments/2"}))
    with AlignmentsStore.open(tmp_path / "s", create=True) as store:
        assert import_json(store, path) == 2
        assert [r.cut for r in store.iter_frames()] == [False, True]
        assert [(f.landmark_confidence, f.flags) for f in store.faces()] == [
            (1.0, ()),
            (0.125, (LANDMARKS_UNRELIABLE,)),
        ]


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        (
            [{"frame": 1, "faces": [_face()]}, {"frame": 2, "faces": [_face(5)]}],
            "frames[1].faces[0].landmarks: expected 68 points, got 5",
        ),
        ([{"frame": 1, "faces": [{**_face(), "box": [1, 2, 3]}]}], "frames[0].faces[0].box: expected 4"),
        (
            [{"frame": 1, "faces": [{**_face(), "box": [1, 2, 3, True]}]}],
            "frames[0].faces[0].box: expected 4",
        ),
        ([{"frame": 1, "faces": [{**_face(), "pose": [1, 2]}]}], "frames[0].faces[0].pose: expected 3"),
        ([{"frame": 1, "faces": [{**_face(), "score": "high"}]}], "frames[0].faces[0].score"),
        ([{"frame": 1.5, "faces": []}], "frames[0].frame: expected an integer"),
        ([{"frame": 1, "faces": []}, {"frame": 1, "faces": []}], "frames[1].frame: frame 1 appears twice"),
        ([{"frame": 1, "pts": "soon", "faces": []}], "frames[0].pts"),
        ([{"frame": 1, "faces": {}}], "frames[0].faces: expected a list"),
        ([{"frame": 1, "cut": 1, "faces": []}], "frames[0].cut: expected true or false"),
        (
            [{"frame": 1, "faces": [{**_face(), "landmark_confidence": 2}]}],
            "frames[0].faces[0].landmark_confidence: expected a number in 0..1",
        ),
        (
            [{"frame": 1, "faces": [{**_face(), "flags": "landmarks-unreliable"}]}],
            "frames[0].faces[0].flags: expected a list of flag names",
        ),
        (
            [{"frame": 1, "faces": [{**_face(), "flags": ["landmarks-unreliable", "odd"]}]}],
            'frames[0].faces[0].flags: unknown flag "odd"',
        ),
        ([7], "frames[0]: expected an object"),
    ],
)
def test_validation_errors(tmp_path: Path, frames: list, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_doc(frames)))
    with pytest.raises(InputError) as err:
        load_json(path)
    assert str(err.value).startswith(f"{path}: {message}")


def test_non_finite_landmark(tmp_path: Path) -> None:
    face = _face()
    face["landmarks"][40] = [1.0, float("nan")]
    path = tmp_path / "nan.json"
    path.write_text(json.dumps(_doc([{"frame": 1, "faces": [face]}])))  # json writes NaN, json reads it
    with pytest.raises(
        InputError, match=r"frames\[0\]\.faces\[0\]\.landmarks\[40\]: expected 2 finite numbers"
    ):
        load_json(path)


def test_schema_and_syntax_errors(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"schema": "facegraft.alignments/1",\n "frames": [1,]}')
    with pytest.raises(InputError, match=r"x\.json: invalid JSON at line 2 column \d+"):
        load_json(path)
    for tag, why in [
        ("facegraft.alignments/3", "written by a newer facegraft"),
        ("facegraft.alignments/0", "unknown version"),
        ("other/1", "not a facegraft alignments document"),
        (None, "not a facegraft alignments document"),
    ]:
        path.write_text(json.dumps({"schema": tag, "frames": []}))
        with pytest.raises(InputError, match=f"schema: {why}"):
            load_json(path)
    with pytest.raises(InputError, match="cannot read"):
        load_json(tmp_path / "missing.json")


def test_older_json_is_upgraded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A made-up version 0 that named the landmark list "points": the upgrade table carries it forward.
    def zero_to_one(doc: dict) -> dict:
        for frame in doc["frames"]:
            for face in frame["faces"]:
                face["landmarks"] = face.pop("points")
        return {**doc, "schema": "facegraft.alignments/1"}

    monkeypatch.setitem(json_format.JSON_UPGRADES, 0, zero_to_one)
    path = tmp_path / "old.json"
    face = {"points": _face()["landmarks"]}
    path.write_text(
        json.dumps({"schema": "facegraft.alignments/0", "frames": [{"frame": 3, "faces": [face]}]})
    )
    assert load_json(path)["frames"][0]["faces"][0]["landmarks"][67] == [67, 67.5]


def test_import_is_all_or_nothing(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    frames = [{"frame": f, "faces": [_face()]} for f in range(5)]
    frames[4]["faces"][0]["landmarks"] = frames[4]["faces"][0]["landmarks"][:-1]
    path.write_text(json.dumps(_doc(frames)))
    with AlignmentsStore.open(tmp_path / "s", create=True) as store:
        with pytest.raises(InputError, match=r"frames\[4\]"):
            import_json(store, path)
        assert store.frames_done() == set() and store.plate() == {}
