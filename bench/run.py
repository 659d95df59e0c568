"""`make bench`: speed and accuracy figures, written to bench/results/. Run on an idle machine."""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

from bench import bench_extract

RESULTS = Path(__file__).parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer frames (a smoke run)")
    parser.add_argument("--work", default=None, help="folder for generated plates (default: a temp dir)")
    args = parser.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = bench_extract.run(quick=args.quick, work=args.work)
    result["machine"] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": __import__("os").cpu_count(),
    }
    out = RESULTS / "extract.json"
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2))
    tmp.replace(out)
    (RESULTS / "extract.md").write_text(bench_extract.report(result))
    print(bench_extract.report(result))
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
