"""Training losses: DSSIM, masked face reconstruction with eye/mouth priority, mask MSE, region masks.

All losses are pure functions of tensors. Images are (N, 3, H, W) float32 in 0..1 (any channel count
works for `dssim`); masks are (N, 1, H, W) float32 in 0..1 and broadcast over the channels.
`landmark_region_masks` builds the face and eye/mouth masks from 68 landmarks in the data loader.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from facegraft.registry import require_choice

JAW = slice(0, 17)
BROWS = slice(17, 27)
RIGHT_EYE = slice(36, 42)
LEFT_EYE = slice(42, 48)
MOUTH = slice(48, 68)


@lru_cache(maxsize=16)
def _gaussian_1d(kernel: int, sigma: float) -> torch.Tensor:
    x = torch.arange(kernel, dtype=torch.float64) - (kernel - 1) / 2
    g = torch.exp(-(x * x) / (2 * sigma * sigma))
    return (g / g.sum()).float()


def _blur(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable 'valid' gaussian filter of every channel: (N, C, H, W) -> (N, C, H-k+1, W-k+1)."""
    c, k = x.shape[1], g.numel()
    g = g.to(device=x.device, dtype=x.dtype)
    x = F.conv2d(x, g.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)
    return F.conv2d(x, g.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c)


def dssim(a: torch.Tensor, b: torch.Tensor, kernel: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Structural dissimilarity (1 - SSIM) / 2 per image: a, b (N, C, H, W) float 0..1 -> (N,) in 0..1.

    SSIM uses a `kernel` x `kernel` gaussian window (std `sigma`, shrunk to fit images smaller than the
    window) over the valid region, averaged over channels and positions. Symmetric; 0 for a == b."""
    if a.shape != b.shape or a.dim() != 4:
        raise ValueError(f"dssim needs two (N, C, H, W) tensors of one shape, got {a.shape} and {b.shape}")
    k = min(kernel, a.shape[-2], a.shape[-1])
    g = _gaussian_1d(k, float(sigma))
    c1, c2 = 0.01**2, 0.03**2
    a, b = a.float(), b.float()
    mu_a, mu_b = _blur(a, g), _blur(b, g)
    var_a = _blur(a * a, g) - mu_a * mu_a
    var_b = _blur(b * b, g) - mu_b * mu_b
    cov = _blur(a * b, g) - mu_a * mu_b
    ssim = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
        (mu_a * mu_a + mu_b * mu_b + c1) * (var_a + var_b + c2)
    )
    return ((1 - ssim.mean(dim=(1, 2, 3))) / 2).clamp(0.0, 1.0)


def masked_face_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    eye_mouth: torch.Tensor | None = None,
    eye_mouth_weight: float = 300.0,
    dssim_weight: float = 10.0,
    pixel_weight: float = 10.0,
    pixel: str = "l1",
) -> torch.Tensor:
    """Reconstruction loss inside the face mask, a scalar (mean over the batch).

    pred, target: (N, 3, H, W) float32 0..1; mask, eye_mouth: (N, 1, H, W) float32 0..1.
    dssim_weight * DSSIM(pred*mask, target*mask) + pixel_weight * L1 (or MSE: `pixel="mse"`) of the
    same, plus eye_mouth_weight * mean |pred - target| * eye_mouth when an eye/mouth mask is given.
    Pixels where mask (and eye_mouth) is 0 do not affect the loss at all; blur or dilate the mask before
    calling to soften its edge."""
    require_choice(pixel, ("l1", "mse"), "pixel loss", ValueError)
    p, t = pred * mask, target * mask
    loss = dssim_weight * dssim(p, t)
    diff = p - t
    pix = diff.abs() if pixel == "l1" else diff * diff
    loss = loss + pixel_weight * pix.mean(dim=(1, 2, 3))
    if eye_mouth is not None:
        loss = loss + eye_mouth_weight * ((pred - target).abs() * eye_mouth).mean(dim=(1, 2, 3))
    return loss.mean()


def mask_loss(pred_mask: torch.Tensor, target_mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error of the learned mask: (N, 1, H, W) float32 0..1 each -> scalar."""
    return F.mse_loss(pred_mask, target_mask)


def landmark_region_masks(landmarks, size: int, dilate: float = 1 / 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Face and eye/mouth masks from landmarks: (N, 68, 2) crop pixels (x, y) -> two (N, 1, S, S) float32.

    The face mask is the filled convex hull of the jaw and brows; the eye/mouth mask is the union of the
    hulls of each eye (36-41, 42-47) and the mouth (48-67), dilated by `dilate` * size pixels (>= 1).
    Values are 0 or 1. Runs in numpy/OpenCV (the data loader), not on the training device."""
    pts = np.asarray(landmarks.detach().cpu() if isinstance(landmarks, torch.Tensor) else landmarks)
    if pts.ndim == 2:
        pts = pts[None]
    if pts.ndim != 3 or pts.shape[1:] != (68, 2):
        raise ValueError(f"landmarks must be (N, 68, 2), got {pts.shape}")
    n = pts.shape[0]
    face = np.zeros((n, 1, size, size), np.float32)
    em = np.zeros((n, 1, size, size), np.float32)
    r = max(1, round(size * dilate))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    for i in range(n):
        p = np.round(pts[i]).astype(np.int32)
        f = np.zeros((size, size), np.uint8)
        cv2.fillConvexPoly(f, cv2.convexHull(np.concatenate([p[JAW], p[BROWS]])), 1)
        e = np.zeros((size, size), np.uint8)
        for part in (RIGHT_EYE, LEFT_EYE, MOUTH):
            cv2.fillConvexPoly(e, cv2.convexHull(p[part]), 1)
        face[i, 0] = f
        em[i, 0] = cv2.dilate(e, kernel)
    return torch.from_numpy(face), torch.from_numpy(em)
