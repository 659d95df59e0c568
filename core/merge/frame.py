"""One frame merged: its faces swapped by their persons' models, recoloured against the same track's faces
on neighbouring frames (the colour window), composited over the plate and marked as synthetic. The one
per-frame merge: `convert` runs it over a plate, the service's /v1/frame over a frame a host sends, so
the two give the same pixels for the same frame and options."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from facegraft.io.colour import ColourConverter
from facegraft.io.plate import Plate
from facegraft.merge.merger import FaceTask, FrameLayers, PreparedFace, composite, prepare_faces
from facegraft.merge.options import MergeOptions
from facegraft.merge.recolour import RECOLOUR_MODES, recolour
from facegraft.models.swap_model import SwapModel
from facegraft.provenance import marking

SHOT_SAMPLE = 16  # frames per track whose colour statistics stand for the whole shot (--colour-window 0)

ModelFor = Callable[[FaceTask], "SwapModel | None"]
Prepare = Callable[[np.ndarray, list[FaceTask]], list[PreparedFace]]
PoolOf = Callable[[PreparedFace], Sequence[PreparedFace]]


def prepare_frame(
    native: np.ndarray,
    conv: ColourConverter,
    tasks: Sequence[FaceTask],
    model_for: ModelFor,
    merge: MergeOptions,
) -> list[PreparedFace]:
    """Every face of a frame ((H, W, 3) native pixels) aligned and swapped by its person's model (one batch
    a model), in the order of `tasks` (later faces go over earlier ones); faces no model takes are left
    out."""
    groups: dict[int, tuple[SwapModel, list[FaceTask]]] = {}
    for t in tasks:
        model = model_for(t)
        if model is not None:
            groups.setdefault(id(model), (model, []))[1].append(t)
    if len(groups) == 1:
        model, group = next(iter(groups.values()))
        return prepare_faces(native, conv, group, model, merge)
    order = {id(t): i for i, t in enumerate(tasks)}
    out = [p for model, group in groups.values() for p in prepare_faces(native, conv, group, model, merge)]
    return sorted(out, key=lambda p: order[id(p.task)])


def pooled(merge: MergeOptions) -> bool:
    """Whether the colour mode pools statistics over frames (the colour window applies)."""
    return RECOLOUR_MODES[merge.colour].pooled


def window_frames(frame: int, merge: MergeOptions, available: Iterable[int]) -> list[int]:
    """The earlier frames whose faces join `frame`'s colour statistics (`colour_window` - 1 of them, those
    in `available`); none for a window of 1, a mode that does not pool, or the whole-shot window 0."""
    if not pooled(merge) or merge.colour_window <= 1:
        return []
    known = set(available)
    return [g for g in range(frame - merge.colour_window + 1, frame) if g in known]


def shot_pools(
    plate: Plate, by_frame: Mapping[int, Sequence[FaceTask]], prepare: Prepare
) -> dict[object, list[PreparedFace]]:
    """For the whole-shot window (0) of a pooled mode: per track, its faces prepared on up to SHOT_SAMPLE
    frames spread over the shot (`by_frame`: each stored frame's faces)."""
    per_track: dict[object, list[int]] = {}
    for frame, tasks in by_frame.items():
        for t in tasks:
            per_track.setdefault(t.key, []).append(frame)
    wanted: dict[int, set] = {}
    for key, frames in per_track.items():
        known = set(plate.frames)
        frames = sorted(f for f in frames if f in known)
        picks = np.unique(np.linspace(0, len(frames) - 1, min(SHOT_SAMPLE, len(frames))).round().astype(int))
        for i in picks:
            wanted.setdefault(frames[i], set()).add(key)
    pools: dict[object, list[PreparedFace]] = {}
    for info, native in plate.iter_frames(sorted(wanted)):
        tasks = [t for t in by_frame[info.frame] if t.key in wanted[info.frame]]
        for p in prepare(native, tasks):
            pools.setdefault(p.task.key, []).append(p)
    return pools


def same_track(faces: Iterable[PreparedFace]) -> PoolOf:
    """A pool lookup over prepared faces of other frames: the ones of the face's own track."""
    by_key: dict[object, list[PreparedFace]] = {}
    for q in faces:
        by_key.setdefault(q.task.key, []).append(q)
    return lambda p: by_key.get(p.task.key, [])


@dataclass
class FrameMerge:
    """A merged frame: the (face, recoloured swap) pairs, the layers and the marked comp."""

    pairs: list[tuple[PreparedFace, np.ndarray]]
    layers: FrameLayers
    marked: marking.MarkedFrame


def merge_frame(
    native: np.ndarray,
    conv: ColourConverter,
    prepared: Sequence[PreparedFace],
    merge: MergeOptions,
    frame: int,
    chosen: Sequence[int],
    payload: object,
    pool_of: PoolOf = lambda p: (),
) -> FrameMerge:
    """Composite a frame's prepared faces over its (H, W, 3) native pixels and mark the comp with
    `payload`; `pool_of` gives each face the same track's faces its colour statistics pool with, and the
    degrade noise is drawn from (seed, frame) so any run of the frame draws the same."""
    pairs = [(p, recolour(p, merge.colour, pool_of(p))) for p in prepared]
    rng = np.random.default_rng([merge.seed, frame])
    layers = composite(native, conv, pairs, merge, rng, list(chosen))
    marked = marking.mark_comp(  # looked up when called: a test can swap the marker out
        layers.comp,
        conv.to_working_float(layers.comp),
        layers.matte,
        payload,
        conv.from_working_float,
        [p.task.landmarks for p in prepared],
    )
    return FrameMerge(pairs, layers, marked)
