"""Persons for hosts: a shot's persons as JSON (``GET /v1/persons?shot=SHOTDIR``), and the person options
of a job checked against the shot before the job is queued.

A person is given as its id (``2``), its name (``lead``) or a reference photo (``/refs/actor.jpg``), the
way `facegraft.persons.select.resolve_person` takes it. A spec that is neither digits nor a valid person
name can only be a photo: like every other path a job names it must lie inside the service's roots, and
the job carries it resolved. ``swap`` values are ``PERSON=MODELDIR``; the model folder is a path too.
A person the shot does not hold is refused (400) with the resolver's one-line message, before the job
is queued, so a host learns at once what is wrong instead of from a failed job.
"""

from __future__ import annotations

from pathlib import Path

from facegraft.commands import person_fields
from facegraft.errors import FacegraftError, StoreError
from facegraft.store.shot import Shot


class PersonRequestError(ValueError):
    """A persons request or a job's person option the service refuses, with the HTTP status."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def values_of(value) -> list[str]:
    """A person option's values: a list as given, one string as one value."""
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [str(value)]


def check_job_persons(kind: str, args: dict) -> None:
    """Refuse (PersonRequestError, 400) a job whose person options name a person its shot does not hold
    (or, for convert, a choice convert would refuse: a person given twice, --person without --model).
    `args` are the job's options with paths already resolved."""
    if kind == "convert" and any(args.get(k) not in (None, "", []) for k in ("person", "swap")):
        _check_convert(args)
        return
    for name, shot_option in person_fields(kind).items():
        if args.get(name) in (None, "", []) or shot_option not in args:
            continue
        _resolve_in_shot(str(args[shot_option]), values_of(args[name]), name)


def _check_convert(args: dict) -> None:
    """Convert's own person selection run on the shot, the models not loaded."""
    from facegraft.merge.convert import select_persons
    from facegraft.merge.options import PersonOptions
    from facegraft.store.alignments import AlignmentsStore

    if "shot" not in args:
        return  # the job's declarations have refused it already (--shot is required)
    chosen = PersonOptions(
        person=values_of(args["person"]) if args.get("person") not in (None, "") else [],
        swap=values_of(args["swap"]) if args.get("swap") not in (None, "") else [],
    )
    try:
        with AlignmentsStore.open(str(args["shot"])) as store:
            select_persons(store, args.get("model"), chosen, load=lambda path: path)
    except FacegraftError as exc:
        raise PersonRequestError(_one_line(exc)) from None


def _resolve_in_shot(shot: str, specs: list[str], option: str) -> None:
    from facegraft.persons.select import resolve_person
    from facegraft.store.alignments import AlignmentsStore

    try:
        with AlignmentsStore.open(shot) as store:
            for spec in specs:
                resolve_person(store, spec)
    except FacegraftError as exc:
        raise PersonRequestError(f"{option}: {_one_line(exc)}") from None


def shot_persons(shot: str) -> dict:
    """The persons of the shot at `shot` (a resolved shot folder or .db): {"shot", "grouped", "persons"},
    the persons as `PersonSummary.as_dict()`, the one with the most faces first. PersonRequestError 404
    when no alignments store is there, 400 when it cannot be read."""
    from facegraft.persons.shot import summaries
    from facegraft.store.alignments import AlignmentsStore

    db = Path(shot)
    if db.is_dir():
        db = Shot(db).db
    if not db.is_file():
        raise PersonRequestError(f"{shot}: no alignments store here (extract the shot first)", 404)
    try:
        with AlignmentsStore.open(db) as store:
            people = [p.as_dict() for p in summaries(store)]
            return {"shot": str(store.shot_dir), "grouped": bool(people), "persons": people}
    except StoreError as exc:
        raise PersonRequestError(_one_line(exc)) from None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
