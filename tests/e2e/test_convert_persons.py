"""Two people in one plate, and the compositor replaces one of them (issue 24).

The shared two-people plate (tests/support/two_people.py: the astronaut left, Grace Hopper right, its two
tracks made two persons by hand, so these tests do not depend on the grouping): person 1, unnamed (label
``person1``), the astronaut; person 2, named ``hopper``. Every check
reads the files convert wrote back from disk and measures them against the plate's own decoded pixels.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import OpenImageIO as oiio
import pytest
from support.two_people import FIRST, N, make_two_people_shot, set_persons
from test_convert import _save_model, facegraft, summary  # the same tiny model and CLI runner

from facegraft.cli import main as cli_main
from facegraft.io.framespec import format_frame_spec
from facegraft.io.images import read_image
from facegraft.merge.passes import read_passes
from facegraft.store.alignments import NOT_TARGET, AlignmentsStore

FRAMES = range(FIRST, FIRST + N)


@pytest.fixture(scope="module")
def job(tmp_path_factory, photos):
    world = make_two_people_shot(tmp_path_factory.mktemp("convert_persons"), photos)
    _save_model(world["root"] / "A", seed=0)
    _save_model(world["root"] / "B", seed=1)
    return {**world, "A": world["root"] / "A", "B": world["root"] / "B"}


def run(job, out, *extra, shot=None):
    return facegraft(
        "convert", job["plate"], "--shot", shot or job["shot"], "-o", out, "--progress", "json", *extra
    )


def plate_pixels(job, frame: int) -> np.ndarray:
    """The plate frame as OpenImageIO decodes it (half floats), as float32."""
    return read_image(job["plate"].parent / f"plate.{frame:04d}.exr").astype(np.float32)


def face_boxes(job, frame: int, shot=None) -> dict[int, tuple[slice, slice]]:
    """Person id -> (rows, cols) of the face's stored landmark box grown by 8 px, on one frame."""
    with AlignmentsStore.open(shot or job["shot"]) as store:
        out = {}
        for f in store.faces(frame):
            x0, y0 = np.floor(f.landmarks.min(0)).astype(int) - 8
            x1, y1 = np.ceil(f.landmarks.max(0)).astype(int) + 8
            out[f.person_id] = (slice(max(y0, 0), y1), slice(max(x0, 0), x1))
        return out


def rgb(ch: dict, prefix: str = "") -> np.ndarray:
    return np.stack([ch[prefix + c] for c in "RGB"], -1)


@pytest.fixture(scope="module")
def person1(job):
    """`convert --person 1` with model A (identity QC on every other frame of the track)."""
    out = job["root"] / "person1"
    proc = run(job, out, "--model", job["A"], "--person", "1", "--identity-every", "2")
    assert proc.returncode == 0, proc.stderr
    return {"out": out, "summary": summary(proc), "stderr": proc.stderr}


@pytest.fixture(scope="module")
def both(job):
    """`convert --swap 1=A --swap hopper=B`: two persons, two models, one pass."""
    out = job["root"] / "both"
    proc = run(job, out, "--swap", f"1={job['A']}", "--swap", f"hopper={job['B']}")
    assert proc.returncode == 0, proc.stderr
    return {"out": out, "summary": summary(proc), "stderr": proc.stderr}


def test_person_1_is_swapped_and_every_pixel_outside_its_matte_is_the_plate(job, person1):
    s = person1["summary"]
    assert (s["frames_done"], s["faces"], s["faces_left"]) == (N, N, N)  # one face swapped a frame
    assert [p["id"] for p in s["persons"]] == [1] and s["persons"][0]["label"] == "person1"
    for frame in FRAMES:
        ch = read_passes(person1["out"] / f"plate.{frame:04d}.exr")
        assert "matte_person1.A" in ch and "matte_hopper.A" not in ch
        plate, comp, matte = plate_pixels(job, frame), rgb(ch), ch["matte.A"]
        outside = matte == 0
        assert np.array_equal(comp[outside], plate[outside]), f"{frame}: a pixel outside the matte changed"
        assert outside.mean() > 0.9
        assert np.array_equal(ch["matte_person1.A"], matte)  # one person: its layer is the whole matte
        boxes = face_boxes(job, frame)
        mine, theirs = boxes[1], boxes[2]
        assert matte[mine].max() > 0.25, f"{frame}: person 1 was not swapped"
        assert not np.array_equal(comp[mine], plate[mine])
        # Grace Hopper's face (and a margin round it) is the plate, bit for bit, and no matte reaches it.
        assert matte[theirs].max() == 0 and np.array_equal(comp[theirs], plate[theirs])


def test_two_persons_with_two_models_in_one_pass_each_matte_covers_its_person_only(job, person1, both):
    s = both["summary"]
    assert (s["faces"], s["faces_left"]) == (2 * N, 0)
    models = {p["label"]: p["model"] for p in s["persons"]}
    assert set(models) == {"person1", "hopper"} and models["person1"] != models["hopper"]
    one = job["root"] / "hopper_alone"  # hopper with model B alone, to compare with
    proc = run(job, one, "--model", job["B"], "--person", "hopper")
    assert proc.returncode == 0, proc.stderr
    for frame in FRAMES:
        ch = read_passes(both["out"] / f"plate.{frame:04d}.exr")
        mine, theirs = ch["matte_person1.A"], ch["matte_hopper.A"]
        boxes = face_boxes(job, frame)
        assert mine[boxes[1]].max() > 0.25 and theirs[boxes[2]].max() > 0.25
        assert mine[boxes[2]].max() == 0 and theirs[boxes[1]].max() == 0, "a person's matte on the other"
        assert not np.any((mine > 0) & (theirs > 0))
        matte = ch["matte.A"]
        assert np.array_equal(matte > 0, (mine > 0) | (theirs > 0))  # the combined matte is their union
        plate, comp = plate_pixels(job, frame), rgb(ch)
        assert np.array_equal(comp[matte == 0], plate[matte == 0])
        # Each person's swap is the one its own model gives alone: A for person 1, B for hopper.
        alone_a = read_passes(person1["out"] / f"plate.{frame:04d}.exr")
        alone_b = read_passes(one / f"plate.{frame:04d}.exr")
        assert np.array_equal(rgb(ch, "swap.")[boxes[1]], rgb(alone_a, "swap.")[boxes[1]])
        assert np.array_equal(rgb(ch, "swap.")[boxes[2]], rgb(alone_b, "swap.")[boxes[2]])
        assert not np.array_equal(rgb(alone_a, "swap.")[boxes[1]], rgb(alone_b, "swap.")[boxes[1]])


def test_multipart_and_files_layouts_carry_a_matte_per_person(job, both, tmp_path):
    ref = read_passes(both["out"] / f"plate.{FIRST:04d}.exr")
    swaps = ("--swap", f"1={job['A']}", "--swap", f"hopper={job['B']}", "--frames", str(FIRST))
    proc = run(job, tmp_path / "mp", *swaps, "--layout", "multipart")
    assert proc.returncode == 0, proc.stderr
    path = tmp_path / "mp" / f"plate.{FIRST:04d}.exr"
    inp = oiio.ImageInput.open(str(path))
    parts = []
    while inp.seek_subimage(len(parts), 0):
        parts.append(inp.spec().getattribute("name"))
    inp.close()
    assert parts == ["rgba", "swap", "matte", "facemask", "matte_person1", "matte_hopper"]
    got = read_passes(path)
    for layer in ("matte.A", "matte_person1.A", "matte_hopper.A"):
        assert np.array_equal(got[layer], ref[layer]), layer
    proc = run(job, tmp_path / "files", *swaps, "--layout", "files")
    assert proc.returncode == 0, proc.stderr
    for label in ("person1", "hopper"):
        pixels = read_image(tmp_path / "files" / f"plate.matte_{label}.{FIRST:04d}.exr")
        assert np.array_equal(pixels[..., 0].astype(np.float32), ref[f"matte_{label}.A"])


def test_a_face_marked_not_the_target_is_never_swapped(job, tmp_path):
    shot = tmp_path / "shot"
    shutil.copytree(job["shot"], shot)
    dropped = FIRST + 1
    with AlignmentsStore.open(shot) as store:
        (face,) = [f for f in store.faces(dropped) if f.person_id == 1]
        store.set_flag([face.id], NOT_TARGET)
    frames = ("--frames", f"{dropped}-{dropped + 1}")
    for extra in (("--person", "1"), ()):  # chosen by person, or every face swapped: never this one
        out = tmp_path / ("person1" if extra else "all")
        proc = run(job, out, "--model", job["A"], *extra, *frames, shot=shot)
        assert proc.returncode == 0, proc.stderr
        ch = read_passes(out / f"plate.{dropped:04d}.exr")
        box = face_boxes(job, dropped, shot)[1]
        plate = plate_pixels(job, dropped)
        assert ch["matte.A"][box].max() == 0 and np.array_equal(rgb(ch)[box], plate[box])
        other = read_passes(out / f"plate.{dropped + 1:04d}.exr")
        assert other["matte.A"][face_boxes(job, dropped + 1, shot)[1]].max() > 0.25  # its neighbours are
    assert (summary(proc)["faces"], summary(proc)["faces_left"]) == (3, 1)


def test_rerun_with_another_person_converts_again_and_the_same_one_skips(job, person1, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(person1["out"], out)  # frames converted with --person 1
    again = run(job, out, "--model", job["A"], "--person", "hopper")
    same = run(job, out, "--model", job["A"], "--person", "2")  # hopper by id: the same selection
    for proc in (again, same):
        assert proc.returncode == 0, proc.stderr
    assert person1["summary"]["config_hash"] != summary(again)["config_hash"]
    assert summary(again)["frames_skipped"] == 0 and summary(same)["frames_skipped"] == N
    ch = read_passes(out / f"plate.{FIRST:04d}.exr")
    assert "matte_hopper.A" in ch and "matte_person1.A" not in ch
    assert ch["matte.A"][face_boxes(job, FIRST)[1]].max() == 0


def test_identity_qc_records_each_frame_and_warns_where_a_track_switched_people(job, person1, tmp_path):
    qc = json.loads((person1["out"] / "plate.identity.json").read_text())
    assert qc["threshold"] == 0.6 and qc["every"] == 2
    assert sorted(map(int, qc["frames"])) == [FIRST, FIRST + 2]  # every other frame of the track checked
    assert all(r["person"] == 1 and r["distance"] < 0.6 for rows in qc["frames"].values() for r in rows)
    assert person1["summary"]["identity"]["switched"] == {} and "identity QC" not in person1["stderr"]
    # Person 1's track "switches" to Grace Hopper from frame 1003: her faces are given to person 1.
    shot = tmp_path / "shot"
    shutil.copytree(job["shot"], shot)
    set_persons(shot, lambda f, pid: (3 - pid) if f.frame >= FIRST + 2 else pid)
    proc = run(
        job, tmp_path / "out", "--model", job["A"], "--person", "1", "--identity-every", "1", shot=shot
    )
    assert proc.returncode == 0, proc.stderr
    warning = [line for line in proc.stderr.splitlines() if "identity QC" in line]
    switched = format_frame_spec([FIRST + 2, FIRST + 3])
    assert len(warning) == 1 and f"person1's face looks like someone else on frames {switched}" in warning[0]
    qc = json.loads((tmp_path / "out" / "plate.identity.json").read_text())
    dist = {int(f): rows[0]["distance"] for f, rows in qc["frames"].items()}
    assert dist[FIRST] < 0.6 and dist[FIRST + 1] < 0.6 and dist[FIRST + 2] > 0.6 and dist[FIRST + 3] > 0.6
    assert summary(proc)["identity"]["switched"] == {"person1": switched}


def test_every_face_is_swapped_without_a_choice_and_a_warning_says_so(job, tmp_path):
    proc = run(job, tmp_path / "all", "--model", job["A"], "--frames", str(FIRST), "--identity-every", "0")
    assert proc.returncode == 0, proc.stderr
    assert "the shot holds 2 persons (person1, hopper) and all of them are swapped" in proc.stderr
    ch = read_passes(tmp_path / "all" / f"plate.{FIRST:04d}.exr")
    assert not any(k.startswith("matte_") for k in ch)  # the passes as before persons existed
    boxes = face_boxes(job, FIRST)
    assert ch["matte.A"][boxes[1]].max() > 0.25 and ch["matte.A"][boxes[2]].max() > 0.25
    assert not (tmp_path / "all" / "plate.identity.json").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--model", "A", "--person", "7"), "no person 7 in this shot (persons: 1, 2 (hopper))"),
        (("--model", "A", "--person", "nobody"), "no person named 'nobody' and no such photo"),
        (("--model", "A", "--person", "1", "--swap", "person1=B"), "person 1 (person1) is given twice"),
        (("--swap", "hopper"), "--swap 'hopper' is not PERSON=MODELDIR"),
        (("--person", "1"), "--person swaps with --model"),
        (("--model", "A", "--swap", "1=B"), "say whom --model swaps with --person"),
    ],
)
def test_a_bad_person_choice_is_one_line_exit_2_and_writes_nothing(job, tmp_path, capsys, args, message):
    args = [str(job[a]) if a in ("A", "B") else a.replace("=B", f"={job['B']}") for a in args]
    code = cli_main(
        ["convert", str(job["plate"]), "--shot", str(job["shot"]), "-o", str(tmp_path / "out"), *args]
    )
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("facegraft: error:") and message in lines[0], lines
    assert not (tmp_path / "out").exists()


def test_an_ungrouped_shot_says_to_group_it_first(job, tmp_path, capsys):
    shot = tmp_path / "shot"
    shutil.copytree(job["shot"], shot)
    with AlignmentsStore.open(shot) as store:
        store.replace_persons([], {})
    out = tmp_path / "out"
    code = cli_main(
        [
            "convert",
            str(job["plate"]),
            "--shot",
            str(shot),
            "--model",
            str(job["A"]),
            "--person",
            "1",
            "-o",
            str(out),
        ]
    )
    assert code == 2
    assert "not grouped into persons (run facegraft alignments persons SHOTDIR)" in capsys.readouterr().err
