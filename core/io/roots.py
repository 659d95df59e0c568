"""The folders a service may touch: a path a request names is made absolute and symlink-free and refused
unless it lies inside one of the allowed roots. The service's jobs, its frame calls and the review page
all confine paths here."""

from __future__ import annotations

from pathlib import Path


class PathRefused(ValueError):
    """A path a request may not use, with the HTTP status to answer (400 unusable, 403 outside)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def inside(path: Path, roots: list[Path]) -> bool:
    """Whether `path` is one of the roots or lies under one (both taken as they are: resolve first)."""
    return any(path == r or r in path.parents for r in roots)


def resolve_path(value: str, roots: list[Path]) -> str:
    """An absolute, symlink-free path inside one of the roots (relative paths are taken from the first)."""
    text = str(value)
    if "\x00" in text:
        raise PathRefused("a path holds a NUL byte")
    p = Path(text)
    if not p.is_absolute():
        p = roots[0] / p
    # Sequence patterns (plate.####.exr) do not exist as files: resolve their folder.
    try:
        real = p.parent.resolve() / p.name if not p.exists() else p.resolve()
    except OSError as exc:  # a name too long, a component that cannot be looked up: the request is bad
        raise PathRefused(f"{value[:200]}: not a usable path ({exc.strerror or exc})") from None
    if not inside(real, roots):
        raise PathRefused(f"{value}: outside the folders this service may touch", 403)
    return str(real)
