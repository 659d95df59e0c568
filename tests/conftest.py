"""Shared fixtures: the shipped photos and their reference landmarks (found once per session).

`make test` splits the suite over two worker processes (pytest-xdist, a module per worker at a time, so
module fixtures are built once). Each worker, and every process a test starts, then uses one compute
thread: two workers with two threads each on two cores spend their time waiting for each other.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

# The tests measure against the built-in colour config; a developer's own $OCIO must not change them (the
# tests of studio configs set it themselves).
os.environ.pop("OCIO", None)

if os.environ.get("PYTEST_XDIST_WORKER"):
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[_var] = "1"

# The longest modules (measured with --durations), started first so that a split run does not end with
# one worker still on a long module while the other sits idle.
LONG_MODULES = (
    "tests/e2e/test_real_footage.py",
    "tests/e2e/test_train_identity.py",
    "tests/e2e/test_train.py",
    "tests/e2e/test_occlusion_masks.py",
    "tests/hosts/test_watcher.py",
    "tests/e2e/test_convert.py",
    "tests/e2e/test_service.py",
    "tests/e2e/test_provenance.py",
)


def pytest_configure(config: pytest.Config) -> None:
    """Refuse two test modules of one basename: pytest imports them as one module and the full run errors."""
    from collections import Counter
    from pathlib import Path

    names = Counter(p.name for p in Path(__file__).parent.rglob("test_*.py"))
    twice = sorted(name for name, n in names.items() if n > 1)
    if twice:
        raise pytest.UsageError(f"tests: module names used twice: {', '.join(twice)}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the long modules first, each module's tests kept together and in their own order."""
    rank = {name: i for i, name in enumerate(LONG_MODULES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


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
