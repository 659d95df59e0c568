"""`facegraft alignments`: inspect and edit a shot's alignments store."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from facegraft.cli.common import Parser, ids, say, table
from facegraft.commands import add_reporting
from facegraft.errors import InputError
from facegraft.store.shot import Shot

if TYPE_CHECKING:
    from facegraft.store.alignments import AlignmentsStore


def add(sub: argparse._SubParsersAction) -> None:
    """The `alignments` command and its flags on the CLI's sub-command table."""
    a = sub.add_parser("alignments", help="inspect and edit a shot's alignments store")
    asub = a.add_subparsers(dest="job", required=True, metavar="JOB", parser_class=Parser)
    e = asub.add_parser("export", help="write the faces as JSON in plate pixel coordinates")
    e.add_argument("shot")
    e.add_argument("--json", required=True, help="output file")
    i = asub.add_parser("import", help="read external landmarks from JSON (same format as export)")
    i.add_argument("shot")
    i.add_argument("--json", required=True, help="input file")
    i.add_argument("--merge", action="store_true", help="keep stored frames that the file does not list")
    asub.add_parser("no-faces", help="list frames where no face was found").add_argument("shot")
    asub.add_parser("multi-faces", help="list frames with several faces").add_argument("shot")
    asub.add_parser("remove-deleted", help="remove faces whose images were deleted from faces/").add_argument(
        "shot"
    )
    asub.add_parser("rename", help="rename face images back to their store names").add_argument("shot")
    asub.add_parser("stats", help="frame, face, flagged-face and shot counts (JSON)").add_argument("shot")
    for name, what in (
        ("shots", "list the shots between hard cuts: frames, faces and tracks of each"),
        ("flagged", "list the faces extraction flagged (e.g. landmarks-unreliable) with their confidence"),
    ):
        q = asub.add_parser(name, help=what)
        q.add_argument("shot", metavar="SHOTDIR")
        q.add_argument("--json", action="store_true", help="one JSON list instead of a table")
    pr = asub.add_parser(
        "persons",
        help="group the shot's tracks into persons (by identity, across cuts) and list them with a contact "
        "sheet; name, merge or split them",
    )
    pr.add_argument("shot", metavar="SHOTDIR")
    pr.add_argument("--group", action="store_true", help="group again (names are kept where persons hold)")
    pr.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="identity distance below which two tracks are one person (default %(default)s: 0.55)",
    )
    pr.add_argument(
        "--name", action="append", default=[], metavar="PERSON=NAME", help="name a person (id, name or photo)"
    )
    pr.add_argument(
        "--merge", action="append", default=[], metavar="A,B[,...]", help="give B's faces (and any more) to A"
    )
    pr.add_argument(
        "--split",
        action="append",
        default=[],
        metavar="PERSON[=TRACKS]",
        help="move the listed tracks (comma-separated) to a new person; without tracks, regroup the "
        "person's tracks more strictly",
    )
    pr.add_argument("--sheet", default=None, help="contact sheet PNG (default: SHOTDIR/persons.png)")
    pr.add_argument("--json", action="store_true", help="print the persons as one JSON list")
    d = asub.add_parser("draw", help="write plate frames with the stored landmarks drawn")
    d.add_argument("shot")
    d.add_argument("plate")
    d.add_argument("-o", "--output", required=True, help="folder for the drawn frames")
    d.add_argument("--frames", default=None)
    d.add_argument("--colourspace", default=None)
    for q in (e, i, d):
        add_reporting(q)
    for name in (
        "no-faces",
        "multi-faces",
        "remove-deleted",
        "rename",
        "stats",
        "shots",
        "flagged",
        "persons",
    ):
        add_reporting(asub.choices[name])


def run(args: argparse.Namespace) -> int:
    """Run `facegraft alignments` as parsed; the exit code."""
    from facegraft.store import jobs
    from facegraft.store.alignments import AlignmentsStore
    from facegraft.store.json_format import export_json, import_json

    if args.job == "import":
        with AlignmentsStore.open(args.shot, create=True) as store:
            n = import_json(store, args.json, replace=not args.merge)
        say(args, f"imported {n} frames into {args.shot}")
        return 0
    with AlignmentsStore.open(args.shot) as store:
        if args.job == "export":
            n = export_json(store, args.json)
            say(args, f"wrote {n} frames to {args.json}")
        elif args.job == "no-faces":
            print("\n".join(str(f) for f in jobs.frames_without_faces(store)))
        elif args.job == "multi-faces":
            print("\n".join(str(f) for f in jobs.frames_with_several_faces(store)))
        elif args.job == "remove-deleted":
            removed = jobs.remove_deleted_faces(store)
            say(args, f"removed {len(removed)} faces whose images are gone")
        elif args.job == "rename":
            result = jobs.rename_face_images(store)
            say(args, f"renamed {len(result.moved)} face images")
        elif args.job == "stats":
            print(json.dumps(store.stats()))
        elif args.job in ("shots", "flagged"):
            _list_shots_or_flagged(args, store)
        elif args.job == "persons":
            _persons(args, store)
        elif args.job == "draw":
            from facegraft.extract.draw import draw_alignments

            n = draw_alignments(store, args.plate, Path(args.output), args.frames, args.colourspace)
            say(args, f"drew {n} frames into {args.output}")
    return 0


def _list_shots_or_flagged(args: argparse.Namespace, store: AlignmentsStore) -> None:
    """`alignments shots` / `alignments flagged`: a table, or with --json one JSON list."""
    from facegraft.store.shots import shots

    if args.job == "shots":
        found = [s.as_dict() for s in shots(store)]
        headers = ("shot", "frames", "count", "faces", "tracks")
        rows = [
            (s["index"], f"{s['first_frame']}-{s['last_frame']}", s["frames"], s["faces"], ids(s["tracks"]))
            for s in found
        ]
    else:
        found = [
            {
                "face_id": f.id,
                "frame": f.frame,
                "index": f.index,
                "track_id": f.track_id,
                "flags": list(f.flags),
                "landmark_confidence": round(f.landmark_confidence, 4),
            }
            for f in store.flagged_faces()
        ]
        headers = ("frame", "index", "track", "flags", "confidence")
        rows = [
            (
                f["frame"],
                f["index"],
                ids([f["track_id"]]),
                ",".join(f["flags"]),
                f"{f['landmark_confidence']:.2f}",
            )
            for f in found
        ]
    if args.json or args.progress == "json":
        print(json.dumps(found))
    elif not rows:
        say(args, f"no {'shots' if args.job == 'shots' else 'flagged faces'} in {args.shot}")
    else:
        print(table(headers, rows))


def _persons(args: argparse.Namespace, store: AlignmentsStore) -> None:
    """`alignments persons`: group when asked (or never grouped), apply the edits, list, write the sheet."""
    from facegraft.persons import shot as persons
    from facegraft.persons.grouping import THRESHOLD
    from facegraft.persons.select import resolve_person
    from facegraft.persons.sheet import write_sheet

    threshold = THRESHOLD if args.threshold is None else args.threshold
    if not 0 < threshold < 2:
        raise InputError(f"--threshold {threshold} is outside 0..2")
    if args.group or not store.persons():
        persons.group(store, threshold=threshold, progress_mode=args.progress)
    for spec in args.merge:
        ids = [resolve_person(store, part).id for part in spec.split(",") if part.strip()]
        if len(ids) < 2:
            raise InputError(f"--merge {spec!r}: name at least two persons, comma-separated")
        persons.merge(store, ids[0], ids[1:])
    for spec in args.split:
        who, _, tracks = spec.partition("=")
        try:
            track_ids = [int(t) for t in tracks.split(",") if t.strip()]
        except ValueError:
            raise InputError(f"--split {spec!r}: tracks are whole numbers, comma-separated") from None
        persons.split(store, resolve_person(store, who).id, track_ids, threshold=threshold)
    for spec in args.name:
        who, sep, new_name = spec.rpartition("=")
        if not sep or not who:
            raise InputError(f"--name {spec!r} is not PERSON=NAME")
        persons.name(store, who, new_name)
    found = persons.summaries(store)
    sheet = Path(args.sheet) if args.sheet else store.shot_dir / "persons.png"
    write_sheet(store, found, sheet, Shot(store.shot_dir).faces)
    if args.json or args.progress == "json":
        print(json.dumps([p.as_dict() for p in found]))
        return
    rows = [
        (
            p.id,
            p.label,
            p.faces,
            ids(list(p.tracks)),
            " ".join(f"{a}-{b}" if a != b else str(a) for a, b in p.ranges[:6])
            + (" ..." if len(p.ranges) > 6 else ""),
            ids(list(p.shots)),
        )
        for p in found
    ]
    print(
        table(("person", "name", "faces", "tracks", "frames", "shots"), rows) if rows else "no faces to group"
    )
    say(args, f"contact sheet: {sheet}")
