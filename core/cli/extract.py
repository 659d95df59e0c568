"""`facegraft extract`: detect, landmark, align and mask the faces of a plate (flags: the registry)."""

from __future__ import annotations

import argparse

from facegraft.cli.common import report
from facegraft.commands import plugin_values
from facegraft.io.colour import use_config
from facegraft.options import from_namespace


def run(args: argparse.Namespace) -> int:
    """Run `facegraft extract` as parsed; the exit code."""
    from facegraft.extract.pipeline import ExtractOptions
    from facegraft.persons.shot import extract_shot

    use_config(args.ocio_config)
    opts = from_namespace(ExtractOptions, args, plugin_options=plugin_values(args))
    summary = extract_shot(
        args.plate, args.shot, opts, progress_mode="quiet" if args.quiet else args.progress
    )
    text = (
        f"extracted {summary.faces} faces from {summary.frames_done} frames "
        f"({summary.frames_skipped} already done, {len(summary.frames_without_faces)} without faces, "
        f"{summary.persons} persons) into {summary.shot_dir} in {summary.seconds:.1f} s"
    )
    return report(args, "extract", summary.as_dict(), text)
