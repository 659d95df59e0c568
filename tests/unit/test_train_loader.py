"""The training data loader's worker processes end with their trainer, even when it is killed outright."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

TRAINER = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import numpy as np

    from facegraft.train.faceset import Faceset
    from facegraft.train.loader import BatchLoader
    from facegraft.train.sampler import SampleOptions

    rng = np.random.default_rng(0)
    grid = np.stack(np.meshgrid(np.linspace(16, 48, 17), np.linspace(20, 44, 4)), -1).reshape(-1, 2)[:68]
    fs = Faceset(
        images=rng.integers(0, 255, (4, 64, 64, 3), dtype=np.uint8),
        landmarks=np.repeat(grid[None].astype(np.float32), 4, axis=0),
        yaw=np.zeros(4, np.float32),
        face_ids=[1, 2, 3, 4],
        shot=Path("."),
    )
    loader = BatchLoader(fs, fs, 2, SampleOptions(), workers=1)
    next(loader)
    print(" ".join(str(p.pid) for p in loader._procs), flush=True)
    sys.stdin.read()  # until killed
    """
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie has exited; it only waits to be reaped
        return f.read().split(")")[-1].split()[0] != "Z"


def test_a_loader_worker_exits_when_its_trainer_is_killed_with_sigkill():
    trainer = subprocess.Popen(
        [sys.executable, "-c", TRAINER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        workers = [int(p) for p in trainer.stdout.readline().split()]
        assert workers and all(_alive(p) for p in workers)
        trainer.send_signal(signal.SIGKILL)
        trainer.wait(10)
        deadline = time.monotonic() + 15
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(p) for p in workers), "a loader worker outlived its killed trainer"
    finally:
        trainer.kill()
