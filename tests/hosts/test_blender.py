"""The Blender add-on in real Blender (Debian's package, headless): installed from its zip, run on an
image-sequence strip of the plate in the Video Sequencer; the add-on starts the engine service when none
runs, follows the job with its timer, and adds comp, swap and matte strips above the plate. A frame
rendered from the sequencer matches the comp pass; the passes match the CLI's pixel for pixel. On the
shared two-people plate the person chooser lists the shot's persons and Swap replaces only the one picked."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from facegraft.io.images import read_image
from facegraft.merge.options import MASK_MODES

REPO = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).parent / "blender_scripts" / "drive_swap.py"
sys.path.insert(0, str(REPO / "tests" / "e2e"))
sys.path.insert(0, str(REPO / "hosts" / "blender"))
from package import build_zip  # noqa: E402
from support import two_people as people  # noqa: E402
from test_convert import FIRST, N, convert, facegraft, make_job  # noqa: E402

from facegraft.store.alignments import AlignmentsStore  # noqa: E402

BLENDER = shutil.which("blender")
pytestmark = pytest.mark.blender


@pytest.fixture(scope="module")
def world(tmp_path_factory, photos):
    assert BLENDER, "Blender is needed for this test (`make test` installs Debian's blender package)"
    root = tmp_path_factory.mktemp("blender_root")
    world = make_job(root, photos)
    world["zip"] = build_zip(root / "dist" / "facegraft_blender.zip")
    world["home"] = tmp_path_factory.mktemp("blender_home")
    yield world
    from facegraft_client import Client

    client = Client(home=world["home"], start=False)
    if client.connected:
        client.shutdown()


def run_blender(world, name: str, **extra) -> dict:
    frames = [str(world["plate"]).replace("####", f"{f:04d}") for f in range(FIRST, FIRST + N)]
    config = {
        "addon_zip": str(world["zip"]),
        "frames": frames,
        "size": [480, 360],
        "model": str(world["model"]),
        "shot": str(world["shot"]),
        "output": str(world["root"] / name),
        "result": str(world["root"] / f"{name}.json"),
        **extra,
    }
    cfg = world["root"] / f"{name}.config.json"
    cfg.write_text(json.dumps(config))
    env = dict(
        os.environ,
        FACEGRAFT_HOME=str(world["home"]),
        FACEGRAFT_ENGINE_PYTHON=sys.executable,
        FACEGRAFT_ROOTS=str(world["root"]),
        BLENDER_USER_SCRIPTS=str(world["root"] / "blender_user"),
    )
    cmd = [
        BLENDER,
        "-b",
        "--factory-startup",
        "--python-exit-code",
        "1",
        "--python",
        str(DRIVER),
        "--",
        str(cfg),
    ]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return json.loads(Path(config["result"]).read_text())


def test_swap_adds_frame_aligned_pass_strips_whose_render_matches_the_comp(world, tmp_path):
    render = world["root"] / "render.exr"
    result = run_blender(world, "passes", render=str(render), render_frame=2)
    assert result["operator"] == ["FINISHED"] and result["status"].startswith("swap done"), result["status"]
    assert sorted(result["mask_choices"]) == sorted(MASK_MODES), "the panel's mask choices are convert's"
    assert result["mask_choices"][0] == "learned*landmark", "the engine's default first"
    assert result["mask_picked"] == ["occlusion*landmark", "label"]
    assert result["mask_unset"] == ["learned*landmark", "", False]
    strips = {s["name"]: s for s in result["strips"]}
    plate = strips["plate"]
    assert set(strips) == {"plate", "facegraft_comp", "facegraft_swap", "facegraft_matte"}
    for k, name in enumerate(("comp", "swap", "matte")):
        s = strips[f"facegraft_{name}"]
        assert s["type"] == "IMAGE" and s["channel"] == plate["channel"] + 1 + k
        assert (s["final_start"], s["final_end"]) == (plate["final_start"], plate["final_end"])
        assert [Path(f).name for f in s["files"]] == [
            f"plate.{name}.{f:04d}.exr" for f in range(FIRST, FIRST + N)
        ]
    assert strips["facegraft_swap"]["blend_type"] == "ALPHA_OVER"
    assert not strips["facegraft_comp"]["mute"]
    # The passes are the CLI's.
    cli = tmp_path / "cli"
    run = convert(world, cli, "--layout", "files")
    assert run.returncode == 0, run.stderr
    for name in ("comp", "swap", "matte", "facemask"):
        for f in range(FIRST, FIRST + N):
            file = f"plate.{name}.{f:04d}.exr"
            assert np.array_equal(read_image(world["root"] / "passes" / file), read_image(cli / file)), file
    # Frame 2 of the timeline, rendered by Blender's sequencer, is frame FIRST + 1 of the comp pass.
    rendered = read_image(render, channels=("R", "G", "B"))
    comp = read_image(cli / f"plate.comp.{FIRST + 1:04d}.exr", channels=("R", "G", "B"))
    assert rendered.shape == comp.shape
    error = np.abs(rendered - comp)
    assert float(np.percentile(error, 99.9)) < 2e-3 and float(error.mean()) < 2e-4, (
        error.mean(),
        error.max(),
    )


@pytest.fixture(scope="module")
def two_people(world, photos):
    """The shared two-people plate (person 1 unnamed on the left, 2 'hopper' on the right), extracted under
    the world's root (inside the service's roots), swapped with the world's tiny model."""
    return people.make_two_people_shot(world["root"] / "two_people", photos)


def pixels(path: Path) -> tuple[tuple[str, ...], np.ndarray]:
    """Every channel of an image file, by name, in the file's own type."""
    import OpenImageIO as oiio

    inp = oiio.ImageInput.open(str(path))
    assert inp is not None, oiio.geterror()
    names = tuple(inp.spec().channelnames)
    inp.close()
    return names, read_image(path, channels=names)


def test_the_person_chooser_offers_the_shot_s_persons_and_swap_replaces_only_the_chosen_one(
    world, two_people
):
    frames = range(people.FIRST, people.FIRST + people.N)
    plate, shot = two_people["plate"], two_people["shot"]
    result = run_blender(
        world,
        "persons",
        frames=[str(plate).replace("####", f"{f:04d}") for f in frames],
        size=[people.W, people.H],
        shot=str(shot),
        person="2",
    )
    with AlignmentsStore.open(shot) as store:
        stored = {str(p.id): p.label for p in store.persons()}
        boxes = {}  # frame -> person id -> (rows, cols): the face's landmark box grown by 8 px
        for face in store.faces():
            (x0, y0), (x1, y1) = face.landmarks.min(0) - 8, face.landmarks.max(0) + 8
            rows, cols = slice(max(int(y0), 0), int(np.ceil(y1))), slice(max(int(x0), 0), int(np.ceil(x1)))
            boxes.setdefault(face.frame, {})[face.person_id] = (rows, cols)
    assert stored == {"1": "person1", "2": "hopper"}
    # The chooser: every face only while no shot is named; then the shot's persons as the service lists them.
    assert result["person_items_no_shot"] == [["all", "All faces"]]
    items = result["person_items"]
    assert items[0][:2] == ["all", "All faces"] and result["person_default"] == "all"
    assert {i[0]: i[1] for i in items[1:]} == stored, "the chooser's persons are the store's, by id"
    assert all(str(i[3]) == i[0] and i[2].startswith(f"{people.N} faces") for i in items[1:]), items
    assert result["persons_operator"] == ["FINISHED"] and result["persons_status"] == "2 persons in the shot"
    assert result["unknown_person"].startswith("refused:"), "Blender takes only a person the chooser offers"
    assert result["person_picked"] == "2" and result["person_after_refresh"] == "2"
    assert result["person_args"] == {"person": "2"}, "the chosen person is sent by id"
    assert result["operator"] == ["FINISHED"] and result["status"].startswith("swap done"), result["status"]
    strips = {s["name"] for s in result["strips"]}
    assert strips == {"plate", "facegraft_comp", "facegraft_swap", "facegraft_matte"}
    # The passes are those of `facegraft convert --person 2`, every file and every channel.
    out, cli = world["root"] / "persons", world["root"] / "cli_person2"
    run = facegraft(
        "convert", plate, "--shot", shot, "--model", world["model"], "-o", cli, "--layout", "files",
        "--colour", "rct", "--person", "2",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    names = sorted(p.name for p in out.glob("*.exr"))
    assert names == sorted(p.name for p in cli.glob("*.exr"))
    assert f"plate.matte_hopper.{people.FIRST:04d}.exr" in names
    assert not any("matte_person1" in n for n in names), "no matte for the person not chosen"
    for name in names:
        got, want = pixels(out / name), pixels(cli / name)
        assert got[0] == want[0] and np.array_equal(got[1], want[1]), f"{name} differs from the CLI's"
    # Only hopper is swapped: the astronaut's face (and a margin) is the plate, bit for bit.
    for f in frames:
        source = read_image(plate.parent / f"plate.{f:04d}.exr")
        comp = read_image(out / f"plate.comp.{f:04d}.exr")
        matte = read_image(out / f"plate.matte.{f:04d}.exr")[..., 0]
        theirs, mine = boxes[f][1], boxes[f][2]
        assert matte[theirs].max() == 0, f"frame {f}: a matte reaches person1"
        assert np.array_equal(comp[theirs], source[theirs]), f"frame {f}: person1's face changed"
        assert np.array_equal(comp[matte == 0], source[matte == 0]), f"frame {f}: outside the matte changed"
        assert matte[mine].max() > 0.2, f"frame {f}: hopper is not swapped"  # an untrained model's mask
        assert not np.array_equal(comp[mine], source[mine])


def test_a_failed_job_shows_its_error_in_the_panel(world):
    empty = world["root"] / "no_model_here"
    empty.mkdir(exist_ok=True)
    result = run_blender(world, "failed", model=str(empty))
    assert result["operator"] == ["FINISHED"]
    assert result["status"].startswith("convert failed: facegraft: error:"), result["status"]
    assert [s["name"] for s in result["strips"]] == ["plate"]


def test_the_add_on_imports_neither_torch_numpy_nor_the_engine(world):
    code = (
        "import sys, json; sys.path[:0] = sys.argv[1:3]; import facegraft_blender; "
        "facegraft_blender._client_module(); "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-c",
            code,
            str(REPO / "hosts" / "blender"),
            str(REPO / "hosts" / "client"),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    loaded = set(json.loads(out.stdout))
    assert "facegraft_client" in loaded
    assert not {"torch", "numpy", "facegraft", "cv2", "bpy"} & loaded
