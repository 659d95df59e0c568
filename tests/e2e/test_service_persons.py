"""Persons through the engine service (issue 24), as a host meets them: a shot with two people lists its
two persons (`GET /v1/persons`, the client's `persons`); a job that names a person the shot does not hold
is refused with 400 and a one-line reason before it is queued; a convert job for one person swaps that
person alone and leaves the other's pixels the plate's; `/v1/frame` takes the same choice."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from facegraft.io.images import read_image

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "hosts" / "client"))
from test_convert import _save_model  # noqa: E402

from facegraft_client import Client, ServiceError  # noqa: E402

TWO_SHOT = (1100, 640)  # width, height
FRAMES = 3
PASS_CHANNELS = ("R", "G", "B", "A", "swap.R", "swap.G", "swap.B", "swap.A", "matte.A", "facemask.A")


def two_shot(photos, shift: int = 0) -> np.ndarray:
    """The astronaut on the left, Grace Hopper on the right, on a mid-grey canvas (uint8 sRGB)."""
    w, h = TWO_SHOT
    canvas = np.full((h, w, 3), 118, np.uint8)
    left, right = photos["astronaut"], photos["grace_hopper"]
    canvas[64 : 64 + left.shape[0], 20 + shift : 20 + shift + left.shape[1]] = left
    canvas[20 : 20 + right.shape[0], 568 - shift : 568 - shift + right.shape[1]] = right
    return canvas


def make_two_person_job(root: Path, photos, frames: int = FRAMES) -> dict:
    """A PNG plate (frames 1..n) of two people side by side, extracted, its faces set as two persons
    (1 'astro' on the left, 2 unnamed on the right, each with its faces' mean descriptor), a small
    untrained model, and a reference photo of the person on the right."""
    import cv2

    from facegraft.extract.pipeline import ExtractOptions
    from facegraft.persons.shot import extract_shot
    from facegraft.sample_plates import write_png_sequence
    from facegraft.store.alignments import AlignmentsStore, Person

    root.mkdir(parents=True, exist_ok=True)
    write_png_sequence([two_shot(photos, 3 * i) for i in range(frames)], root / "plate" / "plate.%04d.png", 1)
    plate = root / "plate" / "plate.####.png"
    shot = root / "shot"
    extract_shot(plate, shot, ExtractOptions(min_size=80, size=128), progress_mode="quiet")
    with AlignmentsStore.open(shot) as store:
        faces = store.faces()
        assert len(faces) == 2 * frames, f"expected two faces a frame, found {len(faces)}"
        centre = TWO_SHOT[0] / 2
        sides = {f.id: 1 if float(f.landmarks[:, 0].mean()) < centre else 2 for f in faces}
        persons = []
        for pid, name in ((1, "astro"), (2, "")):
            embs = [f.embedding for f in faces if sides[f.id] == pid and f.embedding is not None]
            persons.append(Person(pid, name, np.mean(embs, axis=0).astype(np.float32) if embs else None))
        store.replace_persons(persons, sides)
    _save_model(root / "model")
    photo = root / "refs" / "hopper.png"
    photo.parent.mkdir()
    cv2.imwrite(str(photo), cv2.cvtColor(photos["grace_hopper"], cv2.COLOR_RGB2BGR))
    return {"root": root, "plate": plate, "shot": shot, "model": root / "model", "photo": photo}


@pytest.fixture(scope="module")
def world(tmp_path_factory, photos, start_engine):
    world = make_two_person_job(tmp_path_factory.mktemp("persons_root"), photos)
    home = tmp_path_factory.mktemp("persons_home")
    proc = start_engine(home, world["root"])
    client = Client(home=home, start=False)
    yield {**world, "home": home, "client": client}
    client.shutdown()
    proc.wait(timeout=30)


def frame_file(world, f: int) -> Path:
    return Path(str(world["plate"]).replace("####", f"{f:04d}"))


def side_mask(shape, side: int) -> np.ndarray:
    """The half of the frame a person stands in (1: left, 2: right)."""
    mask = np.zeros(shape[:2], bool)
    half = TWO_SHOT[0] // 2
    if side == 1:
        mask[:, :half] = True
    else:
        mask[:, half:] = True
    return mask


def test_the_persons_route_lists_the_shot_s_persons(world):
    client = world["client"]
    people = client.persons(str(world["shot"]))
    assert [(p["id"], p["label"], p["name"]) for p in people] in (
        [(1, "astro", "astro"), (2, "person2", "")],
        [(2, "person2", ""), (1, "astro", "astro")],
    ), people
    for p in people:
        assert p["faces"] == FRAMES and p["ranges"] == [[1, FRAMES]] and len(p["tracks"]) >= 1
    status, data, _ = client.request("GET", f"/v1/persons?shot={world['shot']}")
    body = json.loads(data)
    assert status == 200 and body["grouped"] is True and body["shot"] == str(world["shot"].resolve())
    # A relative path is taken from the first root, like a job's paths.
    assert [p["id"] for p in client.persons("shot")] == [p["id"] for p in people]


def test_the_persons_route_refuses_like_the_other_routes(world):
    client = world["client"]
    for shot, status, words in (
        ("/etc", 403, "outside the folders"),
        (str(world["root"] / ".." / ".."), 403, "outside the folders"),
        (str(world["root"] / "plate"), 404, "no alignments store"),
        (str(world["root"] / "nowhere"), 404, "no alignments store"),
    ):
        with pytest.raises(ServiceError) as info:
            client.persons(shot)
        assert info.value.status == status and words in str(info.value), (shot, str(info.value))
    status, data, _ = client.request("GET", "/v1/persons")
    assert status == 400 and "shot" in json.loads(data)["error"]
    (world["root"] / "bad").mkdir(exist_ok=True)
    (world["root"] / "bad" / "alignments.db").write_bytes(b"not a database at all" * 100)
    with pytest.raises(ServiceError) as info:
        client.persons(str(world["root"] / "bad"))
    assert info.value.status == 400 and "\n" not in str(info.value)


def test_a_job_naming_an_unknown_person_is_refused_before_it_is_queued(world):
    client = world["client"]
    base = {"plate": str(world["plate"]), "shot": str(world["shot"]), "out_dir": str(world["root"] / "never")}
    before = len(client.jobs())
    for extra, words in (
        ({"model": str(world["model"]), "person": "9"}, "no person 9"),
        ({"model": str(world["model"]), "person": "nobody"}, "no person named 'nobody'"),
        ({"model": str(world["model"]), "person": ["astro", "7"]}, "no person 7"),
        ({"swap": f"5={world['model']}"}, "no person 5"),
        ({"swap": [f"astro={world['model']}", f"nobody={world['model']}"]}, "'nobody'"),
        ({"person": "astro"}, "--model"),  # convert's own rule: --person swaps with --model
        ({"swap": [f"1={world['model']}", f"astro={world['model']}"]}, "given twice"),
    ):
        with pytest.raises(ServiceError) as info:
            client.submit("convert", **base, **extra)
        message = str(info.value)
        assert info.value.status == 400 and words in message and "\n" not in message, (extra, message)
    for extra in (
        {"model": str(world["model"]), "person": "/etc/passwd.png"},  # a photo outside the roots
        {"swap": "astro=/etc"},  # a model outside the roots
    ):
        with pytest.raises(ServiceError) as info:
            client.submit("convert", **base, **extra)
        assert info.value.status == 403 and "outside the folders" in str(info.value), str(info.value)
    with pytest.raises(ServiceError) as info:
        client.submit("convert", **base, model=str(world["model"]), person={"id": 1})
    assert info.value.status == 422
    assert len(client.jobs()) == before, "nothing was queued"


def test_a_job_takes_a_person_by_id_name_or_photo_and_lists_of_them(world):
    client = world["client"]
    base = {"plate": str(world["plate"]), "shot": str(world["shot"]), "model": str(world["model"])}
    photo_job = client.submit("convert", **base, out_dir=str(world["root"] / "o1"), person="refs/hopper.png")
    assert photo_job["args"]["person"] == str(world["photo"].resolve()), "the photo's path resolved"
    assert photo_job["argv"][-2:] == ["--person", str(world["photo"].resolve())]
    listed = client.submit(
        "convert", plate=base["plate"], shot=base["shot"], out_dir=str(world["root"] / "o2"),
        swap=[f"astro={world['model']}", f"2={world['model']}"],
    )  # fmt: skip
    assert listed["argv"].count("--swap") == 2
    for job in (photo_job, listed):
        client.cancel(job["id"])
        client.wait(job["id"], timeout=120)
    opts = {o["name"]: o for o in client.options("convert")}
    assert (
        opts["person"]["repeatable"] and opts["swap"]["repeatable"] and opts["person"]["flag"] == "--person"
    )


@pytest.fixture(scope="module")
def astro_passes(world):
    client = world["client"]
    out = world["root"] / "astro_passes"
    job = client.submit(
        "convert", plate=str(world["plate"]), shot=str(world["shot"]), model=str(world["model"]),
        out_dir=str(out), person="astro",
    )  # fmt: skip
    done = client.wait(job["id"], timeout=600)
    assert done["state"] == "done", done
    return out, done


def test_a_convert_job_for_one_person_swaps_that_person_alone(world, astro_passes):
    out, done = astro_passes
    result = done["result"]
    assert [p["label"] for p in result["persons"]] == ["astro"]
    assert result["frames_done"] == FRAMES and result["faces"] == FRAMES and result["faces_left"] == FRAMES
    for f in range(1, FRAMES + 1):
        passes = read_image(out / f"plate.{f:04d}.exr", channels=PASS_CHANNELS)
        matte = passes[..., 8]
        assert matte[side_mask(matte.shape, 1)].max() > 0.2, "the astronaut is swapped"
        assert matte[side_mask(matte.shape, 2)].max() == 0, "Grace Hopper is not"


def test_a_frame_call_swaps_only_the_chosen_person(world, astro_passes):
    client = world["client"]
    out, _ = astro_passes
    frame = 2
    rgb = read_image(frame_file(world, frame), channels=("R", "G", "B")) / 255.0  # the PNG's code values
    h, w = rgb.shape[:2]
    rgba = np.ascontiguousarray(np.dstack([rgb, np.ones((h, w), np.float32)]), np.float32)
    opts = {"model": str(world["model"]), "shot": str(world["shot"]), "person": "astro"}
    got, info = client.frame(rgba, w, h, opts, frame=frame)
    got = np.asarray(got).reshape(h, w, 4)
    assert info["faces"] == 1 and [p["label"] for p in info["persons"]] == ["astro"]
    want = read_image(out / f"plate.{frame:04d}.exr", channels=("R", "G", "B")).astype(np.float32)
    assert np.allclose(got[..., :3], want, rtol=1e-3, atol=1e-3), np.abs(got[..., :3] - want).max()
    right = side_mask(got.shape, 2)
    assert np.array_equal(got[..., :3][right], rgba[..., :3][right]), "the other person keeps the plate"
    # The same choice by a list and by swap; every face without a choice.
    _, listed = client.frame(rgba, w, h, {**opts, "person": ["1"]}, frame=frame)
    _, swapped = client.frame(
        rgba, w, h, {"shot": opts["shot"], "swap": [f"2={world['model']}"]}, frame=frame
    )
    _, every = client.frame(rgba, w, h, {k: v for k, v in opts.items() if k != "person"}, frame=frame)
    assert listed["faces"] == 1 and listed["facegraft/config"] == info["facegraft/config"]
    assert swapped["faces"] == 1 and [p["id"] for p in swapped["persons"]] == [2]
    assert every["faces"] == 2 and every["persons"] == []
    # An unknown person, a person without the shot, a model outside the roots: 400, one line.
    for bad, words in (
        ({**opts, "person": "9"}, "no person 9"),
        ({"model": opts["model"], "person": "astro"}, "options.shot"),
        ({"shot": opts["shot"], "swap": "astro=/etc"}, "outside"),
        ({**opts, "person": {"id": 1}}, "options.person"),
    ):
        with pytest.raises(ServiceError) as exc:
            client.frame(rgba, w, h, bad, frame=frame)
        assert exc.value.status == 400 and words in str(exc.value), (bad, str(exc.value))
