"""The engine's own calls to its running service: `serve --status`, `serve --stop` and `review` ask it
(or start it) without the hosts' client, which the engine never imports.

The running service is found from its state file (``service.json``: pid and port or Unix socket) and its
token; each call is one JSON request over loopback TCP or the socket.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time

from facegraft.errors import FacegraftError
from facegraft.service.state import pid_alive, read_state, service_dir

TOKEN_HEADER = "X-Facegraft-Token"


def running() -> dict | None:
    """The state of the service that runs now (its process alive), or None."""
    info = read_state(service_dir())
    return info if info and pid_alive(int(info.get("pid", 0))) else None


def ask(method: str, path: str, timeout: float = 5.0) -> dict | None:
    """The running service's JSON answer to one request, or None when no service answers."""
    info = running()
    if info is None:
        return None
    try:
        token = (service_dir() / "token").read_text().strip()
        conn = http.client.HTTPConnection("127.0.0.1", int(info.get("port") or 0), timeout=timeout)
        if "socket" in info:  # HTTP over the Unix socket: the connection is handed a connected socket
            conn.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            conn.sock.settimeout(timeout)
            conn.sock.connect(info["socket"])
        try:
            conn.request(method, path, headers={TOKEN_HEADER: token})
            reply = conn.getresponse()
            body = reply.read()
        finally:
            conn.close()
    except OSError:
        return None
    if reply.status != 200:
        return None
    try:
        return json.loads(body or b"{}")
    except json.JSONDecodeError:
        return None


def start(serve_args: list[str], wait: float = 60.0) -> dict:
    """Start `facegraft serve` with `serve_args` in the background (this Python, or
    FACEGRAFT_ENGINE_PYTHON) and wait until it answers; returns its status."""
    python = os.environ.get("FACEGRAFT_ENGINE_PYTHON") or sys.executable
    with open(os.devnull, "wb") as quiet:  # the service logs to its own rotating file
        subprocess.Popen(
            [python, "-m", "facegraft", "serve", *serve_args],
            stdin=subprocess.DEVNULL,
            stdout=quiet,
            stderr=quiet,
            start_new_session=True,
        )
    deadline = time.time() + wait
    while time.time() < deadline:
        status = ask("GET", "/v1/status")
        if status is not None:
            return status
        time.sleep(0.2)
    raise FacegraftError(
        f"the engine service did not start within {wait:.0f} s (see its logs)", service_dir()
    )
