"""Shared fixtures: the shipped photos and their reference landmarks (found once per session)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def photos() -> dict[str, np.ndarray]:
    from facegraft.sample_data import reference_photos

    return reference_photos()


@pytest.fixture(scope="session")
def reference_landmarks(photos) -> dict[str, np.ndarray]:
    """Landmarks of each photo, found by the same detector and landmarker the plates are extracted with."""
    from facegraft.extract.pipeline import ExtractOptions, build_tracker

    out = {}
    for name, rgb in photos.items():
        tracker = build_tracker(ExtractOptions(embeddings=False, detect_every=1))
        faces = tracker.step(rgb, 0)
        assert len(faces) == 1, f"{name}: expected one face, found {len(faces)}"
        out[name] = faces[0].landmarks.astype(np.float64)
    return out
