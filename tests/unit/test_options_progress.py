"""Typed option declarations through argparse and back, their description for panels, and the progress
reporter in each of its modes."""

from __future__ import annotations

import argparse
import dataclasses
import io
import json

import pytest

from facegraft.extract.pipeline import ExtractOptions
from facegraft.options import add_arguments, describe, from_namespace, opt
from facegraft.progress import MODES, Progress

# --- options -----------------------------------------------------------------------------------------


def _parser(cls: type = ExtractOptions) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="t", exit_on_error=False)
    add_arguments(p, cls)
    return p


def _parse(argv: list[str], cls: type = ExtractOptions):
    return from_namespace(cls, _parser(cls).parse_args(argv))


def test_no_flags_keep_every_default() -> None:
    assert _parse([]) == ExtractOptions()


def test_flags_set_typed_values() -> None:
    o = _parse(
        [
            "--detector",
            "haar",
            "--size",
            "256",
            "--min-confidence",
            "0.7",
            "--face-type",
            "head",
            "--frames",
            "1001-1010x2",
            "--rotate-retry",
        ]
    )
    assert o.detector == "haar" and o.face_type == "head" and o.frames == "1001-1010x2"
    assert o.size == 256 and isinstance(o.size, int)
    assert o.min_confidence == 0.7 and isinstance(o.min_confidence, float)
    assert o.rotate_retry is True
    # Everything not given stays at its default.
    d = ExtractOptions()
    assert (o.landmarker, o.every, o.embeddings, o.masks) == (d.landmarker, d.every, d.embeddings, d.masks)


def test_true_booleans_get_a_no_flag() -> None:
    assert ExtractOptions().embeddings is True and ExtractOptions().write_faces is True
    o = _parse(["--no-embeddings", "--no-write-faces"])
    assert o.embeddings is False and o.write_faces is False
    with pytest.raises((SystemExit, argparse.ArgumentError)):
        _parser().parse_args(["--embeddings"])  # only the negative form exists for a True default


def test_list_fields_take_comma_separated_values() -> None:
    o = _parse(["--masks", "components"])
    assert o.masks == ("components",) and isinstance(o.masks, tuple)
    o = _parse(["--masks", " components , extended ,"])
    assert o.masks == ("components", "extended")


def test_choices_are_enforced_with_usage_exit() -> None:
    p = argparse.ArgumentParser(prog="t")
    add_arguments(p, ExtractOptions)
    for argv in (
        ["--detector", "nope"],
        ["--face-type", "chin"],
        ["--normalise", "magic"],
        ["--size", "big"],
    ):
        with pytest.raises(SystemExit) as err:
            p.parse_args(argv)
        assert err.value.code == 2, argv


def test_cli_false_fields_have_no_flag() -> None:
    dests = {a.dest for a in _parser()._actions}
    assert "batch_frames" not in dests
    with pytest.raises((SystemExit, argparse.ArgumentError)):
        _parser().parse_args(["--batch-frames", "3"])


def test_overrides_win_over_flags() -> None:
    ns = _parser().parse_args(["--size", "256"])
    assert from_namespace(ExtractOptions, ns, size=128, debug=True).size == 128


def test_describe_lists_every_cli_field_with_help_and_choices() -> None:
    items = {d["name"]: d for d in describe(ExtractOptions)}
    dests = {a.dest for a in _parser()._actions if a.dest != "help"}
    assert dests <= set(items)
    assert set(items) == {f.name for f in dataclasses.fields(ExtractOptions)}
    json.dumps(list(items.values()))  # JSON-able for panels and the service
    for d in items.values():
        assert isinstance(d["help"], str) and d["help"]
        assert d["default"] == getattr(ExtractOptions(), d["name"])
    assert {"dlib-hog", "dlib-mmod", "haar", "sfd"} <= set(items["detector"]["choices"])
    assert {"dlib68", "fan"} <= set(items["landmarker"]["choices"])
    assert {"half", "mid", "full", "whole", "head"} <= set(items["face_type"]["choices"])
    assert items["size"]["type"] == "int" and items["size"]["choices"] is None
    assert items["embeddings"]["type"] == "bool" and items["min_confidence"]["type"] == "float"


@dataclasses.dataclass
class _Toy:
    name: str = opt("a", "a name", choices=("a", "b"))
    count: int = opt(3, "how many")
    ratio: float | None = opt(None, "an optional ratio")
    tags: list[str] = opt(["x", "y"], "tags")
    loud: bool = opt(False, "be loud", flag="--shout")
    hidden: int = opt(1, "not on the command line", cli=False)
    plain: int = 5  # no help: not an option


def test_toy_declaration_round_trip() -> None:
    assert _parse([], _Toy) == _Toy()
    o = _parse(["--name", "b", "--count", "7", "--ratio", "0.25", "--tags", "p,q", "--shout"], _Toy)
    assert o == _Toy(name="b", count=7, ratio=0.25, tags=("p", "q"), loud=True)
    # Mutable defaults are not shared between instances.
    a, b = _Toy(), _Toy()
    a.tags.append("z")
    assert b.tags == ["x", "y"]
    assert [d["name"] for d in describe(_Toy)] == ["name", "count", "ratio", "tags", "loud", "hidden"]
    toy_parser = argparse.ArgumentParser(prog="t")
    add_arguments(toy_parser, _Toy)
    for argv in (["--plain", "1"], ["--hidden", "2"], ["--loud"]):  # no help, cli=False, renamed flag
        with pytest.raises(SystemExit):
            toy_parser.parse_args(argv)


# --- progress ----------------------------------------------------------------------------------------


def test_json_mode_one_object_per_line() -> None:
    out = io.StringIO()
    with Progress(4, "extract", mode="json", stream=out, interval=0) as p:
        for frame in range(1001, 1005):
            p.update(1, frame=frame)
    lines = out.getvalue().splitlines()
    objs = [json.loads(line) for line in lines]
    assert len(objs) == 5  # four updates and the final report
    for i, o in enumerate(objs[:4], start=1):
        assert o["event"] == "progress" and o["task"] == "extract"
        assert o["done"] == i and o["total"] == 4 and o["fraction"] == pytest.approx(i / 4)
        assert o["frame"] == 1000 + i
    last = objs[-1]
    assert last["event"] == "done" and last["done"] == 4 and last["fraction"] == 1.0
    assert last["eta_s"] == 0.0 or last["eta_s"] is None


def test_json_mode_messages_and_default_stream(capsys) -> None:
    p = Progress(2, "train", mode="json", interval=0)
    p.message("skipped frame 7")
    p.update()
    p.close()
    captured = capsys.readouterr()
    objs = [json.loads(line) for line in captured.out.splitlines()]
    assert objs[0] == {"task": "train", "event": "message", "message": "skipped frame 7"}
    assert objs[-1]["event"] == "done" and captured.err == ""


def test_json_mode_throttles_updates() -> None:
    out = io.StringIO()
    with Progress(1000, "x", mode="json", stream=out, interval=3600) as p:
        for _ in range(1000):
            p.update()
    objs = [json.loads(line) for line in out.getvalue().splitlines()]
    assert 1 <= len(objs) <= 2 and objs[-1]["event"] == "done" and objs[-1]["done"] == 1000


def test_plain_mode_writes_lines() -> None:
    out = io.StringIO()
    with Progress(3, "extract", mode="plain", stream=out, interval=0) as p:
        for _ in range(3):
            p.update(faces=1)
    lines = out.getvalue().splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("extract: 1/3 frames") and "faces=1" in lines[0]
    assert lines[-1].startswith("extract: 3/3 frames") and lines[-1].endswith("(done)")
    assert "\r" not in out.getvalue() and "\033" not in out.getvalue()


def test_auto_mode_is_plain_off_a_terminal() -> None:
    p = Progress(1, "x", mode="auto", stream=io.StringIO())
    assert p.mode == "plain"


def test_quiet_mode_writes_nothing() -> None:
    out = io.StringIO()
    with Progress(3, "extract", mode="quiet", stream=out, interval=0) as p:
        p.update(2)
        p.message("hello")
    assert out.getvalue() == ""


def test_bar_mode_shows_eta() -> None:
    out = io.StringIO()
    with Progress(10, "extract", mode="bar", stream=out, interval=0) as p:
        for _ in range(5):
            p.update()
    text = out.getvalue()
    assert "ETA" in text and "[" in text and "%" in text and "5/10" in text and "50.0%" in text
    assert text.endswith("\n") and text.count("\n") == 1  # redrawn in place, one newline at the end


def test_zero_total_and_unknown_mode() -> None:
    out = io.StringIO()
    with Progress(0, "empty", mode="json", stream=out):
        pass
    assert json.loads(out.getvalue())["fraction"] == 1.0
    with pytest.raises(ValueError) as err:
        Progress(1, "x", mode="fancy")
    for m in MODES:
        assert m in str(err.value)


@dataclasses.dataclass
class _Percent:
    share: float = opt(0.5, "share of frames (50% by default; %(prog)s is not expanded)")
    pattern: str = opt("plate.%04d.exr", "file pattern")


def test_percent_in_help_and_default_is_plain_text() -> None:
    p = _parser(_Percent)
    text = " ".join(p.format_help().split())
    assert "(50% by default; %(prog)s is not expanded)" in text and "default: plate.%04d.exr" in text
    by_dest = {a.dest: a for a in p._actions}
    assert by_dest["share"].declared_help == _Percent.__dataclass_fields__["share"].metadata["help"]
    assert by_dest["pattern"].declared_default == "plate.%04d.exr"
    assert _parse(["--pattern", "a.%d.png"], _Percent).pattern == "a.%d.png"
