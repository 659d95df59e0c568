"""Versioned SQLite files (store.versioned): the service's job table opens the way the alignments store
does, so a file from a newer facegraft or of another kind is refused with one line naming it, and a
failed upgrade leaves the file as it was."""

from __future__ import annotations

import sqlite3

import pytest

from facegraft.errors import StoreError
from facegraft.service import jobstore
from facegraft.service.jobstore import JobStore
from facegraft.store import versioned


def test_a_job_table_from_a_newer_facegraft_is_refused_naming_the_file(tmp_path):
    db = tmp_path / "jobs.db"
    JobStore(db).close()
    conn = sqlite3.connect(db)
    assert versioned.read_version(conn, jobstore.LAYOUT) == jobstore.CURRENT_VERSION
    conn.execute(
        "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(jobstore.CURRENT_VERSION + 1),)
    )
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match=r"newer facegraft \(schema 2 > 1\)") as err:
        JobStore(db)
    assert str(db) in str(err.value)


def test_a_file_of_another_kind_is_not_taken_for_a_job_table(tmp_path):
    db = tmp_path / "jobs.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE photos (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="not a facegraft job table"):
        JobStore(db)


def test_an_older_file_is_upgraded_step_by_step_and_a_failed_step_changes_nothing(tmp_path):
    def create_v1(conn):
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        conn.execute("CREATE TABLE t (a INTEGER)")

    def add_b(conn):
        conn.execute("ALTER TABLE t ADD COLUMN b INTEGER")

    def broken(conn):
        conn.execute("ALTER TABLE t ADD COLUMN c INTEGER")
        raise RuntimeError("disk on fire")

    old = versioned.Layout("test.kind", 1, create_v1, {}, "test file")
    db = tmp_path / "t.db"

    def opened(layout):
        conn = sqlite3.connect(db, isolation_level=None)

        class Tx:
            def __enter__(self):
                conn.execute("BEGIN IMMEDIATE")

            def __exit__(self, exc_type, *_):
                conn.execute("ROLLBACK" if exc_type else "COMMIT")

        try:
            versioned.prepare(conn, layout, db, True, Tx)
            return versioned.read_version(conn, layout), [r[1] for r in conn.execute("PRAGMA table_info(t)")]
        finally:
            conn.close()

    assert opened(old) == (1, ["a"])
    with pytest.raises(RuntimeError):
        opened(versioned.Layout("test.kind", 3, create_v1, {1: add_b, 2: broken}, "test file"))
    assert opened(old) == (1, ["a"]), "the failed upgrade was rolled back whole"
    assert opened(versioned.Layout("test.kind", 2, create_v1, {1: add_b}, "test file")) == (2, ["a", "b"])
