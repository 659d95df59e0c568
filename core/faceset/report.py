"""`faceset report`: one HTML page (plus its PNGs in ``<name>_files/``) that shows what a source faceset
covers and, against a target, which target poses it lacks.

The page needs nothing from the network: CSS is inline, heat maps and distributions are inline SVG (each
heat-map cell carries ``data-yaw``, ``data-pitch`` and ``data-count``), thumbnails and contact sheets are
PNGs beside it. Heat maps are also written as PNGs for mail and review tools. Everything is written to
temporary names and renamed into place.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from facegraft import __version__
from facegraft.errors import InputError
from facegraft.faceset.collection import Faceset, flag_counts, open_faceset
from facegraft.faceset.coverage import Grid, MissingPose, histogram, missing_poses
from facegraft.faceset.survey import require_store_columns, survey
from facegraft.io.atomic import replacing, write_bytes_atomic, write_text_atomic
from facegraft.options import opt
from facegraft.store.alignments import NOT_TARGET
from facegraft.store.face_images import read_face_png

COLUMNS = ("yaw", "pitch", "sharpness", "brightness", "mouth", "eyes")
THUMB = 96
SHEET_COLUMNS = 12
SHEET_ROWS = 8
MAX_SHEETS = 6
_RAMP = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], np.float64)


@dataclass
class ReportOptions:
    """Options of `faceset report`."""

    radius: float = opt(10.0, "a target pose is missing when no source face is within this many degrees")
    step: float = opt(10.0, "heat-map cell size in degrees")
    against_person: str = opt(
        "", "only the faces of this person of the target faceset (a person id, name or photo)"
    )


@dataclass
class ReportResult:
    """The page, its files folder, the missing target poses it lists, and the faces of each set carrying
    extraction's flags ({flag: faces})."""

    html: Path
    files: Path
    source_faces: int
    source_person: str | None = None
    target_person: str | None = None
    target_faces: int = 0
    missing: list[MissingPose] = field(default_factory=list)
    source_flags: dict[str, int] = field(default_factory=dict)
    target_flags: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "html": str(self.html),
            "files": str(self.files),
            "source_faces": self.source_faces,
            "source_person": self.source_person,
            "target_person": self.target_person,
            "target_faces": self.target_faces,
            "source_flags": self.source_flags,
            "target_flags": self.target_flags,
            "missing_cells": len(self.missing),
            "missing_faces": sum(len(m.indices) for m in self.missing),
            "missing": [m.as_dict() for m in self.missing],
        }


def _ramp(t: float) -> tuple[int, int, int]:
    """A viridis-like colour for 0..1."""
    x = float(np.clip(t, 0, 1)) * (len(_RAMP) - 1)
    i = min(int(x), len(_RAMP) - 2)
    c = _RAMP[i] + (x - i) * (_RAMP[i + 1] - _RAMP[i])
    return int(c[0]), int(c[1]), int(c[2])


def _cell_colour(count: int, top: int) -> str:
    if count == 0:
        return "#f2f2f2"
    r, g, b = _ramp(np.log1p(count) / np.log1p(max(top, 1)))
    return f"#{r:02x}{g:02x}{b:02x}"


def heatmap_svg(
    counts: np.ndarray, grid: Grid, role: str, flagged: set[tuple[int, int]] | None = None
) -> str:
    """Inline SVG of (pitch, yaw) counts; pitch up, yaw left to right; flagged cells outlined in red."""
    cell, left, top_pad = 26, 46, 8
    rows, cols = counts.shape
    w, h = left + cols * cell + 8, top_pad + rows * cell + 40
    top = int(counts.max()) if counts.size else 0
    parts = [
        f'<svg class="heatmap" data-role="{role}" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
        f'xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{role} yaw x pitch coverage">'
    ]
    ye, pe = grid.yaw_edges, grid.pitch_edges
    for r in range(rows):
        y = top_pad + (rows - 1 - r) * cell
        for c in range(cols):
            n = int(counts[r, c])
            x = left + c * cell
            stroke = (
                ' stroke="#d00" stroke-width="2.5"' if flagged and (c, r) in flagged else ' stroke="#fff"'
            )
            parts.append(
                f'<rect class="cell" x="{x}" y="{y}" width="{cell}" height="{cell}" '
                f'fill="{_cell_colour(n, top)}"{stroke} data-yaw="{ye[c]:g}" data-pitch="{pe[r]:g}" '
                f'data-count="{n}"><title>yaw {ye[c]:g}..{ye[c + 1]:g}, pitch {pe[r]:g}..{pe[r + 1]:g}: '
                f"{n} faces</title></rect>"
            )
    for c in range(0, cols + 1, 3):
        x = left + c * cell
        parts.append(
            f'<text x="{x}" y="{top_pad + rows * cell + 14}" font-size="10" text-anchor="middle">'
            f"{ye[c]:g}</text>"
        )
    for r in range(0, rows + 1, 2):
        y = top_pad + (rows - r) * cell
        parts.append(f'<text x="{left - 4}" y="{y + 4}" font-size="10" text-anchor="end">{pe[r]:g}</text>')
    parts.append(
        f'<text x="{left + cols * cell / 2}" y="{h - 6}" font-size="11" text-anchor="middle">'
        "yaw (degrees)</text>"
    )
    parts.append(
        f'<text x="10" y="{top_pad + rows * cell / 2}" font-size="11" transform="rotate(-90 10 '
        f'{top_pad + rows * cell / 2})" text-anchor="middle">pitch</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def heatmap_png(counts: np.ndarray, scale: int = 24) -> np.ndarray:
    """(H, W, 3) uint8 RGB picture of the counts, pitch up (the same colours as the SVG)."""
    rows, cols = counts.shape
    top = int(counts.max()) if counts.size else 0
    img = np.full((rows * scale, cols * scale, 3), 255, np.uint8)
    for r in range(rows):
        for c in range(cols):
            colour = _cell_colour(int(counts[r, c]), top)
            rgb = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
            y = (rows - 1 - r) * scale
            img[y + 1 : y + scale - 1, c * scale + 1 : (c + 1) * scale - 1] = rgb
    return img


def bars_svg(title: str, edges: np.ndarray, series: dict[str, np.ndarray]) -> str:
    """Inline SVG bar chart of one or two histograms (same edges), as fractions of each set."""
    w, h, pad = 360, 150, 28
    colours = {"source": "#3b528b", "target": "#e07b00"}
    n = len(edges) - 1
    bw = (w - 2 * pad) / n
    fracs = {k: v / max(v.sum(), 1) for k, v in series.items()}
    top = max((float(f.max()) for f in fracs.values() if f.size), default=1.0) or 1.0
    parts = [
        f'<svg class="dist" data-name="{html.escape(title)}" width="{w}" height="{h}" '
        f'xmlns="http://www.w3.org/2000/svg"><text x="{pad}" y="14" font-size="12">'
        f"{html.escape(title)}</text>"
    ]
    k = len(fracs)
    for j, (name, f) in enumerate(fracs.items()):
        for i, v in enumerate(f):
            bh = (h - 2 * pad) * v / top
            x = pad + i * bw + j * bw / k
            parts.append(
                f'<rect x="{x:.1f}" y="{h - pad - bh:.1f}" width="{bw / k - 1:.1f}" height="{bh:.1f}" '
                f'fill="{colours.get(name, "#555")}"><title>{name}: {v:.1%} in '
                f"{edges[i]:.3g}..{edges[i + 1]:.3g}</title></rect>"
            )
    parts.append(f'<text x="{pad}" y="{h - 8}" font-size="10">{edges[0]:.3g}</text>')
    parts.append(f'<text x="{w - pad}" y="{h - 8}" font-size="10" text-anchor="end">{edges[-1]:.3g}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _thumb(path: Path) -> np.ndarray:
    return cv2.resize(read_face_png(path), (THUMB, THUMB), interpolation=cv2.INTER_AREA)


def contact_sheet(paths: list[Path], captions: list[str], columns: int = SHEET_COLUMNS) -> np.ndarray:
    """(H, W, 3) uint8 RGB grid of face thumbnails with a caption under each."""
    rows = max(1, -(-len(paths) // columns))
    cap = 14
    sheet = np.full((rows * (THUMB + cap), columns * THUMB, 3), 30, np.uint8)
    for k, (p, text) in enumerate(zip(paths, captions)):
        r, c = divmod(k, columns)
        y, x = r * (THUMB + cap), c * THUMB
        sheet[y : y + THUMB, x : x + THUMB] = _thumb(p)
        cv2.putText(
            sheet,
            text,
            (x + 3, y + THUMB + 11),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.35,
            (230, 230, 230),
            1,
            cv2.LINE_AA,
        )
    return sheet


def _write_png(path: Path, rgb: np.ndarray) -> str:
    ok, data = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]))
    if not ok:
        raise InputError("cannot encode the report image", path)
    write_bytes_atomic(path, data.tobytes(), "the report image")
    return path.name


def _measure(path: str | Path, person: str = "") -> tuple[Faceset, dict[str, np.ndarray], dict[str, int]]:
    """The faceset's target faces (of `person` when given) measured, and the flags its faces carry
    (faces flagged not-target are counted there, not measured: training leaves them out)."""
    every = open_faceset(path, person)
    flags = flag_counts(i.face for i in every.items)
    targets = [i for i in every.items if not _dropped(i.face)]
    fs = Faceset(every.folder, every.store_path, targets, every.person)
    if not fs.items:
        who = f" of {fs.person.label}" if fs.person is not None else ""
        raise InputError(f"no face images{who} to report on in this faceset", fs.folder)
    require_store_columns(fs, "the coverage report")
    return fs, survey(fs, COLUMNS), flags


def _dropped(face) -> bool:
    return face is not None and NOT_TARGET in face.flags


def write_report(
    src: str | Path,
    out: str | Path,
    against: str | Path | None = None,
    opts: ReportOptions | None = None,
    person: str = "",
) -> ReportResult:
    """Write the coverage report of faceset `src` (optionally against target faceset `against`), each
    limited to one person when `person` / `opts.against_person` names one (an id, name or photo)."""
    opts = opts or ReportOptions()
    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise InputError("the report must be an .html file", out)
    grid = Grid(opts.step)
    src_fs, s, src_flags = _measure(src, person)
    dst_fs, d, dst_flags = _measure(against, opts.against_person) if against is not None else (None, None, {})
    files = out.with_name(f"{out.stem}_files")
    with replacing(files, "the report's files") as tmp_files:
        tmp_files.mkdir()
        result = ReportResult(html=out, files=files, source_faces=len(src_fs))
        result.source_flags, result.target_flags = src_flags, dst_flags
        result.source_person = None if src_fs.person is None else src_fs.person.label
        if dst_fs is not None and dst_fs.person is not None:
            result.target_person = dst_fs.person.label
        sections = []
        src_counts = grid.counts(s["yaw"], s["pitch"])
        _write_png(tmp_files / "source_heatmap.png", heatmap_png(src_counts))
        maps = [("source", src_counts, None)]
        if d is not None and dst_fs is not None:
            result.target_faces = len(dst_fs)
            result.missing = missing_poses(s["yaw"], s["pitch"], d["yaw"], d["pitch"], opts.radius, grid)
            flagged_cells = {m.cell for m in result.missing}
            dst_counts = grid.counts(d["yaw"], d["pitch"])
            _write_png(tmp_files / "target_heatmap.png", heatmap_png(dst_counts))
            maps.append(("target", dst_counts, flagged_cells))
        figs = "".join(
            f"<figure><figcaption>{role}: {int(c.sum())} faces</figcaption>{heatmap_svg(c, grid, role, fl)}"
            f'<a href="{files.name}/{role}_heatmap.png">PNG</a></figure>'
            for role, c, fl in maps
        )
        sections.append(
            '<section id="coverage"><h2>Pose coverage (yaw x pitch)</h2>'
            f'<div class="row">{figs}</div></section>'
        )
        if d is not None and dst_fs is not None:
            sections.append(_missing_section(result.missing, dst_fs, d, tmp_files, files.name, opts.radius))
        sections.append(_distributions(s, d))
        sections.append(_sheets(src_fs, s, tmp_files, files.name))
        page = _page(src_fs, dst_fs, sections, result)
    write_text_atomic(out, page, "the report")
    return result


def _missing_section(
    missing: list[MissingPose], dst_fs: Faceset, d: dict, tmp_files: Path, files_name: str, radius: float
) -> str:
    if not missing:
        return (
            '<section id="missing"><h2>Missing target poses</h2><p class="ok">Every target pose has a source '
            f"face within {radius:g} degrees.</p></section>"
        )
    rows = []
    for k, m in enumerate(missing):
        members = sorted(m.indices, key=lambda i: (d["yaw"][i], d["pitch"][i]))
        pick = [members[int(j)] for j in np.linspace(0, len(members) - 1, min(8, len(members)))]
        name = _write_png(
            tmp_files / f"missing_{k:03d}.png",
            contact_sheet(
                [dst_fs.items[i].path for i in pick],
                [f"y{d['yaw'][i]:+.0f} p{d['pitch'][i]:+.0f}" for i in pick],
                columns=len(pick),
            ),
        )
        rows.append(
            f'<tr class="missing-pose" data-yaw-min="{m.yaw[0]:g}" data-yaw-max="{m.yaw[1]:g}" '
            f'data-pitch-min="{m.pitch[0]:g}" data-pitch-max="{m.pitch[1]:g}" data-faces="{len(m.indices)}">'
            f"<td>{m.yaw[0]:g}..{m.yaw[1]:g}</td><td>{m.pitch[0]:g}..{m.pitch[1]:g}</td>"
            f"<td>{len(m.indices)}</td><td>{m.nearest:.1f}</td>"
            f'<td><img class="thumbs" src="{files_name}/{name}" alt="target faces at this pose"></td></tr>'
        )
    total = sum(len(m.indices) for m in missing)
    return (
        f'<section id="missing"><h2>Missing target poses</h2><p>{total} of {len(dst_fs)} target faces '
        f"have no source face within {radius:g} degrees of their pose. Add source footage at these poses, "
        "or expect the swap to invent them.</p><table><thead><tr><th>yaw</th><th>pitch</th>"
        "<th>target faces</th><th>nearest source (deg)</th><th>examples</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></section>"
    )


def _distributions(s: dict, d: dict | None) -> str:
    specs = [
        (
            "sharpness (Laplacian variance)",
            "sharpness",
            0.0,
            float(np.nanpercentile(s["sharpness"], 99)) or 1.0,
        ),
        ("brightness", "brightness", 0.0, 1.0),
        ("mouth openness (lip gap / eye distance)", "mouth", 0.0, 0.6),
        ("eye openness (eye aspect ratio)", "eyes", 0.0, 0.45),
    ]
    charts = []
    for title, key, lo, hi in specs:
        series = {"source": histogram(s[key], lo, hi)[0]}
        if d is not None:
            series["target"] = histogram(d[key], lo, hi)[0]
        charts.append(bars_svg(title, histogram(s[key], lo, hi)[1], series))
    legend = (
        '<p class="legend"><span class="src">source</span>'
        + (' <span class="dst">target</span>' if d is not None else "")
        + "</p>"
    )
    return (
        f'<section id="distributions"><h2>Blur, light and expressions</h2>{legend}'
        f'<div class="row">{"".join(charts)}</div></section>'
    )


def _sheets(fs: Faceset, s: dict, tmp_files: Path, files_name: str) -> str:
    order = np.argsort(np.nan_to_num(s["yaw"]), kind="stable")
    per = SHEET_COLUMNS * SHEET_ROWS
    shown = order
    note = ""
    if len(order) > per * MAX_SHEETS:
        shown = order[np.linspace(0, len(order) - 1, per * MAX_SHEETS).astype(int)]
        note = f"<p>{len(shown)} of {len(order)} faces, evenly spaced in yaw.</p>"
    imgs = []
    for k in range(0, len(shown), per):
        chunk = shown[k : k + per]
        name = _write_png(
            tmp_files / f"contact_{k // per:02d}.png",
            contact_sheet(
                [fs.items[i].path for i in chunk],
                [f"y{s['yaw'][i]:+.0f} p{s['pitch'][i]:+.0f}" for i in chunk],
            ),
        )
        imgs.append(f'<img class="sheet" src="{files_name}/{name}" alt="source faces sorted by yaw">')
    return f'<section id="contact-sheets"><h2>Source faces, sorted by yaw</h2>{note}{"".join(imgs)}</section>'


_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:20px}h2{font-size:16px;margin-top:28px;border-bottom:1px solid #ddd}
.row{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}figure{margin:0}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
img.sheet{display:block;margin:8px 0;max-width:100%}img.thumbs{height:55px}
.legend span{display:inline-block;padding:0 8px;color:#fff}.src{background:#3b528b}.dst{background:#e07b00}
.ok{color:#176f2c}.meta{color:#666}
"""


def _flagged(role: str, faces: int, flags: dict[str, int]) -> str:
    """'N faces' with, where extraction flagged some, how many carry each flag (one marked-up span)."""
    flagged = "".join(
        f', <span class="flagged" data-role="{role}" data-flag="{html.escape(name)}" data-faces="{n}">'
        f"{n} flagged {html.escape(name)}</span>"
        for name, n in flags.items()
    )
    return f"{faces} faces{flagged}"


def _page(src_fs: Faceset, dst_fs: Faceset | None, sections: list[str], result: ReportResult) -> str:
    title = f"Faceset coverage: {html.escape(str(src_fs.folder))}"
    against = (
        f" against <code>{html.escape(str(dst_fs.folder))}</code>{_who(dst_fs)} "
        f"({_flagged('target', len(dst_fs), result.target_flags)})"
        if dst_fs
        else ""
    )
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f'<meta name="generator" content="facegraft {__version__}"><style>{_CSS}</style></head><body>'
        f'<h1>{title}</h1><p class="meta">Source <code>{html.escape(str(src_fs.folder))}</code>'
        f"{_who(src_fs)} "
        f"({_flagged('source', len(src_fs), result.source_flags)}){against}. "
        f"Written {time.strftime('%Y-%m-%d %H:%M')} "
        f"by facegraft {__version__}.</p>" + "".join(sections) + "</body></html>\n"
    )


def _who(fs: Faceset) -> str:
    """' (person lead)' when the faceset was limited to one person, else ''."""
    return f" (person {html.escape(fs.person.label)})" if fs.person is not None else ""
