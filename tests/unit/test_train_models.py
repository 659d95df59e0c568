"""DF/LIAE models: shapes, ranges, swap paths, gradients, config, channels_last, FLOPs, a tiny overfit."""

from __future__ import annotations

import pytest
import torch

from facegraft.models.networks import (
    MODELS,
    DFModel,
    LIAEModel,
    ModelConfig,
    ModelConfigError,
    build_model,
)
from facegraft.train.flops import count_flops
from facegraft.train.losses import mask_loss, masked_face_loss

torch.set_flush_denormal(True)

SMALL = {"ae_dims": 32, "e_dims": 8, "d_dims": 8, "d_mask_dims": 4}


def small(arch: str, resolution: int = 64) -> ModelConfig:
    return ModelConfig(arch=arch, resolution=resolution, **SMALL)


def smooth_images(n: int, size: int, seed: int = 0) -> torch.Tensor:
    """Random but smooth (N, 3, S, S) images in 0..1: upsampled low-resolution noise."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 3, 4, 4, generator=g)
    return torch.nn.functional.interpolate(low, size=(size, size), mode="bicubic", align_corners=False).clamp(
        0, 1
    )


def training_loss(out: dict[str, torch.Tensor], src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    ones = torch.ones_like(src[:, :1])
    return (
        masked_face_loss(out["src_rec"], src, ones)
        + masked_face_loss(out["dst_rec"], dst, ones)
        + mask_loss(out["src_mask"], ones)
        + mask_loss(out["dst_mask"], ones)
    )


def test_registry() -> None:
    assert MODELS == {"df": DFModel, "liae": LIAEModel}
    assert isinstance(build_model(small("liae")), LIAEModel)


@pytest.mark.parametrize("arch", ["df", "liae"])
@pytest.mark.parametrize("resolution", [64, 96])
def test_shapes_and_ranges(arch: str, resolution: int) -> None:
    torch.manual_seed(0)
    model = build_model(small(arch, resolution)).eval()
    src, dst = smooth_images(2, resolution, 1), smooth_images(2, resolution, 2)
    with torch.no_grad():
        out = model(src, dst)
        swapped = model.swap(dst)
        control = model.reconstruct_dst(dst)
    assert set(out) == {"src_rec", "src_mask", "dst_rec", "dst_mask"}
    for name in ("src_rec", "dst_rec"):
        assert out[name].shape == (2, 3, resolution, resolution)
    for name in ("src_mask", "dst_mask"):
        assert out[name].shape == (2, 1, resolution, resolution)
    for face, mask in (swapped, control):
        assert face.shape == (2, 3, resolution, resolution) and mask.shape == (2, 1, resolution, resolution)
    for t in [*out.values(), *swapped, *control]:
        assert t.dtype == torch.float32
        assert torch.isfinite(t).all() and t.min() >= 0 and t.max() <= 1
    # the dst path of forward() is the control; the src path of forward() is the swap's path
    torch.testing.assert_close(out["dst_rec"], control[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(out["src_rec"], model.swap(src)[0], atol=1e-5, rtol=0)


def test_default_dims_build_and_run() -> None:
    model = build_model(ModelConfig(arch="df", resolution=64)).eval()
    with torch.no_grad():
        face, mask = model.swap(torch.rand(1, 3, 64, 64))
    assert face.shape == (1, 3, 64, 64) and mask.shape == (1, 1, 64, 64)


def _perturb(module: torch.nn.Module) -> None:
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn_like(p) * 0.5)


def test_df_swap_uses_decoder_src() -> None:
    torch.manual_seed(0)
    model = build_model(small("df")).eval()
    dst = smooth_images(2, 64, 3)
    with torch.no_grad():
        swap0, control0 = model.swap(dst)[0], model.reconstruct_dst(dst)[0]
        _perturb(model.decoder_src)
        swap1, control1 = model.swap(dst)[0], model.reconstruct_dst(dst)[0]
    assert (swap1 - swap0).abs().max() > 1e-3
    assert torch.equal(control0, control1)


def test_liae_swap_uses_inter_ab_only() -> None:
    torch.manual_seed(0)
    model = build_model(small("liae")).eval()
    dst = smooth_images(2, 64, 3)
    with torch.no_grad():
        swap0, control0 = model.swap(dst)[0], model.reconstruct_dst(dst)[0]
        _perturb(model.inter_B)
        swap1, control1 = model.swap(dst)[0], model.reconstruct_dst(dst)[0]
        _perturb(model.inter_AB)
        swap2 = model.swap(dst)[0]
    assert torch.equal(swap0, swap1)
    assert (control1 - control0).abs().max() > 1e-3
    assert (swap2 - swap1).abs().max() > 1e-3


@pytest.mark.parametrize("arch", ["df", "liae"])
def test_gradients_reach_every_parameter(arch: str) -> None:
    torch.manual_seed(0)
    model = build_model(small(arch))
    src, dst = smooth_images(2, 64, 1), smooth_images(2, 64, 2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    opt.zero_grad()
    training_loss(model(src, dst), src, dst).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, missing
    opt.step()


def test_config_validation() -> None:
    for bad in (48, 520, 100, 65, 0):
        with pytest.raises(ValueError, match="multiple of 16"):
            ModelConfig(resolution=bad)
    with pytest.raises(ValueError, match="unknown model arch 'dfx'"):
        ModelConfig(arch="dfx")
    with pytest.raises(ValueError, match="face type"):
        ModelConfig(face_type="torso")
    with pytest.raises(ValueError, match="ae_dims"):
        ModelConfig(ae_dims=0)
    with pytest.raises(ValueError, match="integer"):
        ModelConfig(resolution=64.0)  # type: ignore[arg-type]
    assert issubclass(ModelConfigError, ValueError)
    for ok in (64, 80, 96, 128, 512):
        assert ModelConfig(resolution=ok).lowest_res == ok // 16


def test_dict_round_trip_and_compatibility() -> None:
    cfg = ModelConfig(arch="liae", resolution=192, face_type="whole", ae_dims=128, d_mask_dims=16)
    d = cfg.to_dict()
    assert d["arch"] == "liae" and d["resolution"] == 192
    assert ModelConfig.from_dict(d) == cfg
    with pytest.raises(ValueError, match="bogus"):
        ModelConfig.from_dict({**d, "bogus": 1})
    assert cfg.compatible_with(ModelConfig.from_dict(d)) == []
    assert cfg.compatible_with(ModelConfig.from_dict({**d, "face_type": "head"})) == []
    other = ModelConfig.from_dict({**d, "arch": "df", "resolution": 128, "d_dims": 32})
    assert cfg.compatible_with(other) == ["arch", "resolution", "d_dims"]


@pytest.mark.parametrize("arch", ["df", "liae"])
def test_channels_last_matches_contiguous(arch: str) -> None:
    torch.manual_seed(0)
    model = build_model(small(arch)).eval()
    src, dst = smooth_images(2, 64, 1), smooth_images(2, 64, 2)
    with torch.no_grad():
        ref = model(src, dst)
        model_cl = model.to(memory_format=torch.channels_last)
        out = model_cl(
            src.contiguous(memory_format=torch.channels_last),
            dst.contiguous(memory_format=torch.channels_last),
        )
    for k in ref:
        torch.testing.assert_close(out[k], ref[k], atol=1e-5, rtol=0)


def test_count_flops_scales_with_area() -> None:
    f64 = count_flops(build_model(small("df", 64)), 64, 1)
    f128 = count_flops(build_model(small("df", 128)), 128, 1)
    assert f64 > 0
    assert 4 * 0.6 <= f128 / f64 <= 4 * 1.4


def test_tiny_model_overfits_one_batch() -> None:
    torch.manual_seed(0)
    cfg = ModelConfig(arch="df", resolution=64, ae_dims=64, e_dims=8, d_dims=8, d_mask_dims=4)
    model = build_model(cfg).to(memory_format=torch.channels_last)
    src, dst = smooth_images(4, 64, 5), smooth_images(4, 64, 6)
    src, dst = (t.contiguous(memory_format=torch.channels_last) for t in (src, dst))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = training_loss(model(src, dst), src, dst)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], (losses[0], losses[-1])
