"""Landmarks exchange as JSON (``facegraft.alignments/N``), validated and upgraded like the database.

Document: ``{"schema": "facegraft.alignments/2", "plate": {...} or "path", "frames": [{"frame": N,
"pts": T or null, "cut": bool, "faces": [{"id", "box": [x0, y0, x1, y1], "score", "landmarks": [[x, y] x
68], "pose": [yaw, pitch, roll], "landmark_confidence": 0..1, "flags": [name, ...]}]}]}`` in plate
pixels, floats rounded to 4 decimals. ``cut``: a hard cut lies just before the frame (it starts a new
shot); ``flags``: names from `facegraft.store.alignments.FACE_FLAGS`. On import every field but
``frame`` and ``landmarks`` may be left out (defaults: no cut, confidence 1, no flags).

``JSON_UPGRADES[n]`` turns a version-n document into version n+1. History: **1** without ``cut``,
``landmark_confidence`` and ``flags``; **2** adds them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from facegraft.errors import InputError
from facegraft.io.atomic import write_text_atomic
from facegraft.store.alignments import FACE_FLAGS, AlignmentsStore, Face, FrameRecord

SCHEMA_NAME = "facegraft.alignments"
JSON_VERSION = 2
LANDMARKS = 68


def _upgrade_1_to_2(doc: dict) -> dict:
    """Version 1 knew no cuts, confidences or flags: every frame and face gets the defaults."""
    frames = doc.get("frames")
    for frame in frames if isinstance(frames, list) else ():
        if not isinstance(frame, dict):
            continue  # left for validation to name
        frame.setdefault("cut", False)
        faces = frame.get("faces", [])
        for face in faces if isinstance(faces, list) else ():
            if isinstance(face, dict):
                face.setdefault("landmark_confidence", 1.0)
                face.setdefault("flags", [])
    return {**doc, "schema": f"{SCHEMA_NAME}/2"}


JSON_UPGRADES: dict[int, Callable[[dict], dict]] = {1: _upgrade_1_to_2}


def _r(value: float) -> float:
    return round(float(value), 4)


def _face_json(face: Face) -> dict:
    return {
        "id": face.id,
        "box": [_r(v) for v in face.box],
        "score": _r(face.score),
        "landmarks": [[_r(x), _r(y)] for x, y in np.asarray(face.landmarks, np.float64)],
        "pose": [_r(v) for v in face.pose],
        "landmark_confidence": _r(face.landmark_confidence),
        "flags": list(face.flags),
    }


def export_json(store: AlignmentsStore, path: str | Path) -> int:
    """Write every stored frame to a JSON file (temporary name, then rename); returns the frame count."""
    path = Path(path)
    head = {"schema": f"{SCHEMA_NAME}/{JSON_VERSION}", "plate": store.plate()}
    lines = []
    for rec in store.iter_frames():
        frame = {
            "frame": rec.frame,
            "pts": rec.pts,
            "cut": rec.cut,
            "faces": [_face_json(f) for f in rec.faces],
        }
        lines.append(json.dumps(frame, allow_nan=False))
    # One frame per line keeps big files diffable and error positions meaningful.
    text = json.dumps(head)[:-1] + ', "frames": [\n' + ",\n".join(lines) + ("\n" if lines else "") + "]}\n"
    write_text_atomic(path, text, "the alignments JSON")
    return len(lines)


def load_json(path: str | Path) -> dict:
    """Read, upgrade to the current version and validate an alignments JSON file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the alignments JSON ({exc})", str(path)) from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise InputError(f"invalid JSON at {where}: {exc.msg}", str(path)) from exc
    if not isinstance(doc, dict):
        raise InputError("not an alignments document (expected a JSON object)", str(path))
    version = _version(doc.get("schema"), str(path))
    while version < JSON_VERSION:
        doc = JSON_UPGRADES[version](doc)
        version += 1
    _validate(doc, str(path))
    return doc


def _version(tag: Any, path: str) -> int:
    name, _, number = str(tag).rpartition("/")
    if not isinstance(tag, str) or name != SCHEMA_NAME or not number.isdigit():
        raise InputError(f"schema: not a facegraft alignments document ({tag!r})", path)
    version = int(number)
    if version > JSON_VERSION:
        raise InputError(f"schema: written by a newer facegraft ({tag} > {SCHEMA_NAME}/{JSON_VERSION})", path)
    if version < JSON_VERSION and any(v not in JSON_UPGRADES for v in range(version, JSON_VERSION)):
        raise InputError(f"schema: unknown version {tag}", path)
    return version


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _numbers(value: Any, count: int, where: str, path: str) -> None:
    if not isinstance(value, list) or len(value) != count or not all(_number(v) for v in value):
        raise InputError(f"{where}: expected {count} finite numbers, got {_show(value)}", path)


def _show(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _validate(doc: dict, path: str) -> None:
    plate = doc.get("plate", {})
    if not isinstance(plate, (dict, str)):
        raise InputError("plate: expected an object or a path string", path)
    frames = doc.get("frames")
    if not isinstance(frames, list):
        raise InputError("frames: expected a list", path)
    seen: set[int] = set()
    for i, frame in enumerate(frames):
        where = f"frames[{i}]"
        if not isinstance(frame, dict):
            raise InputError(f"{where}: expected an object", path)
        number = frame.get("frame")
        if not isinstance(number, int) or isinstance(number, bool):
            raise InputError(f"{where}.frame: expected an integer frame number, got {_show(number)}", path)
        if number in seen:
            raise InputError(f"{where}.frame: frame {number} appears twice", path)
        seen.add(number)
        pts = frame.get("pts")
        if pts is not None and not _number(pts):
            raise InputError(f"{where}.pts: expected a finite number or null, got {_show(pts)}", path)
        if not isinstance(frame.get("cut", False), bool):
            raise InputError(f"{where}.cut: expected true or false, got {_show(frame['cut'])}", path)
        faces = frame.get("faces", [])
        if not isinstance(faces, list):
            raise InputError(f"{where}.faces: expected a list", path)
        for j, face in enumerate(faces):
            _validate_face(face, f"{where}.faces[{j}]", path)


def _validate_face(face: Any, where: str, path: str) -> None:
    if not isinstance(face, dict):
        raise InputError(f"{where}: expected an object", path)
    lms = face.get("landmarks")
    if not isinstance(lms, list):
        raise InputError(f"{where}.landmarks: expected a list of {LANDMARKS} [x, y] points", path)
    if len(lms) != LANDMARKS:
        raise InputError(f"{where}.landmarks: expected {LANDMARKS} points, got {len(lms)}", path)
    for k, point in enumerate(lms):
        _numbers(point, 2, f"{where}.landmarks[{k}]", path)
    if "box" in face:
        _numbers(face["box"], 4, f"{where}.box", path)
    if "pose" in face:
        _numbers(face["pose"], 3, f"{where}.pose", path)
    if "score" in face and not _number(face["score"]):
        raise InputError(f"{where}.score: expected a finite number, got {_show(face['score'])}", path)
    confidence = face.get("landmark_confidence", 1.0)
    if not _number(confidence) or not 0 <= confidence <= 1:
        raise InputError(
            f"{where}.landmark_confidence: expected a number in 0..1, got {_show(confidence)}", path
        )
    flags = face.get("flags", [])
    if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
        raise InputError(f"{where}.flags: expected a list of flag names, got {_show(flags)}", path)
    unknown = [f for f in flags if f not in FACE_FLAGS]
    if unknown:
        known = ", ".join(FACE_FLAGS)
        raise InputError(f"{where}.flags: unknown flag {_show(unknown[0])} (known: {known})", path)


def _records(doc: dict) -> list[FrameRecord]:
    recs = []
    for frame in doc["frames"]:
        rec = FrameRecord(frame=frame["frame"], pts=frame.get("pts"), cut=frame.get("cut", False))
        for index, face in enumerate(frame.get("faces", [])):
            lms = np.asarray(face["landmarks"], np.float32)
            if "box" in face:
                box = tuple(float(v) for v in face["box"])
            else:
                box = (*map(float, lms.min(axis=0)), *map(float, lms.max(axis=0)))
            rec.faces.append(
                Face(
                    frame=rec.frame,
                    index=index,
                    box=box,  # type: ignore[arg-type]
                    score=float(face.get("score", 1.0)),
                    landmarks=lms,
                    pose=tuple(float(v) for v in face.get("pose", (0.0, 0.0, 0.0))),  # type: ignore[arg-type]
                    landmark_confidence=float(face.get("landmark_confidence", 1.0)),
                    flags=tuple(face.get("flags", ())),
                )
            )
        recs.append(rec)
    return recs


def import_json(store: AlignmentsStore, path: str | Path, replace: bool = True) -> int:
    """Import a JSON file into the store in one transaction; returns the frames imported.

    ``replace`` True: each imported frame replaces the stored one; False: frames already stored are kept
    and skipped. A missing ``box`` is taken from the landmarks' bounds, a missing ``score`` is 1.0, ids in
    the file are ignored (the store assigns its own), and matrix/embedding are left for extraction.
    The plate is recorded only when the store has none.
    """
    doc = load_json(path)
    recs = _records(doc)
    with store.transaction():
        if not replace:
            done = store.frames_done()
            recs = [rec for rec in recs if rec.frame not in done]
        store.write_frames(recs)
        plate = doc.get("plate")
        if plate and not store.plate():
            store.set_plate(plate if isinstance(plate, dict) else {"path": plate})
    return len(recs)
