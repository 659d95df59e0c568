"""`faceset export`: rebuild a faceset from the store and the plate, for another face type or crop size,
without detecting or landmarking again.

The stored landmarks give a new alignment matrix per face; the plate frame is read once, converted to
the working encoding as extraction did, and each face warped and masked again. The result is a new shot
folder (``alignments.db`` + ``faces/``) built under a temporary name and renamed into place. A merged
faceset is rebuilt from each of its source plates (its ``faceset_origins`` say which). Faces flagged
not-target are left out, so are faces flagged landmarks-unreliable unless
`GatherOptions.include_unreliable` (both counted). With a person chosen only that person's faces are
exported; the persons of the exported faces go with them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

from facegraft.errors import InputError
from facegraft.faceset.collection import (
    FACES_DIR,
    GatherOptions,
    left_out_counts,
    new_shot_folder,
    require_new_folder,
)
from facegraft.geometry.alignment import alignment_matrix, face_type, warp_face
from facegraft.geometry.masks import MASKERS, landmark_masks
from facegraft.io.colour import ColourConverter, resolve_colourspace
from facegraft.io.plate import open_plate
from facegraft.progress import Progress
from facegraft.store.alignments import LANDMARKS_UNRELIABLE, NOT_TARGET, AlignmentsStore, Face
from facegraft.store.face_images import face_image_name, write_face_image


@dataclass
class ExportResult:
    """The new shot folder, its face type and size, how many faces it holds, how many were skipped as
    flagged landmarks-unreliable or not-target or as another person's, and the person chosen."""

    out: Path
    face_type: str
    size: int
    faces: int
    skipped_unreliable: int = 0
    skipped_not_target: int = 0
    skipped_other_persons: int = 0
    person: str | None = None

    def as_dict(self) -> dict:
        return {
            "out": str(self.out),
            "face_type": self.face_type,
            "size": self.size,
            "faces": self.faces,
            "person": self.person,
            "skipped_unreliable": self.skipped_unreliable,
            "skipped_not_target": self.skipped_not_target,
            "skipped_other_persons": self.skipped_other_persons,
        }


def plates_of(store: AlignmentsStore, faces: list[Face], plate_override: str | None) -> dict:
    """{(plate path, colourspace): {plate frame: [faces]}} for the faces of a shot or a merged faceset."""
    info = store.plate()
    groups: dict[tuple[str, str | None], dict[int, list[Face]]] = defaultdict(lambda: defaultdict(list))
    if info.get("kind") == "faceset":
        origins = store.setting("faceset_origins", {})
        sources = info.get("sources", [])
        for f in faces:
            source, _, frame = origins[str(f.id)]
            plate = sources[source]["plate"]
            groups[(plate.get("path", ""), plate.get("colourspace"))][int(frame)].append(f)
        return groups
    path = plate_override or info.get("path")
    if not path:
        raise InputError("the store does not record its plate; pass --plate", store.path)
    for f in faces:
        groups[(path, None if plate_override else info.get("colourspace"))][f.frame].append(f)
    return groups


def export_faceset(
    shot: str | Path,
    out: str | Path,
    face_type_name: str | None = None,
    size: int | None = None,
    plate: str | None = None,
    progress_mode: str = "quiet",
    gather: GatherOptions | None = None,
    person: str = "",
) -> ExportResult:
    """Write a new shot folder `out` with the faces of `shot` (of `person` when given: an id, name or
    photo) re-cropped at the face type and size."""
    from facegraft.persons.select import chosen_person

    gather = gather or GatherOptions()
    out = Path(out)
    require_new_folder(out)
    with AlignmentsStore.open(shot) as store:
        chosen = chosen_person(store, person)
        recs = list(store.iter_frames(load_masks=True))
        every = [f for r in recs for f in r.faces]
        if chosen is not None:
            recs = [replace(r, faces=[f for f in r.faces if f.person_id == chosen.id]) for r in recs]
        offered = [f for r in recs for f in r.faces]
        left_out = left_out_counts(gather, offered)
        recs = [replace(r, faces=[f for f in r.faces if gather.takes(f)]) for r in recs]
        faces = [f for r in recs for f in r.faces]
        if not faces:
            who = f" of {chosen.label}" if chosen is not None else ""
            why = f" (left out: {_counts_text(left_out)})" if left_out else ""
            raise InputError(f"the store holds no faces{who} to export{why}", store.path)
        persons = [p for p in store.persons() if any(f.person_id == p.id for f in faces)]
        kind = face_type_name or faces[0].face_type
        face_type(kind)  # validates the name
        px = int(size or faces[0].size)
        if not 16 <= px <= 4096:
            raise InputError(f"--size must be 16..4096 pixels, got {px}")
        groups = plates_of(store, faces, plate)
        plate_info, settings = store.plate(), store.settings()
    with new_shot_folder(out, "exporting") as tmp:
        with AlignmentsStore.open(tmp, create=True) as new:
            new.set_plate(plate_info)
            for key, value in settings.items():
                new.set_setting(key, value)
            extract = dict(settings.get("extract", {}), face_type=kind, size=px)
            new.set_setting("extract", extract)
            out_recs, old_ids = [], {}
            for r in recs:
                rec = replace(r, faces=[])
                for f in r.faces:
                    matrix = alignment_matrix(f.landmarks, kind, px)
                    names = tuple(n for n in f.masks if n in MASKERS) or ("components", "extended")
                    g = replace(
                        f,
                        matrix=matrix,
                        face_type=kind,
                        size=px,
                        masks=landmark_masks(f.landmarks, matrix, px, names),
                        image=face_image_name(f.frame, f.index),
                        id=None,
                    )
                    old_ids[id(g)] = f.id
                    rec.faces.append(g)
                out_recs.append(rec)
            new.write_frames(out_recs)
            if persons:
                new.replace_persons(
                    persons,
                    {int(g.id): g.person_id for r in out_recs for g in r.faces if g.person_id},  # type: ignore[arg-type]
                )
            origins = settings.get("faceset_origins")
            if origins:
                new.set_setting(
                    "faceset_origins",
                    {str(g.id): origins[str(old_ids[id(g)])] for r in out_recs for g in r.faces},
                )
        new_of = {old_ids[id(g)]: g for r in out_recs for g in r.faces}
        _write_crops(groups, new_of, tmp / FACES_DIR, progress_mode)
    return ExportResult(
        out=out,
        face_type=kind,
        size=px,
        faces=len(faces),
        skipped_unreliable=left_out.get(LANDMARKS_UNRELIABLE, 0),
        skipped_not_target=left_out.get(NOT_TARGET, 0),
        skipped_other_persons=len(every) - len(offered),
        person=None if chosen is None else chosen.label,
    )


def _counts_text(counts: dict[str, int]) -> str:
    hint = {LANDMARKS_UNRELIABLE: " (--include-unreliable takes them)"}
    return ", ".join(f"{n} flagged {flag}{hint.get(flag, '')}" for flag, n in sorted(counts.items()))


def _write_crops(groups: dict, new_of: dict[int, Face], faces_dir: Path, progress_mode: str) -> None:
    """Read each plate once, in frame order, and write every face's new crop as a tagged PNG."""
    progress = Progress(len(new_of), "faceset-export", progress_mode, unit="faces")
    for (path, colourspace), frames in groups.items():
        if not path:
            raise InputError("a source of this faceset does not record its plate")
        with open_plate(path) as plate:
            conv = ColourConverter(resolve_colourspace(colourspace or plate.default_colourspace))
            missing = sorted(set(frames) - set(plate.frames))
            if missing:
                raise InputError(f"the plate lacks frames the store lists (first: {missing[0]})", path)
            for info, pixels in plate.iter_frames(sorted(frames)):
                rgb = conv.to_working_uint8(pixels)
                for old in frames[info.frame]:
                    g = new_of[int(old.id)]
                    tags = {
                        "face_id": g.id,
                        "frame": g.frame,
                        "index": g.index,
                        "face_type": g.face_type,
                        "size": g.size,
                    }
                    write_face_image(faces_dir / g.image, warp_face(rgb, g.matrix, g.size), tags)  # type: ignore[operator]
                    progress.update(1)
    progress.close()
