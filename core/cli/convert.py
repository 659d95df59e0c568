"""`facegraft convert`: put the learned face on every frame and write the passes."""

from __future__ import annotations

import argparse

from facegraft.cli.common import report
from facegraft.io.colour import use_config
from facegraft.options import from_namespace


def run(args: argparse.Namespace) -> int:
    """Run `facegraft convert` as parsed; the exit code."""
    from facegraft.merge.convert import convert
    from facegraft.merge.options import MergeOptions, OutputOptions, PersonOptions

    use_config(args.ocio_config)
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
    who = f", persons {', '.join(p['label'] for p in s.persons)}" if s.persons else ""
    left = f", {s.faces_left} left as the plate" if s.faces_left else ""
    text = (
        f"converted {s.frames_done} frames ({s.frames_skipped} already done, {s.faces} faces{who}{left}) "
        f"into {s.out_dir} in {s.seconds:.1f} s"
    )
    return report(args, "convert", s.as_dict(), text)
