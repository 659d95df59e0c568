"""EXR geometry: a plate whose data window differs from its display window (smaller, offset, overscan,
negative origins) is read in display coordinates with its overscan kept, and the passes carry the same
windows, so they line up with the plate pixel for pixel in a compositor. Measured on the OpenEXR
project's DisplayWindow samples (tests/data/exr-valid, BSD-3-Clause)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

from facegraft.errors import InputError
from facegraft.io.images import Window, image_spec, read_image
from facegraft.io.plate import open_plate
from facegraft.merge.passes import MergedFrame, read_passes
from facegraft.merge.writers import WriterSetup, make_writer

DATA = Path(__file__).resolve().parents[1] / "data" / "exr-valid"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "footage" / "exr-valid"
WINDOWED = sorted((DATA / "DisplayWindow").glob("*.exr"))


def windows(path: Path) -> tuple[Window, Window]:
    spec = oiio.ImageInput.open(str(path)).spec()
    return (
        Window(spec.x, spec.y, spec.width, spec.height),
        Window(spec.full_x, spec.full_y, spec.full_width, spec.full_height),
    )


@pytest.mark.parametrize("path", WINDOWED, ids=lambda p: p.name)
def test_a_windowed_exr_plate_is_read_in_display_coordinates_with_its_overscan(path):
    data, display = windows(path)
    with open_plate(str(path)) as plate:
        frame = plate.read(plate.frames[0])
        canvas = plate.data_window
    assert canvas == display.union(data), "the display window grown to hold the data window"
    assert plate.display_window == display and frame.shape[:2] == (canvas.height, canvas.width)
    stored = read_image(path)  # the data window as the file stores it
    # Every stored pixel sits at its display coordinates on the canvas; the rest is zero.
    ys, xs = data.y - canvas.y, data.x - canvas.x
    assert np.array_equal(frame[ys : ys + data.height, xs : xs + data.width], stored)
    outside = np.ones(frame.shape[:2], bool)
    outside[ys : ys + data.height, xs : xs + data.width] = False
    assert not frame[outside].any()


@pytest.mark.parametrize("path", WINDOWED[::5], ids=lambda p: p.name)
def test_the_passes_carry_the_plate_s_windows_and_line_up_with_it(tmp_path, path):
    with open_plate(str(path)) as plate:
        pixels = plate.read(plate.frames[0]).astype(np.float32)
        setup = WriterSetup(tmp_path, "pass", data=plate.data_window, display=plate.display_window)
        canvas = plate.data_window
    matte = np.zeros(pixels.shape[:2], np.float32)
    m = MergedFrame(1, pixels, pixels * 0, matte, matte, attributes={"config": "c", "input": "i"})
    (written,) = make_writer("exr", setup).write(m)
    data, display = windows(written)
    assert (data.x, data.y, data.width, data.height) == (canvas.x, canvas.y, canvas.width, canvas.height)
    assert display == plate.display_window
    got = read_passes(written)
    assert np.array_equal(np.dstack([got["R"], got["G"], got["B"]]), pixels), "pixel for pixel"
    with open_plate(str(written)) as again:
        assert again.data_window == canvas and again.display_window == display, "a pass reads as the plate"


def test_a_frame_of_another_size_is_refused_in_one_line(tmp_path):
    from facegraft.io.images import write_image

    for frame, size in ((1, 16), (2, 20)):
        write_image(tmp_path / f"plate.{frame:04d}.exr", np.zeros((size, size, 3), np.float32))
    with open_plate(str(tmp_path / "plate.####.exr")) as plate:
        plate.read(1)
        with pytest.raises(InputError, match="frame is 20x20 at 0,0, the plate is 16x16 at 0,0") as err:
            plate.read(2)
    assert "\n" not in str(err.value)


def sweep(folder: Path) -> dict[str, str]:
    """Each EXR under `folder`: 'read' or the one-line refusal."""
    out = {}
    for path in sorted(folder.rglob("*.exr")):
        try:
            info = image_spec(path)
            pixels = read_image(path, canvas=info.display.union(info.data))
            assert pixels.shape[:2] == (
                info.display.union(info.data).height,
                info.display.union(info.data).width,
            )
            out[str(path.relative_to(folder))] = "read"
        except InputError as exc:
            assert "\n" not in str(exc) and str(path) in str(exc), str(exc)
            out[str(path.relative_to(folder))] = str(exc)
    return out


def test_every_committed_sample_reads_or_is_refused_in_one_line():
    outcome = sweep(DATA)
    assert len(outcome) == 20
    assert (
        "Subsampled" in outcome["Chromaticities/XYZ_YC.exr"]
        or "subsampled" in outcome["Chromaticities/XYZ_YC.exr"].lower()
    )
    assert sum(v == "read" for v in outcome.values()) == 19


@pytest.mark.skipif(not SHARED.is_dir(), reason="the project's shared footage folder is not here")
def test_every_valid_sample_of_the_shared_set_reads_or_is_refused_in_one_line():
    outcome = sweep(SHARED)
    assert len(outcome) >= 40
    refused = {k: v for k, v in outcome.items() if v != "read"}
    assert all("ubsampled" in v or "deep" in v for v in refused.values()), refused


def test_pixel_aspect_and_each_frame_s_timecode_reach_the_passes(tmp_path):
    for k, frame in enumerate((1001, 1002)):
        spec = oiio.ImageSpec(16, 12, 3, "half")
        spec.attribute("PixelAspectRatio", 2.0)
        spec.attribute("smpte:TimeCode", oiio.TypeDesc("timecode"), (0x01000000 + k, 0))
        out = oiio.ImageOutput.create("exr")
        out.open(str(tmp_path / f"plate.{frame}.exr"), spec)
        out.write_image(np.full((12, 16, 3), 0.5, np.float16))
        out.close()
    with open_plate(str(tmp_path / "plate.####.exr")) as plate:
        assert plate.pixel_aspect == 2.0
        setup = WriterSetup(tmp_path / "passes", "p", pixel_aspect=plate.pixel_aspect)
        setup.out_dir.mkdir()
        writer = make_writer("exr", setup)
        for frame in plate.frames:
            px = plate.read(frame).astype(np.float32)
            matte = np.zeros(px.shape[:2], np.float32)
            m = MergedFrame(frame, px, px * 0, matte, matte, timecode=plate.timecode(frame))
            (written,) = writer.write(m)
            header = oiio.ImageInput.open(str(written)).spec()
            assert header.getattribute("PixelAspectRatio") == 2.0
            assert header.getattribute("smpte:TimeCode") == plate.timecode(frame)
    assert header.get_string_attribute("smpte:TimeCode") == "01:00:00:01", "the second frame's own timecode"
