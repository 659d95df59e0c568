"""Loss and optimisation options: learning-rate dropout, the patch-GAN discriminator and its checkpoint
part, warp-to-landmarks, the eye/mouth term in the training step, and their CLI flags."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facegraft.errors import InputError, StoreError
from facegraft.imaging.augment import landmark_warp_maps, warp_to_landmarks
from facegraft.models.checkpoint import CheckpointStore, NonFiniteWeights
from facegraft.train import gan
from facegraft.train.optim import LRDropoutAdam
from facegraft.train.options import TrainOptions

torch.set_flush_denormal(True)


def _net(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.Tanh(), torch.nn.Linear(32, 8))


def _grads(model: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(64, 16, generator=g), torch.randn(64, 8, generator=g)
    model.zero_grad()
    torch.nn.functional.mse_loss(model(x), y).backward()


# --------------------------------------------------------------------------------- learning-rate dropout


def test_lr_dropout_off_is_exactly_adam():
    a, b = _net(), _net()
    opt_a = torch.optim.Adam(a.parameters(), lr=1e-2, betas=(0.5, 0.999))
    opt_b = LRDropoutAdam(b.parameters(), lr=1e-2, betas=(0.5, 0.999), lr_dropout=0.0)
    for step in range(3):
        _grads(a, step), _grads(b, step)
        opt_a.step(), opt_b.step()
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)


def test_lr_dropout_drops_that_fraction_of_updates_and_keeps_adams_moments():
    plain, dropped = _net(), _net()
    before = [p.detach().clone() for p in dropped.parameters()]
    opt_a = torch.optim.Adam(plain.parameters(), lr=1e-2)
    opt_b = LRDropoutAdam(dropped.parameters(), lr=1e-2, lr_dropout=0.7, seed=3)
    _grads(plain, 0), _grads(dropped, 0)
    opt_a.step(), opt_b.step()
    moved = total = 0
    for p, q, old in zip(plain.parameters(), dropped.parameters(), before):
        changed = q != old
        # every kept update is exactly Adam's; every dropped one leaves the weight where it was
        assert torch.equal(q[changed], p[changed])
        assert torch.equal(q[~changed], old[~changed])
        moved += int(changed.sum())
        total += q.numel()
    assert 0.25 < moved / total < 0.35  # 30 % kept (the layers hold ~800 weights)
    # the moments learnt from every gradient, dropped or not
    for sa, sb in zip(opt_a.state.values(), opt_b.state.values()):
        assert torch.equal(sa["exp_avg"], sb["exp_avg"]) and torch.equal(sa["exp_avg_sq"], sb["exp_avg_sq"])


def test_lr_dropout_masks_follow_the_seed_and_state_is_plain_adam():
    runs = []
    for seed in (5, 5, 6):
        net = _net()
        opt = LRDropoutAdam(net.parameters(), lr=1e-2, lr_dropout=0.5, seed=seed)
        _grads(net, 1)
        opt.step()
        runs.append(torch.cat([p.detach().ravel() for p in net.parameters()]))
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])
    # Checkpoints move between runs with and without dropout: the state is Adam's own.
    net = _net()
    opt = LRDropoutAdam(net.parameters(), lr=1e-2, lr_dropout=0.5)
    _grads(net, 2)
    opt.step()
    torch.optim.Adam(_net().parameters(), lr=1e-2).load_state_dict(opt.state_dict())
    with pytest.raises(ValueError, match="lr_dropout"):
        LRDropoutAdam(net.parameters(), lr_dropout=1.0)


# ------------------------------------------------------------------------------------------ patch GAN


def test_discriminator_shapes_and_frozen_judgement():
    torch.manual_seed(0)
    disc = gan.PatchDiscriminator(8)
    x = torch.rand(2, 3, 64, 64, requires_grad=True)
    logits = disc(x)
    assert logits.shape == (2, 1, 8, 8)
    assert gan.PatchDiscriminator.dims_of(disc.state_dict()) == 8
    gan.generator_loss(gan.judge_frozen(disc, x)).backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    assert all(p.grad is None for p in disc.parameters())  # the generator's term never trains D
    with pytest.raises(ValueError):
        gan.PatchDiscriminator(0)


def test_discriminator_learns_to_tell_sharp_faces_from_blurred_ones():
    torch.manual_seed(0)
    real = torch.rand(8, 3, 32, 32)
    fake = torch.nn.functional.avg_pool2d(real, 3, stride=1, padding=1)  # what an early decoder renders
    disc = gan.PatchDiscriminator(8)
    opt = torch.optim.Adam(disc.parameters(), lr=2e-3, betas=(0.5, 0.999))
    first = None
    for _ in range(40):
        opt.zero_grad()
        loss = gan.discriminator_loss(disc(real), disc(fake))
        loss.backward()
        opt.step()
        first = float(loss.detach()) if first is None else first
    assert float(loss.detach()) < 0.5 * first
    with torch.no_grad():
        assert float(gan.generator_loss(disc(fake))) > float(gan.generator_loss(disc(real)))


# ---------------------------------------------------------------------------------- checkpoint parts


def test_checkpoint_parts_round_trip_and_older_saves_load_without_them(tmp_path):
    model, disc = _net(), gan.PatchDiscriminator(4)
    opt = torch.optim.Adam(model.parameters())
    d_opt = torch.optim.Adam(disc.parameters())
    disc(torch.rand(1, 3, 32, 32)).sum().backward()
    d_opt.step()
    store = CheckpointStore(tmp_path)
    store.save(model, opt, 1, {})  # before the GAN was turned on
    old = store.load_latest()
    assert old.parts == {}
    fresh = gan.PatchDiscriminator(4)
    untouched = {k: v.clone() for k, v in fresh.state_dict().items()}
    assert store.restore_part(gan.PART, fresh, None, old) is False
    assert all(torch.equal(untouched[k], v) for k, v in fresh.state_dict().items())

    folder = store.save(model, opt, 2, {}, parts={gan.PART: (disc, d_opt)})
    assert {p.name for p in folder.iterdir()} >= {
        "part.disc.safetensors",
        "part.disc.optim.safetensors",
        "part.disc.optim.json",
    }
    ckpt = store.load_latest(fallback=False)
    twin, twin_opt = gan.PatchDiscriminator(4), None
    twin_opt = torch.optim.Adam(twin.parameters())
    assert store.restore_part(gan.PART, twin, twin_opt, ckpt) is True
    for k, v in disc.state_dict().items():
        assert torch.equal(twin.state_dict()[k], v)
    assert twin_opt.state_dict()["state"][0]["step"] == d_opt.state_dict()["state"][0]["step"]

    # A damaged part is caught by the manifest like any other file; NaN in a part is never saved.
    data = bytearray((folder / "part.disc.safetensors").read_bytes())
    data[len(data) // 2] ^= 1
    (folder / "part.disc.safetensors").write_bytes(bytes(data))
    with pytest.raises(StoreError, match="checksum"):
        store.load(folder)
    with torch.no_grad():
        disc.head.bias.fill_(float("nan"))
    with pytest.raises(NonFiniteWeights, match="disc:head.bias"):
        store.save(model, opt, 3, {}, parts={gan.PART: (disc, d_opt)})


# ------------------------------------------------------------------------------------ warp to landmarks


def _landmarks(size: int = 64) -> np.ndarray:
    """The mean face's 68 landmarks in a `size` px full-face crop."""
    from facegraft.geometry.alignment import alignment_matrix, mean_face, transform_points

    pts = mean_face() * 100 + 200
    return transform_points(pts, alignment_matrix(pts, "full", size)).astype(np.float32)


def test_landmark_warp_maps_carry_each_point_to_its_target_and_pin_the_borders():
    src = _landmarks()
    rng = np.random.default_rng(0)
    dst = src + rng.normal(0, 1.5, src.shape).astype(np.float32) + [2.0, -1.0]
    mx, my = landmark_warp_maps(src, dst, 64)
    # an output pixel at a target landmark samples the input at the source landmark
    xi, yi = np.round(dst).astype(int).T
    sampled = np.stack([mx[yi, xi], my[yi, xi]], 1)  # at the nearest pixel, off by its rounding
    assert np.median(np.linalg.norm(sampled - (src + (np.round(dst) - dst)), axis=1)) < 0.6
    gx, gy = np.meshgrid(np.arange(64), np.arange(64))
    for edge in (np.s_[0], np.s_[-1]):
        assert np.abs(mx[edge] - gx[edge]).max() < 1.0 and np.abs(my[:, edge] - gy[:, edge]).max() < 1.0
    same_x, same_y = landmark_warp_maps(src, src, 64)
    assert np.abs(same_x - gx).max() < 1e-3 and np.abs(same_y - gy).max() < 1e-3


def test_warp_to_landmarks_moves_features_onto_the_other_faces_landmarks():
    src = _landmarks()
    centre = src.mean(0)
    dst = centre + (src - centre) * [1.1, 0.95] + [2.0, 1.5]  # a wider, shorter face, a little off-centre
    for point in (30, 48, 8):  # nose tip, a mouth corner, the chin
        img = np.zeros((64, 64, 3), np.uint8)
        x, y = np.round(src[point]).astype(int)
        img[y - 1 : y + 2, x - 1 : x + 2] = 255
        for amount in (1.0, 0.5):
            out = warp_to_landmarks(img, src, dst, amount)
            ys, xs = np.nonzero(out[:, :, 0] > 30)
            w = out[ys, xs, 0].astype(float)
            found = np.array([(xs * w).sum(), (ys * w).sum()]) / w.sum()
            expect = np.array([x, y]) + amount * (dst[point] - src[point])
            assert np.linalg.norm(found - expect) < 0.75, (point, amount, found, expect)


# ------------------------------------------------------------------------------- options and CLI flags


def test_train_flags_and_validation():
    from facegraft.cli import build_parser
    from facegraft.options import from_namespace
    from facegraft.train.options import SampleOptions, TrainOptions

    args = build_parser().parse_args(
        "train --src a --dst b --model m --eyes-mouth-priority --eyes-mouth-weight 50 --lr-dropout 0.7 "
        "--gan-power 0.1 --gan-dims 8 --warp-to-landmarks".split()
    )
    opts = from_namespace(TrainOptions, args, sampling=from_namespace(SampleOptions, args))
    assert opts.eyes_mouth_priority and opts.eyes_mouth_weight == 50 and opts.lr_dropout == 0.7
    assert opts.gan_power == 0.1 and opts.gan_dims == 8 and opts.sampling.warp_to_landmarks
    defaults = TrainOptions()
    assert (defaults.lr_dropout, defaults.gan_power, defaults.eyes_mouth_priority) == (0.0, 0.0, False)
    assert not defaults.sampling.warp_to_landmarks
    for bad in ({"lr_dropout": 1.0}, {"gan_power": -1.0}, {"gan_dims": 0}, {"eyes_mouth_weight": -2.0}):
        with pytest.raises(InputError, match=next(iter(bad)).replace("_", "-")):
            TrainOptions(**bad).validate()


def test_eye_mouth_priority_weighs_eye_and_mouth_errors_in_the_training_step():
    from facegraft.models.networks import ModelConfig, build_model
    from facegraft.train.losses import landmark_region_masks
    from facegraft.train.trainer import forward_losses

    torch.manual_seed(0)
    model = build_model(ModelConfig(resolution=64, ae_dims=16, e_dims=4, d_dims=4, d_mask_dims=2))
    face, em = landmark_region_masks(_landmarks()[None].repeat(2, 0), 64)
    img = torch.rand(2, 3, 64, 64)
    t = {f"{w}_{k}": v for w in ("src", "dst") for k, v in (("in", img), ("target", img), ("mask", face))}
    with torch.no_grad():
        plain, _ = forward_losses(model, t, eye_mouth_weight=300.0)  # no *_em masks: no term
        with_em, _ = forward_losses(model, {**t, "src_em": em, "dst_em": em}, eye_mouth_weight=300.0)
        off, _ = forward_losses(model, {**t, "src_em": em, "dst_em": em}, eye_mouth_weight=0.0)
    assert torch.equal(plain, off) and float(with_em) > float(plain) + 1.0


def test_bf16_auto_follows_the_hardware_and_bad_values_are_refused(monkeypatch):
    from facegraft.train import options

    monkeypatch.setattr(options, "cpu_has_native_bf16", lambda: False)
    assert TrainOptions().use_bf16(cuda=False) is False
    assert TrainOptions().use_bf16(cuda=True) is True
    assert TrainOptions(bf16="on").use_bf16(cuda=False) is True
    assert TrainOptions(bf16="off").use_bf16(cuda=True) is False
    monkeypatch.setattr(options, "cpu_has_native_bf16", lambda: True)
    assert TrainOptions().use_bf16(cuda=False) is True
    with pytest.raises(InputError, match="--bf16"):
        TrainOptions(bf16="yes", iterations=1).validate()
