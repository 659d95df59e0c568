"""Pose coverage maths for the faceset report: yaw x pitch heat maps, and the target poses that no source
face comes near (the poses a swap will have to invent). Pure functions of pose arrays in degrees."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

YAW_LIMITS = (-90.0, 90.0)
PITCH_LIMITS = (-60.0, 60.0)


@dataclass(frozen=True)
class Grid:
    """A yaw x pitch grid of `step`-degree cells over YAW_LIMITS x PITCH_LIMITS."""

    step: float = 10.0

    @property
    def yaw_edges(self) -> np.ndarray:
        return np.arange(YAW_LIMITS[0], YAW_LIMITS[1] + 1e-9, self.step)

    @property
    def pitch_edges(self) -> np.ndarray:
        return np.arange(PITCH_LIMITS[0], PITCH_LIMITS[1] + 1e-9, self.step)

    def cell(self, yaw: np.ndarray, pitch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(yaw index, pitch index) of each pose, poses beyond the limits clipped into the edge cells."""
        ny, npitch = len(self.yaw_edges) - 1, len(self.pitch_edges) - 1
        yi = np.clip(((np.asarray(yaw, np.float64) - YAW_LIMITS[0]) // self.step).astype(int), 0, ny - 1)
        pi = np.clip(
            ((np.asarray(pitch, np.float64) - PITCH_LIMITS[0]) // self.step).astype(int), 0, npitch - 1
        )
        return yi, pi

    def counts(self, yaw: np.ndarray, pitch: np.ndarray) -> np.ndarray:
        """(pitch cells, yaw cells) int counts; row 0 is the lowest pitch."""
        out = np.zeros((len(self.pitch_edges) - 1, len(self.yaw_edges) - 1), np.int64)
        if len(yaw):
            yi, pi = self.cell(yaw, pitch)
            np.add.at(out, (pi, yi), 1)
        return out


def nearest_pose_distance(
    yaw: np.ndarray, pitch: np.ndarray, ref_yaw: np.ndarray, ref_pitch: np.ndarray, chunk: int = 4096
) -> np.ndarray:
    """(N,) degrees from each pose to the nearest reference pose (Euclidean in yaw, pitch); inf if none."""
    y, p = np.asarray(yaw, np.float64), np.asarray(pitch, np.float64)
    ry, rp = np.asarray(ref_yaw, np.float64), np.asarray(ref_pitch, np.float64)
    if len(ry) == 0:
        return np.full(len(y), np.inf)
    out = np.empty(len(y))
    for s in range(0, len(y), chunk):
        d2 = (y[s : s + chunk, None] - ry[None, :]) ** 2 + (p[s : s + chunk, None] - rp[None, :]) ** 2
        out[s : s + chunk] = np.sqrt(d2.min(1))
    return out


@dataclass
class MissingPose:
    """A grid cell of target poses with no source face within the radius: its range and target faces."""

    yaw: tuple[float, float]
    pitch: tuple[float, float]
    indices: list[int]
    nearest: float  # degrees from the cell's target faces to the closest source face (smallest)
    cell: tuple[int, int] = (0, 0)  # (yaw index, pitch index) in the grid

    def as_dict(self) -> dict:
        return {
            "yaw": list(self.yaw),
            "pitch": list(self.pitch),
            "faces": len(self.indices),
            "nearest": self.nearest,
        }


def missing_poses(
    src_yaw: np.ndarray,
    src_pitch: np.ndarray,
    dst_yaw: np.ndarray,
    dst_pitch: np.ndarray,
    radius: float = 10.0,
    grid: Grid | None = None,
) -> list[MissingPose]:
    """Target faces whose nearest source pose is more than `radius` degrees away, grouped by grid cell,
    the cells with the most such faces first."""
    grid = grid or Grid()
    dist = nearest_pose_distance(dst_yaw, dst_pitch, src_yaw, src_pitch)
    far = np.flatnonzero(dist > radius)
    if far.size == 0:
        return []
    yi, pi = grid.cell(np.asarray(dst_yaw)[far], np.asarray(dst_pitch)[far])
    cells: dict[tuple[int, int], list[int]] = {}
    for k, idx in enumerate(far):
        cells.setdefault((int(yi[k]), int(pi[k])), []).append(int(idx))
    ye, pe = grid.yaw_edges, grid.pitch_edges
    out = [
        MissingPose(
            yaw=(float(ye[a]), float(ye[a + 1])),
            pitch=(float(pe[b]), float(pe[b + 1])),
            indices=members,
            nearest=float(min(dist[i] for i in members)),
            cell=(a, b),
        )
        for (a, b), members in cells.items()
    ]
    return sorted(out, key=lambda m: (-len(m.indices), m.yaw[0], m.pitch[0]))


def histogram(values: np.ndarray, lo: float, hi: float, bins: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """(counts, edges) of the finite values over [lo, hi] (values outside fall in the end bins)."""
    v = np.asarray(values, np.float64)
    v = np.clip(v[np.isfinite(v)], lo, hi)
    counts, edges = np.histogram(v, bins=bins, range=(lo, hi))
    return counts, edges
