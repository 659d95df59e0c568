"""Plugin tables: every kind of plugin (detectors, landmarkers, models, colour transfers) is registered by
name in one dict; `lookup` is the one place that turns an unknown name into a clear error."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from facegraft.errors import InputError

T = TypeVar("T")


def lookup(table: Mapping[str, T], name: str, kind: str) -> T:
    """`table[name]`, or InputError("unknown KIND 'NAME' (choose from: ...)")."""
    try:
        return table[name]
    except KeyError:
        raise InputError(f"unknown {kind} '{name}' (choose from: {', '.join(table)})") from None
