"""`make bench`: speed and accuracy figures, written to bench/results/. Run on an idle machine."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path
from types import ModuleType

RESULTS = Path(__file__).parent / "results"
BENCHES = ("extract", "train", "convert", "faceset", "watermark", "mask")


def _module(name: str) -> ModuleType:
    """The benchmark module for `name` (imported late: each pulls in torch and the engine)."""
    from bench import bench_convert, bench_extract, bench_faceset, bench_mask, bench_train, bench_watermark

    modules = {"extract": bench_extract, "train": bench_train, "convert": bench_convert}
    modules["mask"] = bench_mask
    return {**modules, "faceset": bench_faceset, "watermark": bench_watermark}[name]


def _write(name: str, result: dict, markdown: str) -> Path:
    """results/NAME.json and results/NAME.md, each through a temporary name (the engine's atomic write)."""
    from facegraft.io.atomic import write_text_atomic

    out = RESULTS / f"{name}.json"
    write_text_atomic(out, json.dumps(result, indent=2), "the benchmark results")
    write_text_atomic(RESULTS / f"{name}.md", markdown, "the benchmark report")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer frames and shorter timings (a smoke run)")
    parser.add_argument("--work", default=None, help="folder for generated plates (default: a temp dir)")
    parser.add_argument("--only", choices=BENCHES, action="append", help="run only these (repeatable)")
    args = parser.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    machine = {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count()}
    for name in args.only or BENCHES:
        module = _module(name)
        print(f"bench: {name}", flush=True)
        result = module.run(quick=args.quick, work=args.work)
        result["machine"] = machine
        result["quick"] = args.quick
        markdown = module.report(result)
        out = _write(name, result, markdown)
        print(markdown)
        print(f"results: {out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
