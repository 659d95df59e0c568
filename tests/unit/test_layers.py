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
# and never round in a circle. The command registry sits on the stages (it gathers their declarations), and
# the front ends (the CLI, the service, the farm template, the review page) on top of it.
LAYERS = (
    {"errors", "registry", "options", "progress", "io", "sample_data"},
    {"geometry", "imaging", "store", "models", "sample_plates"},
    {"extract"},
    {"persons", "provenance"},
    {"faceset"},
    {"mask"},
    {"train", "merge"},
    {"commands"},
    {"cli", "service", "farm", "review", "demo", "demo_real", "ofx_header", "__main__"},
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


def core_offences(scan, homes: set[Path] = frozenset()) -> set[str]:
    """`path:line` of what `scan` (module -> lines) finds in core/, outside the modules in `homes`."""
    return {
        f"{p.relative_to(REPO)}:{line}"
        for p in sorted((REPO / "core").rglob("*.py"))
        if p not in homes
        for line in scan(p)
    }


def renames(path: Path) -> list[int]:
    """Lines of one module that rename a file: os.replace / os.rename, shutil.move, or Path.rename /
    Path.replace (one argument; str.replace takes two, dataclasses.replace takes keywords)."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        owner = node.func.value.id if isinstance(node.func.value, ast.Name) else ""
        attr = node.func.attr
        if (owner, attr) in {("os", "replace"), ("os", "rename"), ("shutil", "move")} or (
            attr in ("rename", "replace")
            and owner not in ("os", "dataclasses", "shutil")
            and len(node.args) == 1
            and not node.keywords
        ):
            lines.append(node.lineno)
    return lines


def test_the_engine_renames_files_in_the_atomic_write_helper_alone():
    """One implementation of atomic writes and moves (facegraft.io.atomic); the hosts have their own."""
    found = core_offences(renames, {REPO / "core" / "io" / "atomic.py"})
    assert found == set()


def test_the_rename_scan_sees_each_form(tmp_path):
    src = (
        "import os, shutil, dataclasses\n"
        "os.replace(a, b)\nos.rename(a, b)\nshutil.move(a, b)\np.rename(q)\np.replace(q)\n"
        "s.replace('a', 'b')\ndataclasses.replace(x, y=1)\n"
    )
    (tmp_path / "m.py").write_text(src)
    assert renames(tmp_path / "m.py") == [2, 3, 4, 5, 6]


SHOT_NAMES = {"alignments.db", "faces", "debug"}


def shot_layout_spellings(path: Path) -> list[int]:
    """Lines of one module that spell a shot folder's part by name: `x / "faces"`, or "alignments.db"
    anywhere outside a docstring or help text (a string that is the whole name)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            for side in (node.left, node.right):
                if isinstance(side, ast.Constant) and side.value in SHOT_NAMES:
                    lines.append(node.lineno)
        elif isinstance(node, ast.Constant) and node.value == "alignments.db":
            lines.append(node.lineno)
    return sorted(set(lines))


def test_the_shot_layout_is_named_in_one_module():
    found = core_offences(shot_layout_spellings, {REPO / "core" / "store" / "shot.py"})
    assert found == set()


def test_the_layout_scan_sees_each_spelling(tmp_path):
    (tmp_path / "m.py").write_text(
        'a = shot / "faces"\nb = "alignments.db"\nc = "faces: 3"\nd = x / "debug"\n'
    )
    assert shot_layout_spellings(tmp_path / "m.py") == [1, 2, 4]


FRAME_NAME_HOMES = {REPO / "core" / "io" / "sequence.py", REPO / "core" / "io" / "framespec.py"}


def signed_number_patterns(path: Path) -> list[int]:
    """Lines of one module whose string literals hold a regex for a signed number (`-?\\d`): the mark of a
    frame number read from a file name (or a frame range)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return sorted(
        {
            node.lineno
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and "-?\\d" in node.value
        }
    )


def test_frame_numbers_are_read_from_file_names_in_one_module():
    """io.sequence parses frame-file names (split_numbered, frame_of_name, sequence_regex); io.framespec
    reads frame ranges ("1001-1100x2"). No other module reads a frame number out of a name."""
    found = core_offences(signed_number_patterns, FRAME_NAME_HOMES)
    assert found == set()


def test_a_bad_choice_is_worded_in_one_place():
    """registry.unknown words every "unknown X 'y' (choose from: ...)" error; a module that writes its own
    drifts (quotes, order, the list it names)."""

    def worded(path: Path) -> list[int]:
        lines = path.read_text(encoding="utf-8").splitlines()
        return [i for i, line in enumerate(lines, 1) if "(choose from: {" in line]

    assert core_offences(worded, {REPO / "core" / "registry.py"}) == set()


def calls_of(path: Path, names: set[str]) -> list[str]:
    """`name:line` of each call in one module of a function named in `names` (bare or as an attribute)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            if name in names:
                out.append(f"{name}:{node.lineno}")
    return out


def test_one_per_frame_merge_serves_convert_and_the_frame_service():
    """merge.frame.merge_frame alone recolours, composites and marks a frame (convert and /v1/frame both
    call it), so the two cannot drift apart again."""
    steps = {"recolour", "composite", "mark_comp"}
    found = core_offences(lambda path: calls_of(path, steps), {REPO / "core" / "merge" / "frame.py"})
    assert found == set()
    for user in ("merge/convert.py", "service/frames.py"):
        assert calls_of(REPO / "core" / user, {"merge_frame"}), f"core/{user} no longer calls merge_frame"
