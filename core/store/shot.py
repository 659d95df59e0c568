"""The shot folder's layout, named once: the alignments store, the aligned face images beside it and the
debug drawings. Every module finds a shot's parts through `Shot`, never by spelling the names."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

STORE_NAME = "alignments.db"
FACES_DIR = "faces"
DEBUG_DIR = "debug"


@dataclass(frozen=True)
class Shot:
    """One shot folder: `root` holds alignments.db, faces/ (aligned face PNGs) and debug/ (drawings)."""

    root: Path

    @classmethod
    def at(cls, path: str | Path) -> Shot:
        """The shot a path names: the shot folder itself or its alignments store file."""
        path = Path(path)
        return cls(path.parent if path.name == STORE_NAME or path.suffix == ".db" else path)

    @property
    def db(self) -> Path:
        return self.root / STORE_NAME

    @property
    def faces(self) -> Path:
        return self.root / FACES_DIR

    @property
    def debug(self) -> Path:
        return self.root / DEBUG_DIR


def store_path(path: str | Path) -> Path:
    """A .db path as given; a folder (existing, or a new path without a suffix) -> its alignments store."""
    path = Path(path)
    if path.is_dir() or (not path.exists() and not path.suffix):
        return Shot(path).db
    return path
