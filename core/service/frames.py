"""Per-frame swaps for interactive hosts: one RGBA frame in, one pass out, with models kept loaded.

Each call takes the frame's faces from a shot's alignments store when the options name one (``shot``:
the same smoothed landmarks `convert` uses, so the pixels match it), or else detects and landmarks them;
merges them with the model the options name; and returns the pass asked for: ``comp`` (RGBA, the
plate's alpha kept), ``swap`` (RGBA, premultiplied) or ``matte`` (one channel). Pixels stay in the
plate's colour space (``colourspace`` option; default the shot's, else scene-linear). Calls run one at a
time: the model is not shared across threads.

With a ``shot``, the ``person`` option (a person id, name or reference photo, or a list of them) swaps
only those persons' faces with ``model``, and ``swap`` (``"PERSON=MODELDIR"`` or a list of them) swaps
each person with its own model, as `convert --person` / `--swap` do: every other face keeps the plate's
pixels, and the config hash (so the watermark payload) is convert's for the same choice.

Like `convert`'s comp, the ``comp`` pass carries the invisible watermark in every swapped face (nothing
outside the matte changes); ``swap`` and ``matte`` are left unmarked for grading. The reply's info names
the payload under ``facegraft/watermark`` as convert's headers do, and says ``facegraft/synthetic``.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import OrderedDict
from functools import partial
from pathlib import Path

import numpy as np

from facegraft.commands import typed_values
from facegraft.errors import InputError
from facegraft.io.colour import use_config
from facegraft.registry import require_choice
from facegraft.service.protocol import FrameMessage

PASSES = ("comp", "swap", "matte")


class FrameEngine:
    """Keeps up to `keep` swap models resident; `process` merges one frame."""

    def __init__(self, check_path, keep: int = 2) -> None:
        self._check_path = check_path
        self._models: OrderedDict[str, object] = OrderedDict()
        self._keep = keep
        self._lock = threading.Lock()
        self._shots: dict[str, tuple[float, object, str]] = {}
        self._pools: dict[tuple, dict] = {}  # whole-shot colour pools (colour_window 0) of recent calls
        self._finder = None

    def model(self, path: str):
        """The swap model at `path`, loaded once and kept (least recently used dropped)."""
        from facegraft.models.swap_model import load_swap_model

        if path in self._models:
            self._models.move_to_end(path)
            return self._models[path]
        model = load_swap_model(path)
        self._models[path] = model
        while len(self._models) > self._keep:
            self._models.popitem(last=False)
        return model

    def _shot(self, path: str, merge, persons=None) -> tuple[object, dict]:
        """(ShotFaces, the plate its store records) of a shot, loaded once per change of its store;
        `persons` (ids) keeps only their faces."""
        from facegraft.merge.convert import load_shot_faces
        from facegraft.store.alignments import AlignmentsStore

        with AlignmentsStore.open(path) as store:
            stamp = store.path.stat().st_mtime
            who = ",".join(map(str, sorted(persons))) if persons else "*"
            key = f"{path}|{merge.smooth}|{merge.smooth_frames}|{merge.stored_mask()}|{who}"
            cached = self._shots.get(key)
            if cached is None or cached[0] != stamp:
                cached = (stamp, load_shot_faces(store, merge, persons), store.plate())
                self._shots[key] = cached
        return cached[1], cached[2]

    def _selection(self, shot: str, model_path: str | None, persons):
        """Whose faces to swap with which model (convert's Selection), the models kept loaded."""
        from facegraft.merge.convert import select_persons
        from facegraft.merge.options import PersonOptions
        from facegraft.store.alignments import AlignmentsStore

        with AlignmentsStore.open(shot) as store:
            return select_persons(store, model_path, persons or PersonOptions(), load=self.model)

    def _face_finder(self):
        """The extraction defaults' detector and landmarker, loaded on the first call without a shot."""
        from facegraft.extract.pipeline import ExtractOptions, build_tracker

        if self._finder is None:
            self._finder = build_tracker(ExtractOptions(embeddings=False, detect_every=1)).finder
        return self._finder

    def _pool_of(self, shot, opts: dict, recorded: dict, merge, frame: int, prepare, config: str):
        """The colour-window pool lookup of a frame of a shot, as convert builds it: the same track's faces
        on the window's earlier frames, or on frames spread over the shot for window 0, read from the
        plate on disk (the ``plate`` option, else the one the shot's store records)."""
        from facegraft.io.plate import open_plate
        from facegraft.merge.frame import pooled, same_track, shot_pools, window_frames

        if shot is None or not pooled(merge) or merge.colour_window == 1:
            return lambda p: ()
        plate_path = str(opts.get("plate") or recorded.get("path") or "")
        if not plate_path:
            raise InputError("options.colour_window reads the shot's other frames: give options.plate")
        with open_plate(plate_path) as plate:
            if merge.colour_window == 0:
                key = (id(shot), plate_path, config)
                if key not in self._pools:
                    self._pools[key] = shot_pools(plate, shot.by_frame, prepare)
                    while len(self._pools) > self._keep:
                        self._pools.pop(next(iter(self._pools)))
                pools = self._pools[key]
                return lambda p: pools.get(p.task.key, [])
            frames = window_frames(frame, merge, set(plate.frames) & shot.frames_done)
            faces = [
                q
                for info, px in plate.iter_frames(frames)
                for q in prepare(px, shot.by_frame.get(info.frame, []))
            ]
            return same_track(faces)

    def process(self, msg: FrameMessage) -> tuple[np.ndarray, dict]:
        """(pass pixels (H, W, C) float32, info) for one frame message."""
        from facegraft.extract.tracker import Tracker
        from facegraft.io.colour import ColourConverter, resolve_colourspace
        from facegraft.merge.convert import Selection, config_hash
        from facegraft.merge.frame import merge_frame, pooled
        from facegraft.merge.merger import FaceTask
        from facegraft.merge.options import MergeOptions, OutputOptions, PersonOptions
        from facegraft.merge.passes import CONFIG_KEY, SYNTHETIC_KEY, WATERMARK_KEY
        from facegraft.provenance.marking import describe

        opts = {k: v for k, v in msg.options.items() if v is not None}  # null: not given
        if "model" not in opts and not opts.get("swap"):
            raise InputError("options.model is required (the trained model's folder)")
        which = str(opts.pop("pass", "comp"))
        require_choice(which, PASSES, "pass")
        crop = opts.pop("crop_size", 512)
        # Every other option is one of convert's, typed and checked by its declarations, paths confined.
        opts = typed_values("convert", opts, self._check_path, complete=False, where="options.")
        use_config(opts.get("ocio_config"))  # the call's colour spaces are named in this config
        merge = MergeOptions(**{k: v for k, v in opts.items() if k in _fields(MergeOptions)})
        merge.validate()
        output = OutputOptions(**{k: v for k, v in opts.items() if k in ("layout", "format")})
        model_path = opts.get("model") or None
        chosen_persons = {k: v for k, v in opts.items() if k in ("person", "swap") and v}
        persons = PersonOptions(**chosen_persons) if chosen_persons else None
        if persons is not None:
            persons.validate()
            if not opts.get("shot"):
                raise InputError(
                    "options.person and options.swap choose persons of a shot: give options.shot"
                )
        pixels = msg.pixels
        rgb = pixels[:, :, :3] if pixels.shape[2] >= 3 else np.repeat(pixels, 3, axis=2)
        alpha = pixels[:, :, 3] if pixels.shape[2] == 4 else np.ones(pixels.shape[:2], np.float32)
        t0 = time.perf_counter()
        with self._lock:
            conv = ColourConverter(resolve_colourspace(str(opts.get("colourspace") or "scene-linear")))
            native = np.ascontiguousarray(rgb, np.float32)
            recorded: dict = {}
            if opts.get("shot"):
                shot_path = opts["shot"]
                selection = self._selection(shot_path, model_path, persons)
                shot, recorded = self._shot(shot_path, merge, selection.ids)
                if not opts.get("colourspace"):
                    conv = ColourConverter(resolve_colourspace(recorded.get("colourspace") or "scene-linear"))
                tasks = shot.by_frame.get(msg.frame, [])
            else:
                if pooled(merge) and merge.colour_window != 1:
                    raise InputError(
                        "options.colour_window pools a face's colour with its track's other frames: "
                        "give options.shot (a frame alone has no track)"
                    )
                shot = None
                selection = Selection(self.model(model_path))
                # A fresh tracker per call (frames from a host need not follow each other) around the
                # detector and landmarker loaded once.
                found = Tracker(self._face_finder(), detect_every=1).step(conv.to_working_uint8(native), 0)
                crop = int(crop)
                tasks = [
                    FaceTask(f.landmarks.astype(np.float64), crop_size=crop, key=i)
                    for i, f in enumerate(found)
                ]
            model = selection.primary
            config = config_hash(model, merge, output, conv.source, selection.record())
            payload = frame_payload(opts.get("plate") or recorded.get("path") or "", config)
            prepare = partial(_prepare_with, conv=conv, model_for=selection.model_for, merge=merge)
            prepared = prepare(native, tasks)
            pool_of = self._pool_of(shot, opts, recorded, merge, msg.frame, prepare, config)
            chosen = [p.id for p in selection.persons]
            done = merge_frame(native, conv, prepared, merge, msg.frame, chosen, payload, pool_of)
            layers = done.layers
            # swap and matte stay unmarked for grading, as convert leaves them
            comp = done.marked.comp if which == "comp" else layers.comp
        if which == "comp":
            out = np.dstack([comp, alpha])
        elif which == "swap":
            out = np.dstack([layers.swap, layers.matte])
        else:
            out = layers.matte[:, :, None]
        info = {
            "pass": which,
            "faces": len(prepared),
            "model": str(Path(model_path)) if model_path else None,
            "persons": selection.record() or [],
            "seconds": round(time.perf_counter() - t0, 3),
            SYNTHETIC_KEY: "true",
            CONFIG_KEY: config,
            WATERMARK_KEY: (
                f"comp: {describe(payload)}; swap, matte unmarked for grading"
                if which == "comp"
                else "none: left unmarked for grading"
            ),
        }
        return out.astype(np.float32), info


def _prepare_with(native, tasks, *, conv, model_for, merge) -> list:
    """merge.frame.prepare_frame with the call's converter, models and options bound."""
    from facegraft.merge.frame import prepare_frame

    return prepare_frame(native, conv, list(tasks), model_for, merge)


def frame_payload(plate: str, config: str):
    """The watermark payload of a frame call: `convert`'s for the same job settings.

    Convert's job id is ``<plate file name>:<config hash>``, so every frame range a farm splits a job into
    carries the same mark. A frame call takes the plate's name from its ``plate`` option (the plate as
    convert is given it; only its file name counts), else from the plate the ``shot``'s store recorded at
    extraction; a call with neither has no plate name, and its job id is ``:<config hash>`` (the settings
    alone). The config hash is convert's: engine version, model hash, merge options, the ``layout`` and
    ``format`` options (convert's defaults unless given) and the plate's colour space."""
    from facegraft.provenance.marking import job_payload

    return job_payload(f"{Path(str(plate)).name if plate else ''}:{config}")


def _fields(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}
