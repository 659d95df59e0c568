"""The likeness release of a source identity: who the face is and the reference of the signed release that
allows its use. Recorded on a shot (its alignments store) or on a project folder (`facegraft-project.json`,
covering every shot inside it); a shot's own record wins over its project's. `convert` copies the release
that applies into every output's metadata and warns once per job when there is none."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import time
from pathlib import Path

from facegraft.errors import InputError
from facegraft.io.atomic import write_bytes_atomic
from facegraft.store.alignments import AlignmentsStore

RELEASE_KEY = "release"
PROJECT_FILE = "facegraft-project.json"
PROJECT_FORMAT = "facegraft-project"
PROJECT_VERSION = 1


def _record(identity: str, reference: str) -> dict:
    identity, reference = identity.strip(), reference.strip()
    if not identity or not reference:
        raise InputError("both --identity and --reference are needed (a name and the release's id)")
    return {
        "identity": identity,
        "reference": reference,
        "recorded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _valid(value: object) -> dict | None:
    ok = isinstance(value, dict) and value.get("identity") and value.get("reference")
    return dict(value) if ok else None


def set_release(shot: str | Path, identity: str, reference: str) -> dict:
    """Record (replace) the source identity and its release reference on a shot; returns the record."""
    record = _record(identity, reference)
    with AlignmentsStore.open(shot) as store:
        store.set_setting(RELEASE_KEY, record)
    return record


def read_project(folder: str | Path) -> dict | None:
    """A project folder's `facegraft-project.json`, or None when it has none; InputError naming the file
    when it is unreadable, not a facegraft project file, or from a newer facegraft."""
    path = Path(folder) / PROJECT_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"cannot read the project file ({exc})", path) from exc
    if not isinstance(data, dict) or data.get("format") != PROJECT_FORMAT:
        raise InputError(f'not a facegraft project file (no "format": "{PROJECT_FORMAT}")', path)
    version = data.get("version")
    if not isinstance(version, int) or version < 1:
        raise InputError(f"the project file has no valid version ({version!r})", path)
    if version > PROJECT_VERSION:
        raise InputError(
            f"the project file is version {version}, written by a newer facegraft (this one reads "
            f"up to {PROJECT_VERSION})",
            path,
        )
    return data


def set_project_release(project: str | Path, identity: str, reference: str) -> dict:
    """Record (replace) the release on a project folder, keeping the file's other entries; returns it."""
    folder = Path(project)
    if not folder.is_dir():
        raise InputError("no such project folder", folder)
    record = _record(identity, reference)
    data = read_project(folder) or {"format": PROJECT_FORMAT, "version": PROJECT_VERSION}
    data[RELEASE_KEY] = record
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    write_bytes_atomic(folder / PROJECT_FILE, text.encode("utf-8"), "the project file")
    with contextlib.suppress(OSError):  # readable by everyone who shares the project folder
        os.chmod(folder / PROJECT_FILE, stat.S_IMODE(folder.stat().st_mode) & 0o666)
    return record


def project_release(folder: str | Path) -> dict | None:
    """The release a project folder's own file records, or None."""
    data = read_project(folder)
    return _valid(data.get(RELEASE_KEY)) if data else None


def shot_release(store: AlignmentsStore) -> dict | None:
    """The release recorded on the shot itself, or None."""
    return _valid(store.setting(RELEASE_KEY))


def get_release(store: AlignmentsStore) -> dict | None:
    """The release that applies to a shot: its own, else that of the nearest folder holding the shot (the
    shot folder, then its parents) whose project file records one. The record adds `source` ('shot' or
    'project') and `file` (the store or project file it was read from)."""
    own = shot_release(store)
    if own is not None:
        return {**own, "source": "shot", "file": str(store.path)}
    for folder in (store.shot_dir.resolve(), *store.shot_dir.resolve().parents):
        record = project_release(folder)
        if record is not None:
            return {**record, "source": "project", "file": str(folder / PROJECT_FILE)}
    return None


def metadata(release: dict | None) -> dict[str, str]:
    """The `facegraft/*` keys a release adds to an output (``identity``, ``release``)."""
    if release is None:
        return {"release": "none recorded"}
    return {"identity": release["identity"], "release": release["reference"]}
