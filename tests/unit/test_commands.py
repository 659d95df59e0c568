"""Each option of a job command is declared once, in the command registry's groups: the CLI's flags,
`/v1/options` (what the host panels draw), the OpenJD template's parameters and the service's typed job
options all come from those declarations and agree on names, defaults, choices and ranges."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import pytest

from facegraft.cli import build_parser
from facegraft.commands import JOB_COMMANDS, describe, to_argv, typed_values
from facegraft.errors import InputError
from facegraft.options import choices_of, from_namespace

NAMES = sorted(JOB_COMMANDS)
REPORTING = {"help", "progress", "quiet", "verbose"}


def cli_actions(name: str) -> dict[str, argparse.Action]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {a.dest: a for a in sub.choices[name]._actions if a.dest not in REPORTING}


@pytest.mark.parametrize("name", NAMES)
def test_an_option_is_declared_once_per_command(name):
    names = [f.name for _, f in JOB_COMMANDS[name].fields()]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


@pytest.mark.parametrize("name", NAMES)
def test_the_cli_flags_are_the_declarations(name):
    actions = cli_actions(name)
    declared = {o["name"]: o for o in describe(name)}
    assert set(actions) == set(declared), "the CLI has no flag of its own beside the declarations"
    for option, o in declared.items():
        action = actions[option]
        assert (action.option_strings[-1:] or [None])[0] == o["flag"] or o["flag"] in action.option_strings
        if o["type"] != "list":  # a list's items are checked against the choices after parsing
            assert (list(action.choices) if action.choices else None) == o["choices"], option
        assert action.declared_default == o["default"], option
        assert (list(action.declared_bounds) if action.declared_bounds else None) == o["bounds"], option
        assert action.required == o["required"] or not action.option_strings, option


@pytest.mark.parametrize("name", NAMES)
def test_v1_options_is_the_declarations(tmp_path, name):
    from support.service_api import declared_options

    served = declared_options(tmp_path, name)
    assert served == json.loads(json.dumps(describe(name)))
    by_name = {o["name"]: o for o in served}
    paths = {n: (o["path"], o["flow"]) for n, o in by_name.items() if o["path"]}
    if name == "convert":
        assert paths["plate"] == ("plate", "in") and paths["out_dir"] == ("folder", "out")
        assert paths["sign_key"] == ("file", "in") and by_name["out_dir"]["required"]
    if name == "train":
        assert paths["model"] == ("folder", "inout")


def test_the_farm_template_s_parameters_are_the_declarations(tmp_path):
    from facegraft.farm.openjd import job_template

    convert = JOB_COMMANDS["convert"]
    command = [
        "convert", "plate.####.exr", "--shot", "shot", "--model", "model", "-o", "out",
        "--colour", "mkl", "--face-scale", "10", "--feather", "2.5", "--no-smooth", "--sign-key", "k.pem",
    ]  # fmt: skip
    template, _ = job_template(command, "1001-1010", base=tmp_path)
    params = {p["name"]: p for p in template["parameterDefinitions"]}
    _, colour = convert.field("colour")
    assert params["Colour"]["allowedValues"] == choices_of(colour) and params["Colour"]["default"] == "mkl"
    _, scale = convert.field("face_scale")
    lo, hi = scale.metadata["bounds"]
    assert (params["FaceScale"]["minValue"], params["FaceScale"]["maxValue"]) == (lo, hi)
    assert params["FaceScale"]["description"] == scale.metadata["help"]
    assert params["Feather"]["minValue"] == 0 and "maxValue" not in params["Feather"]
    assert (params["Plate"]["type"], params["Plate"]["objectType"]) == ("PATH", "FILE")
    assert (params["OutDir"]["objectType"], params["OutDir"]["dataFlow"]) == ("DIRECTORY", "OUT")
    assert (params["SignKey"]["objectType"], params["SignKey"]["dataFlow"]) == ("FILE", "IN")
    args = template["steps"][0]["script"]["actions"]["onRun"]["args"]
    assert "--no-smooth" in args and "--control" not in args, "switches as given, defaults left out"


def everything_changed(name: str) -> dict:
    """A value other than the default for every option of a command, as a host would send it."""
    values: dict = {}
    for _, f in JOB_COMMANDS[name].fields():
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        choices = choices_of(f)
        lo, hi = f.metadata.get("bounds") or (None, None)
        if f.metadata.get("person_of"):
            values[f.name] = (
                ["lead=models/lead"]
                if f.metadata.get("paired")
                else (["2"] if f.metadata.get("repeat") else "2")
            )
        elif isinstance(default, bool):
            values[f.name] = not default
        elif choices:
            other = [c for c in choices if c not in (default if isinstance(default, tuple) else (default,))]
            values[f.name] = [(other or choices)[0]] if isinstance(default, tuple) else other[0]
        elif isinstance(default, (int, float)):
            values[f.name] = type(default)(hi if hi is not None else (lo or 0) + 3)
        elif isinstance(default, (tuple, list)):
            continue  # free-form lists (none today beside the persons)
        else:
            values[f.name] = "1001-1005" if f.name == "frames" else f"some/{f.name}"
    return values


@pytest.mark.parametrize("name", NAMES)
def test_the_command_line_a_job_runs_gives_back_its_typed_options(tmp_path, name):
    """The service runs jobs as the CLI: to_argv and the CLI's parser are inverse over every option."""
    values = typed_values(name, everything_changed(name), lambda p: str(tmp_path / p))
    ns = build_parser().parse_args(to_argv(name, values))
    for cls in JOB_COMMANDS[name].groups():
        parsed = dataclasses.asdict(from_namespace(cls, ns))
        for option, value in values.items():
            if option in parsed:
                want = list(value) if isinstance(value, tuple) else value
                got = list(parsed[option]) if isinstance(parsed[option], tuple) else parsed[option]
                assert got == want, option


@pytest.mark.parametrize(
    "args, message",
    [
        ({"plate": "p.mov", "shot": "s", "out_dir": "o", "erode": "lots"}, "erode: expected a number"),
        ({"plate": "p.mov", "shot": "s", "out_dir": "o", "smooth": "yes"}, "smooth: expected true or false"),
        ({"plate": "p.mov", "shot": "s", "out_dir": "o", "colour": "sepia"}, "unknown --colour 'sepia'"),
        ({"plate": "p.mov", "shot": "s", "out_dir": "o", "face_scale": 80}, "--face-scale must be -50..50"),
        ({"plate": "p.mov", "shot": "s", "out_dir": "o", "seed": 1.5}, "seed: expected an integer"),
        ({"plate": "p.mov", "shot": "s"}, "--output is required"),
        ({"shot": "s", "out_dir": "o"}, "PLATE is required"),
        ({"plate": "p.mov", "shot": "s", "out_dir": "o", "rm_rf": True}, "unknown option 'rm_rf'"),
    ],
)
def test_a_bad_job_option_is_named_by_its_declaration(args, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(".", r"\.")):
        typed_values("convert", args, lambda p: p)


def test_every_path_a_job_names_goes_through_the_confinement():
    seen: list[str] = []
    typed_values(
        "convert",
        {
            "plate": "p.mov", "shot": "s", "out_dir": "o", "model": "m", "sign_key": "k.pem",
            "person": ["2", "refs/actor.jpg"], "swap": ["lead=models/lead"],
        },
        lambda p: seen.append(p) or p,
    )  # fmt: skip
    assert sorted(seen) == sorted(["p.mov", "s", "o", "m", "k.pem", "refs/actor.jpg", "models/lead"])


def test_the_ofx_bridge_s_parameter_header_is_written_from_the_declarations():
    from facegraft.ofx_header import header

    committed = (Path(__file__).resolve().parents[2] / "ofx_bridge" / "declared_options.h").read_text()
    assert committed == header(), "run: python -m facegraft.ofx_header ofx_bridge/declared_options.h"


def test_a_plugin_s_own_options_reach_it_from_every_front_end(tmp_path):
    from facegraft.commands import plugin_values
    from facegraft.extract.pipeline import ExtractOptions, build_tracker

    ns = build_parser().parse_args(
        ["extract", "p.mov", "-o", "s", "--retinaface-nms", "0.3", "--facemesh-crop-scale", "2.0"]
    )
    chosen = plugin_values(ns)
    assert chosen == {"retinaface": {"nms": 0.3}, "facemesh": {"crop_scale": 2.0}}
    finder = build_tracker(ExtractOptions(plugin_options=chosen)).finder
    assert finder.detector.options.nms == 0.3 and finder.landmarker.options.crop_scale == 2.0
    assert finder.detector.options.threshold == 0.5, "an option not given keeps the plugin's default"
    served = {o["name"]: o for o in describe("extract")}
    assert served["retinaface_nms"]["flag"] == "--retinaface-nms" and served["retinaface_nms"]["bounds"] == [
        0,
        1,
    ]
    assert served["dlib_hog_upsample"]["default"] == 0
    with pytest.raises(InputError, match="--retinaface-nms must be 0..1, got 2.0"):
        plugin_values(build_parser().parse_args(["extract", "p.mov", "-o", "s", "--retinaface-nms", "2"]))
    job = typed_values("extract", {"plate": "p.mov", "shot": "s", "dlib_hog_upsample": 1}, str)
    assert "--dlib-hog-upsample" in to_argv("extract", job)
