"""Files written the safe way: to a temporary name in the same folder, then renamed into place, so a
reader never sees half a file and a failure leaves the old one (or none). The engine's one home of
renames: `write_bytes_atomic` for bytes in hand, `replacing` for writers that need a file name, `move`
for files moved as they are; `locked`, for a read-merge-write of one file by processes that finish
together (farm chunks)."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from facegraft.errors import InputError


def _umask() -> int:
    """The process umask (read by setting it, so put straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


TEMP_SUFFIX = ".tmp"  # a file being written is named .<name>.<random>.tmp[.<ext>] beside its final name


def temporary_name(path: str | Path, keep_extension: bool = False) -> Path:
    """A fresh hidden name beside `path` to write to before the rename; `keep_extension` ends it with the
    file's own extension, for writers that choose the format by the name (PyAV, OpenCV, C2PA)."""
    path = Path(path)
    tail = path.suffix if keep_extension else ""
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}{tail}")


def is_temporary(path: str | Path) -> bool:
    """Whether `path` is named as `temporary_name` (or `write_bytes_atomic`) names a file being written."""
    name = Path(path).name
    return name.startswith(".") and (name.endswith(TEMP_SUFFIX) or f"{TEMP_SUFFIX}." in name)


def remove_leftovers(folder: str | Path) -> list[Path]:
    """Remove the temporary files a writer killed mid-write left in `folder` (a crash leaves no half file
    under a real name, but its temporary stays); returns them. Call it only where no other writer is
    working in the folder (a resumed run that owns it)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = sorted(p for p in folder.iterdir() if is_temporary(p))
    for tmp in removed:
        with contextlib.suppress(OSError):
            _remove(tmp)
    return removed


def fsync_folder(folder: str | Path) -> None:
    """Make a rename in `folder` durable (POSIX: fsync the directory); a no-op where that is refused."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def move(source: str | Path, target: str | Path, what: str = "the file") -> None:
    """Rename `source` onto `target` in one step (same file system): the one rename of the engine besides
    the writes below, for files moved as they are (faceset images, save folders into the trash)."""
    try:
        os.replace(source, target)
    except OSError as exc:
        raise InputError(f"cannot move {what} ({exc.strerror or exc})", str(source)) from exc


MOVING_PREFIX = ".facegraft-moving-"  # a file between the two phases of move_batch


def move_batch(
    folder: str | Path, moves: Iterable[tuple[str | Path, str | Path]], what: str = "the face image"
) -> list[tuple[Path, Path]]:
    """Move files inside `folder` as one batch: every source to a hidden temporary name first, then to its
    target, so names that swap never clobber each other; returns the moves made. Two moves to one target,
    or a target that exists and is not itself moving away, are refused before anything moves. A batch
    killed between the phases is found again by `recover_moves`."""
    folder = Path(folder)
    plan = [(Path(s), Path(t)) for s, t in moves if Path(s) != Path(t)]
    leaving = {s for s, _ in plan}
    targets = [t for _, t in plan]
    if len(set(targets)) != len(targets):
        raise InputError(f"two files would get the same name moving {what}s", str(folder))
    for _, t in plan:
        if t.exists() and t not in leaving:
            raise InputError(
                f"{t.name} already exists and is not one of the files being moved", str(t.parent)
            )
    staged = []
    for i, (s, t) in enumerate(plan):
        tmp = folder / f"{MOVING_PREFIX}{os.getpid()}-{i}{s.suffix}"
        move(s, tmp, what)
        staged.append((tmp, t))
    for tmp, t in staged:
        t.parent.mkdir(parents=True, exist_ok=True)
        move(tmp, t, what)
    return plan


def recover_moves(folder: str | Path) -> list[Path]:
    """Files a killed `move_batch` left under their temporary names, renamed to visible
    ``recovered-*`` names so that whoever owns the folder can name them again (by their tags)."""
    restored = []
    for tmp in sorted(Path(folder).glob(f"{MOVING_PREFIX}*")):
        target = tmp.with_name(f"recovered-{tmp.name[len(MOVING_PREFIX) :]}")
        move(tmp, target)
        restored.append(target)
    return restored


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def replacing(
    path: str | Path, what: str = "the file", keep_extension: bool = False, durable: bool = False
) -> Iterator[Path]:
    """A temporary path beside `path` for a writer that needs a file name (OpenImageIO, PyAV, C2PA, a
    folder of report files): renamed onto `path` when the block ends, removed when it raises. `durable`
    also syncs the folder, so the rename survives a power cut."""
    path = Path(path)
    tmp = temporary_name(path, keep_extension)
    try:
        yield tmp
        if not tmp.exists():
            raise InputError(f"{what} was not written", str(path))
        if tmp.is_dir() and path.is_dir():
            shutil.rmtree(path)
        move(tmp, path, what)
    except BaseException:
        _remove(tmp)
        raise
    if durable:
        fsync_folder(path.parent)


def write_bytes_atomic(
    path: str | Path, data: bytes, what: str = "the file", durable: bool = False, private: bool = False
) -> None:
    """Write bytes to a temporary name in the same folder, then rename into place. `durable` syncs the
    file and its folder (a checkpoint survives a power cut); `private` makes it readable by the owner
    alone (a token)."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    except OSError as exc:
        raise InputError(f"cannot write {what} ({exc.strerror or exc})", str(path)) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            # mkstemp makes 0600; a plain file is what others expect
            os.fchmod(fh.fileno(), 0o600 if private else 0o666 & ~_umask())
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise InputError(f"cannot write {what} ({exc.strerror or exc})", str(path)) from exc
        raise
    if durable:
        fsync_folder(path.parent)


def write_text_atomic(path: str | Path, text: str, what: str = "the file", **kwargs: bool) -> None:
    """`write_bytes_atomic` of UTF-8 text."""
    write_bytes_atomic(path, text.encode("utf-8"), what, **kwargs)


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
