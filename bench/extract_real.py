"""Extraction on the committed real clips (tests/data/real): frames/s through the real CLI, at each clip's own
size and scaled to 1920x1080, with the default detector and with dlib-hog, and (where a clip has a
reference) the figures tests/support/real_footage.py scores an extraction by."""

from __future__ import annotations

import dataclasses
import fractions
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REAL_DIR = ROOT / "tests" / "data" / "real"
QUICK_CLIPS = ("whitehouse_hamilton_short.mp4", "grid_bbaf2n.mpg")
HD = (1920, 1080)
TARGET_FPS = 30.0
# The clip the 1080p target is judged on (16:9, so scaled to 1080p without bars; cuts, crowds, close-ups).
JUDGED_CLIP = "whitehouse_hamilton_short.mp4"
DETECTORS = ("retinaface", "dlib-hog")
VIDEO_SUFFIXES = (".mp4", ".mpg")


def clip_names() -> list[str]:
    """The committed clips (tests/data/real), the judged one first, then .mp4 before .mpg, by name."""
    files = [p for p in REAL_DIR.iterdir() if p.suffix in VIDEO_SUFFIXES]
    return [p.name for p in sorted(files, key=lambda p: (p.name != JUDGED_CLIP, p.suffix, p.name))]


# dlib-hog at 1080p only on the clip the target is judged on (time).
DLIB_HOG_1080P = (JUDGED_CLIP,)
MIN_WIDTH = 40  # reference faces scored (plate px at the clip's own size), as tests/e2e/test_real_footage.py
SCALING = (
    "each frame scaled with cv2.INTER_LINEAR to 1080 px high (aspect kept), centred on a black 1920x1080 "
    "frame (pillarbox bars where the clip is narrower than 16:9); written once as H.264 yuv420p, "
    "libx264 crf 18 preset veryfast, at the clip's own frame rate"
)


def scoring():
    """tests/support/real_footage's load_reference and score_extraction, or None where it is absent."""
    tests = str(ROOT / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    try:
        from support.real_footage import load_reference, score_extraction
    except ImportError:
        return None
    return load_reference, score_extraction


def scale_plate(src: Path, dst: Path) -> dict:
    """`src` scaled to 1920x1080 (see SCALING) as an H.264 mp4 at `dst`; its frame count and geometry."""
    import av
    import cv2

    w_out, h_out = HD
    n = 0
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        stream = inp.streams.video[0]
        rate = stream.average_rate or fractions.Fraction(25)
        enc = out.add_stream("libx264", rate=rate)
        enc.width, enc.height, enc.pix_fmt = w_out, h_out, "yuv420p"
        enc.options = {"crf": "18", "preset": "veryfast"}
        for frame in inp.decode(stream):
            rgb = frame.to_ndarray(format="rgb24")
            h, w = rgb.shape[:2]
            k = h_out / h
            nw = min(w_out, round(w * k))
            canvas = np.zeros((h_out, w_out, 3), np.uint8)
            x0 = (w_out - nw) // 2
            canvas[:, x0 : x0 + nw] = cv2.resize(rgb, (nw, h_out), interpolation=cv2.INTER_LINEAR)
            for packet in enc.encode(av.VideoFrame.from_ndarray(canvas, format="rgb24")):
                out.mux(packet)
            n += 1
        for packet in enc.encode():
            out.mux(packet)
    return {"frames": n, "scale": k, "offset_x": x0, "source_size": [w, h], "fps": float(rate)}


def cli_extract(plate: Path, shot: Path, *args: str, timeout: float = 900) -> dict:
    """`facegraft extract PLATE -o SHOT ARGS` as a subprocess with what users get otherwise (face PNGs,
    embeddings, the CLI's threads), progress as JSON lines timed as they arrive: overall frames/s over the
    whole process (interpreter start and model loading included) and steady frames/s from the first frame
    done to the last."""
    cmd = [sys.executable, "-m", "facegraft", "extract", str(plate), "-o", str(shot), "--restart"]
    cmd += ["--progress", "json", *args]
    err_path = shot.with_name(shot.name + ".stderr")
    start = time.perf_counter()
    events: list[tuple[float, dict]] = []
    with open(err_path, "w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, cwd=ROOT)
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                events.append((time.perf_counter() - start, json.loads(line)))
            except ValueError:
                continue
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
    wall = time.perf_counter() - start
    result: dict = {"args": list(args), "returncode": rc, "wall_s": round(wall, 2)}
    if rc != 0:
        result["error"] = err_path.read_text()[-800:]
        return result
    # The extraction's own lines: the persons grouping that follows reports its progress too.
    progress = [
        (t, e) for t, e in events if e.get("task") == "extract" and e.get("event") in ("progress", "done")
    ]
    summary = next((e for _, e in events if e.get("event") == "summary"), {})
    n = int(summary.get("frames_done", progress[-1][1]["done"] if progress else 0))
    result.update(frames=n, faces=int(summary.get("faces", 0)), fps_overall=round(n / wall, 2))
    # A short clip may report its progress in one burst (first and last lines at the same count): no
    # steady rate can be read from it then, only the overall one.
    if len(progress) >= 2 and progress[-1][1]["done"] > progress[0][1]["done"]:
        (t0, first), (t1, last) = progress[0], progress[-1]
        steady = (last["done"] - first["done"]) / max(t1 - t0, 1e-6)
        result["fps_steady"] = round(steady, 2)
        result["startup_s"] = round(wall - n / steady, 2)
    return result


def score_figures(shot: Path, reference, score_extraction, min_width: float) -> dict:
    """The four figures of an extraction against a reference, and its report paragraph."""
    s = score_extraction(shot, reference, min_width=min_width)
    return {
        "face_recall": round(s.face_recall, 3),
        "frame_recall": round(s.frame_recall, 3),
        "non_faces_per_500": round(s.non_faces_per_500, 2),
        "track_consistency": round(s.track_consistency, 3),
        "track_consistency_min": round(s.track_consistency_min, 3),
        "tracks_across_cuts": len(s.tracks_across_cuts),
        "stored_faces": s.stored_faces,
        "report": s.report(),
    }


def scaled_reference(reference, scale: float, offset_x: float):
    """The reference with every box mapped onto the scaled plate (x * scale + offset_x, y * scale)."""

    def box(b):
        return (b[0] * scale + offset_x, b[1] * scale, b[2] * scale + offset_x, b[3] * scale)

    agreed = {i: [dataclasses.replace(f, box=box(f.box)) for f in fs] for i, fs in reference.agreed.items()}
    detections = {
        name: {i: [dataclasses.replace(d, box=box(d.box)) for d in ds] for i, ds in per.items()}
        for name, per in reference.detections.items()
    }
    persons = [dataclasses.replace(p, boxes=tuple(box(b) for b in p.boxes)) for p in reference.persons]
    return dataclasses.replace(
        reference,
        agreed=agreed,
        detections=detections,
        persons=persons,
        width=HD[0],
        height=HD[1],
    )


def run(root: Path, quick: bool = False) -> tuple[dict, dict[str, Path]]:
    """Every clip at both sizes with both detectors (dlib-hog at 1080p on DLIB_HOG_1080P only); the result
    and the shot folders by '<clip stem>/<size>/<detector>'."""
    clips = QUICK_CLIPS if quick else clip_names()
    scorer = scoring()
    result: dict = {
        "clips": {},
        "scaling_1080p": SCALING,
        "dlib_hog_1080p_clips": list(DLIB_HOG_1080P),
        "judged_clip": JUDGED_CLIP,
        "target_fps_1080p": TARGET_FPS,
        "scored_min_width_px": MIN_WIDTH,
        "scoring": "tests/support/real_footage.py" if scorer else "tests/support absent: not scored",
    }
    shots: dict[str, Path] = {}
    root.mkdir(parents=True, exist_ok=True)
    for name in clips:
        src = REAL_DIR / name
        stem = src.stem
        entry: dict = {"runs": {}}
        result["clips"][stem] = entry
        if not src.is_file():
            entry["error"] = f"{src} missing"
            continue
        t = time.perf_counter()
        hd_plate = root / f"{stem}_1080p.mp4"
        entry["scaled"] = scale_plate(src, hd_plate)
        entry["scaled"]["seconds_to_write"] = round(time.perf_counter() - t, 1)
        reference = None
        if scorer is not None:
            try:
                reference = scorer[0](stem)
            except FileNotFoundError:
                entry["reference"] = "none committed"
        for size, plate in (("own", src), ("1080p", hd_plate)):
            for det in DETECTORS:
                if size == "1080p" and det == "dlib-hog" and name not in DLIB_HOG_1080P:
                    continue
                key = f"{size}/{det}"
                shot = root / stem / size / det
                shot.parent.mkdir(parents=True, exist_ok=True)
                args = () if det == DETECTORS[0] else ("--detector", det)
                print(f"bench: extract {stem} {key}", flush=True)
                run_result = cli_extract(plate, shot, *args)
                entry["runs"][key] = run_result
                if run_result["returncode"] != 0:
                    continue
                shots[f"{stem}/{key}"] = shot
                if reference is None:
                    continue
                if size == "own":
                    ref, width = reference, MIN_WIDTH
                else:
                    scaled = entry["scaled"]
                    ref = scaled_reference(reference, scaled["scale"], scaled["offset_x"])
                    width = MIN_WIDTH * scaled["scale"]
                run_result["score"] = score_figures(shot, ref, scorer[1], width)
        entry["size"] = entry["scaled"]["source_size"]
    hd = {
        stem: e["runs"].get("1080p/retinaface", {}).get("fps_steady")
        for stem, e in result["clips"].items()
        if "runs" in e
    }
    result["target_met_1080p"] = {stem: fps is not None and fps >= TARGET_FPS for stem, fps in hd.items()}
    return result, shots


def _fmt(v, digits: int = 3) -> str:
    if v is None:
        return "-"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def report(r: dict) -> list[str]:
    """Markdown lines: speed per clip, size and detector; scores; the 1080p target."""
    lines = [
        "## Real plates (tests/data/real), through `python -m facegraft extract` (default options: face PNGs "
        "written, embeddings on)",
        "",
        f"1080p plates: {r['scaling_1080p']}. Steady frames/s: from the first frame done to the last "
        "(JSON progress lines timed as they arrive); overall: frames / the whole process's wall time "
        "(interpreter start, model loading and store closing included). dlib-hog at 1080p only on "
        f"{', '.join(Path(c).stem for c in r['dlib_hog_1080p_clips'])} (time).",
        "",
        "| clip | size | detector | frames | faces stored | fps steady | fps overall | start-up s | wall s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for stem, e in r["clips"].items():
        for key, run in e.get("runs", {}).items():
            size, det = key.split("/")
            label = f"{e['size'][0]}x{e['size'][1]}" if size == "own" else "1920x1080"
            if run["returncode"] != 0:
                lines.append(f"| {stem} | {label} | {det} | failed (exit {run['returncode']}) | | | | | |")
                continue
            lines.append(
                f"| {stem} | {label} | {det} | {run['frames']} | {run['faces']} "
                f"| {_fmt(run.get('fps_steady'), 2)} | {run['fps_overall']} "
                f"| {_fmt(run.get('startup_s'), 1)} | {run['wall_s']} |"
            )
    lines += [
        "",
        f"Scores against the two-detector reference ({r['scoring']}; agreed faces >= "
        f"{r['scored_min_width_px']} px wide at the clip's own size, the same faces at 1080p with the "
        "reference boxes mapped onto the scaled plate):",
        "",
        "| clip | size | detector | face recall | frame recall | non-faces / 500 | track consistency (min) "
        "| tracks across cuts |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for stem, e in r["clips"].items():
        if "reference" in e:
            lines.append(f"| {stem} | | | no reference ({e['reference']}) | | | | |")
            continue
        for key, run in e.get("runs", {}).items():
            s = run.get("score")
            if not s:
                continue
            size, det = key.split("/")
            lines.append(
                f"| {stem} | {size} | {det} | {s['face_recall']:.3f} | {s['frame_recall']:.3f} | "
                f"{s['non_faces_per_500']:.2f} | {s['track_consistency']:.3f} "
                f"({s['track_consistency_min']:.3f}) "
                f"| {s['tracks_across_cuts']} |"
            )
    met = [s for s, ok in r["target_met_1080p"].items() if ok]
    missed = [s for s, ok in r["target_met_1080p"].items() if not ok]
    lines += [
        "",
        f"Target: >= {r['target_fps_1080p']:g} frames/s (steady) at 1080p with the new default on a real "
        f"plate scaled to 1080p (judged on {Path(r['judged_clip']).stem}). Met by: "
        f"{', '.join(met) or 'none'}; missed by: {', '.join(missed) or 'none'}.",
    ]
    return lines
