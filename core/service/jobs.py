"""Jobs of the engine service: a request's options turned into the very command line the CLI takes, checked
against the CLI's own parser and the allowed roots, then run one at a time in a child process whose JSON
progress lines update the job table.

A child process, not a thread: a cancel or a crash of the job cannot take the service down, and the job
runs exactly the code the CLI runs, so a job and the command give the same files.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from facegraft.registry import require_choice
from facegraft.service.jobstore import Job, JobStore
from facegraft.service.persons import PERSON_OPTIONS, PersonRequestError
from facegraft.service.persons import resolve_paths as person_paths

log = logging.getLogger("facegraft.service")

KINDS = ("extract", "train", "convert")
# Options that name files or folders, per job kind: each must resolve inside an allowed root.
PATH_OPTIONS = {
    "extract": ("plate", "shot", "weights"),
    "train": ("src", "dst", "model"),
    "convert": ("plate", "shot", "model", "out_dir", "sign_key", "sign_cert"),
}
RESERVED = ("progress", "quiet", "verbose", "help", "command")


class JobRequestError(ValueError):
    """A job request the service refuses (HTTP 400 or 403), with the reason."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _subparser(kind: str) -> argparse.ArgumentParser:
    from facegraft.cli import build_parser

    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[kind]
    raise RuntimeError("the CLI has no sub-commands")


def option_names(kind: str) -> dict[str, argparse.Action]:
    """The options a job of this kind takes, by name (the CLI's destinations)."""
    return {a.dest: a for a in _subparser(kind)._actions if a.dest not in RESERVED and a.dest != "help"}


def inside(path: Path, roots: list[Path]) -> bool:
    return any(path == r or r in path.parents for r in roots)


def resolve_path(value: str, roots: list[Path]) -> str:
    """An absolute, symlink-free path inside one of the roots (relative paths are taken from the first)."""
    text = str(value)
    if "\x00" in text:
        raise JobRequestError("a path holds a NUL byte")
    p = Path(text)
    if not p.is_absolute():
        p = roots[0] / p
    # Sequence patterns (plate.####.exr) do not exist as files: resolve their folder.
    try:
        real = p.parent.resolve() / p.name if not p.exists() else p.resolve()
    except OSError as exc:  # a name too long, a component that cannot be looked up: the request is bad
        raise JobRequestError(f"{value[:200]}: not a usable path ({exc.strerror or exc})") from None
    if not inside(real, roots):
        raise JobRequestError(f"{value}: outside the folders this service may touch", 403)
    return str(real)


def build_argv(kind: str, args: dict, roots: list[Path]) -> tuple[list[str], dict]:
    """(argv for `facegraft`, the args with paths resolved) for a job; JobRequestError when invalid."""
    require_choice(kind, KINDS, "job kind", JobRequestError)
    if not isinstance(args, dict):
        raise JobRequestError("args must be an object of option names to values")
    actions = option_names(kind)
    clean: dict = {}
    positional: list[tuple[int, str]] = []
    flags: list[str] = []
    order = [a.dest for a in _subparser(kind)._actions]
    for key, value in args.items():
        name = str(key).replace("-", "_")
        action = actions.get(name)
        if action is None:
            known = ", ".join(sorted(actions))
            raise JobRequestError(f"unknown option {key!r} for a {kind} job (known: {known})")
        repeatable = isinstance(action, argparse._AppendAction)
        if isinstance(value, list) and repeatable:
            if not value or any(isinstance(v, (dict, list)) or v is None for v in value):
                raise JobRequestError(f"{key}: expected a list of strings or numbers")
        elif isinstance(value, (dict, list)) or value is None:
            raise JobRequestError(f"{key}: expected a string, number or boolean")
        if name in PATH_OPTIONS[kind]:
            value = resolve_path(str(value), roots)
        if name in PERSON_OPTIONS.get(kind, {}):
            try:
                value = person_paths(kind, name, value, lambda v: resolve_path(v, roots))
            except PersonRequestError as exc:
                raise JobRequestError(str(exc), exc.status) from None
        clean[name] = value
        if repeatable:
            for item in value if isinstance(value, list) else [value]:
                flags += [action.option_strings[-1], str(item)]
        elif not action.option_strings:
            positional.append((order.index(name), str(value)))
        elif isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
            if not isinstance(value, bool):
                raise JobRequestError(f"{key}: expected true or false")
            wanted = isinstance(action, argparse._StoreTrueAction)
            if value == wanted:
                flags.append(action.option_strings[0])
        else:
            flags += [
                action.option_strings[-1],
                str(value).lower() if isinstance(value, bool) else str(value),
            ]
    argv = [kind, *(v for _, v in sorted(positional)), *flags]
    _check_with_cli(argv)
    return argv, clean


def _check_with_cli(argv: list[str]) -> None:
    """Parse argv with the CLI's parser; its error message becomes the refusal."""
    from facegraft.cli import build_parser

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            build_parser().parse_args(argv)
        except SystemExit as exc:
            if exc.code not in (0, None):
                text = err.getvalue().strip().splitlines()
                raise JobRequestError(text[-1] if text else "invalid options") from None


class Runner:
    """Runs queued jobs one at a time in child processes (`python -m facegraft ... --progress json`)."""

    def __init__(self, store: JobStore, log_dir: Path, python: str = sys.executable) -> None:
        self.store, self.log_dir, self.python = store, log_dir, python
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="facegraft-jobs", daemon=True)
        self._proc: subprocess.Popen | None = None
        self.current: str | None = None

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        """Stop taking jobs; a running job is stopped and queued again, to resume at the next start."""
        self._stop.set()
        self._wake.set()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            _terminate(proc)
        self._thread.join(timeout=15)

    def _loop(self) -> None:
        while not self._stop.is_set():
            job = self.store.next_queued()
            if job is None:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            try:
                self._run(job)
            except Exception as exc:  # the runner must outlive any one job
                log.exception("job %s failed to run", job.id)
                self.store.update(job.id, state="failed", error=str(exc), finished=time.time())
            finally:
                self.current = None

    def _run(self, job: Job) -> None:
        cmd = [self.python, "-m", "facegraft", *job.argv, "--progress", "json"]
        job_log = self.log_dir / f"{job.id}.log"
        with open(job_log, "ab") as err:
            proc = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=err, start_new_session=True, preexec_fn=_die_with_parent
            )
            if not self.store.start(job.id, proc.pid):
                _terminate(proc)
                return
            self.current, self._proc = job.id, proc
            log.info("job %s started: %s (pid %d)", job.id, " ".join(job.argv), proc.pid)
            watcher = threading.Thread(target=self._watch_cancel, args=(job.id, proc), daemon=True)
            watcher.start()
            summary = None
            assert proc.stdout is not None
            for line in proc.stdout:
                event = _event(line)
                if event is None:
                    continue
                if event.get("event") == "summary":
                    summary = {k: v for k, v in event.items() if k not in ("task", "event")}
                else:
                    self._progress(job, event)
            code = proc.wait()
        self._proc = None
        cancelled = (self.store.get(job.id) or job).cancel_requested
        now = time.time()
        if self._stop.is_set() and not cancelled and code != 0:
            note = "stopped with the service; it resumes when the service starts again"
            self.store.update(job.id, state="queued", message=note, pid=None)
        elif cancelled:
            self.store.update(job.id, state="cancelled", finished=now, message="cancelled", pid=None)
        elif code == 0:
            self.store.update(
                job.id, state="done", fraction=1.0, result=summary or {}, finished=now, pid=None
            )
        else:
            self.store.update(
                job.id,
                state="failed",
                error=_last_error(job_log, code),
                finished=now,
                pid=None,
                result=summary,
            )
        log.info("job %s ended with exit code %d", job.id, code)

    def _progress(self, job: Job, event: dict) -> None:
        fields: dict = {}
        if "fraction" in event and event.get("total"):
            fields["fraction"] = float(event["fraction"])
        if "frame" in event:
            fields["frame"] = int(event["frame"])
        text = (
            event.get("message")
            or f"{event.get('task', job.kind)}: {event.get('done', '')}/{event.get('total', '')}"
        )
        fields["message"] = str(text)
        if job.kind == "train":
            preview = Path(job.args.get("model", "")) / "preview.png"
            if preview.is_file():
                fields["preview"] = str(preview)
        self.store.update(job.id, **fields)

    def _watch_cancel(self, jid: str, proc: subprocess.Popen) -> None:
        while proc.poll() is None:
            job = self.store.get(jid)
            if job is not None and job.cancel_requested:
                _terminate(proc)
                return
            time.sleep(0.2)


def _event(line: bytes) -> dict | None:
    try:
        obj = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return obj if isinstance(obj, dict) else None


def _last_error(job_log: Path, code: int) -> str:
    try:
        lines = [x for x in job_log.read_text(errors="replace").splitlines() if x.strip()]
    except OSError:
        lines = []
    errors = [x for x in lines if x.startswith("facegraft: error:")]
    return (errors or lines or [f"exit code {code}"])[-1]


def _terminate(proc: subprocess.Popen) -> None:
    """SIGTERM the job's process group, SIGKILL it after 10 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _die_with_parent() -> None:
    """In the child: ask Linux to SIGKILL it when the service dies (no orphan keeps writing)."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def kill_stale(job: Job) -> None:
    """After a crash, stop a job process that outlived the service (other systems than Linux)."""
    if not job.pid:
        return
    try:
        cmdline = Path(f"/proc/{job.pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return
    if b"facegraft" in cmdline:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(job.pid, signal.SIGKILL)
