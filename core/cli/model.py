"""`facegraft model export`: write a trained model's swap path as ONNX."""

from __future__ import annotations

import argparse

from facegraft.cli.common import Parser, report
from facegraft.commands import add_reporting


def add(sub: argparse._SubParsersAction) -> None:
    """The `model` command and its flags on the CLI's sub-command table."""
    m = sub.add_parser("model", help="work with a trained model")
    msub = m.add_subparsers(dest="job", required=True, metavar="JOB", parser_class=Parser)
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


def run(args: argparse.Namespace) -> int:
    """Run `facegraft model` as parsed; the exit code."""
    from facegraft.train.export import export_onnx

    info = export_onnx(args.model_dir, args.onnx, opset=args.opset)
    text = f"wrote {info['onnx']} ({info['arch']}, {info['resolution']} px, {info['face_type']})"
    return report(args, "model-export", info, text)
