"""Training losses: DSSIM properties, masked face loss, eye/mouth priority, landmark region masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facegraft.train.losses import dssim, landmark_region_masks, mask_loss, masked_face_loss

torch.set_flush_denormal(True)


def smooth(n: int = 2, size: int = 32, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 3, 4, 4, generator=g)
    return torch.nn.functional.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)


def noise_like(x: torch.Tensor, seed: int = 1) -> torch.Tensor:
    return torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))


def synthetic_landmarks(size: int = 64) -> np.ndarray:
    """68 plausible points: a jaw arc, brows, eyes and a mouth inside a size x size crop."""
    s = size / 64
    t = np.linspace(np.pi, 2 * np.pi, 17)
    jaw = np.stack([32 - 24 * np.cos(t), 30 - 26 * np.sin(t)], 1)  # lower half-ellipse, y 30..56
    brows = np.stack([np.linspace(12, 52, 10), np.full(10, 18.0)], 1)
    eye = np.array([[-4, 0], [-2, -2], [2, -2], [4, 0], [2, 2], [-2, 2]], float)
    eyes = np.concatenate([eye + [22, 26], eye + [42, 26]])
    ang = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    mouth_outer = np.stack([32 + 8 * np.cos(ang), 44 + 3 * np.sin(ang)], 1)
    ang = np.linspace(0, 2 * np.pi, 8, endpoint=False)
    mouth_inner = np.stack([32 + 5 * np.cos(ang), 44 + 1.5 * np.sin(ang)], 1)
    pts = np.concatenate([jaw, brows, np.zeros((9, 2)) + [32, 34], eyes, mouth_outer, mouth_inner])
    assert pts.shape == (68, 2)
    return pts * s


def test_dssim_identity_and_range() -> None:
    x = smooth()
    d = dssim(x, x)
    assert d.shape == (2,)
    assert d.abs().max() < 1e-6
    y = smooth(seed=5)
    assert ((dssim(x, y) >= 0) & (dssim(x, y) <= 1)).all()
    assert ((dssim(x, 1 - x) >= 0) & (dssim(x, 1 - x) <= 1)).all()


def test_dssim_grows_with_noise_and_is_symmetric() -> None:
    x = smooth()
    n = noise_like(x)
    values = [dssim(x, (x + s * n).clamp(0, 1)).mean().item() for s in (0.01, 0.05, 0.2, 0.5)]
    assert values == sorted(values) and values[0] > 0
    y = (x + 0.1 * n).clamp(0, 1)
    torch.testing.assert_close(dssim(x, y), dssim(y, x), atol=1e-6, rtol=0)


def test_dssim_small_images_and_bad_shapes() -> None:
    x = torch.rand(1, 3, 8, 8)
    assert dssim(x, x).item() < 1e-6  # window shrunk to the image
    with pytest.raises(ValueError):
        dssim(x, torch.rand(1, 3, 8, 9))


def test_masked_loss_ignores_pixels_outside_mask() -> None:
    target = smooth(size=32)
    pred = (target + 0.1 * noise_like(target)).clamp(0, 1)
    mask = torch.zeros(2, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1
    for pixel in ("l1", "mse"):
        base = masked_face_loss(pred, target, mask, pixel=pixel)
        assert base > 0
        outside = (mask == 0).expand_as(pred)
        pred2 = torch.where(outside, torch.rand_like(pred), pred)
        target2 = torch.where(outside, torch.rand_like(target), target)
        assert masked_face_loss(pred2, target2, mask, pixel=pixel).item() == base.item()
    assert masked_face_loss(target, target, mask).item() < 1e-6
    with pytest.raises(ValueError):
        masked_face_loss(pred, target, mask, pixel="l2")


def test_eye_mouth_priority_only_counts_eye_region_errors() -> None:
    target = smooth(size=32)
    mask = torch.ones(2, 1, 32, 32)
    em = torch.zeros(2, 1, 32, 32)
    em[..., 8:12, 8:24] = 1
    eye_err = target.clone()
    eye_err[..., 8:12, 8:24] += 0.2
    other_err = target.clone()
    other_err[..., 20:24, 8:24] += 0.2
    plain_eye = masked_face_loss(eye_err, target, mask)
    plain_other = masked_face_loss(other_err, target, mask)
    prio_eye = masked_face_loss(eye_err, target, mask, eye_mouth=em)
    prio_other = masked_face_loss(other_err, target, mask, eye_mouth=em)
    assert prio_eye > plain_eye + 1.0
    assert prio_other.item() == plain_other.item()
    assert prio_eye > prio_other


def test_mask_loss() -> None:
    a = torch.zeros(2, 1, 8, 8)
    assert mask_loss(a, a).item() == 0
    assert mask_loss(a, torch.ones_like(a)).item() == pytest.approx(1.0)


def test_landmark_region_masks() -> None:
    size = 64
    pts = synthetic_landmarks(size)
    face, em = landmark_region_masks(np.stack([pts, pts + [4, 0]]), size)
    assert face.shape == em.shape == (2, 1, size, size)
    assert face.dtype == em.dtype == torch.float32
    assert set(face.unique().tolist()) <= {0.0, 1.0} and set(em.unique().tolist()) <= {0.0, 1.0}
    for i, p in enumerate((pts, pts + [4, 0])):
        ij = np.round(p).astype(int)
        assert (face[i, 0, ij[:, 1], ij[:, 0]] == 1).all()  # every landmark lies in the face hull
        ij = ij[36:68]
        assert (em[i, 0, ij[:, 1], ij[:, 0]] == 1).all()  # eye and mouth points in the priority mask
    # empty far from the points: corners, and the cheeks between eyes and mouth for the priority mask
    assert face[:, 0, :8, :8].sum() == 0 and face[:, 0, -4:, :].sum() == 0
    assert em[0, 0, 32:38, 0:14].sum() == 0 and em[0, 0, :18, :].sum() == 0
    assert em.sum() < face.sum()
    # a torch tensor and a single (68, 2) face are accepted too
    f1, e1 = landmark_region_masks(torch.from_numpy(pts), size)
    assert torch.equal(f1[0], face[0]) and torch.equal(e1[0], em[0])
    with pytest.raises(ValueError):
        landmark_region_masks(np.zeros((1, 5, 2)), size)
