"""`facegraft faceset`: sort, clean, filter, merge, export and report on facesets."""

from __future__ import annotations

import argparse
import sys

from facegraft.cli.common import Parser, report
from facegraft.commands import add_reporting
from facegraft.faceset.merge import DEFAULT_DEDUPE
from facegraft.options import add_arguments, from_namespace


def add(sub: argparse._SubParsersAction) -> None:
    """The `faceset` command and its flags on the CLI's sub-command table."""
    from facegraft.faceset.collection import GatherOptions, PersonChoice
    from facegraft.faceset.filter import FilterOptions
    from facegraft.faceset.report import ReportOptions
    from facegraft.faceset.sort import SortOptions

    f = sub.add_parser("faceset", help="sort, clean, filter, merge, rebuild and report on facesets")
    fsub = f.add_subparsers(dest="job", required=True, metavar="JOB", parser_class=Parser)
    s = fsub.add_parser(
        "sort",
        help="rename (or group) face images so that like faces sit together",
        description="DIR: a shot folder, its faces/ folder, or a folder of face PNGs. Files become "
        "NNNNN-<store name>.png and the store records the new names; `faceset clean` restores them.",
    )
    s.add_argument("dir", metavar="DIR")
    add_arguments(s, SortOptions)
    add_arguments(s, PersonChoice)
    c = fsub.add_parser(
        "clean",
        help="flag not-target the faces whose images were deleted; give images their store names back",
    )
    c.add_argument("shot", metavar="SHOTDIR")
    fl = fsub.add_parser("filter", help="keep one person: list or move the faces of anyone else")
    fl.add_argument("shot", metavar="SHOTDIR")
    add_arguments(fl, FilterOptions)
    add_arguments(fl, PersonChoice)
    mg = fsub.add_parser("merge", help="merge facesets into a new one, optionally without near-duplicates")
    mg.add_argument("inputs", nargs="+", metavar="FACESET")
    mg.add_argument("-o", "--output", required=True, help="the new shot folder")
    mg.add_argument(
        "--dedupe",
        type=float,
        nargs="?",
        const=DEFAULT_DEDUPE,
        default=None,
        metavar="THRESHOLD",
        help="drop a face that repeats a kept face of the same person: thumbnail RMS difference below "
        f"THRESHOLD (0..1; default when given without a value: {DEFAULT_DEDUPE})",
    )
    add_arguments(mg, GatherOptions)
    ex = fsub.add_parser(
        "export", help="rebuild the faceset from the store and plate at another face type or size"
    )
    ex.add_argument("shot", metavar="SHOTDIR")
    ex.add_argument("-o", "--output", required=True, help="the new shot folder")
    ex.add_argument("--face-type", default=None, help="face type of the new crops (default: the shot's)")
    ex.add_argument("--size", type=int, default=None, help="crop size in pixels (default: the shot's)")
    ex.add_argument("--plate", default=None, help="the plate, when it has moved since extraction")
    add_arguments(ex, GatherOptions)
    add_arguments(ex, PersonChoice)
    r = fsub.add_parser("report", help="HTML coverage report: poses, blur, light, expressions, missing poses")
    r.add_argument("src", metavar="SRC")
    r.add_argument("--against", default=None, metavar="DST", help="target faceset whose poses SRC must cover")
    r.add_argument("-o", "--output", required=True, help="the .html page to write")
    add_arguments(r, ReportOptions)
    add_arguments(r, PersonChoice)
    for q in fsub.choices.values():
        add_reporting(q)


def run(args: argparse.Namespace) -> int:
    """Run `facegraft faceset` as parsed; the exit code."""
    from facegraft.faceset.collection import GatherOptions, PersonChoice

    mode = "quiet" if args.quiet else args.progress
    gather = from_namespace(GatherOptions, args)  # merge and export: which faces to take
    person = from_namespace(PersonChoice, args).person if hasattr(args, "person") else ""
    if args.job == "sort":
        from facegraft.faceset.sort import SortOptions, sort_faceset

        summary = sort_faceset(args.dir, from_namespace(SortOptions, args), mode, person).as_dict()
        text = f"sorted {summary['faces']} faces by {summary['method']}"
        if summary["set_aside"]:
            text += f"; {summary['set_aside']} not chosen were moved aside"
    elif args.job == "clean":
        from facegraft.faceset.clean import clean_faceset

        summary = clean_faceset(args.shot).as_dict()
        text = f"renamed {summary['renamed']} images"
        if summary["dropped"]:
            text += (
                f"; {len(summary['dropped'])} faces whose image was deleted flagged not-target (kept in "
                "the store, left out of training and convert; `alignments remove-deleted` removes them)"
            )
        for path, why in summary["orphans"]:
            print(f"facegraft: warning: {path}: left alone ({why})", file=sys.stderr)
    elif args.job == "filter":
        from facegraft.faceset.filter import FilterOptions, filter_faceset

        result = filter_faceset(args.shot, from_namespace(FilterOptions, args), mode, person)
        summary = result.as_dict()
        if args.progress != "json" and not result.moved_to:
            for path, dist in result.others:
                print(f"{path}\t{dist:.3f}")
        verb = f"moved to {result.moved_to}" if result.moved_to else "listed"
        text = f"kept {len(result.kept)} faces; {len(result.others)} others {verb}"
        if result.flagged:
            text += f" and flagged not-target ({len(result.flagged)} faces)"
    elif args.job == "merge":
        from facegraft.faceset.merge import merge_facesets

        summary = merge_facesets(args.inputs, args.output, args.dedupe, mode, gather).as_dict()
        dropped = len(summary["dropped"])
        skipped = _skipped(summary)
        text = f"merged {summary['faces']} faces into {args.output} ({dropped} duplicates dropped"
        text += f", {skipped})" if skipped else ")"
    elif args.job == "export":
        from facegraft.faceset.export import export_faceset

        summary = export_faceset(
            args.shot, args.output, args.face_type, args.size, args.plate, mode, gather, person
        ).as_dict()
        text = (
            f"wrote {summary['faces']} {summary['face_type']} faces ({summary['size']} px) to {args.output}"
        )
        text += f" ({_skipped(summary)})" if _skipped(summary) else ""
    else:
        from facegraft.faceset.report import ReportOptions, write_report

        summary = write_report(
            args.src, args.output, args.against, from_namespace(ReportOptions, args), person
        ).as_dict()
        text = f"wrote {summary['html']}"
        for role in ("source", "target"):
            flags = summary[f"{role}_flags"]
            if flags:
                text += f"; {role}: " + ", ".join(f"{n} faces flagged {name}" for name, n in flags.items())
        if args.against:
            text += (
                f": {summary['missing_faces']} target faces in {summary['missing_cells']} poses lack a source"
            )
    return report(args, f"faceset-{args.job}", summary, text)


def _skipped(summary: dict) -> str:
    """How many flagged faces a gathering faceset command left out, '' for none."""
    said = []
    if summary.get("skipped_not_target"):
        said.append(f"{summary['skipped_not_target']} flagged not-target skipped")
    if summary.get("skipped_unreliable"):
        n = summary["skipped_unreliable"]
        said.append(f"{n} flagged landmarks-unreliable skipped (--include-unreliable takes them)")
    return ", ".join(said)
