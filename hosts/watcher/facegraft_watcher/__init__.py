"""The facegraft EXR sequence watcher: a folder is its UI. Plate frames that land in IN_DIR are extracted
and converted by the engine service, and their passes appear in OUT_DIR.

A frame is taken only once it is complete (its size has settled and its bytes say it is whole), in frame
order, in batches; what was done is kept in ``OUT_DIR/.facegraft-watch/state.db`` with each frame's
content digest, so a restart picks up what arrived while it was down, never does a frame twice, and
does a frame again only when its content changed. Standard library, the facegraft client and (when
installed) `watchdog`: never torch or the engine.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import os
import re
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from facegraft_client import Client, ServiceError
from facegraft_watcher.complete import file_state

log = logging.getLogger("facegraft.watch")
_NUMBERED = re.compile(r"^(?P<head>.*?)(?P<frame>\d+)(?P<tail>\.[A-Za-z0-9]+)$")
_TEMPORARY = (".tmp", ".part", ".partial", "~", ".crdownload", ".writing")


@dataclass
class WatchOptions:
    """What the watcher does with the frames: the model, where shots and passes go, who is swapped
    (`person`: person ids, names or reference photos; empty: every face), convert options."""

    in_dir: Path
    out_dir: Path
    model: Path
    shot: Path | None = None
    pattern: str = "*.exr"
    settle: float = 1.0
    batch: int = 50
    poll: float = 0.5
    person: tuple[str, ...] = ()
    convert_args: dict = field(default_factory=dict)
    extract_args: dict = field(default_factory=dict)


def frame_of(name: str) -> tuple[str, int] | None:
    """(sequence pattern with ####, frame number) of a numbered file name, or None."""
    m = _NUMBERED.match(name)
    if not m:
        return None
    return f"{m['head']}{'#' * len(m['frame'])}{m['tail']}", int(m["frame"])


def digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class State:
    """Which files were done (and with what content), which were reported as broken."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS files (name TEXT PRIMARY KEY, sequence TEXT, frame INTEGER,"
            " size INTEGER, mtime_ns INTEGER, digest TEXT, state TEXT, error TEXT, updated REAL)"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', '1')")

    def get(self, name: str) -> tuple | None:
        return self._db.execute(
            "SELECT size, mtime_ns, digest, state FROM files WHERE name = ?", (name,)
        ).fetchone()

    def put(self, rows: list[tuple]) -> None:
        """Rows of (name, sequence, frame, size, mtime_ns, digest, state, error), in one transaction."""
        now = time.time()
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany(
                "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", [(*r, now) for r in rows]
            )
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def counts(self) -> dict[str, int]:
        return dict(self._db.execute("SELECT state, COUNT(*) FROM files GROUP BY state").fetchall())

    def close(self) -> None:
        self._db.close()


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    since: float


class Watcher:
    """Follows IN_DIR and hands complete frames to the engine service in frame-ordered batches."""

    def __init__(self, opts: WatchOptions, client: Client | None = None) -> None:
        self.opts = opts
        self.client = client or Client()
        self.state = State(opts.out_dir / ".facegraft-watch" / "state.db")
        self._seen: dict[str, _Seen] = {}
        self._dirty: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._observer = None
        self.processed: list[str] = []

    # -- noticing files -----------------------------------------------------------------------------------
    def wanted(self, name: str) -> bool:
        if name.startswith(".") or name.lower().endswith(_TEMPORARY):
            return False
        return fnmatch.fnmatch(name, self.opts.pattern) and frame_of(name) is not None

    def notice(self, path: str) -> None:
        """A file event (from watchdog) or a scan: look at this name at the next tick."""
        name = os.path.basename(path)
        if self.wanted(name):
            with self._lock:
                self._dirty.add(name)

    def scan(self) -> None:
        with os.scandir(self.opts.in_dir) as entries:
            for e in entries:
                if e.is_file():
                    self.notice(e.name)

    def _start_observer(self) -> None:
        try:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:
            log.info("watchdog is not installed: polling the folder")
            return
        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event) -> None:
                for p in (getattr(event, "src_path", ""), getattr(event, "dest_path", "")):
                    if p:
                        watcher.notice(p)

        self._observer = Observer()
        self._observer.schedule(Handler(), str(self.opts.in_dir), recursive=False)
        self._observer.start()

    # -- deciding what is ready ---------------------------------------------------------------------------
    def ready(self) -> list[tuple[str, str, int, int, int, str]]:
        """Files complete and not yet done with this content: (name, sequence, frame, size, mtime, digest)."""
        with self._lock:
            names, self._dirty = sorted(self._dirty), set()
        out, later = [], []
        now = time.monotonic()
        for name in names:
            path = self.opts.in_dir / name
            try:
                st = path.stat()
            except FileNotFoundError:
                self._seen.pop(name, None)
                continue
            seen = self._seen.get(name)
            if seen is None or (seen.size, seen.mtime_ns) != (st.st_size, st.st_mtime_ns):
                self._seen[name] = _Seen(st.st_size, st.st_mtime_ns, now)
                later.append(name)
                continue
            if now - seen.since < self.opts.settle:
                later.append(name)
                continue
            known = self.state.get(name)
            if (
                known
                and known[:2] == (st.st_size, st.st_mtime_ns)
                and known[3] in ("done", "invalid", "failed")
            ):
                continue  # nothing changed since it was handled
            status = file_state(path)
            seq, frame = frame_of(name)  # type: ignore[misc]
            if status in ("incomplete", "invalid"):
                if known and known[:2] == (st.st_size, st.st_mtime_ns):
                    continue
                log.warning("%s: %s image, skipped until it changes", path, status)
                self.state.put([(name, seq, frame, st.st_size, st.st_mtime_ns, None, "invalid", status)])
                continue
            content = digest(path)
            if known and known[2] == content and known[3] == "done":
                self.state.put([(name, seq, frame, st.st_size, st.st_mtime_ns, content, "done", None)])
                continue  # touched, not changed
            out.append((name, seq, frame, st.st_size, st.st_mtime_ns, content))
        with self._lock:
            self._dirty.update(later)
        return sorted(out, key=lambda r: (r[1], r[2]))

    # -- processing -----------------------------------------------------------------------------------------
    def shot_for(self, sequence: str) -> Path:
        if self.opts.shot is not None:
            return self.opts.shot
        return self.opts.out_dir / "shots" / sequence.split("#")[0].rstrip("._-")

    def process(self, batch: list[tuple]) -> None:
        """Extract and convert one batch of frames of one sequence through the service."""
        name, seq = batch[0][0], batch[0][1]
        plate = str(self.opts.in_dir / seq)
        frames = ",".join(str(r[2]) for r in batch)
        redo = any(self.state.get(r[0]) is not None for r in batch)
        jobs = []
        if self.opts.shot is None:
            extract = {
                "plate": plate,
                "shot": str(self.shot_for(seq)),
                "frames": frames,
                **self.opts.extract_args,
            }
            if redo:
                extract["redo"] = True
            jobs.append(("extract", extract))
        convert = {
            "plate": plate,
            "shot": str(self.shot_for(seq)),
            "model": str(self.opts.model),
            "out_dir": str(self.opts.out_dir),
            "frames": frames,
            **self.opts.convert_args,
        }
        if self.opts.person:  # the service checks each against the shot before it queues the job
            convert["person"] = person_arg(self.opts.person)
        jobs.append(("convert", convert))
        error = None
        for kind, args in jobs:
            try:
                job = self.client.submit(kind, **args)
                final = self.client.wait(job["id"], poll=0.25)
            except ServiceError as exc:
                error = str(exc)
                break
            if final["state"] != "done":
                error = f"{kind} {final['state']}: {final.get('error') or final.get('message')}"
                break
        state = "failed" if error else "done"
        if error:
            log.error("frames %s of %s: %s", frames, name, error)
        self.state.put([(r[0], r[1], r[2], r[3], r[4], r[5], state, error) for r in batch])
        if not error:
            self.processed.extend(r[0] for r in batch)
            log.info("processed %s frames %s", seq, frames)

    def tick(self) -> int:
        """One round: look at the noticed files, process what is ready. Returns frames processed."""
        ready = self.ready()
        done = 0
        for i in range(0, len(ready), max(1, self.opts.batch)):
            chunk = ready[i : i + self.opts.batch]
            for seq in sorted({r[1] for r in chunk}):
                self.process([r for r in chunk if r[1] == seq])
            done += len(chunk)
        return done

    def run(self, until_idle: float | None = None, rescan: float = 10.0) -> None:
        """Watch until stopped (or, with `until_idle`, until nothing happened for that many seconds)."""
        self.opts.out_dir.mkdir(parents=True, exist_ok=True)
        self._start_observer()
        self.scan()
        last_scan = last_work = time.monotonic()
        try:
            while not self._stop.is_set():
                if self.tick():
                    last_work = time.monotonic()
                now = time.monotonic()
                if now - last_scan > rescan:  # events can be missed (network folders, a full queue)
                    self.scan()
                    last_scan = now
                pending = bool(self._dirty)
                if until_idle is not None and not pending and now - last_work > until_idle:
                    return
                self._stop.wait(self.opts.poll)
        finally:
            if self._observer is not None:
                self._observer.stop()
                self._observer.join(timeout=5)

    def stop(self) -> None:
        self._stop.set()


def person_arg(person) -> str | list[str]:
    """The convert job's person option: one spec as it is, several as a list (one --person each)."""
    specs = [person] if isinstance(person, str) else [str(p) for p in person]
    return specs[0] if len(specs) == 1 else specs


def summary(watcher: Watcher) -> dict:
    return {
        "processed": len(watcher.processed),
        "states": watcher.state.counts(),
        "out": str(watcher.opts.out_dir),
    }


def to_json(watcher: Watcher) -> str:
    return json.dumps(summary(watcher))
