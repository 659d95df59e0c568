"""Plugin tables: every kind of plugin (detectors, landmarkers, models, colour transfers) is registered by
name in one dict; `lookup` and `require_choice` are the one place that turns an unknown name (of a plugin
or of any declared choice) into a clear error."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from typing import TypeVar

from facegraft.errors import InputError

T = TypeVar("T")


def unknown(
    name: object, choices: Iterable[object], kind: str, error: Callable[[str], Exception] = InputError
) -> Exception:
    """The one wording of a bad choice: `error`("unknown KIND 'NAME' (choose from: A, B, C)")."""
    return error(f"unknown {kind} '{name}' (choose from: {', '.join(map(str, choices))})")


def lookup(table: Mapping[str, T], name: str, kind: str, error: Callable[[str], Exception] = InputError) -> T:
    """`table[name]`, or `unknown(...)` listing the table's names."""
    try:
        return table[name]
    except KeyError:
        raise unknown(name, table, kind, error) from None


def require_choice(
    name: str, choices: Collection[str], kind: str, error: Callable[[str], Exception] = InputError
) -> str:
    """`name` when it is one of `choices`, else `unknown(...)`."""
    if name not in choices:
        raise unknown(name, choices, kind, error)
    return name
