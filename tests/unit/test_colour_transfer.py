"""Colour transfer on real faces: after the transfer, the source face carries the reference's colour
statistics (measured), its own layout is kept, and masks decide where statistics come from."""

from __future__ import annotations

import numpy as np
import pytest

from facegraft.imaging.colour_transfer import COLOUR_TRANSFERS, colour_transfer


@pytest.fixture(scope="module")
def faces(photos):
    src = photos["astronaut"][70:198, 150:278].astype(np.float32) / 255.0
    ref = photos["grace_hopper"][150:278, 200:328].astype(np.float32) / 255.0
    # Give the reference a strong cast so the transfers have something to do.
    ref = np.clip(ref * np.array([0.7, 0.9, 1.2], np.float32), 0, 1)
    return src, ref


def _mean_sd(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    px = img.reshape(-1, 3)
    return px.mean(0), px.std(0)


TRANSFERS = sorted(n for n in COLOUR_TRANSFERS if n != "none")


def test_none_is_registered_and_leaves_the_face_as_it_is(faces):
    src, ref = faces
    assert np.array_equal(colour_transfer("none", src, ref), src)


@pytest.mark.parametrize("name", TRANSFERS)
def test_transfer_brings_the_reference_colours(faces, name):
    src, ref = faces
    out = colour_transfer(name, src, ref)
    assert out.shape == src.shape and out.dtype == np.float32 and np.isfinite(out).all()
    m_out, _ = _mean_sd(np.clip(out, 0, 1))
    m_src, _ = _mean_sd(src)
    m_ref, _ = _mean_sd(ref)
    # The mean colour moves most of the way from the source's to the reference's.
    assert np.linalg.norm(m_out - m_ref) < 0.35 * np.linalg.norm(m_src - m_ref), (name, m_out, m_ref)
    # The face's layout survives: its luminance still correlates with the source's.
    lum = lambda x: x @ np.array([0.2126, 0.7152, 0.0722], np.float32)  # noqa: E731
    assert np.corrcoef(lum(out).ravel(), lum(src).ravel())[0, 1] > 0.8


@pytest.mark.parametrize("name", ["lct", "mkl", "idt", "sot"])
def test_full_distribution_transfers_match_the_covariance(faces, name):
    src, ref = faces
    out = colour_transfer(name, src, ref)
    c_out = np.cov(out.reshape(-1, 3), rowvar=False)
    c_ref = np.cov(ref.reshape(-1, 3), rowvar=False)
    c_src = np.cov(src.reshape(-1, 3), rowvar=False)
    assert np.abs(c_out - c_ref).max() < 0.3 * np.abs(c_src - c_ref).max()


@pytest.mark.parametrize("name", sorted(COLOUR_TRANSFERS))
def test_same_image_is_left_alone(faces, name):
    src, _ = faces
    out = colour_transfer(name, src, src)
    assert np.abs(out - src).mean() < 0.02


def test_masks_choose_where_statistics_come_from(faces):
    src, ref = faces
    ref2 = ref.copy()
    ref2[:, :64] = [1.0, 0.0, 0.0]  # a red half the mask excludes
    mask = np.zeros(ref.shape[:2], np.float32)
    mask[:, 64:] = 1
    with_mask = colour_transfer("rct", src, ref2, ref_mask=mask)
    without = colour_transfer("rct", src, ref2)
    target = ref2[:, 64:].reshape(-1, 3).mean(0)
    assert np.linalg.norm(np.clip(with_mask, 0, 1).reshape(-1, 3).mean(0) - target) < np.linalg.norm(
        np.clip(without, 0, 1).reshape(-1, 3).mean(0) - target
    )


def test_unknown_transfer_lists_choices(faces):
    with pytest.raises(ValueError, match="rct"):
        colour_transfer("magic", *faces)
