"""Client of the facegraft engine service, written with the standard library alone so that it imports in
Nuke's, Blender's or any other host's Python with nothing installed.

    from facegraft_client import Client
    client = Client()                      # finds the running service, or starts it
    people = client.persons("/shots/010/faces")   # [{"id": 1, "label": "lead", "faces": 96, ...}, ...]
    job = client.submit("convert", plate="/shots/010/plate.####.exr", shot="/shots/010/faces",
                        model="/models/a2h", out_dir="/shots/010/comp", frames="1001-1010",
                        person=people[0]["label"])
    client.wait(job["id"], on_progress=lambda j: print(j["fraction"], j["message"]))
    pixels, info = client.frame(rgba_buffer, width, height, {"model": "/models/a2h", "pass": "comp"})

The service's state lives in ``$FACEGRAFT_HOME`` (default ``~/.facegraft``): ``service/service.json`` says
where it listens, ``service/token`` holds the token, ``engine.json`` names the engine's Python (or set
``FACEGRAFT_ENGINE_PYTHON``) so the client can start the service when none runs.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import struct
import subprocess
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["Client", "ServiceError", "encode_frame", "decode_frame"]
__version__ = "1"

TOKEN_HEADER = "X-Facegraft-Token"
_MAGIC = b"FGFR"
_VERSION = 1
_HEADER = struct.Struct("<4sHHIIHHiQII")
_FLOAT32 = 1
FINAL_STATES = ("done", "failed", "cancelled")


class ServiceError(RuntimeError):
    """The service refused a request or could not be reached; `status` is the HTTP status (0: no reply)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def encode_frame(
    pixels,
    width: int,
    height: int,
    channels: int = 4,
    options: dict | None = None,
    frame: int = 0,
    request_id: int = 0,
) -> bytes:
    """A frame message from any buffer of float32 pixels (rows top-down, `channels` per pixel)."""
    view = memoryview(pixels).cast("B")
    expected = width * height * channels * 4
    if view.nbytes != expected:
        raise ValueError(
            f"the buffer holds {view.nbytes} bytes, {width}x{height}x{channels} float32 is {expected}"
        )
    blob = json.dumps(options or {}, separators=(",", ":")).encode("utf-8")
    head = _HEADER.pack(
        _MAGIC, _VERSION, _HEADER.size, width, height, channels, _FLOAT32, frame, request_id, len(blob), 0
    )
    return head + blob + view.tobytes()


def decode_frame(data: bytes) -> tuple[memoryview, int, int, int, dict]:
    """(float32 pixels as a memoryview, width, height, channels, info) of a reply message."""
    if len(data) < _HEADER.size:
        raise ServiceError("truncated frame reply")
    magic, version, size, w, h, c, dtype, _frame, _rid, opt_len, _ = _HEADER.unpack_from(data)
    if magic != _MAGIC or version != _VERSION or dtype != _FLOAT32 or size != _HEADER.size:
        raise ServiceError("not a frame reply this client understands")
    if len(data) != size + opt_len + w * h * c * 4:
        raise ServiceError("frame reply of the wrong length")
    info = json.loads(data[size : size + opt_len] or b"{}")
    return memoryview(data)[size + opt_len :].cast("f"), w, h, c, info


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def _home() -> Path:
    return Path(os.environ.get("FACEGRAFT_HOME") or Path.home() / ".facegraft")


class Client:
    """Talks to the local engine service; starts it (with `engine_python`) when it is not running."""

    def __init__(
        self,
        home: str | os.PathLike | None = None,
        start: bool = True,
        engine_python: str | None = None,
        serve_args: list[str] | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.home = Path(home) if home is not None else _home()
        self.timeout = timeout
        self._engine_python = engine_python
        self._serve_args = list(serve_args or [])
        self._info: dict | None = None
        self._token: str | None = None
        if not self._find() and start:
            self.start_service()

    @property
    def connected(self) -> bool:
        """Whether a running service was found (or started)."""
        return self._info is not None

    # -- finding and starting the service --------------------------------------------------------------
    def _find(self) -> bool:
        try:
            info = json.loads((self.home / "service" / "service.json").read_text())
            token = (self.home / "service" / "token").read_text().strip()
        except (OSError, ValueError):
            return False
        self._info, self._token = info, token
        try:
            self.status()
        except ServiceError:
            self._info = None
            return False
        return True

    def engine_python(self) -> str:
        if self._engine_python:
            return self._engine_python
        env = os.environ.get("FACEGRAFT_ENGINE_PYTHON")
        if env:
            return env
        try:
            return json.loads((self.home / "engine.json").read_text())["python"]
        except (OSError, ValueError, KeyError):
            raise ServiceError(
                "no engine service runs and its Python is unknown: set FACEGRAFT_ENGINE_PYTHON to the Python "
                "facegraft is installed in, or run `facegraft serve` once"
            ) from None

    def start_service(self, wait: float = 60.0) -> None:
        """Start `facegraft serve` in the background and wait until it answers."""
        env = dict(os.environ, FACEGRAFT_HOME=str(self.home))
        log = open(os.devnull, "wb")  # the service logs to its own rotating file
        subprocess.Popen(
            [self.engine_python(), "-m", "facegraft", "serve", *self._serve_args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env,
            start_new_session=True,
        )
        deadline = time.time() + wait
        while time.time() < deadline:
            if self._find():
                return
            time.sleep(0.2)
        raise ServiceError(
            f"the engine service did not start within {wait:.0f} s (see {self.home}/service/logs)"
        )

    # -- HTTP ---------------------------------------------------------------------------------------------
    def _connection(self, timeout: float | None = None) -> http.client.HTTPConnection:
        if self._info is None:
            raise ServiceError("no engine service is running")
        t = self.timeout if timeout is None else timeout
        if "socket" in self._info:
            return _UnixConnection(self._info["socket"], t)
        return http.client.HTTPConnection("127.0.0.1", int(self._info["port"]), timeout=t)

    def request(
        self, method: str, path: str, body: dict | bytes | None = None, timeout: float | None = None
    ) -> tuple[int, bytes, str]:
        """(status, body, content type) of one request, with the token."""
        headers = {TOKEN_HEADER: self._token or ""}
        data = None
        if isinstance(body, (bytes, bytearray, memoryview)):
            data, headers["Content-Type"] = bytes(body), "application/octet-stream"
        elif body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        conn = self._connection(timeout)
        try:
            conn.request(method, path, body=data, headers=headers)
            reply = conn.getresponse()
            return reply.status, reply.read(), reply.getheader("Content-Type", "")
        except OSError as exc:
            raise ServiceError(f"cannot reach the engine service ({exc})") from exc
        finally:
            conn.close()

    def _json(
        self, method: str, path: str, body: dict | None = None, ok: tuple[int, ...] = (200, 201)
    ) -> dict:
        status, data, _ = self.request(method, path, body)
        try:
            obj = json.loads(data or b"{}")
        except ValueError:
            obj = {"error": data[:200].decode(errors="replace")}
        if status not in ok:
            message = obj.get("error") or obj.get("detail") or obj
            raise ServiceError(f"{method} {path}: {status} {message}", status)
        return obj

    # -- API --------------------------------------------------------------------------------------------
    def status(self) -> dict:
        return self._json("GET", "/v1/status")

    def options(self, kind: str) -> list[dict]:
        """The options a job kind takes (name, flag, help, default, choices): what a panel shows."""
        return self._json("GET", f"/v1/options/{kind}")  # type: ignore[return-value]

    def persons(self, shot: str) -> list[dict]:
        """The persons of an extracted shot (id, label, name, faces, tracks, ranges, shots, photo), the one
        with the most faces first: what a person chooser lists. [] while the shot's faces were never
        grouped into persons; ServiceError 404 when the folder holds no extraction."""
        query = urllib.parse.urlencode({"shot": str(shot)})
        return self._json("GET", f"/v1/persons?{query}")["persons"]

    def submit(self, kind: str, **args) -> dict:
        """Queue a job with the CLI's options by name; returns the job."""
        return self._json("POST", "/v1/jobs", {"kind": kind, "args": args})

    def jobs(self) -> list[dict]:
        return self._json("GET", "/v1/jobs")["jobs"]

    def job(self, job_id: str) -> dict:
        return self._json("GET", f"/v1/jobs/{job_id}")

    def cancel(self, job_id: str) -> dict:
        return self._json("POST", f"/v1/jobs/{job_id}/cancel")

    def events(self, job_id: str) -> Iterator[dict]:
        """The job's state each time it changes, until it ends (a streamed response)."""
        conn = self._connection(timeout=None)
        try:
            conn.request("GET", f"/v1/jobs/{job_id}/events", headers={TOKEN_HEADER: self._token or ""})
            reply = conn.getresponse()
            if reply.status != 200:
                raise ServiceError(f"events of {job_id}: {reply.status} {reply.read()[:200]!r}", reply.status)
            for line in reply:
                if line.strip():
                    yield json.loads(line)
        finally:
            conn.close()

    def wait(
        self,
        job_id: str,
        timeout: float | None = None,
        poll: float = 0.5,
        on_progress: Callable[[dict], None] | None = None,
    ) -> dict:
        """Poll until the job ends; returns its last state (TimeoutError after `timeout` seconds)."""
        deadline = None if timeout is None else time.time() + timeout
        while True:
            job = self.job(job_id)
            if on_progress is not None:
                on_progress(job)
            if job["state"] in FINAL_STATES:
                return job
            if deadline is not None and time.time() > deadline:
                raise TimeoutError(f"job {job_id} still {job['state']} after {timeout} s")
            time.sleep(poll)

    def frame(
        self,
        pixels,
        width: int,
        height: int,
        options: dict,
        channels: int = 4,
        frame: int = 0,
        request_id: int = 0,
    ) -> tuple[memoryview, dict]:
        """Send one frame (any float32 buffer) and get the pass back: (float32 memoryview, info)."""
        message = encode_frame(pixels, width, height, channels, options, frame, request_id)
        status, data, _ = self.request("POST", "/v1/frame", message, timeout=max(self.timeout, 300))
        if status != 200:
            try:
                reason = json.loads(data).get("error", data[:200])
            except ValueError:
                reason = data[:200]
            raise ServiceError(f"frame {frame}: {status} {reason}", status)
        out, w, h, c, info = decode_frame(data)
        info.update(width=w, height=h, channels=c)
        return out, info

    def shutdown(self) -> None:
        self._json("POST", "/v1/shutdown")
