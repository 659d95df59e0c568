"""The train stage: learn both identities with a shared encoder, save crash-safe checkpoints, write previews.

`Trainer` loads the two facesets, builds or resumes the model (its config saved with each checkpoint;
a resumed run refuses shape-changing options), and runs Adam (with optional learning-rate dropout) on the
masked face loss, with optional eye/mouth priority and patch-GAN terms, one `step` a batch; `train` runs
its steps until the iterations or minutes are done, saving and previewing on the way. Batches come from
worker processes (`loader.py`) so augmentation never starves the optimiser.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from facegraft import __version__
from facegraft.errors import InputError
from facegraft.models.checkpoint import CheckpointStore
from facegraft.models.loss_plot import write_loss_plot
from facegraft.models.networks import ModelConfig, build_model
from facegraft.progress import Progress
from facegraft.train import distributed, gan
from facegraft.train.faceset import Faceset, load_faceset
from facegraft.train.loader import BatchLoader
from facegraft.train.losses import mask_loss, masked_face_loss
from facegraft.train.optim import LRDropoutAdam
from facegraft.train.options import TrainOptions
from facegraft.train.preview import write_preview


@dataclass
class TrainSummary:
    model_dir: Path
    iteration: int
    first_loss: float | None
    last_loss: float | None
    seconds: float
    samples_per_s: float
    resumed_from: int | None = None
    ranks: int = 1
    ranks_agree: bool = True
    bf16: bool = False
    faces: dict[str, dict] = dataclasses.field(default_factory=dict)  # per side: what was trained on


def batch_tensors(
    batch: dict[str, np.ndarray], device: torch.device | str = "cpu"
) -> dict[str, torch.Tensor]:
    """A loader batch ((N, R, R, C) float32 arrays) as (N, C, R, R) channels_last tensors on `device`."""
    return {
        k: torch.from_numpy(v)
        .to(device, non_blocking=True)
        .permute(0, 3, 1, 2)
        .contiguous(memory_format=torch.channels_last)
        for k, v in batch.items()
    }


def forward_losses(
    model: torch.nn.Module, t: dict[str, torch.Tensor], bf16: bool = False, eye_mouth_weight: float = 0.0
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Reconstruction loss of one batch of tensors (masked face loss, eye/mouth term when the batch has
    `*_em` masks and the weight is positive, mask loss; both identities) and the model's outputs."""
    device = t["src_in"].device.type
    with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
        out = model(t["src_in"], t["dst_in"])
    loss = 0.0
    for who in ("src", "dst"):
        rec, pm = out[f"{who}_rec"].float(), out[f"{who}_mask"].float()
        em = t.get(f"{who}_em") if eye_mouth_weight > 0 else None
        loss = loss + masked_face_loss(
            rec, t[f"{who}_target"], t[f"{who}_mask"], eye_mouth=em, eye_mouth_weight=eye_mouth_weight
        )
        loss = loss + mask_loss(pm, t[f"{who}_mask"])
    return loss, out


def _discriminator(
    opts: TrainOptions, latest, store: CheckpointStore, model_dir: Path
) -> tuple[gan.PatchDiscriminator | None, torch.optim.Optimizer | None]:
    """The patch-GAN discriminator and its optimiser: new when the GAN is turned on, restored when the
    checkpoint has one (kept and saved again, untrained, while the GAN is off); None when neither."""
    saved = latest.parts.get(gan.PART) if latest is not None else None
    if opts.gan_power <= 0 and saved is None:
        return None, None
    dims = opts.gan_dims
    if saved is not None:
        saved_dims = gan.PatchDiscriminator.dims_of(saved.model_state)
        if opts.gan_power > 0 and saved_dims != opts.gan_dims:
            raise InputError(
                f"the model's discriminator was created with other gan_dims ({saved_dims}, not "
                f"{opts.gan_dims}); keep them to resume or train into a new folder",
                model_dir,
            )
        dims = saved_dims
    disc = gan.PatchDiscriminator(dims).to(memory_format=torch.channels_last)
    disc_opt = torch.optim.Adam(disc.parameters(), lr=opts.lr, betas=(0.5, 0.999))
    if saved is not None:
        store.restore_part(gan.PART, disc, disc_opt, latest)
    return disc, disc_opt


class Trainer:
    """One training run's state: the model (built, or resumed from the last checkpoint), its optimiser, the
    discriminator when the GAN is on, the two facesets and the preview batch. `step` learns from one
    batch, `save` writes a checkpoint, `write_previews` the preview and loss plot; `train` drives them."""

    def __init__(
        self,
        src: str | Path,
        dst: str | Path,
        model_dir: str | Path,
        opts: TrainOptions,
        info: distributed.DistInfo,
    ) -> None:
        self.opts, self.info = opts, info
        self.model_dir = Path(model_dir)
        self.model_dir.mkdir(parents=True, exist_ok=True)
        self.store = CheckpointStore(self.model_dir, keep=opts.keep)
        latest = self.store.load_latest(fallback=True)
        cfg = opts.model_config()
        if latest is not None:
            saved = ModelConfig.from_dict(latest.state["config"])
            changed = saved.compatible_with(cfg)
            if changed:
                raise InputError(
                    f"the model was created with other {', '.join(changed)}; keep them to resume "
                    "or train into a new folder",
                    self.model_dir,
                )
            cfg = saved
        self.cfg = cfg
        self.model = build_model(cfg).to(memory_format=torch.channels_last)
        self.iteration = int(latest.iteration) if latest is not None else 0
        self.resumed_from = self.iteration if latest is not None else None
        # Dropout masks are seeded by the step a run starts from: equal on every rank, new after a resume.
        self.optimizer = LRDropoutAdam(
            self.model.parameters(),
            lr=opts.lr,
            betas=(0.5, 0.999),
            lr_dropout=opts.lr_dropout,
            seed=opts.seed * 1_000_003 + self.iteration,
        )
        self.history: list[float] = []
        self.disc, self.disc_opt = _discriminator(opts, latest, self.store, self.model_dir)
        if latest is not None:
            self.store.restore(self.model, self.optimizer, latest)
            self.history = list(latest.state.get("loss_history", []))
        self.net = distributed.wrap(self.model, info)
        self.bf16 = opts.use_bf16(next(self.model.parameters()).is_cuda)
        gan_on = self.disc is not None and opts.gan_power > 0
        self.disc_net = distributed.wrap(self.disc, info) if gan_on else None
        self.em_weight = opts.eyes_mouth_weight if opts.eyes_mouth_priority else 0.0
        self.sampling = dataclasses.replace(opts.sampling, eye_mouth_masks=self.em_weight > 0)
        train_mask = opts.sampling.train_mask or None
        self.src = load_faceset(src, cfg.resolution, cfg.face_type, train_mask, opts.src_person)
        self.dst = load_faceset(dst, cfg.resolution, cfg.face_type, train_mask, opts.dst_person)
        self.faces = {"src": faces_trained(self.src), "dst": faces_trained(self.dst)}
        from facegraft.train.sampler import batch_for_seed

        plain = dataclasses.replace(
            opts.sampling,
            random_warp=False,
            warp_to_landmarks=False,
            random_flip=False,
            colour_aug=False,
            ct_mode="none",
        )
        self.preview_batch = batch_for_seed(self.src, self.dst, 4, 10_000_000 + opts.seed, plain)
        self.first_loss: float | None = None
        self.last_loss: float | None = None

    def loader(self) -> BatchLoader:
        """The batch loader for this run (seeded by the step it starts from and the rank)."""
        opts = self.opts
        seed = opts.seed * 1_000_003 + self.iteration + 7_919 * 1_000_000 * self.info.rank
        return BatchLoader(self.src, self.dst, opts.batch, self.sampling, seed=seed, workers=opts.workers)

    def step(self, batch: dict[str, np.ndarray]) -> dict[str, str]:
        """Learn from one loader batch: the reconstruction loss (plus the generator's GAN term) through the
        model's optimiser, then the discriminator's step; returns the GAN figures to report."""
        opts = self.opts
        t = batch_tensors(batch)
        loss, out = forward_losses(self.net, t, self.bf16, self.em_weight)
        total, extra = loss, {}
        if self.disc_net is not None:
            # The discriminator sees the face inside the landmark mask: filmed vs reconstructed.
            real = t["src_target"] * t["src_mask"]
            fake = out["src_rec"].float() * t["src_mask"]
            with torch.autocast(fake.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                g_loss = gan.generator_loss(gan.judge_frozen(self.disc, fake))
            total = loss + opts.gan_power * g_loss
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        if opts.clip_grad > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), opts.clip_grad)
        self.optimizer.step()
        if self.disc_net is not None:
            self.disc_opt.zero_grad(set_to_none=True)
            with torch.autocast(fake.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                logits = self.disc_net(torch.cat([real, fake.detach()]))
            d_loss = gan.discriminator_loss(logits[: real.shape[0]], logits[real.shape[0] :])
            d_loss.backward()
            self.disc_opt.step()
            extra = {"g_gan": f"{float(g_loss.detach()):.3f}", "d_gan": f"{float(d_loss.detach()):.3f}"}
        self.iteration += 1
        self.last_loss = float(loss.detach())
        self.first_loss = self.last_loss if self.first_loss is None else self.first_loss
        self.history.append(self.last_loss)
        return extra

    def save(self) -> None:
        """A checkpoint of the model, its optimiser and the discriminator (rank 0 only)."""
        if not self.info.main:
            return
        state = {
            "config": self.cfg.to_dict(),
            "loss_history": self.history[-5000:],
            "engine": __version__,
            "options": {k: v for k, v in dataclasses.asdict(self.opts).items() if k != "sampling"},
            "faces": self.faces,
        }
        parts = None
        if self.disc is not None:
            state["gan"] = {"dims": self.disc.dims}
            parts = {gan.PART: (self.disc, self.disc_opt)}
        self.store.save(self.model, self.optimizer, self.iteration, state, self.last_loss, parts=parts)

    def write_previews(self) -> None:
        """The preview sheet and the loss plot in the model folder (rank 0 only)."""
        if self.info.main:
            write_preview(self.model, self.preview_batch, self.model_dir / "preview.png")
            write_loss_plot(self.history, self.model_dir / "loss.png")


def train(
    src: str | Path,
    dst: str | Path,
    model_dir: str | Path,
    opts: TrainOptions | None = None,
    progress_mode: str = "auto",
) -> TrainSummary:
    """Train (or resume) the model in `model_dir` on the source and destination shot folders."""
    opts = opts or TrainOptions()
    if opts.iterations <= 0 and opts.minutes <= 0:
        raise InputError("give --iterations or --minutes")
    opts.validate()
    info = distributed.setup()
    if info.enabled and opts.iterations <= 0:
        raise InputError("training on several ranks needs --iterations (ranks must stop at the same step)")
    torch.set_flush_denormal(True)  # denormals made one optimiser step take ~600 ms on this CPU
    torch.manual_seed(opts.seed)
    # Loader processes and torch's threads must not fight over the same cores.
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // info.world - opts.workers))
    if not info.main:
        progress_mode = "quiet"
    run = Trainer(src, dst, model_dir, opts, info)
    target = opts.iterations if opts.iterations > 0 else None
    total = (target - run.iteration) if target else 0  # 0: open-ended (--minutes)
    progress = Progress(max(total, 0), "train", progress_mode, unit="steps")
    start = time.monotonic()
    deadline = start + opts.minutes * 60 if opts.minutes > 0 else math.inf
    with run.loader() as loader:
        try:
            while (target is None or run.iteration < target) and time.monotonic() < deadline:
                extra = run.step(next(loader))
                progress.update(
                    1,
                    it=run.iteration,
                    loss=f"{run.last_loss:.4f}",
                    samples_s=f"{2 * opts.batch * progress.rate():.1f}",
                    **extra,
                )
                if run.iteration % opts.preview_every == 0:
                    run.write_previews()
                if run.iteration % opts.save_every == 0:
                    run.save()
        except BaseException:
            progress.fail()
            raise
    if run.resumed_from is None or run.iteration > run.resumed_from:
        if run.iteration % opts.save_every != 0:  # otherwise the loop has just saved this step
            run.save()
        run.write_previews()
    progress.close()
    agree = distributed.weights_agree(run.model, info)
    distributed.barrier(info)
    distributed.teardown(info)
    seconds = time.monotonic() - start
    steps = run.iteration - (run.resumed_from or 0)
    return TrainSummary(
        run.model_dir,
        run.iteration,
        run.first_loss,
        run.last_loss,
        seconds,
        2 * opts.batch * steps / seconds if seconds > 0 else 0.0,
        run.resumed_from,
        info.world,
        agree,
        run.bf16,
        run.faces,
    )


def faces_trained(fs: Faceset) -> dict:
    """What a side was trained on, for the checkpoint and the summary: face count, the person chosen
    (id and label, None for every face) and the faces left out as not-target or another person's."""
    person = None if fs.person is None else {"id": fs.person.id, "label": fs.person.label}
    return {
        "shot": str(fs.shot),
        "faces": len(fs),
        "person": person,
        "skipped_not_target": fs.skipped_not_target,
        "skipped_other_persons": fs.skipped_other_persons,
    }
