"""The demo on real footage: one person of a real multi-person clip given the source identity, everyone
else left as the plate.

The clip ships in the repo (tests/data/real/openmpf_indoor_group.mp4: five people indoors, CC BY 2.0, Aaron
Tang). Extraction groups its faces into persons; the person with the largest faces is named ``lead``; a
small model learns the demo's source (the astronaut photo's shot) and the lead only (``train
--dst-person lead``); ``convert --person lead`` writes the passes. Measured on what was written: persons
found, frames where the lead was found and swapped, pixels changed outside the lead's matte and inside the
other persons' faces (both must be 0), and the identity of the comp's lead face against the source and
against the lead.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from facegraft.commands import to_argv
from facegraft.extract import identity
from facegraft.extract.pipeline import ExtractOptions
from facegraft.geometry.alignment import eye_distance
from facegraft.merge.passes import read_passes
from facegraft.persons.shot import extract_shot, summaries
from facegraft.store.alignments import AlignmentsStore

CLIP = Path(__file__).resolve().parents[1] / "tests" / "data" / "real" / "openmpf_indoor_group.mp4"
LEAD = "lead"


# The demo's model: small enough to learn two faces in a few CPU minutes.
DEMO_MODEL = {
    "resolution": 64,
    "ae_dims": 128,
    "e_dims": 32,
    "d_dims": 24,
    "d_mask_dims": 8,
    "batch": 8,
    "lr": 5e-4,
}


def _facegraft(*args: object) -> None:
    """Run one facegraft command as a user would; stop the demo with its error if it fails."""
    cmd = [sys.executable, "-m", "facegraft", *map(str, args)]
    print("  $ facegraft " + " ".join(map(str, args)))
    proc = subprocess.run(cmd, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"facegraft demo: the command above exited {proc.returncode}")


def extract_clip(out: Path, clip: Path = CLIP) -> dict:
    """Extract the clip, list its persons and name the one with the largest faces `lead`."""
    shot = out / "shots" / "real"
    print(f"extracting the real clip {clip}")
    summary = extract_shot(clip, shot, ExtractOptions(restart=True), progress_mode="auto")
    with AlignmentsStore.open(shot) as store:
        persons = summaries(store)
        sizes = {
            p.id: float(np.median([eye_distance(f.landmarks) for f in store.person_faces(p.id)]))
            for p in persons
        }
        lead = max(persons, key=lambda p: (sizes[p.id], p.faces))
        store.set_person_name(lead.id, LEAD)
        persons = summaries(store)
    return {
        "clip": str(clip),
        "shot": str(shot),
        "frames": summary.frames_done,
        "faces": summary.faces,
        "persons": [{**p.as_dict(), "eye_distance_px": round(sizes[p.id], 1)} for p in persons if p.faces],
        "lead": lead.id,
    }


def train_and_convert(out: Path, report: dict, minutes: float) -> None:
    """Train the source onto the lead only, then swap the lead only."""
    model = out / "model_real"
    print(f"training the source onto the clip's {LEAD} for {minutes:g} minutes")
    train = {"src": str(out / "shots" / "source"), "dst": str(report["shot"]), "model": str(model)}
    _facegraft(
        *to_argv("train", {**train, "dst_person": LEAD, **DEMO_MODEL, "minutes": float(minutes)}),
        "--progress",
        "quiet",
    )
    # The source face is the same public-domain NASA photo as the synthetic part's.
    _facegraft(
        "release", "set", report["shot"],
        "--identity", "Eileen Collins (NASA photo, scikit-image astronaut)",
        "--reference", "public domain: NASA image, no release needed",
        "--quiet",
    )  # fmt: skip
    print(f"converting the real clip: {LEAD} only")
    _facegraft(
        "convert", report["clip"],
        "--shot", report["shot"],
        "--model", model,
        "--person", LEAD,
        "-o", out / "real_passes",
        "--progress", "quiet",
    )  # fmt: skip
    report["model"] = str(model)
    report["passes"] = str(out / "real_passes")


def measure(out: Path, report: dict) -> dict:
    """Per frame: the lead swapped or not, pixels changed outside the lead's matte and inside any other
    person's face box, and the comp's lead face against the source and the lead."""
    from facegraft.io.plate import open_plate
    from facegraft.merge import quality

    with AlignmentsStore.open(out / "shots" / "source") as store:
        source = np.mean([f.embedding for f in store.faces() if f.embedding is not None], axis=0)
    with AlignmentsStore.open(report["shot"]) as store:
        faces = store.faces()
    lead = report["lead"]
    by_frame: dict[int, list] = {}
    for f in faces:
        by_frame.setdefault(f.frame, []).append(f)
    target = np.mean([f.embedding for f in faces if f.person_id == lead and f.embedding is not None], axis=0)
    rows = []
    with open_plate(report["clip"]) as plate:
        for info, pixels in plate.iter_frames():
            files = sorted(Path(report["passes"]).glob(f"*.{info.frame:04d}.exr"))
            if not files:
                continue
            ch = read_passes(files[0])
            comp = np.stack([ch["R"], ch["G"], ch["B"]], -1)
            same = (comp == plate_as_stored(pixels)).all(-1)
            matte = ch.get(f"matte_{LEAD}.A", ch["matte.A"])
            row = {"frame": info.frame, "changed_outside_matte": int((~same & (matte <= 0)).sum())}
            mine = [f for f in by_frame.get(info.frame, []) if f.person_id == lead]
            others = [f for f in by_frame.get(info.frame, []) if f.person_id != lead]
            row["others_changed"] = sum(int((~_in_box(same, f.box)).sum()) for f in others)
            row["others"] = len(others)
            if mine:
                row["lead_found"] = True
                x0, y0, x1, y1 = (int(round(v)) for v in mine[0].box)
                row["lead_swapped"] = bool((~same[max(y0, 0) : y1, max(x0, 0) : x1]).any())
                rgb = (np.clip(comp, 0, 1) * 255 + 0.5).astype(np.uint8)
                found = quality.find_face(rgb, near=mine[0].landmarks)
                if found is not None:
                    row["to_source"] = round(identity.distance(found.descriptor, source), 3)
                    row["to_target"] = round(identity.distance(found.descriptor, target), 3)
            rows.append(row)
    found = [r for r in rows if r.get("lead_found")]
    scored = [r for r in found if "to_source" in r]
    summary = {
        "frames": len(rows),
        "persons_found": len(report["persons"]),
        "lead_found_on": len(found),
        "lead_swapped_on": sum(r["lead_swapped"] for r in found),
        "pixels_changed_outside_lead_matte": sum(r["changed_outside_matte"] for r in rows),
        "other_faces_left_untouched": sum(r["others"] for r in rows),
        "pixels_changed_in_other_faces": sum(r["others_changed"] for r in rows),
        "comp_to_source_mean": round(float(np.mean([r["to_source"] for r in scored])), 3) if scored else None,
        "comp_to_lead_mean": round(float(np.mean([r["to_target"] for r in scored])), 3) if scored else None,
        "comp_closer_to_source_on": sum(r["to_source"] < r["to_target"] for r in scored),
        "comp_faces_measured": len(scored),
    }
    s = summary
    s["checks"] = {
        "persons: the clip's five people found": s["persons_found"] >= 5,
        "lead swapped on >= 97% of the frames where found": s["lead_swapped_on"]
        >= 0.97 * max(s["lead_found_on"], 1),
        "plate untouched outside the lead's matte": s["pixels_changed_outside_lead_matte"] == 0,
        "every other person's face untouched": s["pixels_changed_in_other_faces"] == 0,
    }
    return {"summary": summary, "frames": rows}


def plate_as_stored(pixels: np.ndarray) -> np.ndarray:
    """(H, W, 3) float32: the 8-bit plate as the passes store untouched pixels (value/255 in half float)."""
    return (pixels.astype(np.float32) / 255.0).astype(np.float16).astype(np.float32)


def _in_box(same: np.ndarray, box) -> np.ndarray:
    h, w = same.shape
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    return same[max(y0, 0) : min(y1, h), max(x0, 0) : min(x1, w)]


def run(out: Path, minutes: float) -> dict:
    """Extract, train, convert and measure on the real clip; the report part (also in report_real.json)."""
    report = extract_clip(out)
    train_and_convert(out, report, minutes)
    measured = measure(out, report)
    report["swap"] = measured["summary"]
    report["swap_frames"] = measured["frames"]
    (out / "report_real.json").write_text(json.dumps(report, indent=2))
    return report


def print_report(r: dict) -> None:
    s = r["swap"]
    print(f"\nfacegraft demo: real footage ({Path(r['clip']).name}, {r['frames']} frames)")
    print(f"  persons found: {len(r['persons'])}")
    for p in r["persons"]:
        span = f"{p['ranges'][0][0]}-{p['ranges'][-1][1]}" if p["ranges"] else "-"
        print(
            f"    {p['id']} {p['label']}: {p['faces']} faces, frames {span}, "
            f"eyes {p['eye_distance_px']} px apart"
        )
    print(
        f"  {LEAD} found on {s['lead_found_on']} frames, swapped on {s['lead_swapped_on']}; "
        f"{s['other_faces_left_untouched']} faces of other persons left as the plate "
        f"({s['pixels_changed_in_other_faces']} of their pixels changed)"
    )
    print(f"  outside the {LEAD}'s matte: {s['pixels_changed_outside_lead_matte']} pixels changed")
    print(
        f"  identity of the comp's {LEAD} face: -> source {s['comp_to_source_mean']} mean, -> {LEAD} "
        f"{s['comp_to_lead_mean']} mean; closer to the source on {s['comp_closer_to_source_on']}/"
        f"{s['comp_faces_measured']} frames measured (dlib distance; same person < 0.6)"
    )
    for name, ok in s["checks"].items():
        print(f"  [{'ok' if ok else 'MISSED'}] {name}")
    print(
        f"  passes: {r['passes']} (matte_{LEAD}.A beside matte.A); persons: {Path(r['shot']) / 'persons.png'}"
    )
