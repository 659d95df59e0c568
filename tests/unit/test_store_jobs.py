"""Tagged face PNGs and the alignments jobs: frame lists, removing deleted faces, restoring image names."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from facegraft.errors import InputError
from facegraft.store import jobs
from facegraft.store.alignments import AlignmentsStore, Face, FrameRecord
from facegraft.store.face_images import (
    encode_face_png,
    face_image_name,
    read_face_png,
    read_face_tags,
    write_face_image,
)
from facegraft.store.json_format import export_json


def _face_rgb(rng: np.random.Generator, size: int = 512) -> np.ndarray:
    """A smooth, face-like synthetic image (gradients + blur + mild noise), not incompressible noise."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    base = np.stack([(x * 0.4 + y * 0.1) % 256, (y * 0.3) % 256, (x * 0.2 + 80) % 256], -1)
    noisy = np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8)
    return cv2.GaussianBlur(noisy, (5, 5), 0)


def test_face_image_names_sort() -> None:
    assert face_image_name(12, 0) == "000012_0.png"
    assert face_image_name(-1, 2) == "-00001_2.png"
    assert face_image_name(1234567, 1) == "1234567_1.png"
    frames = [0, 5, 17, 1001, 99999]
    names = [face_image_name(f, 0) for f in frames]
    assert sorted(names) == names


def test_tags_and_pixels_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    rgb = _face_rgb(rng, 256)
    path = tmp_path / face_image_name(3, 1)
    tags = {
        "face_id": 42,
        "frame": 3,
        "index": 1,
        "plate": "/plates/é.mov",
        "face_type": "whole",
        "size": 256,
    }
    write_face_image(path, rgb, tags)
    assert os.listdir(tmp_path) == [path.name]
    assert read_face_tags(path) == {k: str(v) for k, v in tags.items()}
    np.testing.assert_array_equal(read_face_png(path), rgb)  # lossless, RGB order kept
    plain = tmp_path / "plain.png"
    cv2.imwrite(str(plain), rgb)
    assert read_face_tags(plain) == {}


def test_tags_readable_by_openimageio(tmp_path: Path) -> None:
    oiio = pytest.importorskip("OpenImageIO")
    path = tmp_path / "f.png"
    write_face_image(path, np.zeros((64, 64, 3), np.uint8), {"face_id": 7, "shot": "sq010_sh020"})
    inp = oiio.ImageInput.open(str(path))
    try:
        assert inp.spec().getattribute("facegraft/face_id") == "7"
        assert inp.spec().getattribute("facegraft/shot") == "sq010_sh020"
    finally:
        inp.close()


def test_unreadable_face_images(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"GIF89a not a png")
    with pytest.raises(InputError, match=r"bad\.png: not a PNG"):
        read_face_tags(bad)
    cut = tmp_path / "cut.png"
    cut.write_bytes(encode_face_png(np.zeros((32, 32, 3), np.uint8), {"face_id": 1})[:60])
    with pytest.raises(InputError, match=r"cut\.png: truncated"):
        read_face_tags(cut)
    with pytest.raises(InputError, match=r"gone\.png: cannot read"):
        read_face_tags(tmp_path / "gone.png")
    with pytest.raises(InputError):
        write_face_image(tmp_path / "x.png", np.zeros((8, 8), np.uint8), {})


def test_face_png_is_a_standard_png_that_keeps_every_pixel(tmp_path: Path) -> None:
    """Face PNGs are assembled by facegraft; OpenCV, OpenImageIO and Pillow must all read them back
    exactly (odd sizes and the byte wrap-around of the Up filter included), compressed well below raw."""
    rng = np.random.default_rng(2)
    face = _face_rgb(rng)
    rgb = face.copy()
    rgb[::7, ::5] = 255  # sharp edges: row differences that wrap past 0 and 255
    rgb[1::7, ::5] = 0
    png = encode_face_png(face, {"face_id": 1, "frame": 1, "index": 0})
    assert len(png) < face.nbytes * 0.8
    oiio = pytest.importorskip("OpenImageIO")
    pil = pytest.importorskip("PIL.Image")
    for i, img in enumerate((face, rgb, rgb[:37, :53], rgb[:1, :1])):
        path = tmp_path / f"{i}.png"
        write_face_image(path, np.ascontiguousarray(img), {"face_id": i})
        assert np.array_equal(read_face_png(path), img)
        assert np.array_equal(oiio.ImageBuf(str(path)).get_pixels(oiio.UINT8), img)
        with pil.open(path) as im:
            assert im.mode == "RGB" and np.array_equal(np.asarray(im), img)
        assert read_face_tags(path) == {"face_id": str(i)}


def _shot(tmp_path: Path, n_frames: int = 5) -> tuple[AlignmentsStore, Path]:
    """A store with one face per frame (frame 2 also has a second face) and a tagged PNG for each."""
    rng = np.random.default_rng(5)
    store = AlignmentsStore.open(tmp_path / "shot", create=True)
    faces_dir = store.shot_dir / "faces"
    faces_dir.mkdir()
    for frame in range(n_frames):
        n = 2 if frame == 2 else 1
        faces = [
            Face(frame, i, (0, 0, 9, 9), 0.9, (rng.random((68, 2)) * 100).astype(np.float32), size=64)
            for i in range(n)
        ]
        store.write_frame(FrameRecord(frame=frame, faces=faces))
    store.write_frame(FrameRecord(frame=n_frames))  # a frame with no face
    for face in store.faces():
        name = face_image_name(face.frame, face.index)
        rgb = np.full((64, 64, 3), face.id, np.uint8)
        write_face_image(
            faces_dir / name, rgb, {"face_id": face.id, "frame": face.frame, "index": face.index}
        )
        store.set_face_image(face.id, name)
    return store, faces_dir


def test_frame_lists(tmp_path: Path) -> None:
    store, _ = _shot(tmp_path)
    with store:
        assert jobs.frames_without_faces(store) == [5]
        assert jobs.frames_with_several_faces(store) == [2]
        store.remove_faces([store.faces(0)[0].id])
        assert jobs.frames_without_faces(store) == [0, 5]


def test_remove_deleted_faces(tmp_path: Path) -> None:
    store, faces_dir = _shot(tmp_path)
    with store:
        extra = store.write_frame(
            FrameRecord(frame=9, faces=[Face(9, 0, (0, 0, 1, 1), 1.0, np.zeros((68, 2)))])
        )
        before = tmp_path / "before.json"
        export_json(store, before)
        assert jobs.remove_deleted_faces(store) == []
        victims = [store.faces(1)[0], store.faces(2)[1]]
        for face in victims:
            (faces_dir / face.image).unlink()
        removed = jobs.remove_deleted_faces(store)
        assert sorted(removed) == sorted(f.id for f in victims)
        assert len(store.faces()) == 6 - 2 + 1 and store.face(extra[0]) is not None  # no image: kept
        assert store.frames_done() == set(range(6)) | {9}
        after = tmp_path / "after.json"
        export_json(store, after)
        want = json.loads(before.read_text())
        for frame in want["frames"]:
            frame["faces"] = [f for f in frame["faces"] if f["id"] not in removed]
        assert json.loads(after.read_text()) == want
        with pytest.raises(InputError, match="faces folder not found"):
            jobs.remove_deleted_faces(store, tmp_path / "nowhere")


def test_rename_restores_shuffled_names(tmp_path: Path) -> None:
    store, faces_dir = _shot(tmp_path)
    with store:
        names = {f.id: f.image for f in store.faces()}
        a, b, c, d, e, f = (faces_dir / names[i] for i in sorted(names))
        # A swap, a three-way rotation, and one renamed to something arbitrary.
        a.rename(faces_dir / "tmp")
        b.rename(a)
        (faces_dir / "tmp").rename(b)
        c.rename(faces_dir / "tmp")
        d.rename(c)
        e.rename(d)
        (faces_dir / "tmp").rename(e)
        f.rename(faces_dir / "renamed by hand.png")
        cv2.imwrite(str(faces_dir / "stray.png"), np.zeros((4, 4, 3), np.uint8))
        write_face_image(faces_dir / "ghost.png", np.zeros((4, 4, 3), np.uint8), {"face_id": 999})
        result = jobs.rename_face_images(store)
        assert len(result.moved) == 6
        assert sorted((p.name, why) for p, why in result.orphans) == [
            ("ghost.png", "face id 999 is not in this store"),
            ("stray.png", "no face id in its tags"),
        ]
        for face_id, name in names.items():
            assert read_face_tags(faces_dir / name)["face_id"] == str(face_id)
            assert read_face_png(faces_dir / name)[0, 0, 0] == face_id
        assert sorted(os.listdir(faces_dir)) == sorted([*names.values(), "ghost.png", "stray.png"])
        assert result.updated == []  # the store already had these names
        assert jobs.rename_face_images(store).moved == []  # idempotent


def test_rename_records_new_names_and_respects_blockers(tmp_path: Path) -> None:
    store, faces_dir = _shot(tmp_path, n_frames=2)
    with store:
        one, two = store.faces()
        store.set_face_image(one.id, None)
        store.set_face_image(two.id, "old-name.png")
        (faces_dir / face_image_name(two.frame, two.index)).rename(faces_dir / "moved.png")
        # An untagged file sits on face one's name, so face one's file cannot go there.
        (faces_dir / face_image_name(one.frame, one.index)).rename(faces_dir / "elsewhere.png")
        cv2.imwrite(str(faces_dir / face_image_name(one.frame, one.index)), np.zeros((4, 4, 3), np.uint8))
        result = jobs.rename_face_images(store)
        assert result.moved == [(faces_dir / "moved.png", faces_dir / face_image_name(two.frame, two.index))]
        assert (
            faces_dir / "elsewhere.png",
            f"its store name {face_image_name(one.frame, one.index)} is held by a file that stays",
        ) in result.orphans
        assert store.face(two.id).image == face_image_name(two.frame, two.index)
        assert store.face(one.id).image == "elsewhere.png"  # recorded where the file really is
        assert sorted(result.updated) == sorted([one.id, two.id])


def test_write_into_missing_folder_names_it(tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "f.png"
    with pytest.raises(InputError, match=r"f\.png: cannot write the face image"):
        write_face_image(target, np.zeros((4, 4, 3), np.uint8), {"face_id": 1})


def test_one_reconcile_plan_keeps_the_file_at_its_store_name_and_follows_chains_of_blocked_names():
    from facegraft.store.reconcile import ImageFile, plan

    folder = Path("/shot/faces")
    faces = {
        i: Face(frame=i, index=0, box=(0, 0, 1, 1), score=1.0, landmarks=np.zeros((68, 2), np.float32))
        for i in (1, 2, 3)
    }
    name = {i: face_image_name(f.frame, f.index) for i, f in faces.items()}
    files = [
        ImageFile(folder / "sorted" / "00001-a.png", 1),  # a second file of face 1...
        ImageFile(folder / name[1], 1),  # ...which is already at its store name: this one keeps it
        ImageFile(folder / name[3], None),  # untagged, sitting on face 3's name: it stays...
        ImageFile(folder / "x.png", 3),  # ...so face 3's file stays too
        ImageFile(folder / name[3].replace(".png", "b.png"), 2),  # face 2 is free to move
    ]
    out = plan(folder, files, faces)
    assert out.moved == [(folder / name[3].replace(".png", "b.png"), folder / name[2])]
    assert out.names == {1: name[1], 3: "x.png", 2: name[2]}
    assert {p.name: why.split(" ")[0] for p, why in out.orphans} == {
        "00001-a.png": "another",
        name[3]: "no",
        "x.png": "its",
    }
