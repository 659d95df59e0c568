"""Shots of a plate: runs of stored frames between hard cuts, derived from the frames' ``cut`` flags.

A shot starts at the first stored frame and at every frame stored with ``cut`` set; it runs to the frame
before the next start. Frames the store lacks (not extracted yet) do not split a shot.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from facegraft.store.alignments import AlignmentsStore


@dataclass(frozen=True)
class Shot:
    """One shot: its number (0 for the plate's first), first and last stored frames, how many frames and
    faces the store holds for it, and the track ids of its faces (sorted)."""

    index: int
    first_frame: int
    last_frame: int
    frames: int
    faces: int
    tracks: tuple[int, ...]

    def as_dict(self) -> dict:
        """JSON-able fields (tracks as a list)."""
        return {**asdict(self), "tracks": list(self.tracks)}


def shots(store: AlignmentsStore) -> list[Shot]:
    """The store's shots in frame order ([] for a store without frames)."""
    groups: list[list] = []
    for summary in store.frame_summaries():
        if summary.cut or not groups:
            groups.append([])
        groups[-1].append(summary)
    return [
        Shot(
            index=i,
            first_frame=group[0].frame,
            last_frame=group[-1].frame,
            frames=len(group),
            faces=sum(s.faces for s in group),
            tracks=tuple(sorted({t for s in group for t in s.tracks})),
        )
        for i, group in enumerate(groups)
    ]
