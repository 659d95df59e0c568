"""`faceset sort`: rename (or group into folders) the face images so that the faces a user wants to look
at together sit together, and wrong identities, blurred faces and false detections gather at one end.

Each method is one row of SORT_METHODS: the survey columns it reads and a pure function from them to an
order and group labels. Files become ``NNNNN-<store name>.png`` (the store name is ``frame_index.png``),
moved in one batch through temporary names, and the store records the new names in one transaction, so
training still finds every face. `faceset clean` gives every image its store name back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facegraft.errors import InputError
from facegraft.extract.identity import SAME_PERSON
from facegraft.faceset import ordering
from facegraft.faceset.collection import (
    Faceset,
    make_group_folder,
    open_faceset,
    remove_empty_groups,
)
from facegraft.faceset.survey import require_store_columns, survey
from facegraft.io.atomic import move_batch, recover_moves
from facegraft.options import opt
from facegraft.registry import lookup

log = logging.getLogger(__name__)

Columns = dict[str, np.ndarray]


@dataclass
class SortOptions:
    """Options of `faceset sort`, shared by the CLI, the service and the host panels."""

    by: str = opt("identity", "what to sort by", choices=lambda: list(SORT_METHODS), flag="--by")
    group_into_folders: bool = opt(False, "move the images into one folder per group instead of renaming")
    bins: int = opt(10, "groups for value sorts with --group-into-folders (yaw, blur, ...)")
    threshold: float = opt(SAME_PERSON, "identity: embedding distance below which faces are one person")
    count: int = opt(1000, "final: how many faces to keep; the rest move to FACES_rest/ beside the folder")


@dataclass(frozen=True)
class SortMethod:
    """A sort: the survey columns it reads, whether it needs the store, and columns -> (order, groups)."""

    columns: tuple[str, ...]
    needs_store: bool
    order: Callable[[Columns, SortOptions], tuple[np.ndarray, list[str]]]
    help: str


def _by_value(column: str, descending: bool, label: str) -> Callable[[Columns, SortOptions], tuple]:
    def order(cols: Columns, opts: SortOptions) -> tuple[np.ndarray, list[str]]:
        v = np.asarray(cols[column], np.float64)
        key = np.nan_to_num(-v if descending else v, nan=np.inf)
        idx = np.argsort(key, kind="stable")
        bins, ranges = ordering.value_bins(v, opts.bins)
        names = [f"{label}_{b:02d}_{ranges[b][0]:.3g}_{ranges[b][1]:.3g}" for b in bins]
        return idx, names

    return order


def _identity(cols: Columns, opts: SortOptions) -> tuple[np.ndarray, list[str]]:
    order, labels = ordering.identity_order(cols["identity"], opts.threshold)
    return order, [f"identity_{k:03d}" for k in labels]


def _identity_dissim(cols: Columns, opts: SortOptions) -> tuple[np.ndarray, list[str]]:
    d = ordering.mean_distances(cols["identity"])
    bins, _ = ordering.value_bins(-d, opts.bins)
    return np.argsort(-d, kind="stable"), [f"dissim_{b:02d}" for b in bins]


def _hist(cols: Columns, opts: SortOptions) -> tuple[np.ndarray, list[str]]:
    order = ordering.similarity_chain(ordering.bhattacharyya_similarity(cols["hist"]))
    groups = [""] * len(order)
    per = max(1, -(-len(order) // max(1, opts.bins)))
    for rank, i in enumerate(order):
        groups[i] = f"hist_{rank // per:02d}"
    return order, groups


def _hist_dissim(cols: Columns, opts: SortOptions) -> tuple[np.ndarray, list[str]]:
    unlike = 1.0 - ordering.bhattacharyya_similarity(cols["hist"]).mean(1)
    bins, _ = ordering.value_bins(-unlike, opts.bins)
    return np.argsort(-unlike, kind="stable"), [f"hist_dissim_{b:02d}" for b in bins]


def _black(cols: Columns, opts: SortOptions) -> tuple[np.ndarray, list[str]]:
    outside = np.asarray(cols["outside"], np.float64)
    v = np.where(np.isfinite(outside), outside, cols["dark"])
    return _by_value("v", False, "black")({"v": v}, opts)


def _final(cols: Columns, opts: SortOptions) -> tuple[np.ndarray, list[str]]:
    keep = ordering.final_selection(cols["yaw"], cols["pitch"], cols["sharpness"], cols["size"], opts.count)
    cells = ordering.pose_cells(cols["yaw"], cols["pitch"])
    groups = [f"final_cell_{c:03d}" for c in cells]
    return keep, groups


SORT_METHODS: dict[str, SortMethod] = {
    "identity": SortMethod(("identity",), False, _identity, "one run per person, the main person first"),
    "identity-dissim": SortMethod(("identity",), False, _identity_dissim, "least like everyone else first"),
    "hist": SortMethod(("hist",), False, _hist, "similar colour histograms next to each other"),
    "hist-dissim": SortMethod(("hist",), False, _hist_dissim, "most unusual colours first"),
    "blur": SortMethod(("sharpness",), False, _by_value("sharpness", True, "blur"), "sharpest first"),
    "yaw": SortMethod(("yaw",), True, _by_value("yaw", False, "yaw"), "head turned left to right"),
    "pitch": SortMethod(("pitch",), True, _by_value("pitch", False, "pitch"), "looking down to up"),
    "roll": SortMethod(("roll",), True, _by_value("roll", False, "roll"), "tilt, clockwise first"),
    "size": SortMethod(("size",), True, _by_value("size", True, "size"), "largest in the plate first"),
    "brightness": SortMethod(
        ("brightness",), False, _by_value("brightness", True, "brightness"), "brightest first"
    ),
    "hue": SortMethod(("hue",), False, _by_value("hue", False, "hue"), "by mean hue of the skin"),
    "black": SortMethod(
        ("outside", "dark"), False, _black, "least cut off by the frame edge first (black borders)"
    ),
    "final": SortMethod(
        ("yaw", "pitch", "sharpness", "size"),
        True,
        _final,
        "keep the best --count faces spread over yaw and pitch, sharpest and largest first",
    ),
}


@dataclass
class SortResult:
    """What a sort did: the method, faces in their new order (paths), groups made, faces set aside."""

    method: str
    order: list[Path]
    groups: list[str]
    set_aside: list[Path]

    def as_dict(self) -> dict:
        return {
            "method": self.method,
            "faces": len(self.order),
            "groups": len(set(self.groups)),
            "set_aside": len(self.set_aside),
        }


def sort_faceset(
    path: str | Path, opts: SortOptions, progress_mode: str = "quiet", person: str = ""
) -> SortResult:
    """Sort the faceset at `path` (shot folder, faces folder or bare folder of face PNGs) in place; with
    `person` (an id, name or photo) only that person's images are sorted, the others keep their names."""
    method = lookup(SORT_METHODS, opts.by, "sort method")
    folder = open_faceset(path).folder
    recover_moves(folder)
    faceset = open_faceset(path, person)
    if not faceset.items:
        who = f" of {faceset.person.label}" if faceset.person is not None else ""
        raise InputError(f"no face images{who} to sort", faceset.folder)
    if method.needs_store:
        require_store_columns(faceset, f"sorting by {opts.by}")
    cols = survey(faceset, method.columns, progress_mode)
    order, groups = method.order(cols, opts)
    return _apply(faceset, opts, order, groups)


def _apply(faceset: Faceset, opts: SortOptions, order: np.ndarray, groups: list[str]) -> SortResult:
    folder = faceset.folder
    width = max(5, len(str(len(faceset.items))))
    chosen = set(int(i) for i in order)
    moves: list[tuple[Path, Path]] = []
    targets: dict[int, Path] = {}
    for rank, i in enumerate(order):
        item = faceset.items[int(i)]
        name = f"{rank:0{width}d}-{item.canonical_name}"
        parent = make_group_folder(folder, groups[int(i)]) if opts.group_into_folders else folder
        targets[int(i)] = parent / name
        moves.append((item.path, parent / name))
    aside: list[Path] = []
    if len(chosen) < len(faceset.items):
        rest = folder.parent / f"{folder.name}_rest"
        for i, item in enumerate(faceset.items):
            if i not in chosen:
                aside.append(rest / item.canonical_name)
                moves.append((item.path, rest / item.canonical_name))
    move_batch(folder, moves)
    remove_empty_groups(folder)
    if faceset.store_path is not None:
        names = {
            int(faceset.items[i].face.id): faceset.relative(p)  # type: ignore[union-attr]
            for i, p in targets.items()
            if faceset.items[i].face is not None
        }
        with faceset.open_store() as store:
            store.set_face_images(names)
    if aside:
        log.info("%d faces not chosen by 'final' moved to %s", len(aside), aside[0].parent)
    return SortResult(
        method=opts.by,
        order=[targets[int(i)] for i in order],
        groups=[groups[int(i)] for i in order],
        set_aside=aside,
    )
