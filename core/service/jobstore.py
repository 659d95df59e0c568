"""The service's job table in SQLite: every job survives a restart of the service.

States: ``queued`` -> ``running`` -> ``done`` | ``failed`` | ``cancelled``; a job found ``running`` when
the service starts was cut short by a crash and becomes ``interrupted`` (then ``queued`` again when the
service resumes it: extract, train and convert all resume where they stopped).

The layout is versioned like the alignments store (store.versioned): ``meta.schema_version`` and one
upgrade step per version in ``UPGRADES`` (only version 1 so far).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from facegraft.store import versioned

STATES = ("queued", "running", "done", "failed", "cancelled", "interrupted")
FINAL = ("done", "failed", "cancelled")
CURRENT_VERSION = 1
_SCHEMA_V1 = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)",
    """CREATE TABLE jobs (
        id TEXT PRIMARY KEY, seq INTEGER NOT NULL, kind TEXT NOT NULL, args TEXT NOT NULL,
        argv TEXT NOT NULL, state TEXT NOT NULL, fraction REAL NOT NULL DEFAULT 0, frame INTEGER,
        message TEXT NOT NULL DEFAULT '', preview TEXT, result TEXT, error TEXT, pid INTEGER,
        attempts INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL, started REAL, finished REAL,
        cancel_requested INTEGER NOT NULL DEFAULT 0)""",
    "CREATE INDEX jobs_state ON jobs(state, seq)",
)
UPGRADES: dict[int, Callable[[sqlite3.Connection], None]] = {}


def _create(conn: sqlite3.Connection) -> None:
    for statement in _SCHEMA_V1:
        conn.execute(statement)


LAYOUT = versioned.Layout("facegraft.jobs", CURRENT_VERSION, _create, UPGRADES, "job table")


@dataclass
class Job:
    """One job as the API shows it."""

    id: str
    kind: str
    args: dict
    state: str
    fraction: float = 0.0
    frame: int | None = None
    message: str = ""
    preview: str | None = None
    result: dict | None = None
    error: str | None = None
    attempts: int = 0
    created: float = 0.0
    started: float | None = None
    finished: float | None = None
    argv: list[str] = field(default_factory=list)
    pid: int | None = None
    cancel_requested: bool = False

    def public(self) -> dict:
        d = asdict(self)
        d.pop("pid")
        return d


_COLUMNS = (
    "id, kind, args, state, fraction, frame, message, preview, result, error, attempts, created, started,"
    " finished, argv, pid, cancel_requested"
)


def _job(row: tuple) -> Job:
    (jid, kind, args, state, fraction, frame, message, preview, result, error, attempts, created, started,
     finished, argv, pid, cancel) = row  # fmt: skip
    return Job(
        jid, kind, json.loads(args), state, fraction, frame, message, preview,
        None if result is None else json.loads(result), error, attempts, created, started, finished,
        json.loads(argv), pid, bool(cancel),
    )  # fmt: skip


class JobStore:
    """Thread-safe access to ``jobs.db`` (one connection, one lock; every write its own transaction)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(
            str(self.path), check_same_thread=False, isolation_level=None, timeout=30
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        with self._lock, self._tx():  # one immediate transaction: two services starting together wait
            versioned.prepare(self._conn, LAYOUT, self.path, True, contextlib.nullcontext)

    def _tx(self):
        conn = self._conn

        class _T:
            def __enter__(self):
                conn.execute("BEGIN IMMEDIATE")

            def __exit__(self, exc_type, *_):
                conn.execute("ROLLBACK" if exc_type else "COMMIT")

        return _T()

    def close(self) -> None:
        self._conn.close()

    def add(self, kind: str, args: dict, argv: list[str]) -> Job:
        """Queue a new job; returns it."""
        jid = uuid.uuid4().hex[:12]
        with self._lock, self._tx():
            (seq,) = self._conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs").fetchone()
            self._conn.execute(
                "INSERT INTO jobs (id, seq, kind, args, argv, state, created)"
                " VALUES (?, ?, ?, ?, ?, 'queued', ?)",
                (jid, seq, kind, json.dumps(args), json.dumps(argv), time.time()),
            )
        return self.get(jid)  # type: ignore[return-value]

    def get(self, jid: str) -> Job | None:
        with self._lock:
            row = self._conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (jid,)).fetchone()
        return None if row is None else _job(row)

    def list(self, limit: int = 200) -> list[Job]:
        """The newest jobs first."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM jobs ORDER BY seq DESC LIMIT ?", (limit,)
            ).fetchall()
        return [_job(r) for r in rows]

    def next_queued(self) -> Job | None:
        """The oldest queued job, or None."""
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE state = 'queued' ORDER BY seq LIMIT 1"
            ).fetchone()
        return None if row is None else _job(row)

    def update(self, jid: str, **fields: object) -> None:
        """Set some columns of a job (dicts and lists are stored as JSON)."""
        if not fields:
            return
        values = [json.dumps(v) if isinstance(v, (dict, list)) else v for v in fields.values()]
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self._lock, self._tx():
            self._conn.execute(f"UPDATE jobs SET {sets} WHERE id = ?", (*values, jid))

    def start(self, jid: str, pid: int | None) -> bool:
        """Move a queued job to running; False when it is no longer queued (cancelled meanwhile)."""
        with self._lock, self._tx():
            cur = self._conn.execute(
                "UPDATE jobs SET state = 'running', pid = ?, started = ?, attempts = attempts + 1"
                " WHERE id = ? AND state = 'queued'",
                (pid, time.time(), jid),
            )
            return cur.rowcount == 1

    def request_cancel(self, jid: str) -> Job | None:
        """Cancel a queued job at once; flag a running one for the runner to stop."""
        with self._lock, self._tx():
            self._conn.execute(
                "UPDATE jobs SET state = 'cancelled', finished = ?, message = 'cancelled before it started'"
                " WHERE id = ? AND state IN ('queued', 'interrupted')",
                (time.time(), jid),
            )
            self._conn.execute(
                "UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND state = 'running'", (jid,)
            )
        return self.get(jid)

    def recover(self, resume: bool) -> list[Job]:
        """After a crash: jobs left 'running' become 'interrupted', and 'queued' again when resuming."""
        with self._lock, self._tx():
            rows = self._conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE state = 'running'").fetchall()
            for row in rows:
                jid = row[0]
                state = "queued" if resume else "interrupted"
                note = "the service stopped while it ran; " + ("resumed" if resume else "not resumed")
                self._conn.execute(
                    "UPDATE jobs SET state = ?, message = ?, pid = NULL WHERE id = ?", (state, note, jid)
                )
        return [_job(r) for r in rows]

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._conn.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()
        return {state: n for state, n in rows}
