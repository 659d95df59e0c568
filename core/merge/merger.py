"""One frame's merge: align each stored face, swap it with the model, recolour it, shape its matte and put
it over the plate. No file I/O: the convert job and the engine service both call these functions.

Images: the plate is (H, W, 3) in its native dtype; `plate_values` gives it as float32 in the plate's own
colour space (uint8 / 255, uint16 / 65535, floats as they are). Crop-space work is float32 in the
working encoding at model resolution R; plate-space results are float32 in the plate's colour space.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from facegraft.errors import InputError
from facegraft.geometry.alignment import alignment_matrix, invert_affine, transform_points, warp_face
from facegraft.geometry.masks import components_mask
from facegraft.io.colour import ColourConverter
from facegraft.mask.stored import StoredMask
from facegraft.merge import blend, matte
from facegraft.merge.options import MergeOptions
from facegraft.models.swap_model import SwapModel

# Matte values below this are set to 0: far below a half-float step of the plate, they would only stop
# the comp from being the plate's exact value where nothing of the face shows.
MATTE_FLOOR = 1e-4


@dataclass
class FaceTask:
    """One face to merge: landmarks (68, 2) in plate pixels (already smoothed), the crop size to align at,
    its velocity (x, y) px per frame, a key naming its track (colour windows pool per track), the
    stored mask the occlusion mask modes use (None when not loaded), and the person the face belongs to
    and its face id in the store (None when not known)."""

    landmarks: np.ndarray
    crop_size: int = 512
    velocity: np.ndarray | None = None
    key: Hashable = 0
    occlusion: StoredMask | None = None
    person: int | None = None
    face_id: int | None = None


@dataclass
class PreparedFace:
    """A face aligned and swapped in crop space: `to_crop` (2, 3) plate -> crop at R, the plate's `crop`
    (R, R, 3), the model's `swap` (R, R, 3) and `learned` mask (R, R), the `landmark` mask (R, R), and
    `raw`, the mask the chosen mode makes of them."""

    task: FaceTask
    to_crop: np.ndarray
    crop: np.ndarray
    swap: np.ndarray
    learned: np.ndarray
    landmark: np.ndarray
    raw: np.ndarray


def plate_values(native: np.ndarray) -> np.ndarray:
    """(H, W, 3) native plate pixels -> float32 in the plate's colour space (integers scaled to 0..1)."""
    if native.dtype == np.uint8:
        return native.astype(np.float32) / 255.0
    if native.dtype == np.uint16:
        return native.astype(np.float32) / 65535.0
    return native.astype(np.float32)


def align_face(
    native: np.ndarray,
    converter: ColourConverter,
    landmarks: np.ndarray,
    face_type: str,
    crop_size: int,
    resolution: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The aligned face at model resolution: ((R, R, 3) float32 0..1 working encoding, (2, 3) plate -> crop).

    Aligned at `crop_size` (as extraction wrote the training faces) and area-resized to R, converting only
    the plate region the crop covers."""
    size = max(int(crop_size), resolution)
    to_big = alignment_matrix(landmarks, face_type, size)
    box = blend.region(invert_affine(to_big), size, native.shape[:2], margin=2)
    if box is None:
        raise ValueError("the face lies outside the frame")
    x0, y0, x1, y1 = box
    work = converter.to_working_float(native[y0:y1, x0:x1])
    local = to_big.copy()
    local[:, 2] += to_big[:, :2] @ np.array([x0, y0], np.float64)
    big = warp_face(work, local, size)
    crop = (
        big if size == resolution else cv2.resize(big, (resolution, resolution), interpolation=cv2.INTER_AREA)
    )
    to_crop = to_big * (resolution / size)
    return np.clip(crop, 0.0, 1.0), to_crop


def stored_mask_in_crop(stored: StoredMask, to_crop: np.ndarray, resolution: int) -> np.ndarray:
    """(R, R) float32 0..1: a mask stored in the face's own aligned crop, resampled into the model crop.

    The stored crop and the model crop are both similarity transforms of the plate (the stored face's
    `matrix`, and `to_crop` from the smoothed landmarks at the model's face type), so crop -> crop is
    `to_crop` after the inverse of `matrix`; what lies outside the stored crop is not face (0)."""
    m = np.eye(3)
    m[:2] = np.asarray(to_crop, np.float64)
    crop_to_crop = (m @ np.vstack([invert_affine(stored.matrix), [0.0, 0.0, 1.0]]))[:2]
    out = cv2.warpAffine(
        stored.mask.astype(np.float32) / 255.0,
        crop_to_crop,
        (resolution, resolution),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0.0,
    )
    return np.clip(out, 0.0, 1.0)


def raw_mask(
    mode: str, learned: np.ndarray, landmark: np.ndarray, occlusion: np.ndarray | None = None
) -> np.ndarray:
    """The unshaped (R, R) mask of a mask mode: 'learned', 'landmark', 'occlusion' (the stored mask) or a
    product of two of them ('learned*landmark', 'occlusion*learned', 'occlusion*landmark')."""
    parts = {"learned": learned, "landmark": landmark, "occlusion": occlusion}
    names = mode.split("*")
    if "occlusion" in names and occlusion is None:
        raise InputError(f"mask mode '{mode}' needs the face's stored occlusion mask, and none was loaded")
    out = parts[names[0]]
    for name in names[1:]:
        out = out * parts[name]
    return out


def _occlusion(task: FaceTask, opts: MergeOptions, to_crop: np.ndarray, resolution: int) -> np.ndarray | None:
    """The task's stored occlusion mask in the model crop when the mode uses it (InputError when absent)."""
    if opts.stored_mask() is None:
        return None
    if task.occlusion is None:
        raise InputError(
            f"mask mode '{opts.mask}' needs the stored mask '{opts.stored_mask()}' of every face: merge "
            "from the shot's alignments after facegraft mask apply"
        )
    return stored_mask_in_crop(task.occlusion, to_crop, resolution)


def prepare_faces(
    native: np.ndarray,
    converter: ColourConverter,
    tasks: Sequence[FaceTask],
    model: SwapModel,
    opts: MergeOptions,
) -> list[PreparedFace]:
    """Align every face of a frame and swap them in one batch (faces outside the frame are left out)."""
    r = model.resolution
    crops, mats, kept = [], [], []
    for task in tasks:
        try:
            crop, to_crop = align_face(native, converter, task.landmarks, model.face_type, task.crop_size, r)
        except ValueError:
            continue
        crops.append(crop)
        mats.append(to_crop)
        kept.append(task)
    if not kept:
        return []
    swaps, learned = model.predict(np.stack(crops), control=opts.control)
    out = []
    for task, crop, to_crop, swap, lm_mask in zip(kept, crops, mats, swaps, learned):
        landmark = components_mask(transform_points(task.landmarks, to_crop), r).astype(np.float32) / 255.0
        occlusion = _occlusion(task, opts, to_crop, r)
        raw = raw_mask(opts.mask, lm_mask, landmark, occlusion)
        out.append(PreparedFace(task, to_crop, crop, swap, lm_mask, landmark, raw))
    return out


@dataclass
class FrameLayers:
    """A frame's passes in the plate's colour space: comp (H, W, 3), swap (H, W, 3) premultiplied,
    matte (H, W), facemask (H, W), all float32; `faces` holds each face's crop -> plate matrix;
    `person_mattes` the matte of each person asked for (person id -> (H, W), covering only that person's
    faces; zero where the frame has none of them)."""

    comp: np.ndarray
    swap: np.ndarray
    matte: np.ndarray
    facemask: np.ndarray
    faces: list[dict]
    person_mattes: dict[int, np.ndarray] = field(default_factory=dict)


def composite(
    native: np.ndarray,
    converter: ColourConverter,
    faces: Sequence[tuple[PreparedFace, np.ndarray]],
    opts: MergeOptions,
    rng: np.random.Generator | None = None,
    persons: Sequence[int] = (),
) -> FrameLayers:
    """Put each (prepared face, recoloured swap) over the plate; returns every pass of the frame, with a
    matte of its own for each person id of `persons` (faces of other persons enter only the combined one).

    Faces may come from models of different resolutions. Pixels the matte does not reach keep the plate's
    value exactly."""
    plate = plate_values(native)
    h, w = plate.shape[:2]
    swap_acc = np.zeros((h, w, 3), np.float32)
    matte_acc = np.zeros((h, w), np.float32)
    mask_acc = np.zeros((h, w), np.float32)
    comp = plate.copy()
    sides = opts.sides()
    deg = opts.degradation()
    records = []
    person_mattes = {int(p): np.zeros((h, w), np.float32) for p in persons}
    for face, colour in faces:
        r = face.swap.shape[0]
        face_to_plate = invert_affine(face.to_crop)
        if opts.face_scale:
            face_to_plate = blend.scaled_about_centre(face_to_plate, r, opts.face_scale)
        kernel = None
        if opts.motion_blur > 0 and face.task.velocity is not None:
            kernel = blend.motion_kernel(face.task.velocity, opts.motion_blur)
        reach = max(0.0, -opts.erode) + (kernel.shape[0] if kernel is not None else 0) + 4
        box = blend.region(face_to_plate, r, (h, w), reach)
        if box is None:
            continue
        x0, y0, x1, y1 = box
        colour = blend.sharpen(colour, opts.sharpen)
        swap_w = blend.warp_to_region(colour, face_to_plate, box)
        raw = np.clip(blend.warp_to_region(face.raw, face_to_plate, box, cv2.INTER_LINEAR), 0.0, 1.0)
        if deg["blur"] > 0 or deg["noise"] > 0:
            swap_w = blend.degrade(swap_w, deg["blur"], deg["noise"], rng)
        swap_p = converter.from_working_float(swap_w)
        shaped = matte.shape_matte(raw, opts.erode, opts.feather, sides, matte.face_directions(face_to_plate))
        shaped[shaped < MATTE_FLOOR] = 0.0
        premult = swap_p * shaped[..., None]
        premult, shaped = blend.motion_blur(premult, shaped, kernel)
        shaped[shaped < MATTE_FLOOR] = 0.0
        premult[shaped == 0] = 0.0
        a = shaped[..., None]
        swap_acc[y0:y1, x0:x1] = premult + swap_acc[y0:y1, x0:x1] * (1 - a)
        matte_acc[y0:y1, x0:x1] = shaped + matte_acc[y0:y1, x0:x1] * (1 - shaped)
        mask_acc[y0:y1, x0:x1] = np.maximum(mask_acc[y0:y1, x0:x1], raw)
        own = person_mattes.get(face.task.person) if face.task.person is not None else None
        if own is not None:
            own[y0:y1, x0:x1] = shaped + own[y0:y1, x0:x1] * (1 - shaped)
        corners = np.array([[0, 0], [r, 0], [r, r], [0, r]], np.float64)
        records.append(
            {
                "key": face.task.key,
                "face_to_frame": face_to_plate.tolist(),
                "corners": transform_points(corners, face_to_plate).tolist(),
                "box": [x0, y0, x1, y1],
            }
        )
        comp[y0:y1, x0:x1] = blend.over(swap_acc[y0:y1, x0:x1], matte_acc[y0:y1, x0:x1], plate[y0:y1, x0:x1])
    return FrameLayers(comp, swap_acc, matte_acc, mask_acc, records, person_mattes)
