"""Temporal smoothing of face tracks: landmarks filtered over neighbouring frames so the swap does not jitter.

A track is the landmarks of one face (one track id) over consecutive frames. The filter is a small
gaussian over +-k frames that never reaches across a gap in the track, so a cut or a lost face is not
blurred into its neighbours.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def smooth_track(
    track: Mapping[int, np.ndarray], frames: int = 2, sigma: float | None = None
) -> dict[int, np.ndarray]:
    """{frame: (68, 2) landmarks} of one track -> the same frames with smoothed landmarks.

    Each frame becomes the gaussian-weighted mean (sigma `frames`/2 by default) of itself and the track's
    frames within `frames` of it that are connected to it without a gap. `frames` 0 returns copies."""
    keys = sorted(track)
    if frames <= 0 or len(keys) < 2:
        return {f: np.asarray(track[f], np.float64).copy() for f in keys}
    sigma = sigma or max(frames / 2.0, 0.5)
    out = {}
    for i, f in enumerate(keys):
        acc, wsum = np.zeros_like(np.asarray(track[f], np.float64)), 0.0
        for direction in (-1, 1):
            j, prev = i, f
            while 0 <= j + direction < len(keys):
                g = keys[j + direction]
                if abs(g - prev) != 1 or abs(g - f) > frames:
                    break
                w = float(np.exp(-((g - f) ** 2) / (2 * sigma * sigma)))
                acc += w * np.asarray(track[g], np.float64)
                wsum += w
                j, prev = j + direction, g
        acc += np.asarray(track[f], np.float64)
        out[f] = acc / (wsum + 1.0)
    return out


def velocity(track: Mapping[int, np.ndarray], frame: int) -> np.ndarray:
    """(x, y) px per frame of the face centre at `frame` (central difference where both neighbours
    exist), zero for a face seen on one frame only."""
    prev, nxt = track.get(frame - 1), track.get(frame + 1)
    here = np.asarray(track[frame], np.float64).mean(0)
    if prev is not None and nxt is not None:
        return (np.asarray(nxt).mean(0) - np.asarray(prev).mean(0)) / 2.0
    if nxt is not None:
        return np.asarray(nxt).mean(0) - here
    if prev is not None:
        return here - np.asarray(prev).mean(0)
    return np.zeros(2)
