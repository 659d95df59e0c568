"""Files written the safe way: to a temporary name in the same folder, then renamed into place, so a
reader never sees half a file and a failure leaves the old one (or none)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from facegraft.errors import InputError


def _umask() -> int:
    """The process umask (read by setting it, so put straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: str | Path, data: bytes, what: str = "the file") -> None:
    """Write bytes to a temporary name in the same folder, then rename into place."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise InputError(f"cannot write {what} ({exc.strerror or exc})", str(path)) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(
                fh.fileno(), 0o666 & ~_umask()
            )  # mkstemp makes 0600; a plain file is what others expect
            fh.write(data)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise InputError(f"cannot write {what} ({exc.strerror or exc})", str(path)) from exc
        raise
