"""`facegraft train`: learn a face-swap model from a source and a destination shot."""

from __future__ import annotations

import argparse
import os

from facegraft.cli.common import report
from facegraft.options import from_namespace


def run(args: argparse.Namespace) -> int:
    """Run `facegraft train` as parsed; the exit code."""
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
    text = (
        f"trained {args.model} to step {s.iteration}: loss {s.first_loss} -> {s.last_loss}, "
        f"{s.samples_per_s:.1f} samples/s"
    )
    return report(args, "train", summary, text)
