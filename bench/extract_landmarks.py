"""Landmark figures on real pictures: the error against hand-placed 68-point annotations (internal photos in
../shared/footage/landmarks, read from there, never copied), and the frame-to-frame jitter left on real
talking heads once the head's own similarity motion is taken out."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facegraft.extract.detectors import make_detector
from facegraft.extract.landmarkers import make_landmarker
from facegraft.extract.pipeline import ExtractOptions, build_tracker
from facegraft.geometry.alignment import eye_distance, transform_points, umeyama

ROOT = Path(__file__).resolve().parents[1]
LANDMARK_DIR = ROOT.parent / "shared" / "footage" / "landmarks"
PHOTOS = ("breakingbad.jpg", "einstein.jpg", "takeo.ppm")
NME_TARGET_PCT = 5.0
RIGID = np.r_[27:36, 36:48]  # nose 27-35 and eyes 36-47 (0-based)
DEFAULT_METHOD = f"pipeline {ExtractOptions().detector} + {ExtractOptions().landmarker} (default)"
SINGER = (83, 211)  # whitehouse_hamilton_short: the singer close-up, stored frame numbers (1-based)


# ---- landmark error on annotated photos ------------------------------------------------------------------


def read_pts(path: Path) -> np.ndarray:
    """(68, 2) points of an iBUG .pts file, 0-based pixels (the format is 1-based, as menpo reads it)."""
    body = path.read_text().split("{", 1)[1].split("}", 1)[0]
    return np.array(body.split(), np.float64).reshape(-1, 2) - 1.0


def _bbox(pts: np.ndarray) -> np.ndarray:
    return np.concatenate([pts.min(0), pts.max(0)])


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return float(inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter))


def nme_pct(pts: np.ndarray, truth: np.ndarray) -> float:
    """Mean point-to-point error in % of the outer-eye-corner distance (points 36 and 45; 300-W)."""
    return float(np.linalg.norm(pts - truth, axis=1).mean() / np.linalg.norm(truth[36] - truth[45]) * 100)


def _match(candidates: list[dict], truth: np.ndarray) -> dict:
    """The candidate whose landmark box overlaps the annotation's most, with its error."""
    tb = _bbox(truth)
    scored = [(_iou(_bbox(c["landmarks"]), tb), c) for c in candidates]
    scored = [(o, c) for o, c in scored if o > 0]
    if not scored:
        return {"found": False, "faces_in_photo": len(candidates)}
    overlap, best = max(scored, key=lambda oc: oc[0])
    out = {
        "found": True,
        "faces_in_photo": len(candidates),
        "overlap": round(overlap, 3),
        "nme_pct": round(nme_pct(best["landmarks"], truth), 2),
    }
    if "confidence" in best:
        out["confidence"] = round(float(best["confidence"]), 3)
        out["flagged"] = bool(best["flags"])
    return out


def _summary(per_photo: dict[str, dict]) -> dict:
    found = [p for p in per_photo.values() if p["found"]]
    flags = any("flagged" in p for p in found)  # plain dlib68 has no confidence: nothing is accepted or not
    accepted = [p for p in found if not p.get("flagged", False)]
    mean = lambda ps: round(float(np.mean([p["nme_pct"] for p in ps])), 2) if ps else None  # noqa: E731
    return {
        "photos": len(per_photo),
        "found": len(found),
        "accepted": len(accepted) if flags else None,
        "mean_nme_pct_accepted": mean(accepted) if flags else None,
        "mean_nme_pct_all": mean(found),
        "accepted_within_target": sum(1 for p in accepted if p["nme_pct"] <= NME_TARGET_PCT)
        if flags
        else None,
    }


def landmark_accuracy(directory: Path = LANDMARK_DIR) -> dict:
    """NME per photo and method: the pipeline's first frame (build_tracker, detect_every=1, a cut) with the
    default detector and landmarker, the default detector with dlib68, and dlib-hog with each landmarker;
    and plain dlib68 in dlib-hog's box (landmarks(), and that plus the pipeline's averaged final pass), with
    no five-point start."""
    if not all((directory / p).is_file() for p in PHOTOS):
        return {"skipped": f"{directory} absent (internal photos, not in the repo)"}
    import cv2

    default = ExtractOptions()
    methods = {
        DEFAULT_METHOD: ExtractOptions(embeddings=False, detect_every=1),
        f"pipeline {default.detector} + dlib68": ExtractOptions(
            embeddings=False, detect_every=1, landmarker="dlib68"
        ),
        f"pipeline dlib-hog + {default.landmarker}": ExtractOptions(
            embeddings=False, detect_every=1, detector="dlib-hog"
        ),
        "pipeline dlib-hog + dlib68": ExtractOptions(
            embeddings=False, detect_every=1, detector="dlib-hog", landmarker="dlib68"
        ),
    }
    trackers = {name: build_tracker(opts) for name, opts in methods.items()}
    ensemble = ExtractOptions().ensemble
    plain = make_landmarker("dlib68", ensemble=ensemble)
    hog = make_detector("dlib-hog", detect_width=ExtractOptions().detect_width, min_face=24)
    plain_names = (
        "dlib68 in dlib-hog box: landmarks()",
        f"dlib68 in dlib-hog box: landmarks() + final pass (ensemble {ensemble})",
    )
    out: dict = {"annotations": str(directory), "target_nme_pct": NME_TARGET_PCT, "methods": {}}
    per_method: dict[str, dict[str, dict]] = {name: {} for name in (*methods, *plain_names)}
    for photo in PHOTOS:
        rgb = cv2.cvtColor(cv2.imread(str(directory / photo)), cv2.COLOR_BGR2RGB)
        truth = read_pts(directory / (Path(photo).stem + ".pts"))
        for name, tracker in trackers.items():
            faces = tracker.step(rgb, 0, cut=True)
            cands = [{"landmarks": f.landmarks, "confidence": f.confidence, "flags": f.flags} for f in faces]
            per_method[name][photo] = _match(cands, truth)
        first, final = [], []
        for det in hog.detect(rgb):
            pts = plain.landmarks(rgb, det.box)
            first.append({"landmarks": pts})
            final.append({"landmarks": plain.refine(rgb, pts, final=True)})
        per_method[plain_names[0]][photo] = _match(first, truth)
        per_method[plain_names[1]][photo] = _match(final, truth)
    for name, per_photo in per_method.items():
        out["methods"][name] = {"photos": per_photo, "summary": _summary(per_photo)}
    return out


# ---- jitter on talking heads -----------------------------------------------------------------------------


def residual_pct(a: np.ndarray, b: np.ndarray) -> float:
    """Landmark motion from `a` to `b` left after the best similarity: mean distance, % of eye distance."""
    moved = transform_points(a, umeyama(a, b))
    return float(np.linalg.norm(moved - b, axis=1).mean() / max(eye_distance(b), 1e-6) * 100)


def rigid_residual_pct(a: np.ndarray, b: np.ndarray) -> float:
    """The same on the eyes and nose only (the similarity fitted to them): no expression in it."""
    ra, rb = a[RIGID], b[RIGID]
    moved = transform_points(ra, umeyama(ra, rb))
    return float(np.linalg.norm(moved - rb, axis=1).mean() / max(eye_distance(b), 1e-6) * 100)


def pair_residuals(frames: dict[int, list[tuple[int, np.ndarray]]]) -> tuple[list[float], list[float]]:
    """Residuals over every pair of consecutive frames where the same track (id) has a face in both."""
    full, rigid = [], []
    for f in sorted(frames):
        nxt = dict(frames.get(f + 1, []))
        for track, a in frames[f]:
            b = nxt.get(track)
            if b is None:
                continue
            full.append(residual_pct(a, b))
            rigid.append(rigid_residual_pct(a, b))
    return full, rigid


def _stats(values: list[float]) -> dict:
    if not values:
        return {"pairs": 0}
    v = np.asarray(values)
    return {"pairs": len(v), "mean": round(float(v.mean()), 3), "p95": round(float(np.percentile(v, 95)), 3)}


def stored_tracks(shot: Path, first: int | None = None, last: int | None = None) -> dict:
    """Stored frame number -> [(track id, (68, 2) landmarks)] of the faces not flagged unreliable."""
    from facegraft.store.alignments import AlignmentsStore

    out: dict[int, list[tuple[int, np.ndarray]]] = {}
    with AlignmentsStore.open(shot) as store:
        for rec in store.iter_frames():
            if (first is not None and rec.frame < first) or (last is not None and rec.frame > last):
                continue
            out[rec.frame] = [
                (f.track_id, np.asarray(f.landmarks, np.float64))
                for f in rec.faces
                if f.track_id is not None and not f.flags
            ]
    return out


def decoded_frames(plate: Path, first: int = 1, last: int | None = None):
    """(stored frame number from 1, RGB) of a video decoded with PyAV in display order."""
    import av

    with av.open(str(plate)) as container:
        for i, frame in enumerate(container.decode(container.streams.video[0]), start=1):
            if last is not None and i > last:
                break
            if i >= first:
                yield i, frame.to_ndarray(format="rgb24")


def fresh_dlib68(plate: Path, first: int = 1, last: int | None = None) -> dict:
    """Plain dlib68 (ensemble 1) fitted afresh on every frame in dlib-hog's box, faces linked from frame to
    frame by box overlap: frame number -> [(link id, landmarks)]."""
    hog = make_detector("dlib-hog", detect_width=ExtractOptions().detect_width, min_face=24)
    lmk = make_landmarker("dlib68", ensemble=1)
    out: dict[int, list[tuple[int, np.ndarray]]] = {}
    previous: list[tuple[int, np.ndarray]] = []
    next_id = 0
    for number, rgb in decoded_frames(plate, first, last):
        faces = []
        for det in hog.detect(rgb):
            link = max(previous, key=lambda p: _iou(p[1], det.box), default=None)
            if link is None or _iou(link[1], det.box) < 0.3:
                link, next_id = (next_id, det.box), next_id + 1
            faces.append((link[0], det.box, lmk.landmarks(rgb, det.box)))
        previous = [(i, box) for i, box, _ in faces]
        out[number] = [(i, pts) for i, _, pts in faces]
    return out


def jitter(clips: dict[str, dict], extra_runs, pools: dict[str, list[str]] | None = None) -> dict:
    """Residual jitter per source and method. `clips`: name -> {"plate", "shots" (method -> shot folder of a
    stored extraction), "range" (first, last stored frame or None)}; `extra_runs(name, args)` extracts the
    source again with more CLI options and returns the shot folder (None where it failed); `pools`: a name
    -> sources whose pairs are pooled into one more row per method."""
    raw: dict[str, dict[str, tuple[list[float], list[float]]]] = {}
    for name, clip in clips.items():
        first, last = clip.get("range") or (None, None)
        methods = raw.setdefault(name, {})
        for method, shot in clip["shots"].items():
            methods[method] = pair_residuals(stored_tracks(shot, first, last))
        for args in (("--landmarker", "dlib68"), ("--ensemble", "1"), ("--ensemble", "16")):
            shot = extra_runs(name, args)
            if shot is not None:
                methods[f"pipeline {' '.join(args)}"] = pair_residuals(stored_tracks(shot, first, last))
        methods["dlib68 fresh per frame in dlib-hog box (ensemble 1)"] = pair_residuals(
            fresh_dlib68(clip["plate"], first or 1, last)
        )
    for pool, members in (pools or {}).items():
        merged: dict[str, tuple[list[float], list[float]]] = {}
        for member in members:
            for method, (full, rigid) in raw.get(member, {}).items():
                slot = merged.setdefault(method, ([], []))
                slot[0].extend(full)
                slot[1].extend(rigid)
        raw[pool] = merged
    return {
        name: {m: {"all_68": _stats(f), "rigid_eyes_nose": _stats(r)} for m, (f, r) in methods.items()}
        for name, methods in raw.items()
    }


# ---- report ----------------------------------------------------------------------------------------------


def report_accuracy(r: dict) -> list[str]:
    lines = [
        "## Landmark error on hand-annotated photos (iBUG 68 points; internal, ../shared/footage/landmarks)",
        "",
    ]
    if "skipped" in r:
        return [*lines, f"Skipped: {r['skipped']}."]
    lines += [
        "NME: mean point-to-point error / distance between the outer eye corners (points 36 and 45), in %. "
        "Accepted: faces not flagged landmarks-unreliable. Each photo's annotated face is matched to the "
        "found face whose landmarks overlap it most. .pts points read 1-based (menpo's convention).",
        "",
        f"| method | {' | '.join(PHOTOS)} | mean accepted | mean all |",
        f"|---|{'---|' * len(PHOTOS)}---|---|",
    ]
    for name, m in r["methods"].items():
        cells = []
        for photo in PHOTOS:
            p = m["photos"][photo]
            if not p["found"]:
                cells.append("not found")
                continue
            cell = f"{p['nme_pct']:.2f}"
            if "confidence" in p:
                cell += f" (conf {p['confidence']:.2f}{', flagged' if p['flagged'] else ''})"
            cells.append(cell)
        s = m["summary"]
        lines.append(
            f"| {name} | {' | '.join(cells)} | {_f(s['mean_nme_pct_accepted'])} "
            f"| {_f(s['mean_nme_pct_all'])} |"
        )
    d = r["methods"][DEFAULT_METHOD]["summary"]
    lines += [
        "",
        f"Target: NME <= {r['target_nme_pct']:g}% on accepted faces. Default pipeline: "
        f"{d['accepted_within_target']} of {d['accepted']} accepted faces within it ({d['found']} of "
        f"{d['photos']} annotated faces found).",
    ]
    return lines


def _f(v) -> str:
    return "-" if v is None else f"{v:.2f}"


def report_jitter(r: dict) -> list[str]:
    lines = [
        "## Jitter on real talking heads",
        "",
        "Per consecutive frame pair of one track: the similarity (Umeyama) from frame t's landmarks to frame "
        "t+1's is taken out, and the mean landmark distance left is given in % of the eye-centre distance "
        "(all 68 points: includes real expression such as the mouth; rigid: eyes 36-47 and nose 27-35, the "
        "similarity fitted to those alone). Faces flagged landmarks-unreliable are left out. 'dlib68 fresh' "
        "is the plain landmarker run anew on every frame in dlib-hog's box, no tracking.",
        "",
        "| source | method | pairs | all 68 mean | all 68 p95 | rigid mean | rigid p95 |",
        "|---|---|---|---|---|---|---|",
    ]
    for source, methods in r.items():
        for method, figs in methods.items():
            a, g = figs["all_68"], figs["rigid_eyes_nose"]
            if not a["pairs"]:
                lines.append(f"| {source} | {method} | 0 | | | | |")
                continue
            lines.append(
                f"| {source} | {method} | {a['pairs']} | {a['mean']:.3f} | {a['p95']:.3f} | {g['mean']:.3f} "
                f"| {g['p95']:.3f} |"
            )
    return lines
