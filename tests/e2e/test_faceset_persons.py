"""One person of a two-person shot through the faceset tools and training (issue 24).

The shared two-people plate (tests/support/two_people.py): person 1 (label ``person1``) is the astronaut,
person 2 (``hopper``) Grace Hopper. The compositor sorts, reports, exports and filters one person's faces,
drops faces (review's "not the target", `faceset filter --move`, a deleted image and `faceset clean`), and
trains on the person chosen. Each check reads what landed on disk: which images were renamed or moved,
who the exported or trained faces are (identity distance to each person's reference), what the store
flags, and what convert left untouched.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from support.two_people import FIRST, N, make_two_people_shot
from test_convert import _save_model, facegraft, summary  # the same tiny model and CLI runner
from test_train import TINY

from facegraft.extract import identity
from facegraft.extract.identity import SAME_PERSON
from facegraft.geometry.alignment import transform_points
from facegraft.io.images import read_image
from facegraft.merge.passes import read_passes
from facegraft.models.checkpoint import load_latest
from facegraft.review.edits import FaceRef, mark_not_target
from facegraft.store.alignments import NOT_TARGET, AlignmentsStore
from facegraft.store.face_images import read_face_png, read_face_tags
from facegraft.train.faceset import load_faceset


@pytest.fixture(scope="module")
def world(tmp_path_factory, photos):
    w = make_two_people_shot(tmp_path_factory.mktemp("faceset_persons"), photos)
    with AlignmentsStore.open(w["shot"]) as store:
        refs = {p.id: p.embedding for p in store.persons()}
        owner = {int(f.id): f.person_id for f in store.faces()}
    return {**w, "refs": refs, "owner": owner}


def copy_shot(world, dest):
    shutil.copytree(world["shot"], dest)
    return dest


def who(world, rgb: np.ndarray, landmarks: np.ndarray) -> int:
    """The person (1 or 2) whose reference the face is nearest, measured by identity embedding."""
    emb = identity.embed(rgb, landmarks).astype(np.float64)
    dist = {p: float(np.linalg.norm(emb - ref)) for p, ref in world["refs"].items()}
    best = min(dist, key=dist.get)
    assert dist[best] < SAME_PERSON, dist
    return best


def crop_person(world, shot, png) -> int:
    """Who an aligned face PNG of `shot` shows, from its pixels and its stored landmarks."""
    face_id = int(read_face_tags(png)["face_id"])
    with AlignmentsStore.open(shot) as store:
        f = store.face(face_id, load_masks=False)
    return who(world, read_face_png(png), transform_points(f.landmarks, f.matrix))


def run_json(*args):
    proc = facegraft(*args, "--progress", "json")
    assert proc.returncode == 0, proc.stderr
    return summary(proc)


def test_export_of_one_person_holds_exactly_their_faces_and_keeps_the_person(world, tmp_path):
    out = tmp_path / "hopper_only"
    s = run_json("faceset", "export", world["shot"], "-o", out, "--person", "hopper")
    assert (s["faces"], s["person"], s["skipped_other_persons"]) == (N, "hopper", N)
    pngs = sorted((out / "faces").glob("*.png"))
    assert len(pngs) == N and {crop_person(world, out, p) for p in pngs} == {2}
    with AlignmentsStore.open(out) as store:
        (person,) = store.persons()
        assert (person.id, person.name) == (2, "hopper")
        assert {f.person_id for f in store.faces()} == {2}


def test_sort_of_one_person_renames_only_their_images(world, tmp_path):
    shot = copy_shot(world, tmp_path / "shot")
    before = {p.name for p in (shot / "faces").glob("*.png")}
    s = run_json("faceset", "sort", shot, "--by", "yaw", "--person", "1")
    assert s["faces"] == N
    after = sorted((shot / "faces").glob("*.png"))
    renamed = [p for p in after if p.name not in before]
    kept = [p for p in after if p.name in before]
    assert len(renamed) == N and {crop_person(world, shot, p) for p in renamed} == {1}
    assert len(kept) == N and {crop_person(world, shot, p) for p in kept} == {2}


def test_report_of_one_person_against_another_counts_each_persons_faces(world, tmp_path):
    page = tmp_path / "cover.html"
    s = run_json(
        "faceset", "report", world["shot"], "-o", page, "--person", "1",
        "--against", world["shot"], "--against-person", "hopper",
    )  # fmt: skip
    assert (s["source_faces"], s["target_faces"]) == (N, N)
    assert (s["source_person"], s["target_person"]) == ("person1", "hopper")
    assert "person hopper" in page.read_text()


def test_filter_moves_a_misgrouped_face_out_and_training_and_convert_leave_it(world, tmp_path):
    shot = copy_shot(world, tmp_path / "shot")
    stray_frame = FIRST + 2
    with AlignmentsStore.open(shot) as store:  # the grouping put one of Hopper's faces into person 1
        (stray,) = [f for f in store.faces(stray_frame) if f.person_id == 2]
        assignment = {int(f.id): f.person_id for f in store.faces()}
        assignment[int(stray.id)] = 1
        store.replace_persons(store.persons(), assignment)
    out = tmp_path / "not_person1"
    s = run_json("faceset", "filter", shot, "--person", "1", "--move", out)
    assert (s["kept"], s["person"], s["flagged_not_target"]) == (N, "person1", [stray.id])
    (moved,) = out.glob("*.png")
    assert crop_person(world, shot, moved) == 2 and int(read_face_tags(moved)["face_id"]) == stray.id
    with AlignmentsStore.open(shot) as store:
        assert NOT_TARGET in store.face(stray.id, load_masks=False).flags
    trained = load_faceset(shot, 128, person="1")
    assert stray.id not in trained.face_ids and len(trained) == N
    assert {who(world, img, lms) for img, lms in zip(trained.images, trained.landmarks)} == {1}
    _save_model(tmp_path / "model")
    passes = tmp_path / "passes"
    proc = facegraft(
        "convert", world["plate"], "--shot", shot, "--model", tmp_path / "model", "--person", "1",
        "-o", passes, "--frames", f"{stray_frame}", "--progress", "json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    ch = read_passes(passes / f"plate.{stray_frame:04d}.exr")
    plate = read_image(world["plate"].parent / f"plate.{stray_frame:04d}.exr").astype(np.float32)
    x0, y0 = np.floor(stray.landmarks.min(0)).astype(int)
    x1, y1 = np.ceil(stray.landmarks.max(0)).astype(int)
    box = (slice(y0, y1), slice(x0, x1))
    comp = np.stack([ch[c] for c in "RGB"], -1)
    assert ch["matte.A"][box].max() == 0 and np.array_equal(comp[box], plate[box])
    assert summary(proc)["faces"] == 1  # the astronaut on that frame, the stray face left


def test_a_deleted_image_after_clean_and_a_review_drop_are_not_trained_on(world, tmp_path):
    shot = copy_shot(world, tmp_path / "shot")
    with AlignmentsStore.open(shot) as store:
        hopper = [f for f in store.faces() if f.person_id == 2]
        deleted, dropped = hopper[0], hopper[1]
        mark_not_target(store, [FaceRef(int(dropped.id), dropped.revision)])  # review: not the target
    (shot / "faces" / deleted.image).unlink()
    s = run_json("faceset", "clean", shot)
    assert s["dropped"] == [deleted.id]
    with AlignmentsStore.open(shot) as store:
        assert NOT_TARGET in store.face(deleted.id, load_masks=False).flags
        assert store.face(deleted.id, load_masks=False).landmarks.shape == (68, 2), "the face stays"
    trained = load_faceset(shot, 128, person="hopper")
    assert sorted(trained.face_ids) == sorted(int(f.id) for f in hopper[2:])
    assert trained.skipped_not_target == 2
    model = tmp_path / "model"
    proc = facegraft(
        "train", "--src", world["shot"], "--src-person", "1", "--dst", shot, "--dst-person", "hopper",
        "--model", model, "--iterations", "2", "--save-every", "2", "--preview-every", "2",
        *TINY, "--progress", "json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    faces = summary(proc)["faces"]
    assert faces["src"]["person"] == {"id": 1, "label": "person1"} and faces["src"]["faces"] == N
    assert faces["dst"]["person"] == {"id": 2, "label": "hopper"}
    assert (faces["dst"]["faces"], faces["dst"]["skipped_not_target"]) == (N - 2, 2)
    saved = load_latest(model)
    assert json.loads(json.dumps(saved.state["faces"])) == faces, "the checkpoint records who it learned"


@pytest.mark.parametrize(
    "args, message",
    [
        (("--dst-person", "nobody"), "no person named 'nobody'"),
        (("--src-person", "7"), "no person 7 in this shot"),
    ],
)
def test_train_refuses_a_person_the_shot_lacks_in_one_line(world, tmp_path, args, message):
    proc = facegraft(
        "train", "--src", world["shot"], "--dst", world["shot"], "--model", tmp_path / "m",
        "--iterations", "1", *TINY, *args,
    )  # fmt: skip
    assert proc.returncode == 2 and message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
