"""Augmentation of labelled faces for the mask network, as pure functions on (image, mask) pairs.

Images are (R, R, 3) uint8 RGB aligned crops, masks (R, R) uint8 (255 = visible face). Geometry (a random
similarity, a smooth random warp, a flip) moves image and mask together; colour and blur change the image
only; a synthetic occluder pastes another face's non-face area (hair, background, clothing) over part of
the face and removes that part from the mask, so the network learns that whatever covers a face is not face.
Every function that draws takes an explicit numpy Generator: a batch is reproducible from its seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facegraft.imaging.augment import lab_shift, random_warp_maps


@dataclass(frozen=True)
class AugmentOptions:
    """How strongly each labelled face is varied."""

    rotate: float = 15.0  # degrees either way
    scale: float = 0.1  # relative, either way
    shift: float = 0.06  # of the crop size, either way
    warp: float = 0.05  # strength of the smooth random warp
    flip: bool = True
    occluder_chance: float = 0.5
    blur_chance: float = 0.25


def random_similarity(rng: np.random.Generator, size: int, opts: AugmentOptions) -> np.ndarray:
    """(2, 3) random rotation, scale and shift of a `size` crop about its centre."""
    m = cv2.getRotationMatrix2D(
        (size / 2, size / 2),
        rng.uniform(-opts.rotate, opts.rotate),
        1.0 + rng.uniform(-opts.scale, opts.scale),
    )
    m[:, 2] += rng.uniform(-opts.shift, opts.shift, 2) * size
    return m


def move_pair(
    image: np.ndarray, mask: np.ndarray, matrix: np.ndarray, maps: tuple[np.ndarray, np.ndarray] | None
) -> tuple[np.ndarray, np.ndarray]:
    """Image and mask through the same (2, 3) similarity and then the same remap tables (or none)."""
    size = image.shape[0]
    image = cv2.warpAffine(
        image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    mask = cv2.warpAffine(mask, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if maps is not None:
        image = cv2.remap(image, *maps, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        mask = cv2.remap(mask, *maps, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return image, mask


def blob(rng: np.random.Generator, size: int, centre: np.ndarray) -> np.ndarray:
    """(size, size) float32 0..1: one to three random ellipses about `centre` (x, y), edges anti-aliased."""
    canvas = np.zeros((size, size), np.uint8)
    for _ in range(int(rng.integers(1, 4))):
        c = centre + rng.normal(0.0, 0.08 * size, 2)
        axes = rng.uniform(0.08, 0.3, 2) * size
        cv2.ellipse(
            canvas,
            (int(c[0] * 16), int(c[1] * 16)),
            (int(axes[0] * 16), int(axes[1] * 16)),
            float(rng.uniform(0, 180)),
            0,
            360,
            255,
            -1,
            cv2.LINE_AA,
            4,
        )
    return canvas.astype(np.float32) / 255.0


def paste_occluder(
    image: np.ndarray,
    mask: np.ndarray,
    donor_image: np.ndarray,
    donor_mask: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Cover part of the face with a blob of the donor's non-face area; the mask loses what is covered.

    The donor is shifted so a random non-face point of it lands on a random face point of the image.
    Returns the new image and mask (the inputs when either has no suitable point)."""
    size = image.shape[0]
    face_pts = np.argwhere(mask > 127)
    other_pts = np.argwhere(donor_mask < 128)
    if not len(face_pts) or not len(other_pts):
        return image, mask
    target = face_pts[rng.integers(len(face_pts))][::-1].astype(np.float64)
    source = other_pts[rng.integers(len(other_pts))][::-1].astype(np.float64)
    shift = cv2.getRotationMatrix2D(tuple(source), rng.uniform(-30, 30), rng.uniform(0.8, 1.2))
    shift[:, 2] += target - source
    moved = cv2.warpAffine(donor_image, shift, (size, size), borderMode=cv2.BORDER_REFLECT)
    moved_mask = cv2.warpAffine(
        donor_mask, shift, (size, size), borderMode=cv2.BORDER_CONSTANT, borderValue=255
    )
    cover = blob(rng, size, target) * (1.0 - moved_mask.astype(np.float32) / 255.0)
    a = cover[..., None]
    out = np.clip(image * (1.0 - a) + moved * a + 0.5, 0, 255).astype(np.uint8)
    kept = np.clip(mask * (1.0 - cover) + 0.5, 0, 255).astype(np.uint8)
    return out, kept


def augment_pair(
    image: np.ndarray,
    mask: np.ndarray,
    donor: tuple[np.ndarray, np.ndarray] | None,
    rng: np.random.Generator,
    opts: AugmentOptions,
) -> tuple[np.ndarray, np.ndarray]:
    """One training sample from a labelled face: moved, maybe flipped, maybe occluded by the `donor`
    (another labelled face's image and mask), recoloured and maybe blurred."""
    size = image.shape[0]
    maps = random_warp_maps(rng, size, strength=opts.warp) if opts.warp > 0 else None
    image, mask = move_pair(image, mask, random_similarity(rng, size, opts), maps)
    if opts.flip and rng.random() < 0.5:
        image, mask = np.ascontiguousarray(image[:, ::-1]), np.ascontiguousarray(mask[:, ::-1])
    if donor is not None and rng.random() < opts.occluder_chance:
        image, mask = paste_occluder(image, mask, donor[0], donor[1], rng)
    image = lab_shift(image, rng)
    if rng.random() < opts.blur_chance:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.5, 1.5) * size / 128)
    return image, mask


def batch_for_seed(
    images: np.ndarray, masks: np.ndarray, n: int, seed: int, opts: AugmentOptions
) -> tuple[np.ndarray, np.ndarray]:
    """`n` augmented samples drawn from labelled faces (images (N, R, R, 3) uint8, masks (N, R, R) uint8):
    inputs (n, R, R, 3) float32 0..1 and targets (n, R, R) float32 0..1."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for i in rng.integers(len(images), size=n):
        j = int(rng.integers(len(images)))  # the donor may be the face itself: its own hair or background
        x, y = augment_pair(images[i], masks[i], (images[j], masks[j]), rng, opts)
        xs.append(x)
        ys.append(y)
    return np.stack(xs).astype(np.float32) / 255.0, np.stack(ys).astype(np.float32) / 255.0
