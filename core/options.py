"""Typed option declarations shared by the CLI, the engine service and host panels.

An options class is a dataclass whose fields carry `metadata={"help": ..., "choices": ...}` (use `opt`).
`add_arguments` builds argparse flags from it and `from_namespace` reads them back, so every front end is
built from the same declaration; `describe` gives the JSON a panel builds its controls from.

Help texts are plain text: argparse %-formats an argument's help (``%(default)s``), so `add_arguments`
escapes every ``%`` and keeps the text as written on the action as ``declared_help`` for panels.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Callable, Sequence
from typing import Any

# What a path option names: a file, a folder, or a plate (a video, an image, a folder of frames or a
# sequence pattern such as plate.####.exr, which need not exist as one file).
PATH_KINDS = ("file", "folder", "plate")
FLOWS = ("in", "out", "inout")


def opt(
    default: Any,
    help: str,
    choices: Sequence[str] | Callable[[], Sequence[str]] | None = None,
    flag: str | None = None,
    cli: bool = True,
    repeat: str | None = None,
    bounds: tuple[float | None, float | None] | None = None,
    path: str | None = None,
    flow: str = "in",
    positional: bool = False,
    required: bool = False,
    short: str | None = None,
    person_of: str | None = None,
    paired: bool = False,
) -> Any:
    """A dataclass field with help text, optional choices (or a function giving them) and a flag name.
    `repeat` (a list field's metavar, e.g. ``PERSON``) makes the flag one value a time, given again for
    more (argparse's append; the service takes a list), instead of one comma-separated value. `bounds`
    (lowest, highest; None: open) is the range a number must lie in; `check` holds values to both.

    `path` says the value names a file or folder (one of PATH_KINDS) and `flow` whether the command reads
    it, writes it or both (FLOWS): the service confines such values to its roots and the farm makes them
    PATH parameters. `positional` and `required` are argparse's; `short` a one-letter alias (``-o``).
    `person_of` names the option whose shot the value picks a person from (an id, a name or a photo);
    `paired` makes each value ``PERSON=MODELDIR``."""
    if path is not None and path not in PATH_KINDS:
        raise ValueError(f"path kind {path!r} is not one of {PATH_KINDS}")
    if flow not in FLOWS:
        raise ValueError(f"flow {flow!r} is not one of {FLOWS}")
    meta = {
        "help": help,
        "choices": choices,
        "flag": flag,
        "cli": cli,
        "repeat": repeat,
        "bounds": bounds,
        "path": path,
        "flow": flow,
        "positional": positional,
        "required": required,
        "short": short,
        "person_of": person_of,
        "paired": paired,
    }
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def flag_of(f: dataclasses.Field) -> str:
    """The command-line flag of a declared field (``--min-size`` for ``min_size``)."""
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def check(options: Any, required: bool = True) -> None:
    """InputError naming the first declared field of an options dataclass whose value lies outside its
    declared choices (each item, for a list) or bounds, or (with `required`) a required operand left
    empty: the one place such errors come from."""
    from facegraft.errors import InputError
    from facegraft.registry import unknown

    for f in dataclasses.fields(options):
        value = getattr(options, f.name)
        if required and (f.metadata.get("required") or f.metadata.get("positional")) and value in (None, ""):
            raise InputError(f"{_named(f)} is required")
        allowed = choices_of(f)
        if allowed is not None and value is not None:
            items = value if isinstance(value, (list, tuple)) else [value]
            bad = next((v for v in items if v not in allowed), None)
            if bad is not None:
                raise unknown(bad, allowed, flag_of(f))
        lo, hi = f.metadata.get("bounds") or (None, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if (lo is not None and value < lo) or (hi is not None and value > hi):
                need = (
                    f"{lo}..{hi}"
                    if lo is not None and hi is not None
                    else (f">= {lo}" if lo is not None else f"<= {hi}")
                )
                raise InputError(f"{flag_of(f)} must be {need}, got {value}")


def _named(f: dataclasses.Field) -> str:
    """How a message names a field: its flag, or its name in capitals for a positional operand."""
    return f.name.upper() if f.metadata.get("positional") else flag_of(f)


def choices_of(f: dataclasses.Field) -> list[str] | None:
    """The declared choices of a field (a function's are asked now: registries fill at import), or None."""
    c = f.metadata.get("choices")
    return list(c() if callable(c) else c) if c is not None else None


def base_type(cls: type, f: dataclasses.Field) -> Any:
    """The declared type of a field of `cls`, Optional stripped (``int | None`` is int)."""
    hints = typing.get_type_hints(cls)
    t = hints[f.name]
    args = [a for a in typing.get_args(t) if a is not type(None)]
    if typing.get_origin(t) in (typing.Union, getattr(__import__("types"), "UnionType", None)) and args:
        t = args[0]
    return t


def _add(
    parser: argparse.ArgumentParser,
    f: dataclasses.Field,
    *flags: str,
    help: str,
    declared_default: Any,
    **kw: Any,
) -> None:
    """parser.add_argument for field `f` with `help` taken as plain text; the action keeps the field's own
    help text (without the default argparse shows) and its declared default for panels."""
    if f.metadata.get("positional"):
        kw.pop("default", None)
        action = parser.add_argument(f.name, help=help.replace("%", "%%"), **kw)
    else:
        short = f.metadata.get("short")
        if f.metadata.get("required"):
            kw["required"] = True
        names = (short, *flags) if short else flags
        action = parser.add_argument(*names, dest=f.name, help=help.replace("%", "%%"), **kw)
    action.declared_help = f.metadata["help"]  # type: ignore[attr-defined]
    # Value flags default to None (unset flags keep the dataclass default); panels read this.
    action.declared_default = declared_default  # type: ignore[attr-defined]
    action.declared_bounds = f.metadata.get("bounds")  # type: ignore[attr-defined]


def add_arguments(parser: argparse.ArgumentParser, cls: type, exclude: Sequence[str] = ()) -> None:
    """Add one flag per field of the options dataclass `cls` (fields with cli=False are skipped)."""
    for f in dataclasses.fields(cls):
        if f.name in exclude or not f.metadata.get("cli", True) or "help" not in f.metadata:
            continue
        flag = flag_of(f)
        t = base_type(cls, f)
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        help_text = f.metadata["help"]
        if t is bool:
            store = "store_false" if default else "store_true"
            name = "--no-" + flag[2:] if default else flag
            said = f"turn off what is on by default: {help_text}" if default else help_text
            _add(parser, f, name, action=store, help=said, declared_default=default)
        elif typing.get_origin(t) in (tuple, list) and f.metadata.get("repeat"):
            _add(
                parser,
                f,
                flag,
                action="append",
                default=None,
                metavar=f.metadata["repeat"],
                help=f"{help_text} (repeatable)",
                declared_default=list(default),
            )
        elif typing.get_origin(t) in (tuple, list):
            joined = ",".join(default)
            help_text = f"{help_text} (comma-separated; default: {joined})"
            _add(
                parser,
                f,
                flag,
                default=None,
                metavar="A,B",
                help=help_text,
                declared_default=joined,
            )
        else:
            kind = t if t in (int, float) else str
            if default not in (None, "") and not f.metadata.get("required"):
                help_text = f"{help_text} (default: {default})"
            _add(
                parser,
                f,
                flag,
                type=kind,
                default=None,
                choices=choices_of(f),
                help=help_text,
                declared_default=default,
            )


def from_namespace(cls: type, ns: argparse.Namespace, **overrides: Any) -> Any:
    """An options object from parsed flags: unset flags keep the dataclass defaults."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not hasattr(ns, f.name):
            continue
        v = getattr(ns, f.name)
        if v is None:
            continue
        t = base_type(cls, f)
        if typing.get_origin(t) in (tuple, list) and f.metadata.get("repeat"):
            v = [v] if isinstance(v, str) else list(v)
        elif typing.get_origin(t) in (tuple, list) and isinstance(v, str):
            v = tuple(x.strip() for x in v.split(",") if x.strip())
        values[f.name] = v
    values.update(overrides)
    return cls(**values)


def describe(cls: type) -> list[dict]:
    """JSON-able description of each option (name, type, default, help, choices, bounds) for panels and
    APIs."""
    out = []
    for f in dataclasses.fields(cls):
        if "help" not in f.metadata:
            continue
        t = base_type(cls, f)
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        out.append(
            {
                "name": f.name,
                "type": getattr(t, "__name__", str(t)),
                "default": default,
                "help": f.metadata["help"],
                "choices": choices_of(f),
                "bounds": None if f.metadata.get("bounds") is None else list(f.metadata["bounds"]),
            }
        )
    return out
