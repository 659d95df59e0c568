"""Batches made ahead of the trainer in worker processes, so augmentation never starves the optimiser.

Each batch is a pure function of (facesets, options, seed) (`sampler.batch_for_seed`); worker w makes the
batches whose index is w modulo the worker count, and the trainer reads them round-robin, so the batch
sequence is the same whatever the number of workers.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue

import numpy as np

from facegraft.train.faceset import Faceset
from facegraft.train.sampler import SampleOptions, batch_for_seed


def _worker(
    src: Faceset,
    dst: Faceset,
    n: int,
    opts: SampleOptions,
    seed: int,
    index: int,
    count: int,
    out: mp.Queue,
    stop: mp.Event,
) -> None:  # type: ignore[valid-type]
    import cv2

    cv2.setNumThreads(1)
    parent = os.getppid()

    def wanted() -> bool:  # a trainer killed outright never sets `stop`: its worker is handed to init
        return not stop.is_set() and os.getppid() == parent

    k = index
    while wanted():
        batch = batch_for_seed(src, dst, n, seed + k, opts)
        while wanted():
            try:
                out.put(batch, timeout=0.2)
                break
            except queue.Full:
                continue
        k += count
    if os.getppid() != parent:
        out.cancel_join_thread()  # nobody reads the queue any more: exit without flushing it


class BatchLoader:
    """Iterator of training batches; `workers=0` makes them in this process."""

    def __init__(
        self,
        src: Faceset,
        dst: Faceset,
        batch: int,
        opts: SampleOptions,
        seed: int = 0,
        workers: int = 1,
        depth: int = 4,
    ) -> None:
        self.src, self.dst, self.batch, self.opts, self.seed = src, dst, batch, opts, seed
        self.workers = max(0, workers)
        self._k = 0
        self._procs: list = []
        self._queues: list = []
        if self.workers:
            # spawn, not fork: a process that already runs threads (OpenMP, OpenCV, OIIO, a host's
            # own) can hold a lock at fork time and the forked worker then waits on it for ever.
            ctx = mp.get_context("spawn")
            self._stop = ctx.Event()
            for w in range(self.workers):
                q = ctx.Queue(maxsize=depth)
                p = ctx.Process(
                    target=_worker,
                    args=(src, dst, batch, opts, seed, w, self.workers, q, self._stop),
                    daemon=True,
                    name=f"facegraft-loader-{w}",
                )
                p.start()
                self._procs.append(p)
                self._queues.append(q)

    def __iter__(self) -> BatchLoader:
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        if not self.workers:
            out = batch_for_seed(self.src, self.dst, self.batch, self.seed + self._k, self.opts)
        else:
            q = self._queues[self._k % self.workers]
            while True:
                try:
                    out = q.get(timeout=1.0)
                    break
                except queue.Empty:
                    if not self._procs[self._k % self.workers].is_alive():
                        raise RuntimeError("a data loader process died") from None
        self._k += 1
        return out

    def close(self) -> None:
        if self.workers:
            self._stop.set()
            for q in self._queues:
                try:
                    while True:
                        q.get_nowait()
                except queue.Empty:
                    pass
            for p in self._procs:
                p.join(timeout=2)
                if p.is_alive():
                    p.terminate()
            self._procs.clear()

    def __enter__(self) -> BatchLoader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
