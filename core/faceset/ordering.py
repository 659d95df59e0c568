"""Orderings of a faceset: pure functions from measured columns to a permutation (and group labels).

Identity uses average-linkage clustering of the 128-d embeddings cut at the same-person distance: each
person becomes one contiguous run, runs are ordered by size (the main person first), and within a run the
faces nearest the person's mean come first, so strays end up last.
"""

from __future__ import annotations

import numpy as np


def identity_clusters(emb: np.ndarray, threshold: float) -> np.ndarray:
    """(N,) int cluster labels of (N, D) embeddings: average linkage cut at `threshold`, labels 0.. by
    decreasing cluster size (ties: first appearance)."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import pdist

    n = len(emb)
    if n == 0:
        return np.zeros(0, np.int64)
    if n == 1:
        return np.zeros(1, np.int64)
    z = linkage(pdist(np.asarray(emb, np.float64)), method="average")
    raw = fcluster(z, t=threshold, criterion="distance")
    _, inverse, counts = np.unique(raw, return_inverse=True, return_counts=True)
    first = np.full(len(counts), n)
    np.minimum.at(first, inverse, np.arange(n))
    rank = np.empty(len(counts), np.int64)
    rank[np.lexsort((first, -counts))] = np.arange(len(counts))
    return rank[inverse]


def identity_order(emb: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(order, labels): faces grouped by person, largest group first, each group nearest-its-mean first."""
    emb = np.asarray(emb, np.float64)
    labels = identity_clusters(emb, threshold)
    dist_to_mean = np.zeros(len(emb))
    for k in np.unique(labels):
        members = labels == k
        dist_to_mean[members] = np.linalg.norm(emb[members] - emb[members].mean(0), axis=1)
    order = np.lexsort((dist_to_mean, labels))
    return order, labels


def mean_distances(emb: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """(N,) mean Euclidean distance of each embedding to all the others (chunked: memory O(chunk x N))."""
    x = np.asarray(emb, np.float32)
    n = len(x)
    if n < 2:
        return np.zeros(n)
    sq = (x * x).sum(1)
    out = np.zeros(n)
    for s in range(0, n, chunk):
        d2 = sq[s : s + chunk, None] + sq[None, :] - 2.0 * (x[s : s + chunk] @ x.T)
        out[s : s + chunk] = np.sqrt(np.clip(d2, 0, None)).sum(1) / (n - 1)
    return out


def bhattacharyya_similarity(hists: np.ndarray) -> np.ndarray:
    """(N, N) Bhattacharyya coefficient between per-channel histograms (each channel sums to 1): 1 same."""
    root = np.sqrt(np.asarray(hists, np.float64))
    channels = root.shape[1] // 32 if root.shape[1] % 32 == 0 else 1
    return (root @ root.T) / channels


def similarity_chain(similarity: np.ndarray) -> np.ndarray:
    """Greedy nearest-neighbour chain: start at the face most like all others, then always step to the
    most similar face not yet placed. Neighbours in the order look alike."""
    s = np.array(similarity, np.float64)
    n = len(s)
    if n == 0:
        return np.zeros(0, np.int64)
    order = [int(np.argmax(s.sum(1)))]
    placed = np.zeros(n, bool)
    placed[order[0]] = True
    for _ in range(n - 1):
        row = np.where(placed, -np.inf, s[order[-1]])
        nxt = int(np.argmax(row))
        order.append(nxt)
        placed[nxt] = True
    return np.array(order, np.int64)


def value_bins(values: np.ndarray, bins: int) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """(labels, ranges): equal-width bins over the finite range of `values` (NaN goes to the last bin)."""
    v = np.asarray(values, np.float64)
    finite = v[np.isfinite(v)]
    bins = max(1, int(bins))
    if finite.size == 0:
        return np.zeros(len(v), np.int64), [(float("nan"), float("nan"))]
    lo, hi = float(finite.min()), float(finite.max())
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    labels = np.clip(np.digitize(v, edges[1:-1]), 0, bins - 1)
    labels[~np.isfinite(v)] = bins - 1
    return labels.astype(np.int64), [(float(edges[i]), float(edges[i + 1])) for i in range(bins)]


def rank_fraction(values: np.ndarray) -> np.ndarray:
    """(N,) 0..1 rank of each value (0 the smallest; NaN ranks lowest), for mixing unlike measures."""
    v = np.nan_to_num(np.asarray(values, np.float64), nan=-np.inf)
    n = len(v)
    if n < 2:
        return np.ones(n)
    r = np.empty(n)
    r[np.argsort(v, kind="stable")] = np.arange(n)
    return r / (n - 1)


def pose_cells(
    yaw: np.ndarray, pitch: np.ndarray, yaw_step: float = 10.0, pitch_step: float = 15.0
) -> np.ndarray:
    """(N,) int cell index of a yaw x pitch grid (yaw -90..90, pitch -60..60, clipped). Cells are centred
    on multiples of the step, so frontal faces (yaw and pitch about 0) share one cell instead of
    straddling a boundary."""
    ny = int(round(180 / yaw_step)) + 1
    npitch = int(round(120 / pitch_step)) + 1
    yi = np.clip(np.floor((np.nan_to_num(yaw) + 90.0) / yaw_step + 0.5).astype(int), 0, ny - 1)
    pi = np.clip(np.floor((np.nan_to_num(pitch) + 60.0) / pitch_step + 0.5).astype(int), 0, npitch - 1)
    return yi * npitch + pi


def final_selection(
    yaw: np.ndarray, pitch: np.ndarray, sharpness: np.ndarray, size: np.ndarray, count: int
) -> np.ndarray:
    """Indices of the best `count` faces spread over pose: every occupied yaw x pitch cell gets an equal
    share (a cell with fewer faces passes its spare places on; places left over go to the fullest cells),
    and within a cell the sharpest faces win, the larger face breaking near ties. Returned in pose order
    (yaw, then pitch), best first per cell."""
    n = len(yaw)
    count = int(min(max(count, 0), n))
    cells = pose_cells(yaw, pitch)
    score = rank_fraction(sharpness) + 0.1 * rank_fraction(size)
    members = {c: sorted(np.flatnonzero(cells == c), key=lambda i: -score[i]) for c in np.unique(cells)}
    quota = dict.fromkeys(members, 0)
    left = count
    open_cells = [c for c in members if members[c]]
    while left > 0 and open_cells:
        share = max(1, left // len(open_cells))
        # When places run short, the cells with the most faces left to choose from go first (not the
        # lowest yaw), so an uneven count does not lean to one side of the head.
        for c in sorted(open_cells, key=lambda c: (quota[c] - len(members[c]), c)):
            take = min(share, len(members[c]) - quota[c], left)
            quota[c] += take
            left -= take
            if quota[c] >= len(members[c]):
                open_cells.remove(c)
            if left == 0:
                break
    chosen = [i for c in sorted(members) for i in members[c][: quota[c]]]
    return np.array(chosen, np.int64)
