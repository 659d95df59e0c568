"""The layers the folders promise: the engine (core/, imported as `facegraft`) never imports a host, and a
host never imports the engine or torch. Read from the source's import statements (every module, imports
inside functions included), not from what happens to be loaded."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HOST_PACKAGES = {
    "facegraft_client",
    "facegraft_nuke",
    "facegraft_blender",
    "facegraft_watcher",
    "nuke",
    "bpy",
}
ENGINE_PACKAGES = {"facegraft", "torch", "torchvision"}


def imported_roots(path: Path) -> dict[str, int]:
    """{top-level package: first line importing it} of one module's absolute imports."""
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            found.setdefault(name.split(".")[0], node.lineno)
    return found


def offenders(folder: Path, forbidden: set[str]) -> list[str]:
    out = []
    for path in sorted(folder.rglob("*.py")):
        for root, line in imported_roots(path).items():
            if root in forbidden:
                out.append(f"{path.relative_to(REPO)}:{line} imports {root}")
    return out


def test_the_engine_never_imports_a_host():
    assert offenders(REPO / "core", HOST_PACKAGES) == []


@pytest.mark.parametrize("host", sorted(p.name for p in (REPO / "hosts").iterdir() if p.is_dir()))
def test_a_host_never_imports_the_engine_or_torch(host):
    assert offenders(REPO / "hosts" / host, ENGINE_PACKAGES) == []


def test_the_scan_sees_imports_inside_functions(tmp_path):
    (tmp_path / "m.py").write_text("def f():\n    from facegraft_client import Client\n    import torch.nn\n")
    assert imported_roots(tmp_path / "m.py") == {"facegraft_client": 2, "torch": 3}
