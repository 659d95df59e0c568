"""Files written the safe way: to a temporary name in the same folder, then renamed into place, so a
reader never sees half a file and a failure leaves the old one (or none); and `locked`, for a
read-merge-write of one file by processes that finish together (farm chunks)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from facegraft.errors import InputError


def _umask() -> int:
    """The process umask (read by setting it, so put straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


TEMP_SUFFIX = ".tmp"  # a file being written is named .<name>.<random>.tmp beside its final name


def remove_leftovers(folder: str | Path) -> int:
    """Remove the temporary files a writer killed mid-write left in `folder` (a crash leaves no half file
    under a real name, but its temporary stays); returns how many. Call it only where no other writer is
    working in the folder (a resumed run that owns it)."""
    removed = 0
    for tmp in Path(folder).glob(f".*.*{TEMP_SUFFIX}"):
        with contextlib.suppress(OSError):
            tmp.unlink()
            removed += 1
    return removed


def write_bytes_atomic(path: str | Path, data: bytes, what: str = "the file") -> None:
    """Write bytes to a temporary name in the same folder, then rename into place."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
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


@contextlib.contextmanager
def locked(path: str | Path, what: str = "the file") -> Iterator[None]:
    """Hold an exclusive lock for `path` (POSIX flock on ``.<name>.lock`` beside it, which works on NFS
    too); the lock file is removed on release, so no trace is left in an output folder. A waiter that
    wakes holding a lock file already removed takes a fresh one. No-op where there are no POSIX locks."""
    try:
        import fcntl
    except ImportError:  # Windows: chunks rarely finish at the same instant
        yield
        return
    lock = Path(path).with_name(f".{Path(path).name}.lock")
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise InputError(f"cannot lock {what} ({exc.strerror or exc})", str(lock)) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            held = os.fstat(fd)
            try:
                now = os.stat(lock)
            except FileNotFoundError:
                now = None
        except BaseException:
            os.close(fd)
            raise
        if now is not None and (now.st_ino, now.st_dev) == (held.st_ino, held.st_dev):
            break
        os.close(fd)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)  # while still held: a waiter then finds its file gone and starts again
        os.close(fd)
