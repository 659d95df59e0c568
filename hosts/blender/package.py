"""Build the installable add-on zip: ``facegraft_blender/`` with the facegraft client vendored into
``facegraft_blender/_vendor/`` (Blender's Python has nothing else installed). Standard library only.

    python hosts/blender/package.py dist/facegraft_blender.zip
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ADDON = HERE / "facegraft_blender"
CLIENT = HERE.parent / "client" / "facegraft_client"


def build_zip(out: str | Path) -> Path:
    """Write the add-on zip (through a temporary name) and return its path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(ADDON.rglob("*")):
            if f.is_file() and "__pycache__" not in f.parts:
                z.write(f, Path("facegraft_blender") / f.relative_to(ADDON))
        for f in sorted(CLIENT.rglob("*.py")):
            z.write(f, Path("facegraft_blender") / "_vendor" / "facegraft_client" / f.relative_to(CLIENT))
    tmp.replace(out)
    return out


if __name__ == "__main__":
    print(build_zip(sys.argv[1] if len(sys.argv) > 1 else "dist/facegraft_blender.zip"))
