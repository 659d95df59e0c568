"""Which person a user means: a person id (``3``), a name (``lead``) or a photo of them (``actor.jpg``).

A photo is matched by identity embedding against each person's mean descriptor; it must match exactly one
person (distance below `MATCH`), else the error says which persons came nearest.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from facegraft.errors import InputError
from facegraft.extract.identity import SAME_PERSON
from facegraft.store.alignments import AlignmentsStore, Person

MATCH = SAME_PERSON  # a photo within this distance of a person's mean descriptor is that person


def _listing(persons: list[Person]) -> str:
    return ", ".join(f"{p.id} ({p.label})" if p.name else str(p.id) for p in persons)


def is_photo_spec(spec: str) -> bool:
    """Whether a person spec can only be a photo's path (neither an id nor a valid person name)."""
    from facegraft.store.alignments import PERSON_NAME

    text = str(spec).strip()
    return bool(text) and not text.isdigit() and PERSON_NAME.fullmatch(text) is None


def split_pair(value: str, option: str = "--swap") -> tuple[str, str]:
    """(person spec, model folder) of a ``PERSON=MODELDIR`` value, split at the first '='."""
    person, sep, model = str(value).partition("=")
    if not sep or not person.strip() or not model.strip():
        raise InputError(f"{option} {value!r} is not PERSON=MODELDIR")
    return person.strip(), model.strip()


def grouped_persons(store: AlignmentsStore) -> list[Person]:
    """The shot's persons; InputError when its faces were never grouped."""
    persons = store.persons()
    if not persons:
        raise InputError(
            "the shot's faces are not grouped into persons (run facegraft alignments persons SHOTDIR)",
            store.shot_dir,
        )
    return persons


def resolve_person(store: AlignmentsStore, spec: str) -> Person:
    """The person `spec` names: an id, a name, or a photo path (matched by embedding)."""
    persons = grouped_persons(store)
    text = str(spec).strip()
    if not text:
        raise InputError("an empty person was given (a person id, name or photo)", store.shot_dir)
    if text.isdigit():
        for p in persons:
            if p.id == int(text):
                return p
        raise InputError(f"no person {text} in this shot (persons: {_listing(persons)})", store.shot_dir)
    for p in persons:
        if text in (p.name, p.label):
            return p
    path = Path(text)
    if path.is_file():
        return match_photo(persons, path)
    raise InputError(
        f"no person named {text!r} and no such photo (persons: {_listing(persons)})", store.shot_dir
    )


def chosen_person(store: AlignmentsStore, spec: str) -> Person | None:
    """The person a command's ``--person`` names (see `resolve_person`), or None when it names none."""
    return resolve_person(store, spec) if str(spec).strip() else None


def resolve_persons(store: AlignmentsStore, specs: Iterable[str]) -> list[Person]:
    """Each spec resolved (see `resolve_person`), once each, in the order given."""
    out: list[Person] = []
    for spec in specs:
        p = resolve_person(store, spec)
        if all(q.id != p.id for q in out):
            out.append(p)
    return out


def match_photo(persons: list[Person], path: Path) -> Person:
    """The one person whose mean descriptor lies within MATCH of the largest face in the photo."""
    from facegraft.extract.photo import photo_embedding

    ref = photo_embedding(path)
    scored = sorted(
        (
            (float(np.linalg.norm(p.embedding.astype(np.float64) - ref)), p)
            for p in persons
            if p.embedding is not None
        ),
        key=lambda dp: (dp[0], dp[1].id),
    )
    if not scored:
        raise InputError("the shot's persons have no identity embeddings to match a photo against", path)
    near = [(d, p) for d, p in scored if d < MATCH]
    nearest = ", ".join(f"{p.label} at {d:.2f}" for d, p in scored[:3])
    if not near:
        raise InputError(
            f"no person of the shot matches this photo (nearest: {nearest}; same person < {MATCH})", path
        )
    if len(near) > 1:
        raise InputError(
            f"this photo matches {len(near)} persons ({nearest}): give the person's id or name instead", path
        )
    return near[0][1]
