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


STUDIO_CONFIG = """ocio_profile_version: 2
roles:
  default: studio_linear
  scene_linear: studio_linear
  data: raw
file_rules:
  - !<Rule> {name: Default, colorspace: default}
displays:
  sRGB:
    - !<View> {name: Raw, colorspace: raw}
colorspaces:
  - !<ColorSpace>
    name: studio_linear
    encoding: scene-linear
  - !<ColorSpace>
    name: srgb_tx
    from_scene_reference: !<ExponentWithLinearTransform> {gamma: 2.4, offset: 0.055, direction: inverse}
  - !<ColorSpace>
    name: plate_log2
    from_scene_reference: !<LogTransform> {base: 2}
  - !<ColorSpace>
    name: raw
    isdata: true
"""


@pytest.fixture
def studio_config(tmp_path, monkeypatch):
    """A studio's own OCIO config named by $OCIO: a log2 plate space the built-in configs do not have."""
    from facegraft.io import colour

    path = tmp_path / "studio.ocio"
    path.write_text(STUDIO_CONFIG)
    monkeypatch.setenv("OCIO", str(path))
    colour.use_config(None)
    yield path
    monkeypatch.delenv("OCIO")
    colour.use_config(None)


def test_a_studio_config_named_by_ocio_is_used_with_its_roles_and_spaces(studio_config) -> None:
    from facegraft.io.colour import active_config, config_source

    assert config_source() == str(studio_config) and active_config().getColorSpace("plate_log2") is not None
    assert resolve_colourspace("scene-linear") == "studio_linear", "the config's scene_linear role"
    assert resolve_colourspace("plate_log2") == "plate_log2"
    linear = np.array([0.001, 0.18, 1.0, 4.0], np.float32)
    plate = np.repeat(np.log2(linear)[None, :, None], 3, axis=2)  # the plate's log2 code values
    working = ColourConverter("plate_log2").to_working_float(plate)[0, :, 0]
    srgb = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * np.power(linear, 1 / 2.4) - 0.055)
    assert np.allclose(working[:3], srgb[:3], atol=1e-4)
    back = ColourConverter("plate_log2").from_working_float(np.repeat(working[None, :, None], 3, axis=2))
    assert np.allclose(back[0, :3, 0], plate[0, :3, 0], atol=1e-3), "and back into the plate's log2 space"


def test_the_built_in_config_has_the_camera_log_spaces_and_a_bad_config_is_one_line(tmp_path) -> None:
    from facegraft.io import colour

    colour.use_config(None)
    for alias, name in (
        ("logc3", "ARRI LogC3 (EI800)"),
        ("slog3", "S-Log3 S-Gamut3.Cine"),
        ("vlog", "V-Log V-Gamut"),
    ):
        assert resolve_colourspace(alias) == name
        assert not ColourConverter(alias).identity
    bad = tmp_path / "broken.ocio"
    bad.write_text("ocio_profile_version: 2\ncolorspaces: [this is not a colour space\n")
    with pytest.raises(InputError) as err:
        colour.use_config(str(bad))
    assert str(bad) in str(err.value) and "\n" not in str(err.value)
    colour.use_config(None)


def test_a_command_given_a_broken_config_stops_with_one_line(tmp_path, capsys) -> None:
    from facegraft.cli import main
    from facegraft.io import colour

    bad = tmp_path / "broken.ocio"
    bad.write_text("not: [an ocio config\n")
    code = main(
        ["extract", str(tmp_path / "plate.mov"), "-o", str(tmp_path / "shot"), "--ocio-config", str(bad)]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and str(bad) in err and "OpenColorIO config" in err
    assert not (tmp_path / "shot").exists(), "nothing was written"
    colour.use_config(None)
