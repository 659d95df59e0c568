"""Tracks grouped into persons by identity: average-linkage clustering of per-track descriptor samples.

Pure maths on arrays. Each track brings a few identity descriptors (dlib's 128-d, one per sampled face);
two tracks lie at the mean distance between their samples, and clusters at the sample-weighted mean of
their tracks' distances (average linkage). Two tracks seen in the same frame are two people, so clusters
holding them are never merged (cannot-link). Merging stops at `threshold`.

A track whose faces are small, or most of whose faces had no 68-point fit (a profile, a dark or covered
face), is weak evidence: its descriptors come from a coarse alignment or a few pixels, and such tracks
look alike whoever they are (measured on the real clips: 0.25-0.55 apart between different people, where
sharp frontal faces of different people lie above 0.6). A pair with one weak track must be `WEAK_ONE`
times as close, and a pair of weak tracks `WEAK_BOTH` times, before it counts as one person. A track whose
own samples disagree (`sample_spread` of `NOISY` or more: as far apart as two people often are) is weak
too, whatever its faces look like (measured on small moving faces of the hikers clip: 0.49-0.59 within
one person, against 0.55-0.6 between two).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

THRESHOLD = 0.55  # average sample distance below which two tracks are one person (dlib: same < 0.6)
WEAK_ONE = 0.7  # one weak track: it must lie within 0.7 x the threshold
WEAK_BOTH = 0.45  # two weak tracks: within 0.45 x the threshold
NOISY = 0.5  # mean distance between a track's own samples from which its descriptors are weak evidence


@dataclass(frozen=True)
class TrackSamples:
    """One track's identity evidence: (k, D) float descriptors of k sampled faces, and its frames."""

    key: int
    descriptors: np.ndarray
    frames: frozenset[int]
    weak: bool = False  # small faces, or mostly coarse landmark fits

    def weak_evidence(self) -> bool:
        """Weak as its faces say, or as its own descriptors disagreeing say."""
        return self.weak or sample_spread(self.descriptors) >= NOISY


def sample_distances(a: np.ndarray, b: np.ndarray) -> float:
    """Mean Euclidean distance between every descriptor of (k, D) `a` and every one of (m, D) `b`."""
    d = np.linalg.norm(a[:, None, :].astype(np.float64) - b[None, :, :].astype(np.float64), axis=2)
    return float(d.mean())


def sample_spread(descriptors: np.ndarray) -> float:
    """Mean Euclidean distance between the distinct pairs of (k, D) `descriptors` (0 for fewer than 2)."""
    k = len(descriptors)
    if k < 2:
        return 0.0
    x = np.asarray(descriptors, np.float64)
    d = np.linalg.norm(x[:, None, :] - x[None, :, :], axis=2)
    return float(d.sum() / (k * (k - 1)))


def track_distances(tracks: Sequence[TrackSamples]) -> np.ndarray:
    """(n, n) mean sample distance between tracks, scaled up for weak evidence (divided by WEAK_ONE or
    WEAK_BOTH); inf where two tracks share a frame (two people)."""
    n = len(tracks)
    out = np.zeros((n, n))
    weak_ones = [t.weak_evidence() for t in tracks]
    for i in range(n):
        for j in range(i + 1, n):
            if tracks[i].frames & tracks[j].frames:
                d = np.inf
            else:
                d = sample_distances(tracks[i].descriptors, tracks[j].descriptors)
                weak = int(weak_ones[i]) + int(weak_ones[j])
                d /= (1.0, WEAK_ONE, WEAK_BOTH)[weak]
            out[i, j] = out[j, i] = d
    return out


def cluster(distances: np.ndarray, weights: Sequence[float], threshold: float = THRESHOLD) -> list[int]:
    """Cluster label (0, 1, ...) per item by constrained average linkage over the (n, n) `distances`
    (inf: never together); `weights` (samples per item) weight the average. Labels are numbered by total
    weight, largest first (ties: first item first)."""
    n = len(weights)
    if n == 0:
        return []
    members: dict[int, list[int]] = {i: [i] for i in range(n)}
    w = {i: float(weights[i]) for i in range(n)}
    d = {(i, j): float(distances[i, j]) for i in range(n) for j in range(i + 1, n)}
    while len(members) > 1:
        (a, b), best = min(d.items(), key=lambda kv: (kv[1], kv[0]))
        if not best < threshold:
            break
        for c in members:
            if c in (a, b):
                continue
            da, db = d[_pair(a, c)], d[_pair(b, c)]
            d[_pair(a, c)] = (
                np.inf if np.isinf(da) or np.isinf(db) else (w[a] * da + w[b] * db) / (w[a] + w[b])
            )
        for c in list(members):
            d.pop(_pair(b, c), None)
        members[a] += members.pop(b)
        w[a] += w.pop(b)
    groups = sorted(members.values(), key=lambda m: (-sum(float(weights[i]) for i in m), min(m)))
    labels = [0] * n
    for label, group in enumerate(groups):
        for i in group:
            labels[i] = label
    return labels


def _pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def group_tracks(tracks: Sequence[TrackSamples], threshold: float = THRESHOLD) -> list[int]:
    """Person label per track (0: the person with the most samples)."""
    weights = [len(t.descriptors) for t in tracks]
    return cluster(track_distances(tracks), weights, threshold)
