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


@pytest.fixture(scope="module")
def start_engine():
    """A function that starts `facegraft serve` with FACEGRAFT_HOME=home and one allowed root, waits for
    its service.json, and returns the process; every service it started is killed after the module."""
    import os
    import subprocess
    import sys
    import time

    started: list[subprocess.Popen] = []

    def start(home, root, *extra: str) -> subprocess.Popen:
        env = dict(os.environ, FACEGRAFT_HOME=str(home))
        state = home / "service" / "service.json"
        state.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "facegraft", "serve", "--root", str(root), *extra]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        started.append(proc)
        deadline = time.time() + 60
        while not state.exists():
            if proc.poll() is not None or time.time() > deadline:
                raise AssertionError(f"the service did not start: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.1)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
