"""Choices and ranges come from the option declarations: one check holds every options class to them, and
the service's /v1/options carries the same ranges a panel needs."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from facegraft.errors import InputError
from facegraft.extract.pipeline import ExtractOptions
from facegraft.merge.options import MergeOptions
from facegraft.options import check, opt


@dataclass
class Knobs:
    mode: str = opt("a", "a mode", choices=("a", "b"))
    parts: tuple[str, ...] = opt(("x",), "parts", choices=lambda: ["x", "y"])
    size: int = opt(16, "a size", bounds=(16, 64))
    gain: float = opt(0.0, "a gain", bounds=(0, None))
    on: bool = opt(True, "a switch")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"mode": "c"}, "unknown --mode 'c' (choose from: a, b)"),
        ({"parts": ("x", "z")}, "unknown --parts 'z' (choose from: x, y)"),
        ({"size": 8}, "--size must be 16..64, got 8"),
        ({"size": 65}, "--size must be 16..64, got 65"),
        ({"gain": -0.5}, "--gain must be >= 0, got -0.5"),
    ],
)
def test_a_value_outside_its_declaration_is_named_in_one_line(change, message):
    with pytest.raises(InputError) as err:
        check(Knobs(**change))
    assert str(err.value) == message


def test_values_inside_their_declaration_pass():
    check(Knobs(mode="b", parts=("x", "y"), size=64, gain=3.0, on=False))


@pytest.mark.parametrize(
    "options, message",
    [
        (ExtractOptions(size=8), "--size must be 16..4096, got 8"),
        (ExtractOptions(detector="bogus"), "unknown --detector 'bogus'"),
        (ExtractOptions(masks=("components", "halo")), "unknown --masks 'halo'"),
        (ExtractOptions(ensemble=99), "--ensemble must be 1.."),
        (MergeOptions(colour="sepia"), "unknown --colour 'sepia'"),
        (MergeOptions(face_scale=80.0), "--face-scale must be -50..50, got 80.0"),
        (MergeOptions(feather=-1.0), "--feather must be >= 0"),
    ],
)
def test_the_stages_options_are_checked_against_their_declarations(options, message):
    with pytest.raises(InputError, match=message.replace(".", r"\.").replace("(", r"\(")):
        options.validate()


def test_the_service_lists_the_declared_ranges(tmp_path):
    from support.service_api import declared_options

    extract = {o["name"]: o for o in declared_options(tmp_path, "extract")}
    assert extract["size"]["bounds"] == [16, 4096] and extract["min_size"]["bounds"] == [0, None]
    convert = {o["name"]: o for o in declared_options(tmp_path, "convert")}
    assert convert["face_scale"]["bounds"] == [-50, 50]
