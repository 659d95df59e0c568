"""The Nuke adapter, run against a hand-written fake of Nuke's Python API (no licence here): a compositor
selects the plate's Read, opens the panel and presses Swap; the engine service (started by the panel when
none runs) does the work, and the comp of the passes appears beside the plate. The `.nk` the farm path
writes is parsed with nkparser."""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from facegraft.io.images import read_image
from facegraft.merge.options import COLOUR_MODES, MASK_MODES

REPO = Path(__file__).resolve().parents[2]
FAKE = Path(__file__).parent / "fake_nuke"
NUKE_DIR = REPO / "hosts" / "nuke"
sys.path.insert(0, str(REPO / "tests" / "e2e"))
from support.two_people import make_two_people_shot  # noqa: E402
from test_convert import FIRST, N, _save_model, convert, facegraft, make_job  # noqa: E402

from facegraft.store.alignments import AlignmentsStore  # noqa: E402

PASS_CHANNELS = ("R", "G", "B", "A", "swap.R", "swap.G", "swap.B", "swap.A", "matte.A", "facemask.A")
FORBIDDEN = {"torch", "numpy", "facegraft", "cv2", "OpenImageIO", "fastapi"}


@pytest.fixture(scope="module")
def world(tmp_path_factory, photos):
    return make_job(tmp_path_factory.mktemp("nuke_root"), photos)


@pytest.fixture
def nuke(world, tmp_path, monkeypatch):
    """Nuke started with the adapter installed: init.py then menu.py, as Nuke runs them."""
    monkeypatch.syspath_prepend(str(FAKE))
    for name in [m for m in sys.modules if m.split(".")[0] in ("nuke", "nukescripts", "facegraft_nuke")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setenv("FACEGRAFT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FACEGRAFT_ENGINE_PYTHON", sys.executable)
    monkeypatch.setenv("FACEGRAFT_ROOTS", str(world["root"]))
    import nuke as fake

    fake.reset()
    runpy.run_path(str(NUKE_DIR / "init.py"))
    runpy.run_path(str(NUKE_DIR / "menu.py"))
    yield fake
    from facegraft_client import Client, ServiceError

    try:
        client = Client(home=tmp_path / "home", start=False)
        if client.connected:
            client.shutdown()
    except ServiceError:
        pass


def plate_read(nuke, world):
    read = nuke.nodes.Read(file=str(world["plate"]).replace("####", "%04d"), first=FIRST, last=FIRST + N - 1)
    read.setXYpos(200, -100)
    nuke.select(read)
    return read


def press_and_wait(nuke, panel, button: str, timeout: float = 300) -> None:
    panel.press(button)
    panel.thread.join(timeout)
    assert not panel.thread.is_alive(), "the job did not finish"
    nuke.process_main_thread()


def test_the_adapter_imports_neither_torch_numpy_nor_the_engine():
    code = (
        "import sys, runpy, json; sys.path[:0] = sys.argv[1:3]; "
        "runpy.run_path(sys.argv[3] + '/init.py'); runpy.run_path(sys.argv[3] + '/menu.py'); "
        "import facegraft_nuke.panel, facegraft_nuke.nkscript; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code, str(FAKE), str(NUKE_DIR), str(NUKE_DIR)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    loaded = set(json.loads(out.stdout))
    assert {"facegraft_nuke", "facegraft_client"} <= loaded
    assert not FORBIDDEN & loaded, FORBIDDEN & loaded


def test_the_menu_opens_the_panel_on_the_selected_read(nuke, world):
    command = nuke.menus["Nuke"].items["facegraft"].items["Swap panel..."]
    assert command() is None and nuke.messages == ["facegraft: select the plate's Read node first"]
    read = plate_read(nuke, world)
    panel = command()
    assert panel.shown and panel.plate.value() == read["file"].value()
    assert panel.frames.value() == f"{FIRST}-{FIRST + N - 1}"
    assert "mkl" in panel.colour.values, "choices come from the service's option declarations"
    assert panel.mask.values == list(MASK_MODES) and panel.colour.values == list(COLOUR_MODES)
    assert {"occlusion", "occlusion*learned", "occlusion*landmark"} <= set(panel.mask.values)
    assert panel.mask.value() == "learned*landmark" and panel.occlusion_mask.value() == "occlusion"
    panel.mask.setValue("occlusion*landmark")
    panel.occlusion_mask.setValue("label")
    kind, args = panel.jobs_for("swap")[-1]
    assert kind == "convert" and (args["mask"], args["occlusion_mask"]) == ("occlusion*landmark", "label")


def test_swap_brings_back_the_cli_passes_as_a_comp_beside_the_plate(nuke, world, tmp_path):
    read = plate_read(nuke, world)
    panel = nuke.menus["Nuke"].items["facegraft"].items["Swap panel..."]()
    panel.shot.setValue(str(world["shot"]))
    panel.model.setValue(str(world["model"]))
    panel.output.setValue(str(world["root"] / "nuke_passes"))
    panel.colour.setValue("lct")
    panel.erode.setValue(2.0)
    press_and_wait(nuke, panel, "swap")
    assert panel.status.value().startswith("swap done"), panel.status.value()
    nodes = {n.name(): n for n in nuke.allNodes()}
    passes, comp = nodes["facegraft_passes"], nodes["facegraft_comp"]
    assert passes.Class() == "Read" and passes["raw"].value() is True
    assert passes["file"].value() == str(world["root"] / "nuke_passes" / "plate.%04d.exr")
    assert (passes["first"].value(), passes["last"].value()) == (FIRST, FIRST + N - 1)
    for layer in ("swap", "matte", "facemask"):
        shuffle = nodes[f"facegraft_{layer}"]
        assert shuffle.Class() == "Shuffle" and shuffle["in"].value() == layer and shuffle.input(0) is passes
    assert comp.Class() == "Merge2" and comp["operation"].value() == "over"
    assert comp.input(0) is read and comp.input(1) is nodes["facegraft_swap"], "B is the plate, A the swap"
    xs = [n.xpos() for n in (passes, comp)]
    assert all(abs(x - read.xpos()) <= 600 for x in xs) and comp.ypos() > read.ypos(), "laid out beside"
    # The passes the Read loads are the CLI's, pixel for pixel.
    cli = tmp_path / "cli"
    run = convert(world, cli, "--colour", "lct", "--erode", "2")
    assert run.returncode == 0, run.stderr
    for f in range(FIRST, FIRST + N):
        a = read_image(passes["file"].value() % f, channels=PASS_CHANNELS)
        b = read_image(cli / f"plate.{f:04d}.exr", channels=PASS_CHANNELS)
        assert np.array_equal(a, b), f"frame {f} differs from the CLI's"


def test_a_failed_job_shows_its_error_in_the_panel_not_a_traceback(nuke, world):
    plate_read(nuke, world)
    panel = nuke.menus["Nuke"].items["facegraft"].items["Swap panel..."]()
    empty = world["root"] / "not_a_model"
    empty.mkdir(exist_ok=True)
    panel.shot.setValue(str(world["shot"]))
    panel.model.setValue(str(empty))
    panel.output.setValue(str(world["root"] / "never"))
    press_and_wait(nuke, panel, "swap")
    status = panel.status.value()
    assert status.startswith("convert failed: facegraft: error:") and "not_a_model" in status, status
    assert len(nuke.messages) == 1 and "Traceback" not in nuke.messages[0]
    assert not any(n.name().startswith("facegraft_") for n in nuke.allNodes())


def test_the_farm_script_is_the_same_comp_in_nk_form(world, tmp_path):
    import nkparser

    out = world["root"] / "nk_passes"
    run = convert(world, out)
    assert run.returncode == 0, run.stderr
    nk = tmp_path / "comp.nk"
    run = subprocess.run(
        [sys.executable, "-m", "facegraft_nuke.farm_script", "--plate", str(world["plate"]),
         "--passes", str(out), "-o", str(nk)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    script = nkparser.Script.from_file(str(nk))
    assert not script.has_errors, script.errors()
    nodes = {n.name: n for n in script.all_nodes()}
    classes = sorted(n.class_name for n in nodes.values())
    assert classes == ["Merge2", "Read", "Read", "Shuffle", "Shuffle", "Shuffle"], classes

    def knob(node, name):
        return node.get_string(name)

    assert knob(nodes["facegraft_passes"], "file") == str(out / "plate.%04d.exr")
    assert knob(nodes["plate"], "file") == str(world["plate"]).replace("####", "%04d")
    assert knob(nodes["facegraft_passes"], "first") == str(FIRST)
    for layer in ("swap", "matte", "facemask"):
        shuffle = nodes[f"facegraft_{layer}"]
        assert knob(shuffle, "in") == layer
        assert [i.name for i in shuffle.inputs if i is not None] == ["facegraft_passes"]
    merge = nodes["facegraft_comp"]
    assert knob(merge, "operation") == "over"
    # Nuke takes input 0 from the top of the stack: the plate is pushed last, so it is B.
    assert {i.name for i in merge.inputs if i is not None} == {"plate", "facegraft_swap"}
    text = nk.read_text().splitlines()
    at = text.index("Merge2 {")
    assert text[at - 2 : at] == ["push $N2", "push $N0"], text[at - 3 : at]


@pytest.fixture(scope="module")
def two_people(tmp_path_factory, photos):
    """The shared two-people plate (person 1 unnamed on the left, 2 'hopper' on the right) and a model."""
    world = make_two_people_shot(tmp_path_factory.mktemp("nuke_persons"), photos)
    _save_model(world["root"] / "model")
    return {**world, "model": world["root"] / "model"}


def test_the_person_chooser_lists_the_shot_s_persons_and_swap_replaces_only_the_chosen_one(
    nuke, two_people, monkeypatch
):
    monkeypatch.setenv("FACEGRAFT_ROOTS", str(two_people["root"]))
    read = nuke.nodes.Read(file=str(two_people["plate"]).replace("####", "%04d"), first=FIRST, last=FIRST + 3)
    nuke.select(read)
    panel = nuke.menus["Nuke"].items["facegraft"].items["Swap panel..."]()
    assert panel.person.values == ["all faces"], "no shot yet: only every face"
    panel.edit("shot", str(two_people["shot"]))
    assert sorted(panel.person.values) == sorted(["all faces", "hopper (4 faces)", "person1 (4 faces)"])
    assert panel.status.value() == "2 persons in the shot"
    panel.person.setValue("hopper (4 faces)")
    panel.model.setValue(str(two_people["model"]))
    out = two_people["root"] / "nuke_hopper"
    panel.output.setValue(str(out))
    assert panel.jobs_for("swap")[-1][1]["person"] == "2", "the chosen person is sent by id"
    panel.press("persons")  # a refresh keeps the choice while the person is still there
    assert panel.person.value() == "hopper (4 faces)"
    press_and_wait(nuke, panel, "swap")
    assert panel.status.value().startswith("swap done"), panel.status.value()
    cli = two_people["root"] / "cli_hopper"
    run = facegraft(
        "convert", two_people["plate"], "--shot", two_people["shot"], "--model", two_people["model"],
        "-o", cli, "--person", "hopper",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    with AlignmentsStore.open(two_people["shot"]) as store:
        boxes = {f.frame: {g.person_id: g.box for g in store.faces(f.frame)} for f in store.faces()}
    for f in range(FIRST, FIRST + 4):
        passes = read_image(out / f"plate.{f:04d}.exr", channels=PASS_CHANNELS)
        assert np.array_equal(passes, read_image(cli / f"plate.{f:04d}.exr", channels=PASS_CHANNELS))
        matte = passes[..., PASS_CHANNELS.index("matte.A")]
        x0, y0, x1, y1 = (int(v) for v in boxes[f][1])
        assert matte[y0:y1, x0:x1].max() == 0, f"frame {f}: person1 is left as the plate"
        x0, y0, x1, y1 = (int(v) for v in boxes[f][2])
        assert matte[y0:y1, x0:x1].max() > 0.2, f"frame {f}: hopper is swapped"  # an untrained mask


def test_the_plate_read_s_colourspace_goes_to_the_engine_and_the_comp_reads_the_passes_in_it(
    nuke, world, tmp_path
):
    import nkparser

    from facegraft_nuke.comp import comp_spec, engine_colourspace

    read = plate_read(nuke, world)
    read["colorspace"].setValue("default (linear)")
    panel = nuke.menus["Nuke"].items["facegraft"].items["Swap panel..."]()
    kinds = {kind: args for kind, args in panel.jobs_for("swap")}
    assert kinds["convert"]["colourspace"] == "linear", "the Read's colourspace is sent with the job"
    assert panel.jobs_for("extract")[0][1]["colourspace"] == "linear"
    assert engine_colourspace("sRGB") == "sRGB" and engine_colourspace("") is None
    # Each plate kind: the passes' Read takes the plate Read's colourspace (not raw).
    for plate_space in ("linear", "ACEScg", "sRGB", "AlexaV3LogC", "rec709"):
        passes = comp_spec("out/plate.####.exr", FIRST, FIRST + 1, "plate", colourspace=plate_space)[0]
        assert passes.knobs["colorspace"] == plate_space and passes.knobs["raw"] is False
    # The farm's .nk: both Reads name the plate's colourspace.
    out = world["root"] / "nk_colour_passes"
    assert convert(world, out).returncode == 0
    nk = tmp_path / "comp.nk"
    run = subprocess.run(
        [sys.executable, "-m", "facegraft_nuke.farm_script", "--plate", str(world["plate"]),
         "--passes", str(out), "-o", str(nk), "--colourspace", "ACEScg"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    nodes = {n.name: n for n in nkparser.Script.from_file(str(nk)).all_nodes()}
    assert nodes["plate"].get_string("colorspace") == "ACEScg"
    assert nodes["facegraft_passes"].get_string("colorspace") == "ACEScg"
    assert nodes["facegraft_passes"].get_string("raw") == "false"
