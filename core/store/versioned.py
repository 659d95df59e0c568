"""SQLite files whose layout is versioned the OpenTimelineIO way: the version lives in the data
(``meta.schema_version`` beside ``meta.format``), each past layout stays written down, and one upgrade
step turns version n into n + 1. The alignments store and the service's job table both open through
`prepare`, so both refuse a newer file and upgrade an older one the same way."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from facegraft.errors import StoreError

Step = Callable[[sqlite3.Connection], None]


@dataclass(frozen=True)
class Layout:
    """One versioned file kind: `create` makes an empty file at `current` (its ``meta`` table included),
    `upgrades[n]` turns a version-n file into version n + 1; `what` names it in errors."""

    format: str
    current: int
    create: Step
    upgrades: Mapping[int, Step]
    what: str


def set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


def read_version(conn: sqlite3.Connection, layout: Layout) -> int | None:
    """The stored schema version, or None when the file holds no ``meta`` of this layout's format."""
    has_meta = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
    if not has_meta:
        return None
    rows = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('format', 'schema_version')"))
    if rows.get("format") != layout.format or "schema_version" not in rows:
        return None
    return int(rows["schema_version"])


def upgrade(conn: sqlite3.Connection, layout: Layout, from_version: int) -> int:
    """Apply the upgrade steps from `from_version` up to the current layout, in the caller's transaction."""
    version = from_version
    while version < layout.current:
        step = layout.upgrades.get(version)
        if step is None:
            raise StoreError(f"no upgrade from {layout.what} schema {version}")
        step(conn)
        version += 1
        set_meta(conn, "schema_version", str(version))
    return version


def prepare(
    conn: sqlite3.Connection,
    layout: Layout,
    path: str | Path,
    create: bool,
    transaction: Callable[[], AbstractContextManager[object]],
) -> None:
    """Make an opened file ready: an empty one is created at the current layout (when `create`), an older
    one upgraded, each inside one `transaction()`; a newer one, or a file of another kind, is refused."""
    version = read_version(conn, layout)
    if version is None:
        has_tables = conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]
        if has_tables or not create:
            raise StoreError(f"not a facegraft {layout.what}", str(path))
        with transaction():
            layout.create(conn)
            set_meta(conn, "format", layout.format)
            set_meta(conn, "schema_version", str(layout.current))
        return
    if version > layout.current:
        raise StoreError(f"written by a newer facegraft (schema {version} > {layout.current})", str(path))
    if version < layout.current:
        with transaction():
            upgrade(conn, layout, version)
