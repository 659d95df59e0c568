"""The likeness release of a shot's source identity: who the face is and the reference of the signed
release that allows its use. Recorded in the shot's alignments store; `convert` copies it into every
output's metadata and warns once per job when a shot has none."""

from __future__ import annotations

import time
from pathlib import Path

from facegraft.errors import InputError
from facegraft.store.alignments import AlignmentsStore

RELEASE_KEY = "release"


def set_release(shot: str | Path, identity: str, reference: str) -> dict:
    """Record (replace) the source identity and its release reference on a shot; returns the record."""
    identity, reference = identity.strip(), reference.strip()
    if not identity or not reference:
        raise InputError("both --identity and --reference are needed (a name and the release's id)")
    record = {
        "identity": identity,
        "reference": reference,
        "recorded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    with AlignmentsStore.open(shot) as store:
        store.set_setting(RELEASE_KEY, record)
    return record


def get_release(store: AlignmentsStore) -> dict | None:
    """The shot's recorded release, or None."""
    value = store.setting(RELEASE_KEY)
    return value if isinstance(value, dict) and value.get("identity") and value.get("reference") else None


def metadata(release: dict | None) -> dict[str, str]:
    """The `facegraft/*` keys a release adds to an output (``identity``, ``release``)."""
    if release is None:
        return {"release": "none recorded"}
    return {"identity": release["identity"], "release": release["reference"]}
