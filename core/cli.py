"""The `facegraft` command. Errors are one line naming the file and the problem, exit 2 for bad input;
`--verbose` adds the traceback."""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from facegraft import __version__
from facegraft.commands import JOB_COMMANDS, add_command, add_reporting
from facegraft.errors import EXIT_USAGE, FacegraftError, InputError
from facegraft.faceset.merge import DEFAULT_DEDUPE
from facegraft.options import add_arguments, from_namespace
from facegraft.store.shot import Shot

if TYPE_CHECKING:
    from facegraft.store.alignments import AlignmentsStore


class _Parser(argparse.ArgumentParser):
    """argparse with the project's error style: one line, `facegraft: error: ...`, exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"facegraft: error: {message} (see '{self.prog} --help')\n")
        sys.exit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="facegraft", description="Face replacement for VFX plates.")
    parser.add_argument("--version", action="version", version=f"facegraft {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    for name in JOB_COMMANDS:
        add_command(sub, name)

    a = sub.add_parser("alignments", help="inspect and edit a shot's alignments store")
    asub = a.add_subparsers(dest="job", required=True, metavar="JOB", parser_class=_Parser)
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

    _add_faceset(sub)

    fm = sub.add_parser("farm", help="render-farm job descriptions")
    fsub2 = fm.add_subparsers(dest="job", required=True, metavar="JOB", parser_class=_Parser)
    oj = fsub2.add_parser(
        "openjd",
        help="write an Open Job Description template that runs a command over chunks of frames",
        description="facegraft farm openjd --job job.yaml --frames 1001-1100 --chunk-size 10 -- convert "
        "PLATE --shot SHOT --model MODEL -o OUT [options]",
    )
    oj.add_argument("--job", required=True, help="the job template to write (YAML)")
    oj.add_argument("--frames", required=True, help="the frames to cover, farm syntax")
    oj.add_argument("--chunk-size", type=int, default=10, help="frames per task (default: 10)")
    oj.add_argument("--name", default=None, help="the job's name")
    oj.add_argument(
        "argv", nargs=argparse.REMAINDER, metavar="-- COMMAND", help="the facegraft command (convert ...)"
    )
    add_reporting(oj)

    rl = sub.add_parser(
        "release",
        help="record or show the likeness release of a shot or project (copied into every output)",
        description="A release is recorded on a shot, or on a project folder for every shot inside it; "
        "a shot's own release wins over the nearest enclosing project's.",
    )
    rsub = rl.add_subparsers(dest="job", required=True, metavar="JOB", parser_class=_Parser)
    rs = rsub.add_parser(
        "set", help="record the source identity and its release reference on a shot or project"
    )
    rs.add_argument("--identity", required=True, help="who the source face is")
    rs.add_argument("--reference", required=True, help="the signed likeness release's id")
    rw = rsub.add_parser("show", help="print the release that applies to a shot (and where it is recorded)")
    for q in (rs, rw):
        q.add_argument("shot", metavar="SHOTDIR", nargs="?", help="the shot folder")
        q.add_argument("--project", metavar="DIR", help="a project folder instead (facegraft-project.json)")
        add_reporting(q)
    vf = sub.add_parser(
        "verify",
        help="say whether files are synthetic: metadata, C2PA manifest, invisible watermark",
        description="Reports the metadata, C2PA manifest and watermark of each file or image sequence "
        "(name it with a frame token: comp.####.exr). Exit 0 whatever the verdict, 2 for unreadable input.",
    )
    vf.add_argument("files", nargs="+", metavar="FILE_OR_SEQUENCE")
    vf.add_argument("--json", action="store_true", help="one JSON object per file")
    add_reporting(vf)

    sv = sub.add_parser(
        "serve",
        help="run the engine service for hosts (loopback or a Unix socket only)",
        description="Listens on 127.0.0.1 (or a Unix socket) only; every request needs the token in "
        "$FACEGRAFT_HOME/service/token (default ~/.facegraft). Jobs may only name files under the --root "
        "folders (default: $FACEGRAFT_ROOTS, else your home and the current folder).",
    )
    where = sv.add_mutually_exclusive_group()
    where.add_argument(
        "--port", type=int, default=None, help="TCP port on 127.0.0.1 (default: any free port)"
    )
    where.add_argument("--socket", default=None, help="listen on this Unix socket instead")
    sv.add_argument(
        "--root", action="append", default=None, help="a folder jobs may read and write (repeatable)"
    )
    sv.add_argument("--no-resume", action="store_true", help="leave jobs cut short by a crash interrupted")
    act = sv.add_mutually_exclusive_group()
    act.add_argument("--status", action="store_true", help="print the running service's status and exit")
    act.add_argument("--stop", action="store_true", help="stop the running service")
    sv.add_argument("--verbose", action="store_true", help="mirror the service log on the console")

    rv = sub.add_parser(
        "review",
        help="open a shot's review page: fix faces, landmarks and masks by hand in a browser",
        description="Uses the running engine service, or starts one allowed to read the shot and its plate "
        "(it keeps running: `facegraft serve --stop`), and prints the page's address, which carries the "
        "service token once.",
    )
    rv.add_argument("shot", metavar="SHOTDIR")
    rv.add_argument("--port", type=int, default=None, help="port of a service this starts (default: any)")
    rv.add_argument("--no-browser", action="store_true", help="only print the page's address")
    add_reporting(rv)

    m = sub.add_parser("model", help="work with a trained model")
    msub = m.add_subparsers(dest="job", required=True, metavar="JOB", parser_class=_Parser)
    x = msub.add_parser(
        "export",
        help="write the model's swap path as ONNX",
        description="Input 'face': (N, 3, R, R) float32 RGB 0..1, an aligned crop of the model's face type; "
        "outputs 'swap' (N, 3, R, R) and 'mask' (N, 1, R, R), 0..1. Resolution, face type, arch and the "
        "model hash are stored in the ONNX metadata.",
    )
    x.add_argument("model_dir", metavar="MODELDIR", help="the trained model's folder")
    x.add_argument("--onnx", required=True, metavar="FILE", help="the ONNX file to write")
    x.add_argument("--opset", type=int, default=18, help="ONNX opset (default: 18)")
    add_reporting(x)
    _add_mask(sub)
    return parser


def _add_mask(sub: argparse._SubParsersAction) -> None:
    from facegraft.mask.image_files import SPACES
    from facegraft.mask.options import LABEL, PREDICTED, MaskTrainOptions

    m = sub.add_parser("mask", help="occlusion-aware face masks learned from a few labelled faces")
    msub = m.add_subparsers(dest="job", required=True, metavar="JOB", parser_class=_Parser)
    t = msub.add_parser(
        "train",
        help="train a mask network on the faces that carry labels",
        description=f"Learns from every face with a stored '{LABEL}' mask (255 = visible face, 0 = not face: "
        "painted on the review page or read with facegraft mask import). Crash-safe checkpoints; a rerun "
        "resumes.",
    )
    t.add_argument("shots", nargs="+", metavar="SHOTDIR")
    t.add_argument("--model", required=True, metavar="MASKDIR", help="mask model folder (new, or resumed)")
    add_arguments(t, MaskTrainOptions)
    a = msub.add_parser("apply", help="predict and store a named mask for every face of a shot")
    a.add_argument("shot", metavar="SHOTDIR")
    a.add_argument("--model", required=True, metavar="MASKDIR", help="the trained mask model's folder")
    a.add_argument("--name", default=PREDICTED, help=f"the stored mask to write (default: {PREDICTED})")
    e = msub.add_parser(
        "export",
        help="write a named mask as images: one per face (face space) or per plate frame (frame space)",
    )
    e.add_argument("shot", metavar="SHOTDIR")
    e.add_argument("-o", "--output", required=True, metavar="DIR", help="folder for the mask images")
    e.add_argument("--name", default=PREDICTED, help=f"the stored mask to write (default: {PREDICTED})")
    e.add_argument("--space", choices=SPACES, default="face", help="face crops or full plate frames")
    i = msub.add_parser(
        "import",
        help="read mask images into a named mask (face space: named by face id or face image name)",
    )
    i.add_argument("shot", metavar="SHOTDIR")
    i.add_argument("dir", metavar="DIR", help="the folder of mask images")
    i.add_argument("--name", default=LABEL, help=f"the stored mask to set (default: {LABEL})")
    i.add_argument("--space", choices=SPACES, default="face", help="face crops or full plate frames")
    for q in msub.choices.values():
        add_reporting(q)


def _add_faceset(sub: argparse._SubParsersAction) -> None:
    from facegraft.faceset.collection import GatherOptions, PersonChoice
    from facegraft.faceset.filter import FilterOptions
    from facegraft.faceset.report import ReportOptions
    from facegraft.faceset.sort import SortOptions

    f = sub.add_parser("faceset", help="sort, clean, filter, merge, rebuild and report on facesets")
    fsub = f.add_subparsers(dest="job", required=True, metavar="JOB", parser_class=_Parser)
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


def cmd_faceset(args: argparse.Namespace) -> int:
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
    if args.progress == "json":
        print(json.dumps({"task": f"faceset-{args.job}", "event": "summary", **summary}))
    else:
        _say(args, text)
    return 0


def _skipped(summary: dict) -> str:
    """How many flagged faces a gathering faceset command left out, '' for none."""
    said = []
    if summary.get("skipped_not_target"):
        said.append(f"{summary['skipped_not_target']} flagged not-target skipped")
    if summary.get("skipped_unreliable"):
        n = summary["skipped_unreliable"]
        said.append(f"{n} flagged landmarks-unreliable skipped (--include-unreliable takes them)")
    return ", ".join(said)


def cmd_farm(args: argparse.Namespace) -> int:
    from facegraft.farm.openjd import job_template, write_job

    command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    template, values = job_template(command, args.frames, args.chunk_size, args.name, Path(args.job).parent)
    path, params = write_job(args.job, template, values)
    if args.progress == "json":
        print(
            json.dumps({"task": "farm-openjd", "event": "summary", "job": str(path), "params": str(params)})
        )
    else:
        _say(
            args,
            f"wrote {path} and {params.name}: {command[0]} over {args.frames} in chunks of {args.chunk_size}",
        )
        _say(args, f"run it locally: openjd run {path} -p file://{params.absolute()}")
    return 0


def cmd_release(args: argparse.Namespace) -> int:
    from facegraft.errors import InputError
    from facegraft.provenance import release
    from facegraft.store.alignments import AlignmentsStore

    if (args.shot is None) == (args.project is None):
        raise InputError("name either a shot folder (SHOTDIR) or --project DIR")
    where = args.shot or args.project
    if args.job == "set" and args.project:
        record = release.set_project_release(args.project, args.identity, args.reference)
    elif args.job == "set":
        record = release.set_release(args.shot, args.identity, args.reference)
    elif args.project:
        found = release.project_release(args.project)
        file = str(Path(args.project) / release.PROJECT_FILE)
        record = {**found, "source": "project", "file": file} if found else {}
    else:
        with AlignmentsStore.open(args.shot) as store:
            record = release.get_release(store) or {}
    if args.progress == "json" or args.job == "show":
        print(json.dumps(record))
    else:
        _say(args, f"recorded on {where}: {record['identity']}, release {record['reference']}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from facegraft.provenance.verify import verify

    for f in args.files:
        report = verify(f)
        if args.json or args.progress == "json":
            print(json.dumps(report))
            continue
        state = "synthetic (facegraft)" if report["synthetic"] else "NOT marked as synthetic"
        print(f"{f}: {state}")
        meta = report["metadata"]
        print("  metadata: " + (", ".join(f"{k}={v}" for k, v in meta.items()) if meta else "none"))
        c2pa = report["c2pa"]
        if c2pa is None:
            print("  c2pa: none")
        else:
            kind = (c2pa.get("digital_source_type") or "unknown source type").rsplit("/", 1)[-1]
            print(f"  c2pa: {c2pa['validation']}, {kind}")
            for error in c2pa.get("errors", []):
                print(f"    {error}")
        mark = report["watermark"]
        found = "found" if mark["detected"] else "not found"
        where = f" in {mark['frames_marked']} of {mark['frames_with_faces']} frames with a face"
        payload = f", {mark['payload']}" if mark["payload"] else ""
        print(f"  watermark: {found} (confidence {mark['confidence']:.2f}{where}{payload})")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from facegraft.service import server

    if args.status:
        info = server.status()
        print(json.dumps(info, indent=2))
        return 0 if info.get("up") else 1
    if args.stop:
        stopped = server.stop()
        print("stopped the engine service" if stopped else "no engine service was running")
        return 0
    return server.serve(args.port, args.socket, args.root, args.verbose, resume=not args.no_resume)


def cmd_review(args: argparse.Namespace) -> int:
    import webbrowser

    from facegraft.service.review_address import review_address

    address = review_address(args.shot, args.port)
    if args.progress == "json":
        summary = {"url": address.url, "port": address.port, "started": address.started}
        print(json.dumps({"task": "review", "event": "summary", **summary}))
    else:
        print(address.url)
        if address.started:
            _say(args, f"started the engine service (port {address.port}); `facegraft serve --stop` stops it")
    if not args.no_browser:
        webbrowser.open(address.url)
    return 0


def cmd_extract(args: argparse.Namespace) -> int:
    from facegraft.extract.pipeline import ExtractOptions
    from facegraft.persons.shot import extract_shot

    opts = from_namespace(ExtractOptions, args)
    summary = extract_shot(
        args.plate, args.shot, opts, progress_mode="quiet" if args.quiet else args.progress
    )
    if args.progress == "json":
        print(json.dumps({"task": "extract", "event": "summary", **summary.as_dict()}))
    elif not args.quiet:
        print(
            f"extracted {summary.faces} faces from {summary.frames_done} frames "
            f"({summary.frames_skipped} already done, {len(summary.frames_without_faces)} without faces, "
            f"{summary.persons} persons) into {summary.shot_dir} in {summary.seconds:.1f} s"
        )
    return 0


def cmd_model(args: argparse.Namespace) -> int:
    from facegraft.train.export import export_onnx

    info = export_onnx(args.model_dir, args.onnx, opset=args.opset)
    if args.progress == "json":
        print(json.dumps({"task": "model-export", "event": "summary", **info}))
    else:
        _say(args, f"wrote {info['onnx']} ({info['arch']}, {info['resolution']} px, {info['face_type']})")
    return 0


def cmd_mask(args: argparse.Namespace) -> int:
    mode = "quiet" if args.quiet else args.progress
    if args.job == "train":
        from facegraft.mask.options import MaskTrainOptions
        from facegraft.mask.trainer import train_mask

        summary = train_mask(args.shots, args.model, from_namespace(MaskTrainOptions, args), mode).as_dict()
        text = (
            f"trained {args.model} to step {summary['iteration']} on {summary['labelled_faces']} labelled "
            f"faces: loss {summary['first_loss']} -> {summary['last_loss']}"
        )
    elif args.job == "apply":
        from facegraft.mask.apply import apply_mask_model

        summary = apply_mask_model(args.shot, args.model, args.name, mode).as_dict()
        text = f"stored mask '{args.name}' for {summary['faces']} faces of {args.shot}"
    elif args.job == "export":
        from facegraft.mask.image_files import export_masks

        summary = export_masks(args.shot, args.output, args.name, args.space, mode).as_dict()
        text = f"wrote {summary['files']} {args.space}-space images of mask '{args.name}' to {args.output}"
        if summary["without_mask"]:
            text += f" ({summary['without_mask']} faces have no such mask)"
    else:
        from facegraft.mask.image_files import import_masks

        summary = import_masks(args.shot, args.dir, args.name, args.space, mode).as_dict()
        text = f"stored {summary['faces']} '{args.name}' masks from {summary['files']} images in {args.dir}"
    if args.progress == "json":
        print(json.dumps({"task": f"mask-{args.job}", "event": "summary", **summary}))
    else:
        _say(args, text)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from facegraft.train.options import SampleOptions, TrainOptions
    from facegraft.train.trainer import train

    opts = from_namespace(TrainOptions, args, sampling=from_namespace(SampleOptions, args))
    s = train(args.src, args.dst, args.model, opts, progress_mode="quiet" if args.quiet else args.progress)
    summary = {
        "model": str(s.model_dir),
        "iteration": s.iteration,
        "first_loss": s.first_loss,
        "last_loss": s.last_loss,
        "seconds": round(s.seconds, 1),
        "samples_per_s": round(s.samples_per_s, 1),
        "resumed_from": s.resumed_from,
        "ranks": s.ranks,
        "ranks_agree": s.ranks_agree,
        "faces": s.faces,
    }
    if os.environ.get("RANK", "0") != "0":
        return 0  # under torchrun, rank 0 reports for all
    if args.progress == "json":
        print(json.dumps({"task": "train", "event": "summary", **summary}))
    elif not args.quiet:
        print(
            f"trained {args.model} to step {s.iteration}: loss {s.first_loss} -> {s.last_loss}, "
            f"{s.samples_per_s:.1f} samples/s"
        )
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from facegraft.merge.convert import convert
    from facegraft.merge.options import MergeOptions, OutputOptions, PersonOptions

    s = convert(
        args.plate,
        args.shot,
        args.model,
        args.out_dir,
        args.frames,
        from_namespace(MergeOptions, args),
        from_namespace(OutputOptions, args),
        progress_mode="quiet" if args.quiet else args.progress,
        persons=from_namespace(PersonOptions, args),
    )
    if args.progress == "json":
        print(json.dumps({"task": "convert", "event": "summary", **s.as_dict()}))
    elif not args.quiet:
        who = f", persons {', '.join(p['label'] for p in s.persons)}" if s.persons else ""
        left = f", {s.faces_left} left as the plate" if s.faces_left else ""
        print(
            f"converted {s.frames_done} frames ({s.frames_skipped} already done, {s.faces} faces{who}{left}) "
            f"into {s.out_dir} in {s.seconds:.1f} s"
        )
    return 0


def cmd_alignments(args: argparse.Namespace) -> int:
    from facegraft.store import jobs
    from facegraft.store.alignments import AlignmentsStore
    from facegraft.store.json_format import export_json, import_json

    if args.job == "import":
        with AlignmentsStore.open(args.shot, create=True) as store:
            n = import_json(store, args.json, replace=not args.merge)
        _say(args, f"imported {n} frames into {args.shot}")
        return 0
    with AlignmentsStore.open(args.shot) as store:
        if args.job == "export":
            n = export_json(store, args.json)
            _say(args, f"wrote {n} frames to {args.json}")
        elif args.job == "no-faces":
            print("\n".join(str(f) for f in jobs.frames_without_faces(store)))
        elif args.job == "multi-faces":
            print("\n".join(str(f) for f in jobs.frames_with_several_faces(store)))
        elif args.job == "remove-deleted":
            removed = jobs.remove_deleted_faces(store)
            _say(args, f"removed {len(removed)} faces whose images are gone")
        elif args.job == "rename":
            result = jobs.rename_face_images(store)
            renamed = getattr(result, "renamed", result)
            _say(args, f"renamed {len(renamed)} face images")
        elif args.job == "stats":
            print(json.dumps(store.stats()))
        elif args.job in ("shots", "flagged"):
            _list_shots_or_flagged(args, store)
        elif args.job == "persons":
            _persons(args, store)
        elif args.job == "draw":
            from facegraft.extract.draw import draw_alignments

            n = draw_alignments(store, args.plate, Path(args.output), args.frames, args.colourspace)
            _say(args, f"drew {n} frames into {args.output}")
    return 0


def _list_shots_or_flagged(args: argparse.Namespace, store: AlignmentsStore) -> None:
    """`alignments shots` / `alignments flagged`: a table, or with --json one JSON list."""
    from facegraft.store.shots import shots

    if args.job == "shots":
        found = [s.as_dict() for s in shots(store)]
        headers = ("shot", "frames", "count", "faces", "tracks")
        rows = [
            (s["index"], f"{s['first_frame']}-{s['last_frame']}", s["frames"], s["faces"], _ids(s["tracks"]))
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
                _ids([f["track_id"]]),
                ",".join(f["flags"]),
                f"{f['landmark_confidence']:.2f}",
            )
            for f in found
        ]
    if args.json or args.progress == "json":
        print(json.dumps(found))
    elif not rows:
        _say(args, f"no {'shots' if args.job == 'shots' else 'flagged faces'} in {args.shot}")
    else:
        print(_table(headers, rows))


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
            _ids(list(p.tracks)),
            " ".join(f"{a}-{b}" if a != b else str(a) for a, b in p.ranges[:6])
            + (" ..." if len(p.ranges) > 6 else ""),
            _ids(list(p.shots)),
        )
        for p in found
    ]
    print(
        _table(("person", "name", "faces", "tracks", "frames", "shots"), rows)
        if rows
        else "no faces to group"
    )
    _say(args, f"contact sheet: {sheet}")


def _ids(ids: list) -> str:
    """Track ids for a table cell: comma-separated, '-' for none."""
    return ",".join(str(i) for i in ids if i is not None) or "-"


def _table(headers: tuple[str, ...], rows: list[tuple]) -> str:
    """Left-aligned columns two spaces apart, a header line first."""
    cells = [tuple(map(str, headers)), *(tuple(map(str, row)) for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells)


def _say(args: argparse.Namespace, text: str) -> None:
    if not getattr(args, "quiet", False):
        print(text)


RUNS = {
    "extract": cmd_extract,
    "train": cmd_train,
    "convert": cmd_convert,
    "alignments": cmd_alignments,
    "model": cmd_model,
    "faceset": cmd_faceset,
    "serve": cmd_serve,
    "farm": cmd_farm,
    "release": cmd_release,
    "verify": cmd_verify,
    "review": cmd_review,
    "mask": cmd_mask,
}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return RUNS[args.command](args)
    except FacegraftError as exc:
        if getattr(args, "verbose", False):
            traceback.print_exc()
        print(f"facegraft: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("facegraft: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
