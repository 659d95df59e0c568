"""Training cost: the FLOPs of one training step of a face-swap network, for the bench's efficiency
figures."""

from __future__ import annotations

import torch

from facegraft.models.networks import FaceSwapModel


def count_flops(model: FaceSwapModel, resolution: int | None = None, batch: int = 1) -> int:
    """FLOPs of one training step's forward + backward (both identities, `batch` images each).

    Measured with torch.utils.flop_counter on random inputs; gradients are not kept on the model."""
    from torch.utils.flop_counter import FlopCounterMode

    from facegraft.train.losses import mask_loss, masked_face_loss

    r = resolution or model.cfg.resolution
    p = next(model.parameters())
    src = torch.rand(batch, 3, r, r, device=p.device)
    dst = torch.rand(batch, 3, r, r, device=p.device)
    ones = torch.ones(batch, 1, r, r, device=p.device)
    params = [q for q in model.parameters() if q.requires_grad]
    with FlopCounterMode(display=False) as counter:
        out = model(src, dst)
        loss = (
            masked_face_loss(out["src_rec"], src, ones)
            + masked_face_loss(out["dst_rec"], dst, ones)
            + mask_loss(out["src_mask"], ones)
            + mask_loss(out["dst_mask"], ones)
        )
        torch.autograd.grad(loss, params)
    return int(counter.get_total_flops())
