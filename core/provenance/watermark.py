"""An invisible watermark in the swapped face: engine id + job id, error-corrected, readable after delivery.

The mark lives in the face's own coordinate frame: the face is found with the engine's detector and 68
landmarks and warped to a 64 x 64 canonical grid. There, each coded bit is carried by spread-transform dither
modulation (STDM) of a signed sum of Fourier magnitudes of the windowed face in a mid band: magnitudes do
not care where the face sits to a fraction of a cell, the band survives H.264 and half-size frames, and
dividing by the face's contrast (after removing the windowed mean) cancels brightness gains and offsets.
The face alignment undoes crops, scaling and camera moves; the reader searches the little scale, roll and
shift that landmark jitter leaves. The payload (engine id, job tag, CRC-8) goes through a rate-1/2
convolutional code (K=7); with the engine id fixed only 2^16 codewords are valid, at least 16 bits apart,
and the reader decodes by maximum likelihood over all of them, which reads marks that H.264 has damaged
past what Viterbi decoding and a CRC check recover. The mark is a change of luma (spread over R, G and B the
way that costs least for what an encoder keeps), display-referred, only inside the matte.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from facegraft.geometry.alignment import alignment_matrix, invert_affine, mean_face, transform_points

ENGINE_ID = 0xFA  # facegraft's engine id in the payload: 8 bits
JOB_BITS = 16
CRC_BITS = 8
INFO_BITS = 8 + JOB_BITS + CRC_BITS
_K = 7  # convolutional code constraint length; generators 133, 171 (octal)
_GENERATORS = (0o133, 0o171)
CODED_BITS = 2 * (INFO_BITS + _K - 1)

_DEBUG = False
GRID = 64  # canonical grid the carriers live on
FACE_TYPE = "full"
_KEY = 0x5EED_FACE  # carrier and dither key: fixed, so any facegraft build finds any facegraft mark
BAND_LOW, BAND_HIGH = 14.0, 28.0  # cycles per grid: above lighting, below what H.264 and half size lose
CONTRAST_UNITS = 25.0  # a typical face's band rms magnitude per unit of its contrast (windowed luma std)
STEP = 0.38  # STDM quantiser step, in CONTRAST_UNITS of the face's contrast
MIN_PSNR = 45.1  # dB inside the matte: a face that would need more change is marked more weakly
STABLE = 0.0035  # a landmark fit moving less than this share of the face's size under another pass is steady
KNOWN_THRESHOLD = 0.40  # decision for a known payload: mean agreement with its codeword (unmarked: <= 0.35)
THRESHOLD = 0.52  # decision: mean agreement with the best of the 2^16 codewords (unmarked: 0.39-0.49)
# A frame decoding alone to another job than its sequence keeps that job only when it fits this much better:
# on a clean frame codewords 16 bits apart differ by 0.42 x the bits' strength; H.264 misreads measured 0.02.
OTHER_JOB_MARGIN = 0.1


@dataclass(frozen=True)
class Payload:
    """What a mark carries: facegraft's engine id and 16 bits of the job's id."""

    engine: int
    job: int


@dataclass(frozen=True)
class Reading:
    """One face's reading: the payload when the mark decoded and checked, and how sure that is (0..1)."""

    detected: bool
    confidence: float
    payload: Payload | None
    soft: np.ndarray | None = None  # (CODED_BITS,) the soft bits it was decoded from, for combining frames


def job_tag(job_id: str) -> int:
    """The 16 bits of a job id the mark carries (a hash, so any id string works)."""
    return int.from_bytes(hashlib.sha256(job_id.encode()).digest()[:2], "big")


def _crc8(bits: np.ndarray) -> np.ndarray:
    """CRC-8 (polynomial 0x07) of a bit array, as 8 bits."""
    reg = 0
    for b in bits:
        reg ^= int(b) << 7
        reg = ((reg << 1) ^ 0x07) & 0xFF if reg & 0x80 else (reg << 1) & 0xFF
    return np.array([(reg >> (7 - i)) & 1 for i in range(8)], np.uint8)


def _int_bits(value: int, n: int) -> np.ndarray:
    return np.array([(value >> (n - 1 - i)) & 1 for i in range(n)], np.uint8)


def payload_bits(payload: Payload) -> np.ndarray:
    """(INFO_BITS,) uint8: engine id, job tag, CRC-8 of both."""
    body = np.concatenate([_int_bits(payload.engine, 8), _int_bits(payload.job, JOB_BITS)])
    return np.concatenate([body, _crc8(body)])


def _parity(x: int) -> int:
    return bin(x).count("1") & 1


def conv_encode(bits: np.ndarray) -> np.ndarray:
    """Rate-1/2, K=7 convolutional code with a zero tail: (n,) bits -> (2 (n + 6),) bits."""
    state, out = 0, []
    for b in np.concatenate([bits, np.zeros(_K - 1, np.uint8)]):
        reg = (int(b) << (_K - 1)) | state
        out.extend(_parity(reg & g) for g in _GENERATORS)
        state = reg >> 1
    return np.array(out, np.uint8)


@lru_cache(maxsize=1)
def window() -> np.ndarray:
    """(GRID, GRID) float64 0..1: a soft window over the inner face (brows to chin, inside the jaw).

    Fourier magnitudes of the windowed face barely move when the face is found a fraction of a cell off,
    which is what makes the mark survive landmark jitter: a translation only changes phases."""
    m = alignment_matrix(mean_face() * 100.0, FACE_TYPE, GRID)
    pts = transform_points(mean_face() * 100.0, m)
    hull = cv2.convexHull(pts[list(range(0, 17)) + list(range(17, 27))].astype(np.float32))
    mask = np.zeros((GRID, GRID), np.float32)
    cv2.fillConvexPoly(mask, np.round(hull).astype(np.int32), 1.0)
    mask = cv2.erode(mask, np.ones((7, 7), np.uint8))
    return cv2.GaussianBlur(mask, (0, 0), 3.0).astype(np.float64)


@lru_cache(maxsize=1)
def _bins() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Fourier bins that carry the mark and how they group: (ky, kx) index arrays of the band
    BAND_LOW <= |k| <= BAND_HIGH cycles per grid (one of each conjugate pair), and a (CODED_BITS, n)
    matrix of +-1/sqrt(group) weights giving each coded bit its own random group of bins."""
    ky, kx = np.meshgrid(np.fft.fftfreq(GRID) * GRID, np.fft.rfftfreq(GRID) * GRID, indexing="ij")
    r = np.hypot(ky, kx)
    keep = (r >= BAND_LOW) & (r <= BAND_HIGH) & ((kx > 0) | (ky > 0))
    iy, ix = np.nonzero(keep)
    rng = np.random.default_rng(_KEY)
    order = rng.permutation(len(iy))
    iy, ix = iy[order], ix[order]
    groups = np.zeros((CODED_BITS, len(iy)))
    for j in range(len(iy)):
        groups[j % CODED_BITS, j] = rng.choice([-1.0, 1.0])
    groups /= np.sqrt(np.abs(groups).sum(axis=1, keepdims=True))
    return iy, ix, groups


@lru_cache(maxsize=1)
def dither() -> np.ndarray:
    """(CODED_BITS,) the key's dither of each bit's quantiser, in units of STEP."""
    return np.random.default_rng(_KEY + 1).random(CODED_BITS)


LUMA_WEIGHTS = np.array([0.2126, 0.7152, 0.0722])  # Rec.709: what the reader measures
_BT601 = np.array([0.299, 0.587, 0.114])
# How the writer spreads a unit change of luma over R, G and B: along BT.601's luma weights (the Y an H.264
# encoder keeps when it converts RGB with its default matrix), scaled so Rec.709 luma moves by one. It costs
# 0.62 of the squared change of moving R, G and B alike, so the same PSNR carries a 1.27x stronger mark.
CHANNEL_WEIGHTS = (_BT601 / (_BT601 @ LUMA_WEIGHTS)).astype(np.float32)


def luma(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) display-referred float 0..1 (or uint8) -> (H, W) float32 Rec.709 luma 0..1."""
    x = rgb.astype(np.float32) / (255.0 if rgb.dtype == np.uint8 else 1.0)
    r, g, b = LUMA_WEIGHTS.astype(np.float32)
    return x[..., 0] * r + x[..., 1] * g + x[..., 2] * b


def canonical(y: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The face's luma on the canonical grid, area-filtered, and the (2, 3) plate -> grid matrix.

    (H, W) float32 -> (GRID, GRID) float32. Pre-blurs by the plate's pixels per grid cell so that a
    frame seen at half size gives the same grid."""
    m = alignment_matrix(landmarks, FACE_TYPE, GRID)
    return _grid(y, m), m


def _centred(grid: np.ndarray) -> np.ndarray:
    """(..., GRID, GRID) float64: luma grids less their windowed mean (so a brightness offset leaves them)."""
    w = window()
    g = np.asarray(grid, np.float64)
    return g - (g * w).sum(axis=(-2, -1), keepdims=True) / w.sum()


def band(grid: np.ndarray) -> np.ndarray:
    """(..., bins) complex: the band's Fourier coefficients of (..., GRID, GRID) canonical luma grids,
    windowed, less their windowed mean."""
    iy, ix, _ = _bins()
    return np.fft.rfft2(window() * _centred(grid))[..., iy, ix]


@lru_cache(maxsize=1)
def _band_operator() -> np.ndarray:
    """(bins, GRID * GRID) complex: `band` as a matrix, for the writer's Gauss-Newton step."""
    eye = np.eye(GRID * GRID).reshape(-1, GRID, GRID)
    return np.concatenate([band(eye[i : i + 512]) for i in range(0, GRID * GRID, 512)]).T.copy()


def contrast(grid: np.ndarray) -> np.ndarray:
    """(...,) the windowed standard deviation of (..., GRID, GRID) luma grids: scaled by a brightness gain,
    blind to an offset, and set by the face's large shapes, which neither the mark nor H.264 moves."""
    w = window()
    return np.sqrt((w * _centred(grid) ** 2).sum(axis=(-2, -1)) / w.sum())


def projections(coeffs: np.ndarray, contrasts: np.ndarray) -> np.ndarray:
    """(..., CODED_BITS) each bit's signed sum of band magnitudes `coeffs` (..., bins), in CONTRAST_UNITS
    of the face's `contrasts` (...,), so a brightness gain leaves it alone.

    Not in units of the band's own rms (as before): H.264 softens the band, which moved every projection
    off its lattice at once; the face's contrast lives in lower frequencies the codec keeps."""
    return np.abs(coeffs) @ _bins()[2].T / (np.asarray(contrasts)[..., None] * CONTRAST_UNITS + 1e-12)


def _targets(p: np.ndarray, code: np.ndarray) -> np.ndarray:
    """The nearest quantiser point of each projection on its bit's lattice (bit 1 offset by half a step)."""
    off = (dither() + 0.5 * code) * STEP
    return np.round((p - off) / STEP) * STEP + off


def soft_bits(p: np.ndarray) -> np.ndarray:
    """(CODED_BITS,) -1..1: +1 on a bit-0 lattice point, -1 on a bit-1 point."""
    return np.cos(2.0 * np.pi * (p / STEP - dither()))


def _grid_change(grid: np.ndarray, code: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """(GRID, GRID) the least-energy change to the canonical luma that moves every projection onto its
    target, to first order (a Gauss-Newton step through the magnitudes), made only where `allowed`
    (GRID, GRID) 0..1 (the matte on the grid) lets it."""
    op = _band_operator()
    coeffs = op @ grid.astype(np.float64).ravel()
    mag = np.abs(coeffs)
    unit = float(contrast(grid)) * CONTRAST_UNITS + 1e-12
    groups = _bins()[2]
    p = groups @ mag / unit
    weight = allowed.astype(np.float64).ravel()
    jac = groups @ np.real(np.conj(coeffs / np.maximum(mag, 1e-12))[:, None] * op) / unit * weight
    want = _targets(p, code) - p
    return (weight * (jac.T @ np.linalg.solve(jac @ jac.T + 1e-9 * np.eye(len(want)), want))).reshape(
        GRID, GRID
    )


def embed_face(
    rgb: np.ndarray,
    matte: np.ndarray,
    landmarks: np.ndarray,
    payload: Payload,
    rounds: int = 4,
    min_psnr: float = MIN_PSNR,
) -> np.ndarray:
    """Mark one face: (H, W, 3) float32 display-referred 0..1 -> the same, changed only where matte > 0.

    `matte` (H, W) float32 0..1 limits the change to the swapped face; `landmarks` (68, 2) are the face's
    landmarks as the detector finds them on this image. The change is found on the canonical grid and
    corrected over a few rounds through the same path a reader takes (the warps smooth it)."""
    code = conv_encode(payload_bits(payload)).astype(np.float64)
    m = alignment_matrix(landmarks, FACE_TYPE, GRID)
    x0, y0, x1, y1 = _footprint(m, matte.shape)
    m_roi = m + np.array([[0.0, 0.0, m[0, 0] * x0 + m[0, 1] * y0], [0.0, 0.0, m[1, 0] * x0 + m[1, 1] * y0]])
    inv = invert_affine(m_roi)
    part = rgb[y0:y1, x0:x1].astype(np.float32)
    roi_matte = matte[y0:y1, x0:x1]
    out = part.copy()
    grid = _grid(luma(out), m_roi)
    allowed = cv2.warpAffine(roi_matte.astype(np.float32), m_roi, (GRID, GRID), flags=cv2.INTER_AREA)
    for _ in range(rounds):
        delta = _grid_change(grid, code, allowed).astype(np.float32)
        warped = cv2.warpAffine(delta, inv, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderValue=0.0)
        out += (warped * roi_matte)[..., None] * CHANNEL_WEIGHTS
        grid = _grid(luma(out), m_roi)
    inside = roi_matte > 0
    change = np.clip(out, 0.0, 1.0) - part
    mse = float(np.mean(np.square(change[inside]))) if inside.any() else 0.0
    budget = 10.0 ** (-min_psnr / 10.0)
    if mse > budget:  # a face far from its lattice points: move it part of the way, keep the picture
        change *= np.sqrt(budget / mse)
    marked = np.array(rgb, np.float32, copy=True)
    marked[y0:y1, x0:x1] = np.where(inside[..., None], part + change, part)
    return marked


def _footprint(matrix: np.ndarray, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """The plate box (x0, y0, x1, y1) the canonical grid covers, padded for the pre-blur, inside the frame."""
    corners = transform_points(
        np.array([[0, 0], [GRID, 0], [0, GRID], [GRID, GRID]], float), invert_affine(matrix)
    )
    pad = 4.0 / np.sqrt(abs(np.linalg.det(matrix[:, :2]))) + 4
    x0, y0 = np.floor(corners.min(axis=0) - pad).astype(int)
    x1, y1 = np.ceil(corners.max(axis=0) + pad).astype(int)
    return max(x0, 0), max(y0, 0), min(x1, shape[1]), min(y1, shape[0])


def _grid(y: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(GRID, GRID) float32: (H, W) luma through the plate -> grid `matrix`, pre-blurred by the plate's
    pixels per grid cell so that a frame seen at half size gives the same grid."""
    cell = 1.0 / np.sqrt(abs(np.linalg.det(matrix[:, :2])))
    src = cv2.GaussianBlur(y, (0, 0), 0.5 * cell) if cell > 1.0 else y
    return cv2.warpAffine(src, matrix, (GRID, GRID), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


@lru_cache(maxsize=1)
def _finders():
    from facegraft.extract.detectors import make_detector
    from facegraft.extract.landmarkers import make_landmarker

    return make_detector("dlib-hog", detect_width=0), make_landmarker("dlib68", ensemble=9)


def find_faces(rgb: np.ndarray) -> list[np.ndarray]:
    """(68, 2) landmarks of every face in an (H, W, 3) uint8 display-referred frame, as the mark's writer
    and reader both see them: detector, landmarks, then a pass averaged over nine jittered boxes (which
    cuts the landmarks' jitter under re-encoding about 2.5 times).

    A detector box far from the face's true size can leave the landmarks in a wrong fit, one that keeps
    moving at every pass (about 0.5% of the face's size or more) where a right fit is all but a fixed point
    (0.2-0.3%). Boxes of the detector's size and a fifth smaller are both fitted and the steadier kept; when
    neither is steady, a smaller and a larger box are tried too."""
    detector, landmarker = _finders()
    out = []
    for d in detector.detect(rgb):
        fits = [_fit_in_box(rgb, d.box, scale) for scale in (1.0, 0.8)]
        if min(f[0] for f in fits) > STABLE:
            fits += [_fit_in_box(rgb, d.box, scale) for scale in (0.65, 1.25)]
        out.append(min(fits, key=lambda f: f[0])[1])
    return out


def _fit_in_box(rgb: np.ndarray, box: np.ndarray, scale: float) -> tuple[float, np.ndarray]:
    """Landmarks fitted from `box` scaled by `scale` about its centre, and how far one more pass moves
    them, as a share of the face's size."""
    _, landmarker = _finders()
    centre, half = (box[:2] + box[2:]) / 2, (box[2:] - box[:2]) / 2 * scale
    pts = landmarker.refine(
        rgb, landmarker.landmarks(rgb, np.concatenate([centre - half, centre + half])), final=True
    )
    moved = float(np.abs(landmarker.refine(rgb, pts, final=True) - pts).mean()) / float(
        np.ptp(pts, axis=0).max()
    )
    return moved, pts


def read_face(y: np.ndarray, landmarks: np.ndarray, known: Payload | None = None) -> Reading:
    """Decode the mark of one face in (H, W) luma 0..1 found at `landmarks` (68, 2).

    Landmarks found on a re-encoded or rescaled frame are off by about 0.6% in scale, 0.15 degrees in roll
    and 0.1 grid cells, enough to throw projections off their lattice, so the reader searches around them
    (a coarse grid, then coordinate ascent from the best three) for the geometry whose soft bits best
    match a codeword.

    With `known`, the payload already read from other frames of the same file, the search looks for that
    codeword only: a far stronger test, which finds the mark in frames too damaged to decode alone."""
    code = None if known is None else 1.0 - 2.0 * conv_encode(payload_bits(known)).astype(np.float64)
    m = alignment_matrix(landmarks, FACE_TYPE, GRID)
    cell = 1.0 / np.sqrt(abs(np.linalg.det(m[:, :2])))
    src = cv2.GaussianBlur(y, (0, 0), 0.5 * cell) if cell > 1.0 else y

    def project(hyps: np.ndarray) -> np.ndarray:
        grids = [
            cv2.warpAffine(
                src, _nudge(m, *h), (GRID, GRID), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            )
            for h in hyps
        ]
        grids = np.stack(grids)
        return projections(band(grids), contrast(grids))

    coarse = np.array(
        [
            (s, r, tx, ty)
            for s in np.linspace(0.976, 1.024, 13)
            for r in np.linspace(-0.6, 0.6, 5)
            for tx, ty in ((0.0, 0.0), (0.3, 0.0), (-0.3, 0.0), (0.0, 0.3), (0.0, -0.3))
        ]
    )
    fits = _fits(project(coarse), code)
    best = Reading(False, 0.0, None)
    for i in np.argsort(-fits)[:3]:
        p = _climb(project, coarse[i], code)
        if code is not None:
            agreement = float(np.mean(soft_bits(p) * code))
            found = agreement >= KNOWN_THRESHOLD
            return Reading(found, max(0.0, agreement), known if found else None, soft_bits(p))
        reading = _decode(p)
        if reading.detected or reading.confidence > best.confidence:
            best = reading
        if reading.detected:
            break
    return best


def _nudge(matrix: np.ndarray, scale: float, degrees: float, tx: float = 0.0, ty: float = 0.0) -> np.ndarray:
    """(2, 3) plate -> grid matrix followed by a scale and turn about the grid centre and a shift (cells)."""
    r = np.radians(degrees)
    rot = np.array([[np.cos(r), -np.sin(r)], [np.sin(r), np.cos(r)]]) * scale
    c = np.full(2, GRID / 2.0)
    out = np.empty((2, 3))
    out[:, :2] = rot @ matrix[:, :2]
    out[:, 2] = rot @ matrix[:, 2] + c - rot @ c + np.array([tx, ty])
    return out


def _fits(p: np.ndarray, code: np.ndarray | None = None) -> np.ndarray:
    """(n,) how well each row of projections matches a codeword: the mean agreement of its soft bits with
    `code` (+-1) when given, else with the best of facegraft's 2^16 codewords."""
    soft = soft_bits(p)
    if code is None:
        return _agreements(soft).max(axis=-1)
    return np.mean(soft * code, axis=-1)


_STEPS = np.array([0.004, 0.3, 0.15, 0.15])  # scale, roll (degrees), shift x, y (cells)


def _climb(project, start: np.ndarray, code: np.ndarray | None = None, halvings: int = 3) -> np.ndarray:
    """Coordinate ascent of the codeword fit from a (4,) start; all eight neighbours are tried at once.
    Returns the projections at the best point found."""
    here = start.astype(np.float64)
    best_p = project(here[None])[0]
    best = float(_fits(best_p[None], code)[0])
    step = _STEPS.copy()
    for _ in range(halvings):
        for _ in range(6):
            trials = here + np.concatenate([np.diag(step), -np.diag(step)])
            p = project(trials)
            fits = _fits(p, code)
            k = int(np.argmax(fits))
            if fits[k] <= best:
                break
            here, best, best_p = trials[k], float(fits[k]), p[k]
        step = step / 2.0
    return best_p


def _decode(p: np.ndarray) -> Reading:
    """The payload of one set of projections, if it checks."""
    return decode_soft(soft_bits(p))


@lru_cache(maxsize=1)
def codebook() -> np.ndarray:
    """(2 ** JOB_BITS, CODED_BITS) float32 +-1: the codeword of every job under facegraft's engine id.

    Both the CRC (zero start) and the convolutional code are linear over GF(2), so each codeword is the
    job-0 codeword plus, for each set job bit, that bit's own difference word."""
    base = conv_encode(payload_bits(Payload(ENGINE_ID, 0)))
    diffs = np.stack([conv_encode(payload_bits(Payload(ENGINE_ID, 1 << i))) ^ base for i in range(JOB_BITS)])
    jobs = (np.arange(1 << JOB_BITS)[:, None] >> np.arange(JOB_BITS)) & 1
    words = (base + jobs @ diffs) % 2
    return (1.0 - 2.0 * words).astype(np.float32)


def _agreements(soft: np.ndarray) -> np.ndarray:
    """(..., 2 ** JOB_BITS) the mean agreement of (..., CODED_BITS) soft bits with every valid codeword."""
    return np.asarray(soft, np.float32) @ codebook().T / CODED_BITS


def decode_soft(soft: np.ndarray) -> Reading:
    """The payload of (CODED_BITS,) soft bits -1..1 (one frame's, or the mean of several frames')."""
    corr = _agreements(soft)
    job = int(np.argmax(corr))
    agreement = float(corr[job])
    ok = agreement >= THRESHOLD
    return Reading(ok, max(0.0, agreement), Payload(ENGINE_ID, job) if ok else None, soft)


def sequence_payload(readings: list[Reading | None]) -> Payload | None:
    """The payload a sequence carries: the one most frames decoded, else the one their soft bits decode
    to when averaged (every frame carries the same mark, and averaging adds its evidence while the noise
    of re-encoding adds at random)."""
    found = [r.payload for r in readings if r is not None and r.payload is not None]
    if found:
        return max(set(found), key=found.count)
    softs = [r.soft for r in readings if r is not None and r.soft is not None]
    return decode_soft(np.mean(softs, axis=0)).payload if softs else None


def needs_recheck(reading: Reading | None, payload: Payload | None) -> bool:
    """Whether a frame with a face should be searched again for `payload`, the one its sequence carries: it
    did not decode alone, or it decoded to another job. H.264 can leave a frame nearer a neighbouring
    codeword (16 bits away) than its own, and the search for a known codeword is a far stronger test."""
    return payload is not None and reading is not None and reading.payload != payload


def rechecked(alone: Reading, known: Reading | None) -> Reading:
    """A frame's reading once searched for its sequence's payload: that search when it found the mark, unless
    the frame decoded alone to another job that fits clearly better (a frame of another job cut into the
    sequence keeps its own: a known-payload search also finds a neighbouring codeword, 16 of 76 bits away)."""
    if known is None:
        return alone
    if alone.detected and (not known.detected or alone.confidence - known.confidence > OTHER_JOB_MARGIN):
        return alone
    return known


def read_frame(rgb: np.ndarray, known: Payload | None = None) -> Reading | None:
    """The best reading among the faces of an (H, W, 3) uint8 display-referred frame; None without a face."""
    y = luma(rgb)
    found = [read_face(y, lm, known) for lm in find_faces(rgb)]
    return max(found, key=lambda r: (r.detected, r.confidence)) if found else None


def read_sequence(
    frames: list[np.ndarray], alone: list[Reading | None] | None = None
) -> tuple[list[Reading | None], Payload | None]:
    """Readings of the frames of one sequence (uint8 display-referred), and the payload it carries: frames
    that do not decode alone, or decode to another job, are searched again for the payload most decoded.
    `alone`: each frame's own reading when the caller already has them."""
    readings = [read_frame(f) for f in frames] if alone is None else list(alone)
    payload = sequence_payload(readings)
    for i, r in enumerate(readings):
        if needs_recheck(r, payload):
            readings[i] = rechecked(r, read_frame(frames[i], payload))
    return readings, payload
