"""Colour transfer: make one face's colours match another's. Used in training (`--ct-mode`) and merge.

Every transfer is a pure function `(src, ref, src_mask=None, ref_mask=None) -> out` on (H, W, 3) float32
images in the working encoding (display-referred, 0..1); masks are (H, W) float32 weights (statistics are
taken where the mask is above 0.5). The output is `src` recoloured, not clipped: callers clip where needed.
Registered by name in one table, `COLOUR_TRANSFERS`.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from facegraft.registry import lookup

Transfer = Callable[..., np.ndarray]


def _pixels(img: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """(K, 3) float64 pixels of `img` where `mask` > 0.5 (all pixels without a mask, or if it is empty)."""
    flat = img.reshape(-1, 3).astype(np.float64)
    if mask is None:
        return flat
    sel = mask.reshape(-1) > 0.5
    return flat[sel] if sel.sum() >= 16 else flat


def _to_lab(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.clip(img, 0, 1).astype(np.float32), cv2.COLOR_RGB2LAB)


def _from_lab(lab: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_LAB2RGB)


def rct(
    src: np.ndarray, ref: np.ndarray, src_mask: np.ndarray | None = None, ref_mask: np.ndarray | None = None
) -> np.ndarray:
    """Reinhard transfer: each LAB channel of `src` takes `ref`'s mean and standard deviation."""
    s_lab, r_lab = _to_lab(src), _to_lab(ref)
    s, r = _pixels(s_lab, src_mask), _pixels(r_lab, ref_mask)
    s_mu, s_sd = s.mean(0), s.std(0) + 1e-6
    r_mu, r_sd = r.mean(0), r.std(0) + 1e-6
    out = (s_lab - s_mu) * (r_sd / s_sd) + r_mu
    out[:, :, 0] = np.clip(out[:, :, 0], 0, 100)
    out[:, :, 1:] = np.clip(out[:, :, 1:], -127, 127)
    return _from_lab(out)


def avg_color(
    src: np.ndarray, ref: np.ndarray, src_mask: np.ndarray | None = None, ref_mask: np.ndarray | None = None
) -> np.ndarray:
    """Shift `src` so its mean colour equals `ref`'s (the gentlest transfer)."""
    return (src + (_pixels(ref, ref_mask).mean(0) - _pixels(src, src_mask).mean(0))).astype(np.float32)


def _sqrtm(c: np.ndarray, inverse: bool = False) -> np.ndarray:
    w, v = np.linalg.eigh(c)
    w = np.clip(w, 1e-10, None)
    return (v * (w ** (-0.5 if inverse else 0.5))) @ v.T


def _linear(src: np.ndarray, ref: np.ndarray, src_mask, ref_mask, matrix_fn) -> np.ndarray:
    s, r = _pixels(src, src_mask), _pixels(ref, ref_mask)
    s_mu, r_mu = s.mean(0), r.mean(0)
    eps = np.eye(3) * 1e-6
    t = matrix_fn(np.cov(s, rowvar=False) + eps, np.cov(r, rowvar=False) + eps)
    out = (src.reshape(-1, 3) - s_mu) @ t.T + r_mu
    return out.reshape(src.shape).astype(np.float32)


def lct(
    src: np.ndarray, ref: np.ndarray, src_mask: np.ndarray | None = None, ref_mask: np.ndarray | None = None
) -> np.ndarray:
    """Linear transfer in RGB: whiten `src`'s covariance and colour it with `ref`'s (via matrix roots)."""
    return _linear(src, ref, src_mask, ref_mask, lambda cs, cr: _sqrtm(cr) @ _sqrtm(cs, inverse=True))


def mkl(
    src: np.ndarray, ref: np.ndarray, src_mask: np.ndarray | None = None, ref_mask: np.ndarray | None = None
) -> np.ndarray:
    """Monge-Kantorovich linear transfer: the linear map of least displacement between the two Gaussians."""

    def matrix(cs: np.ndarray, cr: np.ndarray) -> np.ndarray:
        cs_half, cs_inv_half = _sqrtm(cs), _sqrtm(cs, inverse=True)
        return cs_inv_half @ _sqrtm(cs_half @ cr @ cs_half) @ cs_inv_half

    return _linear(src, ref, src_mask, ref_mask, matrix)


def _match_1d(values: np.ndarray, source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Map `values` through the quantile function that takes `source`'s distribution to `target`'s."""
    q = np.linspace(0, 1, 256)
    return np.interp(values, np.quantile(source, q), np.quantile(target, q))


def _rotations(rng: np.random.Generator, n: int) -> list[np.ndarray]:
    out = []
    for _ in range(n):
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        out.append(q)
    return out


def _sliced_transfer(
    src: np.ndarray,
    ref: np.ndarray,
    src_mask: np.ndarray | None,
    ref_mask: np.ndarray | None,
    iterations: int,
    step: float,
    seed: int,
) -> np.ndarray:
    """Along `iterations` random orthonormal bases, move `src`'s colours `step` of the way to the 1D
    quantile match of each marginal with `ref`'s."""
    rng = np.random.default_rng(seed)
    out = src.reshape(-1, 3).astype(np.float64)
    sel = None if src_mask is None else (src_mask.reshape(-1) > 0.5)
    r = _pixels(ref, ref_mask)
    for rot in _rotations(rng, iterations):
        o_rot, r_rot = out @ rot, r @ rot
        s_rot = o_rot if sel is None or sel.sum() < 16 else o_rot[sel]
        moved = np.stack([_match_1d(o_rot[:, k], s_rot[:, k], r_rot[:, k]) for k in range(3)], axis=1)
        out = out + step * ((moved - o_rot) @ rot.T)
    return out.reshape(src.shape).astype(np.float32)


def idt(
    src: np.ndarray,
    ref: np.ndarray,
    src_mask: np.ndarray | None = None,
    ref_mask: np.ndarray | None = None,
    iterations: int = 10,
    seed: int = 0,
) -> np.ndarray:
    """Iterative distribution transfer (Pitie et al.): along random 3D rotations, match each 1D marginal of
    `src` to `ref`'s fully; the whole 3D colour distribution converges to `ref`'s."""
    return _sliced_transfer(src, ref, src_mask, ref_mask, iterations, 1.0, seed)


def sot(
    src: np.ndarray,
    ref: np.ndarray,
    src_mask: np.ndarray | None = None,
    ref_mask: np.ndarray | None = None,
    iterations: int = 20,
    step: float = 0.5,
    seed: int = 0,
) -> np.ndarray:
    """Sliced optimal transport: the same 1D optimal transport moves as `idt`, taken a `step` of the way
    each time over more directions: a relaxed, smoother result."""
    return _sliced_transfer(src, ref, src_mask, ref_mask, iterations, step, seed)


def hist_match(
    src: np.ndarray, ref: np.ndarray, src_mask: np.ndarray | None = None, ref_mask: np.ndarray | None = None
) -> np.ndarray:
    """Per-channel histogram matching of `src` to `ref`."""
    s, r = _pixels(src, src_mask), _pixels(ref, ref_mask)
    out = np.stack([_match_1d(src[:, :, k], s[:, k], r[:, k]) for k in range(3)], axis=2)
    return out.astype(np.float32)


def none(
    src: np.ndarray, ref: np.ndarray, src_mask: np.ndarray | None = None, ref_mask: np.ndarray | None = None
) -> np.ndarray:
    """No transfer: `src` as it is (float32)."""
    return src.astype(np.float32)


COLOUR_TRANSFERS: dict[str, Transfer] = {
    "none": none,
    "rct": rct,
    "lct": lct,
    "mkl": mkl,
    "idt": idt,
    "sot": sot,
    "hist-match": hist_match,
    "avg-color": avg_color,
}


def colour_transfer(
    name: str,
    src: np.ndarray,
    ref: np.ndarray,
    src_mask: np.ndarray | None = None,
    ref_mask: np.ndarray | None = None,
) -> np.ndarray:
    """Apply the transfer registered as `name`; ValueError listing the choices."""
    fn = lookup(COLOUR_TRANSFERS, name, "colour transfer", ValueError)
    return fn(src, ref, src_mask, ref_mask)
