"""Optimisers of the trainer: Adam with optional learning-rate dropout (as in DeepFaceLab)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch


class LRDropoutAdam(torch.optim.Adam):
    """Adam that keeps each weight's update with probability 1 - `lr_dropout` and drops the rest for that
    step (the moments still learn from every gradient), a regulariser for late training.

    Its state_dict is plain Adam's, so checkpoints move freely between runs with and without dropout. The
    masks come from a generator seeded with `seed`: equal seeds give equal masks (all ranks agree)."""

    def __init__(
        self,
        params: Iterable[torch.nn.Parameter] | Iterable[dict],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        lr_dropout: float = 0.0,
        seed: int = 0,
        **kwargs,
    ) -> None:
        if not 0.0 <= lr_dropout < 1.0:
            raise ValueError(f"lr_dropout must be in [0, 1), got {lr_dropout!r}")
        super().__init__(params, lr=lr, betas=betas, **kwargs)
        self.lr_dropout = float(lr_dropout)
        self.seed = int(seed)
        self._generators: dict[torch.device, torch.Generator] = {}

    def _generator(self, device: torch.device) -> torch.Generator:
        gen = self._generators.get(device)
        if gen is None:
            gen = torch.Generator(device=device).manual_seed(self.seed)
            self._generators[device] = gen
        return gen

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """One Adam step, then each updated weight goes back to its old value with probability
        `lr_dropout`."""
        if self.lr_dropout <= 0.0:
            return super().step(closure)
        params = [p for g in self.param_groups for p in g["params"] if p.requires_grad]
        before = [p.detach().clone() for p in params]
        loss = super().step(closure)
        keep = 1.0 - self.lr_dropout
        for p, old in zip(params, before):
            drawn = torch.rand(p.shape, generator=self._generator(p.device), device=p.device)
            p.copy_(torch.where(drawn < keep, p, old))
        return loss
