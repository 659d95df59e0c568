"""The command registry: the commands that the service runs as jobs and the farm runs over frame ranges
(extract, train, convert), each its name, its help and its option declarations, operands included.

The CLI's flags, the service's typed job config and `/v1/options`, the OpenJD template's parameters and,
through `/v1/options`, the host panels are all built from this table, so an option is declared once
(beside its plugin or stage, with `facegraft.options.opt`) and every front end agrees on its name, type,
default, choices, range and path kind.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from facegraft.errors import InputError
from facegraft.io.colour import ColourConfigOptions
from facegraft.options import add_arguments, base_type, check, choices_of, flag_of, opt
from facegraft.progress import MODES


@dataclass
class ExtractOperands:
    """What `facegraft extract` reads and writes."""

    plate: str = opt("", "the plate", positional=True, path="plate")
    shot: str = opt(
        "",
        "SHOTDIR for alignments.db and faces/ (created, or resumed)",
        flag="--output",
        short="-o",
        required=True,
        path="folder",
        flow="out",
    )


@dataclass
class TrainOperands:
    """What `facegraft train` reads and writes."""

    src: str = opt("", "source shot folder (the identity to put on)", required=True, path="folder")
    dst: str = opt("", "destination shot folder (the plate's faces)", required=True, path="folder")
    model: str = opt("", "model folder (created, or resumed)", required=True, path="folder", flow="inout")


@dataclass
class ConvertOperands:
    """What `facegraft convert` reads and writes, and which frames."""

    plate: str = opt(
        "", "the target plate (the one the shot was extracted from)", positional=True, path="plate"
    )
    shot: str = opt("", "SHOTDIR of the plate's extraction", required=True, path="folder")
    model: str = opt(
        "",
        "MODELDIR of the trained model: swaps every face, or the --person persons (not needed when --swap "
        "gives each person its model)",
        path="folder",
    )
    out_dir: str = opt(
        "", "folder for the passes", flag="--output", short="-o", required=True, path="folder", flow="out"
    )
    frames: str = opt("", "frames to convert, e.g. 1001-1100 (default: all)")


def _extract_groups() -> tuple[type, ...]:
    from facegraft.extract.pipeline import ExtractOptions

    return (ExtractOperands, ExtractOptions, ColourConfigOptions, *plugin_groups())


@functools.cache
def plugin_groups() -> tuple[type, ...]:
    """One options group per detector and landmarker that declares options of its own (its Options
    fields with help): flags ``--<plugin>-<option>`` (``--dlib-hog-upsample``), each unset by default so
    the plugin keeps its own default; `plugin_values` gathers them for the extraction."""
    from facegraft.extract.detectors import DETECTORS
    from facegraft.extract.landmarkers import LANDMARKERS

    groups = []
    for kind, table in (("detector", DETECTORS), ("landmarker", LANDMARKERS)):
        for plugin, impl in table.items():
            declared = [f for f in dataclasses.fields(impl.Options) if "help" in f.metadata]
            if not declared:
                continue
            prefix = plugin.replace("-", "_")
            made = [
                (
                    f"{prefix}_{f.name}",
                    base_type(impl.Options, f),
                    dataclasses.field(
                        default=f.default,
                        metadata={
                            **f.metadata,
                            "flag": f"--{plugin}-{f.name.replace('_', '-')}",
                            "help": f"{plugin} {kind}: {f.metadata['help']}",
                            "plugin": plugin,
                            "plugin_option": f.name,
                        },
                    ),
                )
                for f in declared
            ]
            name = "".join(part.capitalize() for part in prefix.split("_")) + "Flags"
            groups.append(dataclasses.make_dataclass(name, made))
    return tuple(groups)


def plugin_values(values: Any) -> dict[str, dict[str, Any]]:
    """{plugin: {option: value}} of the plugin flags given (a parsed namespace or a dict of typed
    values), each checked against its declaration; flags not given are left out."""
    get = values.get if isinstance(values, dict) else lambda k: getattr(values, k, None)
    out: dict[str, dict[str, Any]] = {}
    for group in plugin_groups():
        given = {f.name: get(f.name) for f in dataclasses.fields(group) if get(f.name) is not None}
        check(group(**given))
        for f in dataclasses.fields(group):
            if f.name in given:
                out.setdefault(f.metadata["plugin"], {})[f.metadata["plugin_option"]] = given[f.name]
    return out


def _train_groups() -> tuple[type, ...]:
    from facegraft.train.options import SampleOptions, TrainOptions

    return (TrainOperands, TrainOptions, SampleOptions)


def _convert_groups() -> tuple[type, ...]:
    from facegraft.merge.options import MergeOptions, OutputOptions, PersonOptions

    return (ConvertOperands, MergeOptions, OutputOptions, ColourConfigOptions, PersonOptions)


@dataclass(frozen=True)
class Command:
    """One registered command: `groups` gives its option dataclasses (imported when asked: the stages
    import torch), `frames` whether it runs over a frame range (``--frames``) and so on a farm."""

    name: str
    help: str
    description: str | None
    groups: Callable[[], tuple[type, ...]]
    frames: bool = False

    def fields(self) -> list[tuple[type, dataclasses.Field]]:
        """(options class, field) of every declared option, in the order the CLI lists them."""
        return [
            (cls, f)
            for cls in self.groups()
            for f in dataclasses.fields(cls)
            if f.metadata.get("cli", True) and "help" in f.metadata
        ]

    def field(self, name: str) -> tuple[type, dataclasses.Field]:
        for cls, f in self.fields():
            if f.name == name:
                return cls, f
        raise KeyError(name)


JOB_COMMANDS: dict[str, Command] = {
    c.name: c
    for c in (
        Command(
            "extract",
            "detect, landmark, align and mask the faces of a plate",
            "Plates: a video, an image sequence (plate.####.exr, plate.%04d.exr, plate.$F4.exr, "
            "plate.1001-1100#.exr), a folder of frames, or one image.",
            _extract_groups,
            frames=True,
        ),
        Command("train", "train a face-swap model on a source and a destination shot", None, _train_groups),
        Command(
            "convert",
            "put the learned face on every frame and write the swap, matte and comp passes",
            "Exit codes: 0 done, 2 usage or bad input, 3 missing input frames, 75 worth a retry.",
            _convert_groups,
            frames=True,
        ),
    )
}


def command(name: str) -> Command:
    """The registered command `name`; InputError naming the choices otherwise."""
    from facegraft.registry import require_choice

    require_choice(name, JOB_COMMANDS, "command")
    return JOB_COMMANDS[name]


def add_reporting(parser: argparse.ArgumentParser) -> None:
    """The flags every command takes about how it reports (they change no output file)."""
    parser.add_argument(
        "--progress",
        choices=MODES,
        default="auto",
        help="bar on a terminal, plain lines otherwise, json: one object per line",
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    parser.add_argument("--verbose", action="store_true", help="add tracebacks to errors")


def add_command(subparsers: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    """The sub-command `name` with its declared flags, on a CLI's sub-command table."""
    cmd = JOB_COMMANDS[name]
    # argparse %-formats descriptions: escape the declared text.
    description = cmd.description.replace("%", "%%") if cmd.description else None
    parser = subparsers.add_parser(name, help=cmd.help, description=description)
    for cls in cmd.groups():
        add_arguments(parser, cls)
    add_reporting(parser)
    return parser


class _RaisingParser(argparse.ArgumentParser):
    def error(self, message: str) -> typing.NoReturn:  # type: ignore[override]
        raise InputError(f"facegraft {self.prog.split()[-1]}: {message}")


def parser(name: str) -> argparse.ArgumentParser:
    """A parser of `name`'s command line alone (what follows ``facegraft NAME``) that raises InputError
    instead of exiting: for front ends that are handed a command line (the farm template)."""
    top = _RaisingParser(prog="facegraft")
    sub = top.add_subparsers(dest="command", parser_class=_RaisingParser)
    return add_command(sub, name)


def describe(name: str) -> list[dict]:
    """Every option of a command as JSON for `/v1/options` and the panels built on it: name, flag, type,
    kind (flag or value), default as the CLI shows it, help, choices, bounds, repeatable, path kind, flow,
    required and positional."""
    out = []
    for cls, f in JOB_COMMANDS[name].fields():
        t = base_type(cls, f)
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        list_like = typing.get_origin(t) in (tuple, list)
        repeat = bool(f.metadata.get("repeat"))
        if list_like and not repeat:
            default = ",".join(default)  # one comma-separated value, as the CLI takes it
        elif list_like:
            default = list(default)
        meta = f.metadata
        out.append(
            {
                "name": f.name,
                "flag": None if meta.get("positional") else cli_flag(cls, f),
                "type": "bool" if t is bool else ("list" if list_like else getattr(t, "__name__", str(t))),
                "kind": "flag" if t is bool else "value",
                "default": default,
                "help": meta["help"],
                "choices": choices_of(f),
                "bounds": None if meta.get("bounds") is None else list(meta["bounds"]),
                "repeatable": repeat,
                "path": meta.get("path"),
                "flow": meta.get("flow", "in") if meta.get("path") else None,
                "required": bool(meta.get("required") or meta.get("positional")),
                "positional": bool(meta.get("positional")),
            }
        )
    return out


def cli_flag(cls: type, f: dataclasses.Field) -> str:
    """The flag as given on a command line: ``--no-x`` for a switch that is on by default."""
    flag = flag_of(f)
    default = f.default if f.default is not dataclasses.MISSING else None
    return "--no-" + flag[2:] if base_type(cls, f) is bool and default else flag


def typed_values(
    name: str, args: dict, resolve: Callable[[str], str], complete: bool = True, where: str = ""
) -> dict[str, Any]:
    """The options of a job given as JSON ({option: value}), each checked against its declaration and
    made its declared type; every path in them (path options, reference photos, swap models) passed
    through `resolve`, which may refuse it. InputError names the first bad option. `complete`: the
    command's required operands must be there (a job); False for a call that takes some of its options
    (a frame call). `where` prefixes the option's name in messages (``options.`` for a frame call).

    Values a text field sends (``"12"`` for a number) are accepted; lists are given as lists or, for a
    comma-separated option, one string."""
    if not isinstance(args, dict):
        raise InputError("args must be an object of option names to values")
    cmd = JOB_COMMANDS[name]
    declared = {f.name: (cls, f) for cls, f in cmd.fields()}
    values: dict[str, Any] = {}
    for key, value in args.items():
        option = str(key).replace("-", "_")
        if option not in declared:
            raise InputError(
                f"unknown option {key!r} for a {name} job (known: {', '.join(sorted(declared))})"
            )
        cls, f = declared[option]
        values[option] = _typed(cls, f, f"{where}{key}", value, resolve)
    for cls in cmd.groups():
        mine = {k: v for k, v in values.items() if k in {f.name for f in dataclasses.fields(cls)}}
        if complete or mine:
            check(cls(**mine), required=complete)  # choices, ranges and operands, as the CLI's are
    return values


def _typed(cls: type, f: dataclasses.Field, key: str, value: Any, resolve: Callable[[str], str]) -> Any:
    t = base_type(cls, f)
    meta = f.metadata
    if t is bool:
        if not isinstance(value, bool):
            raise InputError(f"{key}: expected true or false")
        return value
    if typing.get_origin(t) in (tuple, list):
        if isinstance(value, str) and not meta.get("repeat"):
            value = [v.strip() for v in value.split(",") if v.strip()]
        items = value if isinstance(value, list) else [value]
        if not items or any(not _scalar(v) for v in items):
            raise InputError(f"{key}: expected a list of strings or numbers")
        out = [_person(f, str(v), resolve) for v in items]
        return out if typing.get_origin(t) is list else tuple(out)
    if not _scalar(value):
        raise InputError(f"{key}: expected a string, number or boolean")
    if t in (int, float):
        if isinstance(value, bool):
            raise InputError(f"{key}: expected a number, got {value!r}")
        try:
            number = t(value) if not isinstance(value, str) or t is float else int(value, 10)
        except (TypeError, ValueError):
            raise InputError(
                f"{key}: expected {'an integer' if t is int else 'a number'}, got {value!r}"
            ) from None
        if t is int and isinstance(value, float) and number != value:
            raise InputError(f"{key}: expected an integer, got {value!r}")
        return number
    text = str(value).lower() if isinstance(value, bool) else str(value)
    if meta.get("path") and text:
        return resolve(text)
    return _person(f, text, resolve)


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float)) and value is not None


def _person(f: dataclasses.Field, text: str, resolve: Callable[[str], str]) -> str:
    """A person value with its paths resolved: a reference photo, and the model of ``PERSON=MODELDIR``."""
    if not f.metadata.get("person_of"):
        return text
    from facegraft.persons.select import is_photo_spec, split_pair

    if f.metadata.get("paired"):
        person, model = split_pair(text, flag_of(f))
        return f"{resolve(person) if is_photo_spec(person) else person}={resolve(model)}"
    return resolve(text) if is_photo_spec(text) else text


def to_argv(name: str, values: dict[str, Any]) -> list[str]:
    """The command line (``NAME`` first) that gives the CLI exactly these option values: the inverse of
    the CLI's parser over the same declarations."""
    cmd = JOB_COMMANDS[name]
    positional: list[str] = []
    flags: list[str] = []
    for cls, f in cmd.fields():
        if f.name not in values:
            continue
        value = values[f.name]
        t = base_type(cls, f)
        if f.metadata.get("positional"):
            positional.append(str(value))
        elif t is bool:
            default = f.default if f.default is not dataclasses.MISSING else False
            if value != default:
                flags.append(cli_flag(cls, f))
        elif typing.get_origin(t) in (tuple, list) and f.metadata.get("repeat"):
            for item in value:
                flags += [flag_of(f), str(item)]
        elif typing.get_origin(t) in (tuple, list):
            flags += [flag_of(f), ",".join(map(str, value))]
        else:
            flags += [flag_of(f), str(value)]
    return [name, *positional, *flags]


def path_fields(name: str) -> dict[str, tuple[str, str]]:
    """{option: (path kind, flow)} of a command's path options."""
    return {
        f.name: (f.metadata["path"], f.metadata.get("flow", "in"))
        for _, f in JOB_COMMANDS[name].fields()
        if f.metadata.get("path")
    }


def person_fields(name: str) -> dict[str, str]:
    """{person option: the option naming the shot it picks from} of a command."""
    return {
        f.name: f.metadata["person_of"] for _, f in JOB_COMMANDS[name].fields() if f.metadata.get("person_of")
    }
