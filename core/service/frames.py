"""Per-frame swaps for interactive hosts: one RGBA frame in, one pass out, with models kept loaded.

Each call takes the frame's faces from a shot's alignments store when the options name one (``shot``:
the same smoothed landmarks `convert` uses, so the pixels match it), or else detects and landmarks them;
merges them with the model the options name; and returns the pass asked for: ``comp`` (RGBA, the
plate's alpha kept), ``swap`` (RGBA, premultiplied) or ``matte`` (one channel). Pixels stay in the
plate's colour space (``colourspace`` option; default the shot's, else scene-linear). Calls run one at a
time: the model is not shared across threads.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np

from facegraft.errors import InputError
from facegraft.service.protocol import FrameMessage

PASSES = ("comp", "swap", "matte")
_ENGINE_KEYS = ("model", "pass", "colourspace", "crop_size", "shot")


class FrameEngine:
    """Keeps up to `keep` swap models resident; `process` merges one frame."""

    def __init__(self, check_path, keep: int = 2) -> None:
        self._check_path = check_path
        self._models: OrderedDict[str, object] = OrderedDict()
        self._keep = keep
        self._lock = threading.Lock()
        self._shots: dict[str, tuple[float, object, str]] = {}

    def model(self, path: str):
        """The swap model at `path`, loaded once and kept (least recently used dropped)."""
        from facegraft.merge.swap_model import load_swap_model

        if path in self._models:
            self._models.move_to_end(path)
            return self._models[path]
        model = load_swap_model(path)
        self._models[path] = model
        while len(self._models) > self._keep:
            self._models.popitem(last=False)
        return model

    def _shot(self, path: str, merge) -> tuple[object, str | None]:
        """(ShotFaces, plate colour space) of a shot, loaded once per change of its store."""
        from facegraft.merge.convert import load_shot_faces
        from facegraft.store.alignments import AlignmentsStore

        with AlignmentsStore.open(path) as store:
            stamp = store.path.stat().st_mtime
            key = f"{path}|{merge.smooth}|{merge.smooth_frames}|{merge.stored_mask()}"
            cached = self._shots.get(key)
            if cached is None or cached[0] != stamp:
                cached = (stamp, load_shot_faces(store, merge), store.plate().get("colourspace"))
                self._shots[key] = cached
        return cached[1], cached[2]

    def process(self, msg: FrameMessage) -> tuple[np.ndarray, dict]:
        """(pass pixels (H, W, C) float32, info) for one frame message."""
        from facegraft.extract.pipeline import ExtractOptions, build_tracker
        from facegraft.io.colour import ColourConverter, resolve_colourspace
        from facegraft.merge.merger import FaceTask, composite, prepare_faces, recolour
        from facegraft.merge.options import MergeOptions

        opts = dict(msg.options)
        if "model" not in opts:
            raise InputError("options.model is required (the trained model's folder)")
        which = str(opts.get("pass", "comp"))
        if which not in PASSES:
            raise InputError(f"unknown pass {which!r} (choose from: {', '.join(PASSES)})")
        fields = {f.name for f in dataclasses.fields(MergeOptions)}
        unknown = set(opts) - fields - set(_ENGINE_KEYS)
        if unknown:
            raise InputError(f"unknown options {sorted(unknown)}")
        try:
            merge = MergeOptions(**{k: v for k, v in opts.items() if k in fields})
            merge.validate()
        except (TypeError, ValueError) as exc:
            raise InputError(f"bad merge options ({exc})") from exc
        model_path = self._check_path(str(opts["model"]))
        pixels = msg.pixels
        rgb = pixels[:, :, :3] if pixels.shape[2] >= 3 else np.repeat(pixels, 3, axis=2)
        alpha = pixels[:, :, 3] if pixels.shape[2] == 4 else np.ones(pixels.shape[:2], np.float32)
        t0 = time.perf_counter()
        with self._lock:
            model = self.model(model_path)
            conv = ColourConverter(resolve_colourspace(str(opts.get("colourspace") or "scene-linear")))
            native = np.ascontiguousarray(rgb, np.float32)
            if opts.get("shot"):
                shot, space = self._shot(self._check_path(str(opts["shot"])), merge)
                if not opts.get("colourspace"):
                    conv = ColourConverter(resolve_colourspace(space or "scene-linear"))
                tasks = shot.by_frame.get(msg.frame, [])
            else:
                # A fresh tracker per call: frames from a host need not follow each other.
                tracker = build_tracker(ExtractOptions(embeddings=False, detect_every=1))
                found = tracker.step(conv.to_working_uint8(native), 0)
                crop = int(opts.get("crop_size", 512))
                tasks = [
                    FaceTask(f.landmarks.astype(np.float64), crop_size=crop, key=i)
                    for i, f in enumerate(found)
                ]
            prepared = prepare_faces(native, conv, tasks, model, merge)
            rng = np.random.default_rng([merge.seed, msg.frame])  # the degrade noise convert would draw
            layers = composite(native, conv, [(p, recolour(p, merge.colour)) for p in prepared], merge, rng)
        if which == "comp":
            out = np.dstack([layers.comp, alpha])
        elif which == "swap":
            out = np.dstack([layers.swap, layers.matte])
        else:
            out = layers.matte[:, :, None]
        info = {
            "pass": which,
            "faces": len(prepared),
            "model": str(Path(model_path)),
            "seconds": round(time.perf_counter() - t0, 3),
        }
        return out.astype(np.float32), info
