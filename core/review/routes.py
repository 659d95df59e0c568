"""The review page's routes in the engine service: the page itself, its assets, and a JSON API over one
shot's alignments store (``?shot=`` names the shot folder, which must lie under the service's roots).

- ``GET /review/<shot folder>``: the page (plain HTML, script and style shipped in the package).
- ``GET /v1/review/shot``: timeline, markers, latest edit; ``GET /v1/review/frame?frame=N``: one frame's
  faces; ``GET /v1/review/faces``: faces grouped by stored person (with each person's label, counts, frame
  ranges and thumbnail face), or by identity clustering when the shot was never grouped into persons.
- ``GET /v1/review/frame/image``: the plate frame as JPEG in the working (display-referred) encoding;
  ``GET /v1/review/face/image``: an aligned face; ``GET /v1/review/face/mask``: a painted mask as PNG.
- ``POST /v1/review/edit``: one edit (JSON, by ``kind``); ``POST /v1/review/undo``: undo the latest edit.
  An edit names the revision of each face it touches; a face that moved on answers 409 and nothing changes.
  Face kinds: ``delete``, ``not-target`` (the faces stay, flagged so training and convert skip them) and
  ``target`` (the flag cleared), ``landmark``, ``box``, ``turn``, ``add``, ``mask``, ``accept``. Person kinds:
  ``person-name`` (rename), ``merge-persons`` (every face of ``person`` to ``into``, naming the faces seen),
  ``person`` (one face to another person, a ``"new"`` one or none). All are journaled and undoable.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import cv2
import numpy as np
from fastapi import APIRouter, Body, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from facegraft.errors import FacegraftError
from facegraft.geometry.alignment import warp_face
from facegraft.io.roots import PathRefused, resolve_path
from facegraft.review import edits, overview
from facegraft.review.masks import LABEL, start_mask
from facegraft.review.session import PRIVATE_HEADERS
from facegraft.review.shot import NoStore, ReviewShot, ShotRegistry
from facegraft.store.alignments import AlignmentsStore, EditConflict, RevisionConflict
from facegraft.store.face_images import read_face_png

ASSETS = {"review.js": "text/javascript", "review.css": "text/css"}
PAGE_HEADERS = {
    **PRIVATE_HEADERS,
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
}
# Images may be kept a while: a face image's address carries the face's revision, which every edit moves on.
IMAGE_HEADERS = {"Cache-Control": "private, max-age=600", "X-Content-Type-Options": "nosniff"}
JPEG_QUALITY = 90
MAX_STROKE_POINTS = 20000


# Face ids, revisions and frame numbers: whatever SQLite's 64-bit integers hold, with room to spare.
Number = Annotated[int, Field(ge=-(2**62), le=2**62)]


class FaceRefIn(BaseModel):
    id: Number
    revision: Number


class DeleteIn(BaseModel):
    kind: Literal["delete", "not-target", "target"]
    faces: list[FaceRefIn] = Field(min_length=1)


class PersonNameIn(BaseModel):
    kind: Literal["person-name"]
    person: Number
    name: str = Field(max_length=200)  # checked by the store's rule (a letter, then up to 39 more)
    was: str | None = Field(default=None, max_length=200)  # the name the page showed; 409 when it changed


class MergeIn(BaseModel):
    kind: Literal["merge-persons"]
    into: Number
    person: Number
    faces: list[FaceRefIn]  # every face of `person` as the page saw it


class ReassignIn(BaseModel):
    kind: Literal["person"]
    face: FaceRefIn
    person: Number | Literal["new"] | None


class LandmarkIn(BaseModel):
    kind: Literal["landmark"]
    face: FaceRefIn
    point: int = Field(ge=0, le=67)
    x: float
    y: float


class BoxIn(BaseModel):
    kind: Literal["box"]
    face: FaceRefIn
    box: list[float] = Field(min_length=4, max_length=4)


class TurnIn(BaseModel):
    kind: Literal["turn"]
    face: FaceRefIn
    degrees: Literal[90, 180, 270]


class AddIn(BaseModel):
    kind: Literal["add"]
    frame: Number
    box: list[float] = Field(min_length=4, max_length=4)


class MaskIn(BaseModel):
    kind: Literal["mask"]
    face: FaceRefIn
    name: str = LABEL
    mode: Literal["include", "exclude"]
    radius: float = Field(gt=0, le=4096)
    points: list[Annotated[list[float], Field(min_length=2, max_length=2)]] = Field(
        min_length=1, max_length=MAX_STROKE_POINTS
    )


class AcceptIn(BaseModel):
    kind: Literal["accept"]
    frames: list[Number] = Field(min_length=1, max_length=100000)
    accepted: bool = True


EditIn = Annotated[
    DeleteIn | LandmarkIn | BoxIn | TurnIn | AddIn | MaskIn | AcceptIn | PersonNameIn | MergeIn | ReassignIn,
    Field(discriminator="kind"),
]


class UndoIn(BaseModel):
    edit: Number | None = None  # the edit the page believes is the latest; refused (409) when it is not


def _asset(name: str) -> bytes:
    return resources.files("facegraft.review").joinpath("static", name).read_bytes()


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status, headers=PRIVATE_HEADERS)


def _answer(work: Callable[[], Any]) -> Response:
    """Run a request's work; its result as JSON, or the error as JSON with the status it deserves."""
    try:
        result = work()
    except RevisionConflict as exc:
        conflict = {"face": exc.face_id, "expected": exc.expected, "current": exc.current}
        return _error(409, str(exc), conflict=conflict)
    except EditConflict as exc:
        return _error(409, str(exc))
    except PathRefused as exc:
        return _error(exc.status, str(exc))
    except NoStore as exc:
        return _error(404, str(exc))
    except FacegraftError as exc:
        return _error(400, str(exc))
    if isinstance(result, Response):
        return result
    return JSONResponse(result, headers=PRIVATE_HEADERS)


def _image(rgb: np.ndarray, kind: str) -> Response:
    """An (H, W, 3) uint8 RGB or (H, W) grey image as a JPEG or PNG response."""
    pixels = rgb[:, :, ::-1] if rgb.ndim == 3 else rgb
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if kind == "jpeg" else [cv2.IMWRITE_PNG_COMPRESSION, 1]
    ok, buf = cv2.imencode(f".{'jpg' if kind == 'jpeg' else 'png'}", np.ascontiguousarray(pixels), params)
    if not ok:
        raise FacegraftError(f"could not encode the {kind} image")
    return Response(buf.tobytes(), media_type=f"image/{kind}", headers=IMAGE_HEADERS)


def _face_crop(shot: ReviewShot, store: AlignmentsStore, face_id: int, size: int | None) -> np.ndarray:
    """(S, S, 3) uint8 aligned face: its image in faces/, else cut from the plate; scaled to `size`."""
    face = store.face(face_id, load_masks=False)
    if face is None:
        raise NoStore(f"no face with id {face_id}", str(store.path))
    path = shot.image_path(face.image)
    if path is not None and path.is_file():
        crop = read_face_png(path)
    elif face.matrix is not None:
        crop = warp_face(shot.frame_rgb(store, face.frame), face.matrix, face.size)
    else:
        raise FacegraftError(f"face {face_id} has no alignment matrix (re-extract or export the faceset)")
    if size and size != crop.shape[0]:
        shrink = size < crop.shape[0]
        crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    return crop


def _ref(face: FaceRefIn) -> edits.FaceRef:
    return edits.FaceRef(face.id, face.revision)


def _dispatch(shot: ReviewShot, store: AlignmentsStore, body: Any) -> edits.EditOutcome:
    """Run one edit request."""
    if isinstance(body, DeleteIn):
        refs = [_ref(f) for f in body.faces]
        if body.kind == "delete":
            return edits.delete_faces(store, refs)
        return edits.mark_not_target(store, refs, on=body.kind == "not-target")
    if isinstance(body, PersonNameIn):
        return edits.rename_person(store, body.person, body.name, body.was)
    if isinstance(body, MergeIn):
        return edits.merge_persons(store, body.into, body.person, [_ref(f) for f in body.faces])
    if isinstance(body, ReassignIn):
        return edits.reassign_face(store, _ref(body.face), body.person)
    if isinstance(body, LandmarkIn):
        return edits.move_landmark(shot, store, _ref(body.face), body.point, (body.x, body.y))
    if isinstance(body, BoxIn):
        return edits.move_box(shot, store, _ref(body.face), body.box)
    if isinstance(body, TurnIn):
        return edits.turn_face(shot, store, _ref(body.face), body.degrees)
    if isinstance(body, AddIn):
        return edits.add_face(shot, store, body.frame, body.box)
    if isinstance(body, MaskIn):
        include = body.mode == "include"
        return edits.paint_mask(store, _ref(body.face), body.points, body.radius, include, body.name)
    return edits.accept_frames(store, body.frames, body.accepted)


def _outcome(outcome: edits.EditOutcome) -> dict:
    return {
        "edit": outcome.edit,
        "kind": outcome.kind,
        "message": outcome.message,
        "frames": sorted(outcome.frames),
        "changed": outcome.changed,
    }


def review_router(roots: list[Path]) -> APIRouter:
    """The review routes for a service that may touch files under `roots` only."""
    shots = ShotRegistry(lambda value: resolve_path(value, roots))
    router = APIRouter()

    def with_store(shot: str, work: Callable[[ReviewShot, AlignmentsStore], Any]) -> Response:
        def run() -> Any:
            found = shots.get(shot)
            with found.store() as store:
                return work(found, store)

        return _answer(run)

    def editing(shot: str, work: Callable[[ReviewShot, AlignmentsStore], edits.EditOutcome]) -> Response:
        def run(found: ReviewShot, store: AlignmentsStore) -> dict:
            with shots.edit_lock:
                outcome = work(found, store)
                edits.write_images(found, store, outcome)
            return _outcome(outcome)

        return with_store(shot, run)

    @router.get("/review/{shot:path}", include_in_schema=False)
    def page(shot: str) -> Response:
        return HTMLResponse(_asset("index.html"), headers=PAGE_HEADERS)

    @router.get("/v1/review/assets/{name}", include_in_schema=False)
    def asset(name: str) -> Response:
        if name not in ASSETS:
            return _error(404, f"no asset {name!r}")
        return Response(_asset(name), media_type=ASSETS[name], headers=PAGE_HEADERS)

    @router.get("/v1/review/shot")
    def summary(shot: str) -> Response:
        return with_store(shot, lambda _, store: overview.shot_summary(store))

    @router.get("/v1/review/frame")
    def frame(shot: str, frame: Annotated[Number, Query()]) -> Response:
        def work(_: ReviewShot, store: AlignmentsStore) -> Any:
            found = overview.frame_detail(store, frame)
            return _error(404, f"frame {frame} is not in the store") if found is None else found

        return with_store(shot, work)

    @router.get("/v1/review/faces")
    def faces(shot: str) -> Response:
        return with_store(shot, lambda _, store: overview.person_groups(store))

    @router.get("/v1/review/frame/image")
    def frame_image(shot: str, frame: Annotated[Number, Query()]) -> Response:
        return with_store(shot, lambda found, store: _image(found.frame_rgb(store, frame), "jpeg"))

    @router.get("/v1/review/face/image")
    def face_image(
        shot: str, face: Annotated[Number, Query()], size: Annotated[int, Query(ge=0, le=4096)] = 0
    ) -> Response:
        return with_store(shot, lambda found, store: _image(_face_crop(found, store, face, size), "jpeg"))

    @router.get("/v1/review/face/mask")
    def face_mask(shot: str, face: Annotated[Number, Query()], name: str = LABEL) -> Response:
        def work(_: ReviewShot, store: AlignmentsStore) -> Response:
            stored = store.face(face, load_masks=True)
            if stored is None:
                raise NoStore(f"no face with id {face}", str(store.path))
            mask, source = start_mask(stored.masks, name, stored.size)
            response = _image(mask, "png")
            response.headers["X-Facegraft-Mask-From"] = source
            return response

        return with_store(shot, work)

    @router.post("/v1/review/edit")
    def edit(shot: str, body: Annotated[EditIn, Body()]) -> Response:
        return editing(shot, lambda found, store: _dispatch(found, store, body))

    @router.post("/v1/review/undo")
    def undo(shot: str, body: UndoIn) -> Response:
        return editing(shot, lambda _, store: edits.undo(store, body.edit))

    return router
