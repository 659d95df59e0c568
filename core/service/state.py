"""Where the engine service keeps its state: ``$FACEGRAFT_HOME`` (default ``~/.facegraft``) ``/service/``.

- ``token``: the shared secret, created on first start, mode 0600; a token file others can read is refused.
- ``service.json``: how to reach the running service (pid, port or socket, roots, version), mode 0600.
- ``jobs.db``: the job table; ``logs/service.log`` (rotating) and ``logs/jobs/<id>.log``.
- ``../engine.json``: the engine's Python, so a host's client can start the service itself.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import sys
from pathlib import Path

from facegraft.errors import InputError
from facegraft.io.atomic import write_text_atomic

TOKEN_HEADER = "X-Facegraft-Token"


def home() -> Path:
    return Path(os.environ.get("FACEGRAFT_HOME") or Path.home() / ".facegraft")


def service_dir() -> Path:
    d = home() / "service"
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return d


def _write_private(path: Path, text: str) -> None:
    write_text_atomic(path, text, "the service file", private=True)


def ensure_token(folder: Path) -> str:
    """The service token: read it, or create it (0600) on first start; refuse one others can read."""
    path = folder / "token"
    if not path.exists():
        _write_private(path, secrets.token_urlsafe(32) + "\n")
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InputError(
            f"the token file can be read by others (mode {oct(mode & 0o777)}); chmod 600 it", path
        )
    token = path.read_text().strip()
    if len(token) < 16:
        raise InputError("the token file is empty or too short; delete it to make a new one", path)
    return token


def write_state(folder: Path, info: dict) -> None:
    _write_private(folder / "service.json", json.dumps(info, indent=2))
    _write_private(home() / "engine.json", json.dumps({"python": sys.executable}, indent=2))


def read_state(folder: Path) -> dict | None:
    try:
        return json.loads((folder / "service.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None


def clear_state(folder: Path, pid: int) -> None:
    """Remove service.json if it still describes this process."""
    info = read_state(folder)
    if info and info.get("pid") == pid:
        (folder / "service.json").unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
