"""`facegraft mask`: occlusion-aware face masks learned from a few labelled faces."""

from __future__ import annotations

import argparse

from facegraft.cli.common import Parser, report
from facegraft.commands import add_reporting
from facegraft.options import add_arguments, from_namespace


def add(sub: argparse._SubParsersAction) -> None:
    """The `mask` command and its flags on the CLI's sub-command table."""
    from facegraft.mask.image_files import SPACES
    from facegraft.mask.options import LABEL, PREDICTED, MaskTrainOptions

    m = sub.add_parser("mask", help="occlusion-aware face masks learned from a few labelled faces")
    msub = m.add_subparsers(dest="job", required=True, metavar="JOB", parser_class=Parser)
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


def run(args: argparse.Namespace) -> int:
    """Run `facegraft mask` as parsed; the exit code."""
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
    return report(args, f"mask-{args.job}", summary, text)
