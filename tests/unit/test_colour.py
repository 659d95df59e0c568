"""Colour conversion: aliases, working-encoding values, sanitising, round trips, LUT vs processor paths."""

from __future__ import annotations

import numpy as np
import pytest

from facegraft.errors import InputError
from facegraft.io.colour import ColourConverter, resolve_colourspace


def grey(value: float, dtype: type = np.float16, shape: tuple[int, int] = (8, 8)) -> np.ndarray:
    return np.full((*shape, 3), value, dtype=dtype)


def test_aliases_resolve_case_insensitively() -> None:
    linear = resolve_colourspace("scene-linear")
    assert resolve_colourspace("Linear") == resolve_colourspace("lin_rec709") == linear
    assert "Linear Rec.709" in linear
    assert resolve_colourspace("SRGB") == resolve_colourspace("sRGB - Texture")
    assert resolve_colourspace("acescg") == "ACEScg"
    assert resolve_colourspace("aces") == resolve_colourspace("ACES2065-1") == "ACES2065-1"
    assert "Rec.709" in resolve_colourspace("rec709")
    assert resolve_colourspace("data") == resolve_colourspace("raw")
    assert resolve_colourspace("ACEScct") == "ACEScct"  # any config name passes through


def test_unknown_colourspace_lists_choices() -> None:
    with pytest.raises(InputError, match=r"unknown colourspace 'foo' \(choose from: scene-linear, srgb"):
        resolve_colourspace("foo")
    with pytest.raises(InputError):
        ColourConverter("foo")


def test_srgb_uint8_is_identity() -> None:
    img = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    conv = ColourConverter("srgb")
    assert conv.identity
    np.testing.assert_array_equal(conv.to_working_uint8(img), img)
    np.testing.assert_allclose(conv.to_working_float(img), img / 255.0, atol=1e-6)


def test_linear_half_to_working() -> None:
    conv = ColourConverter("scene-linear")
    assert not conv.identity and conv.separable
    assert conv.to_working_float(grey(0.18))[0, 0, 0] == pytest.approx(0.4614, abs=2e-3)
    assert conv.to_working_uint8(grey(0.18))[0, 0, 0] == 118  # 0.4614 * 255
    assert (conv.to_working_uint8(grey(1.5)) == 255).all()
    assert conv.to_working_float(grey(4.0))[0, 0, 0] == pytest.approx(
        1.055 * 4.0 ** (1 / 2.4) - 0.055, abs=2e-3
    )
    assert conv.to_working_float(grey(4.0, np.float32))[0, 0, 0] > 1.5  # processor path keeps highlights too


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_nan_inf_negative_are_sanitised(dtype: type) -> None:
    img = np.array(
        [[[np.nan, np.inf, -np.inf], [-0.5, 0.0, 1e30 if dtype == np.float32 else 6e4]]], dtype=dtype
    )
    for source in ("scene-linear", "acescg", "srgb"):
        conv = ColourConverter(source)
        u8 = conv.to_working_uint8(img)
        assert u8[0, 0].tolist() == [0, 255, 0] and u8[0, 1, 0] == 0 and u8[0, 1, 2] == 255
        f = conv.to_working_float(img)
        assert np.isfinite(f).all()
        if conv.separable:  # a 3x3 matrix (ACEScg) rightly spreads the huge green into red and blue
            assert f[0, 0, 0] == 0.0 and f[0, 0, 2] == 0.0
        assert np.isfinite(conv.from_working_float(f)).all()


@pytest.mark.parametrize("source", ["scene-linear", "acescg", "aces2065-1", "rec709"])
def test_round_trip_keeps_linear_values_and_highlights(source: str) -> None:
    values = np.array([0.0, 0.01, 0.18, 0.5, 1.0, 2.5, 4.0], np.float32)
    img = np.stack([values, values[::-1], np.roll(values, 2)], axis=-1)[None]  # (1, 7, 3) colours
    conv = ColourConverter(source)
    back = conv.from_working_float(conv.to_working_float(img))
    np.testing.assert_allclose(back, img, rtol=1e-3, atol=1e-4)
    half = img.astype(np.float16)
    back = conv.from_working_float(conv.to_working_float(half))
    np.testing.assert_allclose(back, half.astype(np.float32), rtol=2e-3, atol=1e-3)


def test_separability_detection() -> None:
    assert ColourConverter("scene-linear").separable
    assert ColourConverter("rec709").separable
    assert not ColourConverter("acescg").separable
    assert not ColourConverter("aces").separable


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float16])
def test_lut_path_matches_processor_path(dtype: type) -> None:
    rng = np.random.default_rng(1)
    conv = ColourConverter("scene-linear")
    if np.dtype(dtype).kind == "u":
        img = rng.integers(0, np.iinfo(dtype).max + 1, (48, 64, 3)).astype(dtype)
        as_float = img.astype(np.float32) / np.iinfo(dtype).max
    else:
        img = (rng.random((48, 64, 3)) * 3 - 0.2).astype(dtype)
        as_float = img.astype(np.float32)
    lut_u8 = conv.to_working_uint8(img).astype(int)
    proc_u8 = conv.to_working_uint8(as_float).astype(int)  # float32 input goes through the OCIO processor
    assert np.abs(lut_u8 - proc_u8).max() <= 1
    np.testing.assert_allclose(conv.to_working_float(img), conv.to_working_float(as_float), atol=1e-5)


def test_every_half_bit_pattern_is_finite() -> None:
    bits = np.arange(65536, dtype=np.uint16).view(np.float16).reshape(256, 256, 1).repeat(3, axis=2)
    conv = ColourConverter("scene-linear")
    out = conv.to_working_float(np.ascontiguousarray(bits))
    assert np.isfinite(out).all()
    u8 = conv.to_working_uint8(np.ascontiguousarray(bits))
    assert u8.max() == 255 and u8.min() == 0


def test_large_frame_threaded_paths_match_small(tmp_path: object) -> None:
    rng = np.random.default_rng(2)
    img = (rng.random((1080, 1920, 3)) * 2).astype(np.float16)
    conv = ColourConverter("scene-linear")
    full = conv.to_working_uint8(img)
    np.testing.assert_array_equal(full[:7], conv.to_working_uint8(np.ascontiguousarray(img[:7])))
    aces = ColourConverter("acescg")
    np.testing.assert_allclose(
        aces.to_working_float(img)[-3:], aces.to_working_float(img[-3:].copy()), atol=1e-6
    )
