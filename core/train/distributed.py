"""Data-parallel training across processes and machines: `torchrun --nproc-per-node N -m facegraft train`.

Each rank draws its own batches and DistributedDataParallel averages the gradients, so every rank holds the
same weights; rank 0 alone writes checkpoints and previews. On CPU the backend is gloo, on CUDA nccl.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup() -> DistInfo:
    """Join the process group that torchrun describes in the environment (a no-op for a single process)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size())


def wrap(model: torch.nn.Module, info: DistInfo) -> torch.nn.Module:
    """The model as DistributedDataParallel when training on several ranks (it syncs rank 0's weights)."""
    if not info.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model)


def weights_agree(model: torch.nn.Module, info: DistInfo) -> bool:
    """True when every rank holds exactly the same weights (compared through a float64 digest)."""
    if not info.enabled:
        return True
    import torch.distributed as dist

    digest = torch.zeros(2, dtype=torch.float64)
    for i, p in enumerate(model.parameters()):
        w = p.detach().double()
        digest[0] += w.sum() * (i + 1)
        digest[1] += (w * w).sum()
    gathered = [torch.zeros_like(digest) for _ in range(info.world)]
    dist.all_gather(gathered, digest)
    return all(torch.equal(g, gathered[0]) for g in gathered)


def barrier(info: DistInfo) -> None:
    if info.enabled:
        import torch.distributed as dist

        dist.barrier()


def teardown(info: DistInfo) -> None:
    if info.enabled:
        import torch.distributed as dist

        dist.destroy_process_group()
