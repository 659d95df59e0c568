"""Jobs of the engine service: a request's options checked against the command registry's declarations
and the allowed roots, turned into the very command line the CLI takes, then run one at a time in a child
process whose JSON progress lines update the job table.

A child process, not a thread: a cancel or a crash of the job cannot take the service down, and the job
runs exactly the code the CLI runs, so a job and the command give the same files.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from facegraft.commands import JOB_COMMANDS, to_argv, typed_values
from facegraft.errors import InputError
from facegraft.io.roots import PathRefused, resolve_path
from facegraft.registry import require_choice
from facegraft.service.jobstore import Job, JobStore

log = logging.getLogger("facegraft.service")

KINDS = tuple(JOB_COMMANDS)


class JobRequestError(ValueError):
    """A job request the service refuses (HTTP 400 or 403), with the reason."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def build_argv(kind: str, args: dict, roots: list[Path]) -> tuple[list[str], dict]:
    """(argv for `facegraft`, the typed options with paths resolved) for a job: the JSON checked against
    the command's declarations (types, choices, ranges, required operands) and every path in it confined
    to the roots; JobRequestError (400, or 403 for a path outside the roots) when invalid."""
    require_choice(kind, KINDS, "job kind", JobRequestError)
    try:
        values = typed_values(kind, args, lambda v: resolve_path(v, roots))
    except InputError as exc:
        raise JobRequestError(str(exc)) from None
    except PathRefused as exc:
        raise JobRequestError(str(exc), exc.status) from None
    # The job records a list option given one value as that value, the shape the host sent.
    sent = {str(k).replace("-", "_"): v for k, v in args.items()}
    recorded = {
        k: v[0] if isinstance(v, (list, tuple)) and len(v) == 1 and not isinstance(sent[k], list) else v
        for k, v in values.items()
    }
    return to_argv(kind, values), recorded


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
