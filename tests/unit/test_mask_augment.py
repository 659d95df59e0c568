"""Mask-network augmentation: geometry moves a face and its label together, a synthetic occluder takes from
the label exactly what it covers, and batches are reproducible from their seed."""

from __future__ import annotations

import cv2
import numpy as np

from facegraft.imaging.augment import random_warp_maps
from facegraft.mask.augment import (
    AugmentOptions,
    batch_for_seed,
    move_pair,
    paste_occluder,
    random_similarity,
)

R = 64


def _disc(radius: int, centre=(R // 2, R // 2)) -> np.ndarray:
    m = np.zeros((R, R), np.uint8)
    cv2.circle(m, centre, radius, 255, -1)
    return m


def test_geometry_moves_the_face_and_its_label_together():
    rng = np.random.default_rng(3)
    image = np.zeros((R, R, 3), np.uint8)
    image[20:44, 14:40] = 255
    mask = image[:, :, 0].copy()
    for _ in range(5):
        maps = random_warp_maps(rng, R, strength=0.05)
        moved, moved_mask = move_pair(image, mask, random_similarity(rng, R, AugmentOptions()), maps)
        white, inside = moved[:, :, 1] > 127, moved_mask > 127
        assert white.sum() > 200 and not np.array_equal(white, image[:, :, 1] > 127)
        assert (white & inside).sum() / (white | inside).sum() > 0.97


def test_a_pasted_occluder_takes_from_the_label_exactly_what_it_covers():
    face = np.full((R, R, 3), 128, np.uint8)
    mask = _disc(22)
    donor = np.full((R, R, 3), (230, 20, 20), np.uint8)  # red everywhere, so coverage reads off red
    donor_mask = _disc(10)
    covered_any = 0
    for seed in range(8):
        out, kept = paste_occluder(face, mask, donor, donor_mask, np.random.default_rng(seed))
        cover_by_mask = 1.0 - kept.astype(np.float64) / 255.0
        cover_by_image = (out[:, :, 0].astype(np.float64) - 128) / (230 - 128)
        inside = mask == 255
        assert np.abs(cover_by_mask - cover_by_image)[inside].max() < 0.01
        assert np.all(kept <= mask)  # an occluder may reach past the face: the background stays 0
        covered_any += cover_by_mask[inside].mean() > 0.01
    assert covered_any >= 4


def test_occluders_come_from_the_donors_non_face_area():
    face = np.full((R, R, 3), 128, np.uint8)
    mask = _disc(22)
    donor = np.full((R, R, 3), (230, 20, 20), np.uint8)
    donor_mask = _disc(12)
    donor[donor_mask > 0] = (20, 230, 20)  # the donor's face is green: it must not be pasted
    for seed in range(8):
        out, kept = paste_occluder(face, mask, donor, donor_mask, np.random.default_rng(seed))
        covered = (mask == 255) & (kept < 200)
        if covered.sum() < 20:
            continue
        assert (out[covered][:, 1] > 140).mean() < 0.02
        assert (out[covered][:, 0] > 170).mean() > 0.9


def test_batches_are_reproducible_from_their_seed():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (3, R, R, 3), dtype=np.uint8)
    masks = np.stack([_disc(r) for r in (18, 20, 22)])
    x, y = batch_for_seed(images, masks, 5, 11, AugmentOptions())
    assert x.shape == (5, R, R, 3) and y.shape == (5, R, R) and x.dtype == y.dtype == np.float32
    assert 0.0 <= y.min() and y.max() <= 1.0 and 0.05 < y.mean() < 0.6
    x2, y2 = batch_for_seed(images, masks, 5, 11, AugmentOptions())
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    assert not np.array_equal(x, batch_for_seed(images, masks, 5, 12, AugmentOptions())[0])
