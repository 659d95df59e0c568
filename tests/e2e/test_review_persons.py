"""The review page's person panel, driven through its HTTP routes the way the page drives them (signed in
with the token once, then its cookie; every edit naming the revisions it saw), and measured in the store
afterwards: a rename lands in the persons table, a merge leaves one person holding both face sets and undo
brings both back, a reassign moves exactly one face, "not the target" keeps the face and flags it, and an
edit made against a stale revision is a conflict that changes nothing.

The shot is built by hand (a noise plate, two faces a frame): three persons, the third the second person
again after the cut at frame 4, as a grouping might split one actor over a cut."""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from urllib.parse import quote, urlencode

import cv2
import numpy as np
import pytest

from facegraft.sample_plates import write_png_sequence
from facegraft.store.alignments import NOT_TARGET, AlignmentsStore, Face, FrameRecord, Person

FRAMES = range(1, 7)
CUT = 4  # a hard cut before frame 4
PLATE = (320, 240)  # width, height
SIZE = 64  # aligned crop size
LEFT, RIGHT = (40.0, 60.0), (200.0, 60.0)  # where the two faces of every frame sit (box corner)


def _face(frame: int, index: int, corner: tuple[float, float], rng: np.random.Generator) -> Face:
    x, y = corner
    landmarks = np.column_stack([rng.uniform(x + 8, x + 56, 68), rng.uniform(y + 8, y + 56, 68)])
    emb = rng.normal(size=128).astype(np.float32)
    return Face(
        frame=frame,
        index=index,
        box=(x, y, x + SIZE, y + SIZE),
        score=0.9,
        landmarks=landmarks.astype(np.float32),
        embedding=emb / np.linalg.norm(emb),
        track_id=index if frame < CUT else index + 2,
        matrix=np.array([[1.0, 0.0, -x], [0.0, 1.0, -y]]),
        size=SIZE,
    )


def make_shot(root: Path, name: str) -> Path:
    """A shot folder with a store: persons 1 'lead' (the left faces), 2 (the right ones before the cut)
    and 3 (the right ones after it)."""
    rng = np.random.default_rng(7)
    plate = root / name / "plate"
    frames = [rng.integers(0, 255, (PLATE[1], PLATE[0], 3), dtype=np.uint8) for _ in FRAMES]
    write_png_sequence(frames, plate / "plate.%04d.png", first=FRAMES[0])
    shot = root / name / "shot"
    with AlignmentsStore.open(shot, create=True) as store:
        store.set_plate({"path": str(plate / "plate.####.png"), "kind": "sequence", "width": PLATE[0],
                         "height": PLATE[1], "fps": 24.0, "colourspace": "srgb"})  # fmt: skip
        store.write_frames(
            [
                FrameRecord(
                    f,
                    width=PLATE[0],
                    height=PLATE[1],
                    cut=f == CUT,
                    faces=[_face(f, 0, LEFT, rng), _face(f, 1, RIGHT, rng)],
                )  # fmt: skip
                for f in FRAMES
            ]
        )
        faces = store.faces()
        assignment = {int(f.id): 1 if f.index == 0 else 2 if f.frame < CUT else 3 for f in faces}
        persons = [Person(pid, name, rng.normal(size=128).astype(np.float32)) for pid, name in
                   ((1, "lead"), (2, ""), (3, ""))]  # fmt: skip
        store.replace_persons(persons, assignment)
    return shot


@pytest.fixture(scope="module")
def service(tmp_path_factory, start_engine) -> dict:
    root = tmp_path_factory.mktemp("review_persons")
    home = root / "home"
    start_engine(home, root)
    info = json.loads((home / "service" / "service.json").read_text())
    return {"root": root, "port": info["port"], "token": (home / "service" / "token").read_text().strip()}


class Page:
    """What the review page does over HTTP: sign in with the token once (the address `facegraft review`
    prints), then send the review cookie with every request, edits as JSON bodies."""

    def __init__(self, service: dict, shot: Path) -> None:
        self.port, self.shot = service["port"], shot
        path = f"/review{quote(str(shot))}"
        status, _, headers = self.raw("GET", f"{path}?{urlencode({'token': service['token']})}")
        assert status == 303 and headers["location"] == path and "HttpOnly" in headers["set-cookie"]
        self.cookie = headers["set-cookie"].split(";")[0]
        status, html, headers = self.raw("GET", path, headers={"Cookie": self.cookie})
        assert status == 200
        self.html, self.page_headers = html.decode(), headers

    def raw(self, method: str, path: str, body: dict | None = None, headers: dict | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        data = None if body is None else json.dumps(body).encode()
        sent = {"Content-Type": "application/json", **(headers or {})}
        conn.request(method, path, body=data, headers=sent)
        reply = conn.getresponse()
        out = reply.status, reply.read(), {k.lower(): v for k, v in reply.getheaders()}
        conn.close()
        return out

    def call(self, method: str, route: str, body: dict | None = None, **params) -> tuple[int, dict]:
        query = urlencode({"shot": str(self.shot), **params})
        status, data, _ = self.raw(method, f"/v1/review/{route}?{query}", body, {"Cookie": self.cookie})
        return status, json.loads(data) if data else {}

    def get(self, route: str, **params) -> dict:
        status, data = self.call("GET", route, **params)
        assert status == 200, data
        return data

    def edit(self, body: dict, status: int = 200) -> dict:
        got, data = self.call("POST", "edit", body)
        assert got == status, data
        return data

    def undo(self, status: int = 200) -> dict:
        last = self.get("shot")["last_edit"]
        got, data = self.call("POST", "undo", {"edit": last["id"] if last else None})
        assert got == status, data
        return data

    def group(self, person: int) -> dict:
        return next(g for g in self.get("faces")["groups"] if g["label"] == person)

    def refs(self, person: int) -> list[dict]:
        return [{"id": f["id"], "revision": f["revision"]} for f in self.group(person)["faces"]]


def store_state(shot: Path) -> dict:
    """Everything a person edit may touch: persons (with embeddings), each face's person, flags, revision."""
    with AlignmentsStore.open(shot) as store:
        persons = {p.id: (p.name, None if p.embedding is None else p.embedding.tobytes(), p.photo)
                   for p in store.persons()}  # fmt: skip
        faces = {f.id: (f.person_id, f.flags, f.revision) for f in store.faces()}
    return {"persons": persons, "faces": faces}


def owners(shot: Path) -> dict[int, int | None]:
    with AlignmentsStore.open(shot) as store:
        return {int(f.id): f.person_id for f in store.faces()}  # type: ignore[misc]


# -- the tests ----------------------------------------------------------------------------------------------
def test_the_page_lists_persons_with_counts_frame_ranges_and_a_thumbnail(service):
    shot = make_shot(service["root"], "listing")
    page = Page(service, shot)
    # The page carries the person panel, under the same content policy (no inline script).
    for element in ('id="face-person"', 'id="reassign"', 'id="restore-target"', 'id="people"'):
        assert element in page.html
    assert "<script>" not in page.html and "script-src 'self'" in page.page_headers["content-security-policy"]

    data = page.get("faces")
    assert data["by"] == "person"
    persons = {p["id"]: p for p in data["persons"]}
    assert [p["id"] for p in data["persons"]] == [1, 2, 3], "the most faces first, then by id"
    assert persons[1]["label"] == "lead" and persons[2]["label"] == "person2" and persons[2]["name"] == ""
    assert persons[1]["faces"] == 6 and persons[1]["ranges"] == [[1, 6]] and persons[1]["shots"] == [0, 1]
    assert persons[2]["faces"] == 3 and persons[2]["ranges"] == [[1, 3]] and persons[2]["shots"] == [0]
    assert persons[3]["ranges"] == [[4, 6]] and persons[3]["shots"] == [1] and persons[3]["targets"] == 3
    with AlignmentsStore.open(shot) as store:
        by_person = {pid: {int(f.id) for f in store.person_faces(pid)} for pid in (1, 2, 3)}  # type: ignore[arg-type]
    for group in data["groups"]:
        assert {f["id"] for f in group["faces"]} == by_person[group["label"]]
        assert [f["frame"] for f in group["faces"]] == sorted(f["frame"] for f in group["faces"])
        assert all(f["person_id"] == group["label"] for f in group["faces"])
        assert group["person"]["thumb"]["id"] in by_person[group["label"]]

    # The thumbnail is one of the person's faces, served as the face image route serves any face.
    thumb = persons[1]["thumb"]
    status, body, headers = page.raw(
        "GET",
        f"/v1/review/face/image?{urlencode({'shot': str(shot), 'face': thumb['id'], 'size': 64})}",
        headers={"Cookie": page.cookie},
    )
    assert status == 200 and headers["content-type"] == "image/jpeg"
    assert cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR).shape == (64, 64, 3)
    frame = page.get("frame", frame=1)
    assert sorted(f["person_id"] for f in frame["faces"]) == [1, 2]
    assert page.get("shot")["persons"] == 3

    # A shot never grouped into persons is grouped by identity, as before.
    with AlignmentsStore.open(shot) as store:
        store.replace_persons([], {})
    data = page.get("faces")
    assert data["by"] == "identity" and data["persons"] == []
    assert sum(len(g["faces"]) for g in data["groups"]) == 12 and all(
        "person" not in g for g in data["groups"]
    )


def test_rename_shows_in_the_store_and_a_bad_name_is_refused_as_an_error(service):
    shot = make_shot(service["root"], "rename")
    page = Page(service, shot)
    done = page.edit({"kind": "person-name", "person": 2, "name": "stunt-double", "was": ""})
    assert done["kind"] == "person-name" and "stunt-double" in done["message"]
    with AlignmentsStore.open(shot) as store:
        assert {p.id: p.name for p in store.persons()} == {1: "lead", 2: "stunt-double", 3: ""}
        assert store.last_edit().kind == "person-name"  # type: ignore[union-attr]
    assert next(p for p in page.get("faces")["persons"] if p["id"] == 2)["label"] == "stunt-double"

    before = store_state(shot)
    for name, said in (("2nd", "not allowed"), ("has space", "not allowed"), ("lead", "already named"),
                       ("person3", "another person"), ("x" * 41, "not allowed")):  # fmt: skip
        error = page.edit({"kind": "person-name", "person": 2, "name": name}, status=400)["error"]
        assert said in error, (name, error)
    assert page.edit({"kind": "person-name", "person": 9, "name": "ghost"}, status=400)["error"].startswith(
        "no person 9"
    )
    # The page saw another name than the store now holds: a conflict, as for a stale face revision.
    stale = page.edit({"kind": "person-name", "person": 2, "name": "double", "was": ""}, status=409)
    assert "renamed elsewhere" in stale["error"]
    assert store_state(shot) == before, "refused renames change nothing"

    # Undo gives the old name back; clearing a name goes back to the person<id> label.
    page.undo()
    with AlignmentsStore.open(shot) as store:
        assert {p.id: p.label for p in store.persons()} == {1: "lead", 2: "person2", 3: "person3"}
    page.edit({"kind": "person-name", "person": 1, "name": "", "was": "lead"})
    with AlignmentsStore.open(shot) as store:
        assert [p.label for p in store.persons()] == ["person1", "person2", "person3"]


def test_merge_leaves_one_person_with_both_face_sets_and_undo_restores_both(service):
    shot = make_shot(service["root"], "merge")
    page = Page(service, shot)
    page.edit({"kind": "person-name", "person": 3, "name": "after-cut"})
    before = store_state(shot)
    with AlignmentsStore.open(shot) as store:
        twos = {int(f.id) for f in store.person_faces(2)}  # type: ignore[arg-type]
        threes = {int(f.id) for f in store.person_faces(3)}  # type: ignore[arg-type]
        ones = {int(f.id) for f in store.person_faces(1)}  # type: ignore[arg-type]
        edits_before = len(store.edits())

    done = page.edit({"kind": "merge-persons", "into": 2, "person": 3, "faces": page.refs(3)})
    assert done["kind"] == "merge-persons" and "3 faces moved" in done["message"]
    with AlignmentsStore.open(shot) as store:
        assert [p.id for p in store.persons()] == [1, 2], "the merged-in person's row is gone"
        assert {int(f.id) for f in store.person_faces(2)} == twos | threes  # type: ignore[arg-type]
        assert {int(f.id) for f in store.person_faces(1)} == ones  # type: ignore[arg-type]
        assert len(store.edits()) == edits_before + 1, "one journaled edit"
        merged = {p.id: p for p in store.persons()}[2]
    e2, e3 = (np.frombuffer(before["persons"][p][1], np.float32) for p in (2, 3))
    np.testing.assert_allclose(merged.embedding, (e2 + e3) / 2, rtol=1e-6, err_msg="face-weighted mean")
    data = page.get("faces")
    assert [p["id"] for p in data["persons"]] == [1, 2] or [p["id"] for p in data["persons"]] == [2, 1]
    two = next(p for p in data["persons"] if p["id"] == 2)
    assert two["faces"] == 6 and two["ranges"] == [[1, 6]] and two["shots"] == [0, 1]

    # Undo: the person comes back with its name, descriptor and faces; every face as it was but a
    # revision on, since the store gives a restored face a fresh revision.
    assert page.undo()["message"] == f"undid edit {done['edit']} (merge-persons)"
    after = store_state(shot)
    assert after["persons"] == before["persons"]
    assert {k: v[:2] for k, v in after["faces"].items()} == {k: v[:2] for k, v in before["faces"].items()}
    changed = {k for k in after["faces"] if after["faces"][k][2] != before["faces"][k][2]}
    assert changed == threes

    # A merge against what the page no longer shows is refused: a face moved on, or one it never saw.
    refs = page.refs(3)
    stale = [dict(refs[0], revision=refs[0]["revision"] - 1), *refs[1:]]
    got = page.edit({"kind": "merge-persons", "into": 2, "person": 3, "faces": stale}, status=409)
    assert got["conflict"]["face"] == refs[0]["id"] and got["conflict"]["current"] == refs[0]["revision"]
    got = page.edit({"kind": "merge-persons", "into": 2, "person": 3, "faces": refs[1:]}, status=409)
    assert "the page did not show" in got["error"]
    assert page.edit({"kind": "merge-persons", "into": 3, "person": 3, "faces": refs}, status=400)
    assert store_state(shot) == after


def test_reassign_moves_exactly_one_face_and_undo_moves_it_back(service):
    shot = make_shot(service["root"], "reassign")
    page = Page(service, shot)
    before = owners(shot)
    face = page.group(1)["faces"][2]
    done = page.edit(
        {"kind": "person", "face": {"id": face["id"], "revision": face["revision"]}, "person": 3}
    )
    assert done["kind"] == "person" and "moved to person3" in done["message"]
    after = owners(shot)
    assert {k for k in after if after[k] != before[k]} == {face["id"]} and after[face["id"]] == 3
    with AlignmentsStore.open(shot) as store:
        moved = store.face(face["id"], load_masks=False)
        assert moved.revision == face["revision"] + 1  # type: ignore[union-attr]
        assert len(store.person_faces(3)) == 4 and len(store.person_faces(1)) == 5
    assert face["id"] in {f["id"] for f in page.group(3)["faces"]}
    page.undo()
    assert owners(shot) == before

    # To a new person of its own, and undo takes that person away again; to no person at all.
    face = page.group(2)["faces"][0]
    ref = {"id": face["id"], "revision": face["revision"]}
    page.edit({"kind": "person", "face": ref, "person": "new"})
    with AlignmentsStore.open(shot) as store:
        assert [p.id for p in store.persons()] == [1, 2, 3, 4]
        assert [f.id for f in store.person_faces(4)] == [face["id"]]
    page.undo()
    with AlignmentsStore.open(shot) as store:
        assert [p.id for p in store.persons()] == [1, 2, 3]
    assert owners(shot) == before
    face = page.group(2)["faces"][0]
    page.edit({"kind": "person", "face": {"id": face["id"], "revision": face["revision"]}, "person": None})
    assert owners(shot)[face["id"]] is None
    loose = page.get("faces")["groups"][-1]
    assert loose["label"] is None and [f["id"] for f in loose["faces"]] == [face["id"]]
    # Refused: an unknown person, the person it already has.
    face = page.group(1)["faces"][0]
    ref = {"id": face["id"], "revision": face["revision"]}
    assert "no person 7" in page.edit({"kind": "person", "face": ref, "person": 7}, status=400)["error"]
    assert "already belongs" in page.edit({"kind": "person", "face": ref, "person": 1}, status=400)["error"]


def test_not_the_target_flags_the_face_keeps_it_and_undo_clears_it(service):
    shot = make_shot(service["root"], "not_target")
    page = Page(service, shot)
    with AlignmentsStore.open(shot) as store:
        count = len(store.faces())
    group = page.group(3)
    face = group["faces"][0]
    done = page.edit({"kind": "not-target", "faces": [{"id": face["id"], "revision": face["revision"]}]})
    assert done["kind"] == "not-target" and "kept" in done["message"]
    with AlignmentsStore.open(shot) as store:
        assert len(store.faces()) == count, "the face stays in the store"
        kept = store.face(face["id"], load_masks=False)
        assert kept.flags == (NOT_TARGET,) and kept.person_id == 3  # type: ignore[union-attr]
        assert kept.revision == face["revision"] + 1  # type: ignore[union-attr]
        assert store.last_edit().kind == "not-target"  # type: ignore[union-attr]
    # The page shows it as dropped: out of its frame's face count, not a flagged (problem) face.
    summary = {f["frame"]: f for f in page.get("shot")["frames"]}[face["frame"]]
    assert summary["faces"] == 1 and summary["not_target"] == 1 and summary["flagged"] == 0
    assert not summary["multi_face"] and not summary["no_face"]
    three = next(p for p in page.get("faces")["persons"] if p["id"] == 3)
    assert three["faces"] == 3 and three["targets"] == 2
    again = page.edit({"kind": "not-target", "faces": [page.refs(3)[0]]}, status=400)
    assert "already marked" in again["error"]

    page.undo()
    with AlignmentsStore.open(shot) as store:
        assert store.face(face["id"], load_masks=False).flags == ()  # type: ignore[union-attr]
    # The whole person dropped at once (the group's button), then one face taken back ("Target after all").
    refs = page.refs(3)
    page.edit({"kind": "not-target", "faces": refs})
    with AlignmentsStore.open(shot) as store:
        assert all(f.flags == (NOT_TARGET,) for f in store.person_faces(3)) and len(store.faces()) == count
    first = page.refs(3)[0]
    page.edit({"kind": "target", "faces": [first]})
    with AlignmentsStore.open(shot) as store:
        assert [f.flags for f in store.person_faces(3)] == [(), (NOT_TARGET,), (NOT_TARGET,)]


def test_a_stale_revision_is_a_conflict_and_nothing_changes(service):
    shot = make_shot(service["root"], "stale")
    page = Page(service, shot)
    face = page.group(1)["faces"][0]
    seen = {"id": face["id"], "revision": face["revision"]}
    # Another tab moves the face to person 2 first.
    page.edit({"kind": "person", "face": seen, "person": 2})
    before = store_state(shot)
    for body in (
        {"kind": "person", "face": seen, "person": 3},
        {"kind": "not-target", "faces": [seen]},
        {"kind": "merge-persons", "into": 3, "person": 2, "faces": [seen, *page.refs(2)[1:]]},
    ):
        got = page.edit(body, status=409)
        assert got["conflict"] == {"face": face["id"], "expected": face["revision"],
                                   "current": face["revision"] + 1}, body  # fmt: skip
    assert store_state(shot) == before, "a refused edit changes nothing"

    # The security the other routes have: no cookie, a cookie from another host, the token alone for the page.
    query = urlencode({"shot": str(shot)})
    body = {"kind": "person", "face": {"id": face["id"], "revision": face["revision"] + 1}, "person": 3}
    assert page.raw("POST", f"/v1/review/edit?{query}", body)[0] == 401
    evil = {"Cookie": page.cookie, "Host": "evil.example"}
    assert page.raw("POST", f"/v1/review/edit?{query}", body, evil)[0] == 401
    assert store_state(shot) == before
