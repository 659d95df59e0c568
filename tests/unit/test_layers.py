"""The layers the folders promise: the engine (core/, imported as `facegraft`) never imports a host, and a
host never imports the engine or torch. Read from the source's import statements (every module, imports
inside functions included), not from what happens to be loaded."""

from __future__ import annotations

import ast
from collections.abc import Iterator
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


def imported_names(path: Path) -> Iterator[tuple[str, int]]:
    """(dotted name, line) of each absolute import of one module; `from facegraft import x` gives
    facegraft.x (x may be a package)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from ((a.name, node.lineno) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "facegraft":
                yield from ((f"facegraft.{a.name}", node.lineno) for a in node.names)
            else:
                yield node.module, node.lineno


def imported_roots(path: Path) -> dict[str, int]:
    """{top-level package: first line importing it} of one module's absolute imports."""
    found: dict[str, int] = {}
    for name, line in imported_names(path):
        found.setdefault(name.split(".")[0], line)
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


# The engine's packages from the bottom up: a package imports only from its own layer or the layers below,
# and never round in a circle. The front ends (the CLI, the service, the farm template, the review page)
# sit on top of every stage.
LAYERS = (
    {"errors", "registry", "options", "progress", "io", "sample_data"},
    {"geometry", "imaging", "store", "models", "sample_plates"},
    {"extract"},
    {"persons", "provenance"},
    {"faceset"},
    {"mask"},
    {"train", "merge"},
    {"cli", "service", "farm", "review", "demo", "demo_real", "__main__"},
)
FRONT_ENDS = LAYERS[-1]


def engine_imports() -> dict[str, dict[str, str]]:
    """{package: {package it imports: first place}} over core/, packages being core/'s first level."""
    core = REPO / "core"
    edges: dict[str, dict[str, str]] = {}
    for path in sorted(core.rglob("*.py")):
        rel = path.relative_to(core)
        me = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        for name, line in imported_names(path):
            parts = name.split(".")
            if parts[0] == "facegraft" and len(parts) > 1 and parts[1] not in (me, "__version__"):
                edges.setdefault(me, {}).setdefault(parts[1], f"core/{rel.as_posix()}:{line}")
    return edges


def cycles(edges: dict[str, dict[str, str]], among: set[str]) -> list[set[str]]:
    """The strongly connected groups of more than one package, over the imports between `among`."""
    reach = {a: {b for b in edges.get(a, {}) if b in among} for a in among}
    changed = True
    while changed:
        changed = False
        for a in among:
            more = set().union(*(reach[b] for b in reach[a])) - reach[a] if reach[a] else set()
            if more:
                reach[a] |= more
                changed = True
    groups = {frozenset({a} | {b for b in reach[a] if a in reach[b]}) for a in among}
    return [set(g) for g in groups if len(g) > 1]


def layer_of(package: str) -> int:
    for i, layer in enumerate(LAYERS):
        if package in layer:
            return i
    raise AssertionError(f"core/{package} is in no layer of LAYERS: give it its place there")


def test_every_engine_package_imports_only_down_the_layers():
    edges = engine_imports()
    upward = [
        f"{where}: {a} ({layer_of(a)}) imports {b} ({layer_of(b)})"
        for a, targets in edges.items()
        for b, where in targets.items()
        if layer_of(b) > layer_of(a)
    ]
    assert upward == []


def test_no_import_cycle_between_the_engine_s_packages_below_the_front_ends():
    edges = engine_imports()
    below = {p for layer in LAYERS[:-1] for p in layer}
    assert cycles(edges, below) == []
    assert "train" not in edges.get("merge", {}), f"merge imports train at {edges['merge'].get('train')}"


@pytest.mark.xfail(
    strict=True,
    reason="issue 25: the service and the farm still build jobs from the CLI's argparse parser, and the "
    "review page and the service launch each other; the command registry is what removes this",
)
def test_no_import_cycle_between_the_front_ends():
    assert cycles(engine_imports(), set(FRONT_ENDS)) == []


def test_the_cycle_check_finds_a_cycle():
    edges = {"a": {"b": "x"}, "b": {"c": "y"}, "c": {"a": "z"}, "d": {"a": "w"}}
    assert cycles(edges, {"a", "b", "c", "d"}) == [{"a", "b", "c"}]


def test_every_engine_package_is_installed():
    """pyproject lists the subpackages one by one: a folder left off is missing from a wheel install."""
    import tomllib

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {f"facegraft.{p.parent.name}" for p in (REPO / "core").glob("*/__init__.py")}
    assert folders - listed == set()
