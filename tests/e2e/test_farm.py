"""Farm tasks: an Open Job Description template written by `facegraft farm openjd`, validated by
openjd-model and run locally by `openjd run` over every chunk; the union of the chunks' passes is one
`convert` over the whole range, pixel for pixel, with one config hash in every header."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest
import yaml
from test_convert import FIRST, convert, make_job

from facegraft.io.images import read_image

FRAMES = 6
PASS_CHANNELS = ("R", "G", "B", "A", "swap.R", "swap.G", "swap.B", "swap.A", "matte.A", "facemask.A")
VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def world(tmp_path_factory, photos):
    return make_job(tmp_path_factory.mktemp("farm"), photos, frames=FRAMES)


def facegraft(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "facegraft", *map(str, args)], capture_output=True, text=True
    )


def header(path: Path, key: str) -> str:
    inp = oiio.ImageInput.open(str(path))
    value = inp.spec().getattribute(key)
    inp.close()
    return value


def test_an_openjd_job_over_three_chunks_equals_one_convert(world, tmp_path):
    out = world["root"] / "farm_out"
    job = tmp_path / "job.yaml"
    last = FIRST + FRAMES - 1
    made = facegraft(
        "farm", "openjd", "--job", job, "--frames", f"{FIRST}-{last}", "--chunk-size", "2", "--",
        "convert", world["plate"], "--shot", world["shot"], "--model", world["model"], "-o", out,
        "--colour", "lct",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    template = yaml.safe_load(job.read_text())
    assert template["specificationVersion"] == "jobtemplate-2023-09" and template["extensions"] == [
        "TASK_CHUNKING"
    ]
    params = {p["name"]: p for p in template["parameterDefinitions"]}
    assert params["Plate"]["type"] == "PATH" and params["OutDir"]["dataFlow"] == "OUT"
    assert params["Colour"]["default"] == "lct" and params["Frames"]["default"] == f"{FIRST}-{last}"
    frame = template["steps"][0]["parameterSpace"]["taskParameterDefinitions"][0]
    assert frame["type"] == "CHUNK[INT]" and frame["chunks"]["rangeConstraint"] == "CONTIGUOUS"
    env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}")
    run = subprocess.run(
        [str(VENV_BIN / "openjd"), "run", str(job), "-p", f"file://{tmp_path / 'job.params.json'}",
         "-p", f"Facegraft={VENV_BIN / 'facegraft'}"],
        capture_output=True, text=True, env=env, timeout=900,
    )  # fmt: skip
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-4000:]
    assert log.count("--frames") >= 3 or log.count("openjd_progress") >= 3, "three chunks ran"
    for chunk in (f"{FIRST}-{FIRST + 1}", f"{FIRST + 2}-{FIRST + 3}", f"{FIRST + 4}-{last}"):
        assert chunk in log, f"chunk {chunk} did not run"
    whole = tmp_path / "whole"
    assert convert(world, whole, "--colour", "lct").returncode == 0
    hashes = set()
    for f in range(FIRST, last + 1):
        name = f"plate.{f:04d}.exr"
        a = read_image(out / name, channels=PASS_CHANNELS)
        b = read_image(whole / name, channels=PASS_CHANNELS)
        assert np.array_equal(a, b), f"{name} differs between the farm chunks and one convert"
        hashes |= {header(out / name, "facegraft/config"), header(whole / name, "facegraft/config")}
    assert len(hashes) == 1, hashes


def test_bad_farm_requests_are_refused_clearly(world, tmp_path):
    bad = facegraft("farm", "openjd", "--job", tmp_path / "j.yaml", "--frames", "10-1", "--", "convert", "x")
    assert bad.returncode == 2 and "error" in bad.stderr
    bad = facegraft(
        "farm", "openjd", "--job", tmp_path / "j.yaml", "--frames", "1-9", "--", "train", "--src", "a"
    )
    assert bad.returncode == 2 and "frame-range command" in bad.stderr
    bad = facegraft(
        "farm", "openjd", "--job", tmp_path / "j.yaml", "--frames", "1-9", "--",
        "convert", world["plate"], "--shot", world["shot"], "--model", world["model"], "-o", "o",
        "--frames", "1-3",
    )  # fmt: skip
    assert bad.returncode == 2 and "--frames before --" in bad.stderr


def test_the_template_carries_who_is_swapped(world, tmp_path):
    """--person becomes a Person parameter (a STRING for an id or name, a FILE PATH for a photo), each value
    of a repeated option its own parameter, and --swap PERSON=MODELDIR a Swap/SwapModel pair."""
    photo = world["root"] / "hopper.png"
    photo.write_bytes(b"")  # only its path matters to the template
    job = tmp_path / "persons.yaml"
    made = facegraft(
        "farm", "openjd", "--job", job, "--frames", f"{FIRST}-{FIRST + 3}", "--", "convert", world["plate"],
        "--shot", world["shot"], "--model", world["model"], "-o", world["root"] / "farm_persons",
        "--person", "lead", "--person", photo, "--swap", f"2={world['model']}",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    template = yaml.safe_load(job.read_text())
    params = {p["name"]: p for p in template["parameterDefinitions"]}
    assert params["Person"]["type"] == "STRING" and params["Person"]["default"] == "lead"
    assert params["Person2"]["type"] == "PATH" and params["Person2"]["objectType"] == "FILE"
    assert params["Swap"] == {
        "name": "Swap",
        "default": "2",
        "description": params["Swap"]["description"],
        "type": "STRING",
    }
    assert params["SwapModel"]["type"] == "PATH" and params["SwapModel"]["objectType"] == "DIRECTORY"
    args = template["steps"][0]["script"]["actions"]["onRun"]["args"]
    at = args.index("--swap")
    assert args[at + 1] == "{{Param.Swap}}={{Param.SwapModel}}"
    assert [args[i + 1] for i, a in enumerate(args) if a == "--person"] == [
        "{{Param.Person}}",
        "{{Param.Person2}}",
    ]
    values = json.loads((tmp_path / "persons.params.json").read_text())
    assert values["Person2"] == str(photo) and values["SwapModel"] == str(world["model"])
    # The command the farm runs, its parameters filled in, is the command given.
    from openjd.model import create_job, decode_job_template, preprocess_job_parameters

    tmpl = decode_job_template(template=template, supported_extensions=["TASK_CHUNKING"])
    filled = preprocess_job_parameters(
        job_template=tmpl,
        job_parameter_values=values,
        job_template_dir=tmp_path,
        current_working_dir=tmp_path,
    )
    created = create_job(job_template=tmpl, job_parameter_values=filled)
    resolved = {k: str(v.value) for k, v in created.parameters.items()}
    assert resolved["Person"] == "lead" and resolved["Swap"] == "2"
    assert resolved["Person2"] == str(photo) and resolved["SwapModel"] == str(world["model"])
