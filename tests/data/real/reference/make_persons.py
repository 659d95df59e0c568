"""Make the person ground truth of the committed multi-person real clips: WHO each reference face is.

The agreed faces of each clip's reference (<stem>.json / .json.gz beside this script, made by
make_reference.py with two third-party detectors) are linked into tracklets by box geometry alone: a box
joins the tracklet whose box one to GAP_MAX+1 frames before overlaps it most (IoU >= LINK_IOU, matched
greedily, best IoU first); tracklets break at the cuts of cuts.json and where a face goes unseen for more
than GAP_MAX frames. Nothing of facegraft (detector, tracker, identity) is used, so the ground truth is
independent of the code under test.

Each tracklet is drawn as one row of a contact sheet (first, 1/3, 2/3 and last frame, each crop the box
enlarged CROP_SCALE times, plus a wider crop of the middle frame showing the body for clothes); each
tracklet's person was then named by eye from the sheets (see PERSONS.md for by whom). Those names
are LABELS below; they are keyed by tracklet number and the tracklet's first and last frame, so that a
change of the linking that renumbers the tracklets fails loudly instead of putting names on the wrong
faces. A tracklet that visibly holds two people is split at the frame where it changes (a list of
(first frame, name) in LABELS). "unknown" is a face too small, blurred or brief to tell who it is and
"not_a_face" something both detectors took for a face; tests score neither. A "doubt" on a label says why
it is the labeller's best reading rather than certain. PERSONS.md says how the labels were made.

    .venv/bin/python tests/data/real/reference/make_persons.py                 # persons.json only
    .venv/bin/python tests/data/real/reference/make_persons.py --sheets DIR    # and contact sheets in DIR
    .venv/bin/python tests/data/real/reference/make_persons.py --sheets DIR --zoom CLIP:ID[,ID...]
        # bigger crops of some tracklets (--zoom-height PX); --clips STEM... limits the sheets, --no-write
        # leaves persons.json alone
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CLIPS_DIR = HERE.parent
CLIPS = {
    "openmpf_indoor_group": "openmpf_indoor_group.mp4",
    "openmpf_hikers": "openmpf_hikers.mp4",
    "whitehouse_hamilton_short": "whitehouse_hamilton_short.mp4",
}
LINK_IOU = 0.3  # a box joins a tracklet whose last box overlaps it at least this much
GAP_MAX = 2  # frames a face may go unseen inside a tracklet; a longer gap starts a new tracklet
CROP_SCALE = 1.6
CROP_HEIGHT = 96
CONTEXT_SCALE = 4.0  # the wider crop of the middle frame (head and shoulders, clothes)
ROWS_PER_SHEET = 16
UNKNOWN = "unknown"
OUT = HERE / "persons.json"
GZIP_OVER = 300_000

NOT_A_FACE = "not_a_face"
UNSCORED = (UNKNOWN, NOT_A_FACE)

# Tracklet number -> (first frame, last frame, person[, doubt]). person is a name, or a list of
# (from frame, name) for a tracklet split where its face changes to another person. doubt, where given, says
# why the name is the labeller's best reading rather than certain. Written by hand from the contact sheets
# (see PERSONS.md); a tracklet not listed is unknown.
_DOUBT_STAGE_AUDIENCE = (
    "defocused background behind the pianist: told apart from the others in this shot by place only; "
    "not matched against the audience of the other shots"
)
_ROW = "face under 15 px: identified by hat, clothes and place in the walking group, not by the face"
LABELS: dict[str, dict[int, tuple]] = {
    "openmpf_indoor_group": {
        0: (0, 89, "woman_long_brown_hair"),
        1: (0, 89, "young_man_dark_hair"),
        2: (0, 89, "woman_blonde"),
        3: (0, 89, "man_turban_beard"),
        4: (0, 89, "man_filming_with_phone"),
    },
    "whitehouse_hamilton_short": {
        # shot 0 (f0-19), wide stage shot
        0: (
            0,
            19,
            "pianist",
            "23-25 px in the wide shot; the same man as the profile close-up (#2) by his "
            "curly black hair and beard",
        ),
        1: (0, 19, "singer"),
        # shot 1 (f20-81), profile close-up of the pianist, defocused audience behind him
        2: (20, 44, "pianist"),
        3: (21, 21, UNKNOWN),  # one frame, defocused audience member
        4: (
            28,
            37,
            "stage_audience_a",
            _DOUBT_STAGE_AUDIENCE + "; #5 continues it after 6 frames, 0.3 widths away",
        ),
        5: (43, 81, "stage_audience_a", _DOUBT_STAGE_AUDIENCE),
        6: (46, 81, "stage_audience_b", _DOUBT_STAGE_AUDIENCE),
        7: (52, 59, "stage_audience_c_woman", _DOUBT_STAGE_AUDIENCE),
        8: (69, 70, UNKNOWN),  # two frames, defocused, 37 px, above stage_audience_a
        # shot 2 (f82-210), singer close-up
        9: (82, 210, "singer"),
        # shot 3 (f211-274), audience shot
        10: (211, 274, "audience_front_left_laughing"),
        11: (211, 274, "audience_woman_short_hair"),
        12: (211, 274, "audience_man_hand_on_chin"),
        13: (211, 274, "audience_woman_earring"),
        14: (211, 274, "audience_right_edge_under_logo"),
        15: (
            229,
            229,
            "audience_behind_front_left",
            "mostly hidden behind audience_front_left_laughing; only hair and forehead seen",
        ),
        16: (
            233,
            238,
            "audience_behind_front_left",
            "mostly hidden behind audience_front_left_laughing; "
            "only hair and forehead seen; same place as #15",
        ),
    },
    "openmpf_hikers": {
        # the front four, f0-130
        0: (0, 130, "hiker_white_hair_turquoise_top"),
        1: (0, 118, "hiker_blue_jacket_sunglasses"),
        2: (0, 80, "hiker_dark_cap_sunglasses"),
        3: (0, 50, "hiker_sunglasses_white_top"),
        # the walking group of four far back, coming forward: left blue hat and black jacket (later white
        # beard, blue wide-brim hat), middle light grey cap and grey shirt, right big white hat and blue
        # plaid shirt (later white cap, glasses), and a white-haired man in a maroon sweatshirt with a print
        4: (5, 10, "hiker_grey_cap_grey_shirt", _ROW),
        5: (8, 8, "hiker_white_hat_plaid_shirt", _ROW),
        6: (19, 28, "hiker_grey_cap_grey_shirt", _ROW),
        7: (24, 29, "hiker_white_hat_plaid_shirt", _ROW),
        8: (33, 34, "hiker_white_hat_plaid_shirt", _ROW),
        9: (34, 41, "hiker_blue_hat_white_beard", _ROW),
        10: (34, 38, "hiker_grey_cap_grey_shirt", _ROW),
        11: (
            35,
            37,
            "hiker_red_cap",
            "12-16 px, behind the turquoise woman, 70 frames before #27; the only red cap in the clip",
        ),
        12: (44, 47, "hiker_grey_cap_grey_shirt", _ROW),
        13: (50, 59, "hiker_grey_cap_grey_shirt", _ROW),
        14: (52, 57, "hiker_blue_hat_white_beard", _ROW),
        15: (55, 61, "hiker_white_hat_plaid_shirt", _ROW),
        16: (60, 67, "hiker_blue_hat_white_beard", _ROW),
        17: (63, 69, "hiker_grey_cap_grey_shirt", _ROW),
        18: (73, 82, "hiker_grey_cap_grey_shirt", _ROW),
        19: (73, 75, "hiker_white_hat_plaid_shirt", _ROW),
        20: (73, 73, "hiker_maroon_sweatshirt", _ROW),
        21: (81, 91, "hiker_white_hat_plaid_shirt", _ROW),
        22: (88, 110, "hiker_blue_hat_white_beard", _ROW),
        23: (88, 98, "hiker_grey_cap_grey_shirt", _ROW),
        24: (97, 148, "hiker_white_hat_plaid_shirt", _ROW),
        25: (97, 321, "hiker_blue_bucket_hat"),
        26: (102, 106, "hiker_grey_cap_grey_shirt", _ROW),
        27: (107, 204, "hiker_red_cap"),
        28: (111, 138, "hiker_grey_cap_grey_shirt", _ROW),
        29: (120, 130, "hiker_blue_hat_white_beard", _ROW),
        30: (134, 149, "hiker_blue_hat_white_beard", _ROW),
        31: (141, 147, "hiker_grey_cap_grey_shirt", _ROW),
        32: (151, 492, "hiker_blue_hat_white_beard"),
        33: (152, 271, "hiker_white_hat_plaid_shirt", _ROW),
        34: (155, 156, "hiker_grey_cap_grey_shirt", _ROW),
        35: (163, 168, "hiker_grey_cap_grey_shirt", _ROW),
        36: (172, 187, "hiker_grey_cap_grey_shirt", _ROW),
        37: (181, 186, "hiker_maroon_sweatshirt", _ROW),
        38: (184, 184, NOT_A_FACE),  # both detectors on the print of the maroon sweatshirt
        39: (197, 259, "hiker_maroon_sweatshirt", _ROW),
        40: (212, 214, "hiker_grey_cap_grey_shirt", _ROW),
        41: (231, 235, "hiker_grey_cap_grey_shirt", _ROW),
        42: (239, 468, "hiker_grey_cap_grey_shirt"),
        43: (263, 406, "hiker_maroon_sweatshirt"),
        44: (269, 269, NOT_A_FACE),  # a hand in front of the plaid shirt
        45: (275, 460, "hiker_white_hat_plaid_shirt"),
        46: (447, 494, "hiker_maroon_sweatshirt"),
        47: (467, 468, "hiker_white_hat_plaid_shirt"),
        48: (496, 497, "hiker_blue_hat_white_beard"),
        49: (
            499,
            515,
            "hiker_grey_cap_grey_shirt",
            "cap and shirt as #42, which ended 31 frames before "
            "nearby; the face is large but blurred by motion",
        ),
        50: (
            512,
            513,
            "hiker_maroon_sweatshirt",
            "white hair and glasses at the right edge, 18 frames after #46; the sweatshirt is not in view",
        ),
    },
}
NOTES: dict[str, str] = {
    "openmpf_indoor_group": (
        "One shot, five people, all seen for the whole clip; every tracklet is one person from first to "
        "last frame. man_filming_with_phone's face is mostly hidden by the phone he holds up."
    ),
    "whitehouse_hamilton_short": (
        "Four shots (cuts f20, f82, f211). The singer is in shots 0 (wide, 39-44 px) and 2 (close-up); "
        "the profile close-up of shot 1 is not the singer but the curly-haired bearded pianist of the wide "
        "shot. Shot 1's audience is defocused background (doubtful names, told apart by place only); "
        "shot 3 is another part of the audience, five to six people, sharp."
    ),
    "openmpf_hikers": (
        "One shot, ten people and two non-faces. The front four leave the frame by f130. A group of "
        "four walks up from far back (faces 7-12 px until about f250): they are named by hat, clothes and "
        "place in the group, which stays the same throughout (left blue hat, middle grey cap, right white "
        "hat, maroon sweatshirt at the right), and the many short tracklets of each are linked through it "
        "(see the doubt of each). Faces under 12 px are not identifiable by face; score them only if "
        "the test wants tracking at that size."
    ),
}


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in a (N,4) against every box in b (M,4), boxes x0,y0,x1,y1."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def read_reference(stem: str) -> dict:
    """A clip's reference as make_reference.py wrote it."""
    plain, packed = HERE / f"{stem}.json", HERE / f"{stem}.json.gz"
    if plain.is_file():
        return json.loads(plain.read_text())
    with gzip.open(packed, "rt") as fh:
        return json.load(fh)


def link(agreed: list[list], cuts: list[int], frames: int) -> list[dict]:
    """Agreed rows [frame, x0, y0, x1, y1, ...] linked into tracklets by IoU (see the module docstring).
    Tracklets are numbered from 0 by first frame, then by left edge of the first box."""
    by_frame: dict[int, list[list[float]]] = {}
    for row in agreed:
        by_frame.setdefault(int(row[0]), []).append([float(v) for v in row[1:5]])
    bounds = [0, *sorted(cuts), frames]
    tracklets: list[dict] = []
    for start, end in zip(bounds, bounds[1:]):
        open_: list[dict] = []
        for frame in range(start, end):
            boxes = sorted(by_frame.get(frame, []), key=lambda b: (b[0], b[1]))
            open_ = [t for t in open_ if frame - t["frames"][-1] <= GAP_MAX + 1]
            overlaps = iou_matrix(
                np.array([t["boxes"][-1] for t in open_]).reshape(-1, 4), np.array(boxes).reshape(-1, 4)
            )
            taken_t: set[int] = set()
            taken_b: set[int] = set()
            order = sorted(
                ((overlaps[i, j], i, j) for i in range(len(open_)) for j in range(len(boxes))),
                key=lambda p: (-p[0], p[1], p[2]),
            )
            for value, i, j in order:
                if value < LINK_IOU or i in taken_t or j in taken_b:
                    continue
                taken_t.add(i)
                taken_b.add(j)
                open_[i]["frames"].append(frame)
                open_[i]["boxes"].append(boxes[j])
            for j, box in enumerate(boxes):
                if j not in taken_b:
                    tracklet = {"frames": [frame], "boxes": [box]}
                    open_.append(tracklet)
                    tracklets.append(tracklet)
    tracklets.sort(key=lambda t: (t["frames"][0], t["boxes"][0][0], t["boxes"][0][1]))
    for n, t in enumerate(tracklets):
        t["id"] = n
    return tracklets


def decode(path: Path, wanted: set[int]) -> dict[int, np.ndarray]:
    """The wanted frames (decode indices from 0, display order) as BGR uint8."""
    import av

    out: dict[int, np.ndarray] = {}
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(container.streams.video[0])):
            if index in wanted:
                out[index] = frame.to_ndarray(format="bgr24")
    return out


def crop(image: np.ndarray, box: list[float], scale: float, height: int, stretch: bool = True) -> np.ndarray:
    """The box enlarged scale times about its centre (square on its larger side, padded grey outside the
    frame), resized to height px high, its contrast stretched (for looking at only)."""
    import cv2

    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    side = max(box[2] - box[0], box[3] - box[1]) * scale
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    s = max(int(round(side)), 2)
    h, w = image.shape[:2]
    canvas = np.full((s, s, 3), 90, np.uint8)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + s, w), min(y0 + s, h)
    if sx1 > sx0 and sy1 > sy0:
        canvas[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = image[sy0:sy1, sx0:sx1]
    interp = cv2.INTER_CUBIC if s < height else cv2.INTER_AREA
    out = cv2.resize(canvas, (height, height), interpolation=interp)
    if stretch:  # for the eye only: dark shots stretched to the crop's 1st..99th percentile
        lo, hi = np.percentile(out, [1, 99])
        if hi - lo > 4:
            out = np.clip((out.astype(np.float32) - lo) * (255.0 / (hi - lo)), 0, 255).astype(np.uint8)
    return out


def sample_frames(frames: list[int]) -> list[int]:
    """First, 1/3, 2/3 and last frame of a tracklet (fewer when it is short)."""
    n = len(frames)
    picks = sorted({0, round((n - 1) / 3), round(2 * (n - 1) / 3), n - 1})
    return [frames[k] for k in picks]


def render_sheets(
    stem: str, tracklets: list[dict], out_dir: Path, crop_height: int, tag: str = ""
) -> list[Path]:
    """Contact sheets of the tracklets: one row each, ROWS_PER_SHEET rows a PNG."""
    import cv2

    wanted = {f for t in tracklets for f in sample_frames(t["frames"])}
    wanted |= {t["frames"][len(t["frames"]) // 2] for t in tracklets}
    images = decode(CLIPS_DIR / CLIPS[stem], wanted)
    label_w = 230
    rows = []
    for t in tracklets:
        boxes = dict(zip(t["frames"], t["boxes"]))
        cells = [crop(images[f], boxes[f], CROP_SCALE, crop_height) for f in sample_frames(t["frames"])]
        cells += [np.full((crop_height, crop_height, 3), 40, np.uint8)] * (4 - len(cells))
        mid = t["frames"][len(t["frames"]) // 2]
        cells.append(crop(images[mid], boxes[mid], CONTEXT_SCALE, crop_height))
        label = np.full((crop_height, label_w, 3), 255, np.uint8)
        widths = [b[2] - b[0] for b in t["boxes"]]
        b0 = t["boxes"][0]
        lines = [
            f"#{t['id']}  n={len(t['frames'])}",
            f"f{t['frames'][0]}-{t['frames'][-1]}",
            f"w {min(widths):.0f}-{max(widths):.0f}px at x{b0[0]:.0f} y{b0[1]:.0f}",
            "f " + ",".join(str(f) for f in sample_frames(t["frames"])),
        ]
        for k, text in enumerate(lines):
            cv2.putText(
                label, text, (4, 18 + k * 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA
            )
        names = [f"{n}{'?' if d else ''}" for _, _, n, d in segments(stem, t)]
        cv2.putText(
            label,
            "/".join(names)[:40],
            (4, crop_height - 4),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.36,
            (0, 0, 200),
            1,
            cv2.LINE_AA,
        )
        row = np.concatenate([label, *[np.pad(c, ((0, 0), (2, 2), (0, 0))) for c in cells]], axis=1)
        rows.append(np.pad(row, ((2, 2), (0, 0), (0, 0)), constant_values=255))
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for page, start in enumerate(range(0, len(rows), ROWS_PER_SHEET)):
        path = out_dir / f"{stem}{tag}_{page:02d}.png"
        cv2.imwrite(str(path), np.concatenate(rows[start : start + ROWS_PER_SHEET], axis=0))
        paths.append(path)
    return paths


def segments(stem: str, tracklet: dict) -> list[tuple[int, int, str, str | None]]:
    """(first frame, last frame, person, doubt) pieces of a tracklet from LABELS; unlabelled -> unknown."""
    first, last = tracklet["frames"][0], tracklet["frames"][-1]
    entry = LABELS.get(stem, {}).get(tracklet["id"])
    if entry is None:
        return [(first, last, UNKNOWN, None)]
    lo, hi, person = entry[:3]
    doubt = entry[3] if len(entry) > 3 else None
    if (lo, hi) != (first, last):
        raise SystemExit(
            f"{stem}: LABELS says tracklet {tracklet['id']} runs f{lo}-{hi} but it now runs f{first}-{last}: "
            "the linking changed, label the sheets again"
        )
    if isinstance(person, str):
        return [(first, last, person, doubt)]
    pieces = sorted(person)
    out = []
    for k, (start, name) in enumerate(pieces):
        end = pieces[k + 1][0] - 1 if k + 1 < len(pieces) else last
        out.append((start, end, name, doubt))
    return out


def build(stem: str, reference: dict, cuts: list[int]) -> tuple[list[dict], dict]:
    """Tracklets of one clip, and its persons.json entry."""
    tracklets = link(reference["agreed"], cuts, int(reference["frames"]))
    missing = set(LABELS.get(stem, {})) - {t["id"] for t in tracklets}
    if missing:
        raise SystemExit(f"{stem}: LABELS names tracklets {sorted(missing)} that the linking no longer makes")
    entries = []
    for t in tracklets:
        for first, last, person, doubt in segments(stem, t):
            rows = [
                [f, *[round(v, 1) for v in b]] for f, b in zip(t["frames"], t["boxes"]) if first <= f <= last
            ]
            if not rows:
                continue
            entry = {"id": t["id"], "person": person, "frames": [rows[0][0], rows[-1][0]]}
            if doubt:
                entry["doubt"] = doubt
            entry["boxes"] = rows
            entries.append(entry)
    seen: dict[tuple[int, str], int] = {}
    for e in entries:
        for row in e["boxes"]:
            key = (row[0], e["person"])
            if e["person"] not in UNSCORED and key in seen:
                raise SystemExit(
                    f"{stem}: {e['person']} twice in frame {row[0]} (tracklets {seen[key]} and {e['id']})"
                )
            seen[key] = e["id"]

    def shot_of(frame: int) -> int:
        return sum(1 for c in cuts if c <= frame)

    persons = {}
    for name in sorted({e["person"] for e in entries}):
        mine = [e for e in entries if e["person"] == name]
        rows = [r for e in mine for r in e["boxes"]]
        widths = [r[3] - r[1] for r in rows]
        persons[name] = {
            "faces": len(rows),
            "faces_without_doubt": sum(len(e["boxes"]) for e in mine if "doubt" not in e),
            "tracklets": [e["id"] for e in mine],
            "shots": sorted({shot_of(r[0]) for r in rows}),
            "faces_40px": sum(1 for w in widths if w >= 40),
            "width_px": [round(min(widths)), round(max(widths))],
        }
    doc = {
        "clip": CLIPS[stem],
        "frames": int(reference["frames"]),
        "cuts": sorted(cuts),
        "persons": persons,
        "notes": NOTES.get(stem, ""),
        "tracklets": entries,
    }
    return tracklets, doc


def dump(doc: dict) -> str:
    """persons.json text: one tracklet per block, one box row per line."""
    head = {k: v for k, v in doc.items() if k != "clips"}
    parts = ["{"]
    for key, value in head.items():
        parts.append(f" {json.dumps(key)}: {json.dumps(value)},")
    parts.append(' "clips": {')
    clips = list(doc["clips"].items())
    for n, (stem, clip) in enumerate(clips):
        parts.append(f"  {json.dumps(stem)}: {{")
        for key, value in clip.items():
            if key == "tracklets":
                continue
            parts.append(f"   {json.dumps(key)}: {json.dumps(value)},")
        blocks = []
        for e in clip["tracklets"]:
            rows = ",".join(json.dumps(r, separators=(",", ":")) for r in e["boxes"])
            doubt = f', "doubt": {json.dumps(e["doubt"])}' if "doubt" in e else ""
            blocks.append(
                f'    {{"id": {e["id"]}, "person": {json.dumps(e["person"])}, '
                f'"frames": {json.dumps(e["frames"])}{doubt},\n     "boxes": [{rows}]}}'
            )
        parts.append('   "tracklets": [\n' + ",\n".join(blocks) + "\n   ]")
        parts.append("  }" + ("," if n < len(clips) - 1 else ""))
    parts.append(" }")
    parts.append("}")
    return "\n".join(parts) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sheets", type=Path, help="also write contact sheets (PNG) into this folder")
    parser.add_argument(
        "--zoom",
        action="append",
        default=[],
        help="CLIP:ID[,ID...]: sheets of these tracklets with big crops",
    )
    parser.add_argument("--zoom-height", type=int, default=220)
    parser.add_argument("--clips", nargs="*", default=list(CLIPS))
    parser.add_argument("--no-write", action="store_true", help="do not write persons.json")
    args = parser.parse_args()
    cuts_doc = json.loads((HERE / "cuts.json").read_text())
    zoom: dict[str, list[int]] = {}
    for item in args.zoom:
        stem, ids = item.split(":")
        zoom.setdefault(stem, []).extend(int(i) for i in ids.split(","))
    clips = {}
    for stem in CLIPS:
        reference = read_reference(stem)
        tracklets, doc = build(stem, reference, cuts_doc["cuts"][stem])
        clips[stem] = doc
        summary = ", ".join(
            f"{k} {v['faces']} ({v['faces_without_doubt']})" for k, v in doc["persons"].items()
        )
        print(f"{stem}: {len(tracklets)} tracklets; faces: {summary}", file=sys.stderr)
        if args.sheets and stem in args.clips:
            if stem in zoom:
                picked = [t for t in tracklets if t["id"] in zoom[stem]]
                paths = render_sheets(stem, picked, args.sheets, args.zoom_height, tag="_zoom")
            else:
                paths = render_sheets(stem, tracklets, args.sheets, CROP_HEIGHT)
            print(f"  sheets: {', '.join(str(p) for p in paths)}", file=sys.stderr)
    if args.no_write:
        return
    doc = {
        "made_by": "tests/data/real/reference/make_persons.py",
        "method": (
            "agreed reference faces linked into tracklets by IoU between consecutive frames "
            f"(IoU >= {LINK_IOU}, greedy, best first; break at cuts.json cuts and at gaps over {GAP_MAX} "
            "frames); each tracklet named by hand by a developer from contact sheets (see PERSONS.md). "
            f"'{UNKNOWN}': too small, blurred or brief to tell who it is; '{NOT_A_FACE}': both reference "
            "detectors fired on something that is no face; neither is to be scored. 'doubt': the labeller's "
            "best reading, not certain; a strict test scores only tracklets without it."
        ),
        "unscored": list(UNSCORED),
        "box_convention": "x0,y0,x1,y1 plate pixels, the reference's agreed boxes (see make_reference.py)",
        "frame_convention": "decode indices from 0 in display order (as the references and cuts.json)",
        "columns": {"boxes": ["frame", "x0", "y0", "x1", "y1"]},
        "clips": clips,
    }
    text = dump(doc)
    json.loads(text)  # well-formed
    plain, packed = OUT, OUT.with_suffix(".json.gz")
    for old in (plain, packed):
        old.unlink(missing_ok=True)
    if len(text) > GZIP_OVER:
        with gzip.GzipFile(packed, "wb", mtime=0) as fh:
            fh.write(text.encode())
        print(f"-> {packed}", file=sys.stderr)
    else:
        plain.write_text(text)
        print(f"-> {plain}", file=sys.stderr)


if __name__ == "__main__":
    main()
