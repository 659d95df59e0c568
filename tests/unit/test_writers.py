"""Output writers are plugins: `--format` offers exactly the registered writers, each writes a merged
frame its way (read back and measured here), says whether a frame is already done, and says how its files
carry a C2PA manifest, which is the one thing the signing step asks."""

from __future__ import annotations

import numpy as np
import pytest

from facegraft.errors import InputError
from facegraft.io.images import read_image
from facegraft.merge.options import OutputOptions
from facegraft.merge.passes import MergedFrame, read_passes
from facegraft.merge.writers import WRITERS, WriterSetup, make_writer
from facegraft.options import choices_of
from facegraft.provenance.signing import EMBEDDED, SIDECAR, signing_key

H, W = 24, 32


def merged(frame: int = 1001) -> MergedFrame:
    rng = np.random.default_rng(frame)
    comp = rng.random((H, W, 3)).astype(np.float32) * 2.0  # scene-linear: above 1 on purpose
    matte = np.zeros((H, W), np.float32)
    matte[4:20, 8:24] = 0.75
    return MergedFrame(
        frame,
        comp,
        comp * matte[..., None],
        matte,
        matte * 0.5,
        comp_display=np.clip(comp / 2.0, 0, 1),
        attributes={"config": "cfg", "input": "inp"},
        person_mattes={"lead": matte},
    )


def test_the_format_choices_are_the_registered_writers(tmp_path):
    from dataclasses import fields

    declared = next(f for f in fields(OutputOptions) if f.name == "format")
    assert choices_of(declared) == list(WRITERS) == ["exr", "png", "tiff", "mov", "mp4"]
    with pytest.raises(InputError, match="unknown --format 'gif'"):
        make_writer("gif", WriterSetup(tmp_path, "x"))


@pytest.mark.parametrize("layout", ["single", "multipart", "files"])
def test_exr_passes_hold_the_frame_in_every_layout(tmp_path, layout):
    writer = make_writer("exr", WriterSetup(tmp_path, "shot", layout, 24.0, "lin_rec709_scene", ["lead"]))
    m = merged()
    paths = writer.write(m)
    assert all(p.is_file() for p in paths) and not list(tmp_path.glob("*.tmp*"))
    if layout == "files":
        comp = read_passes(paths[0])
        assert np.allclose(np.dstack([comp["R"], comp["G"], comp["B"]]), m.comp, atol=2e-3)
        assert np.allclose(read_passes(paths[2])["A"], m.matte, atol=1e-3)
        assert len(paths) == 5, "comp, swap, matte, facemask and the person's matte"
    else:
        got = read_passes(paths[0])
        assert np.allclose(np.dstack([got["R"], got["G"], got["B"]]), m.comp, atol=2e-3)
        assert np.allclose(got["matte.A"], m.matte, atol=1e-3)
        assert np.allclose(got["swap.A"], m.matte, atol=1e-3)
        assert np.allclose(got["matte_lead.A"], m.matte, atol=1e-3)
    assert writer.done(1001, "cfg", "inp") and not writer.done(1001, "other", "inp")
    assert not writer.done(1002, "cfg", "inp")
    assert writer.signing == SIDECAR and not writer.display


@pytest.mark.parametrize("fmt, tolerance", [("png", 1 / 65535 + 1e-6), ("tiff", 1e-6)])
def test_image_sequences_hold_the_comp_and_the_mattes(tmp_path, fmt, tolerance):
    writer = make_writer(fmt, WriterSetup(tmp_path, "shot", persons=["lead"]))
    m = merged()
    comp_file, matte_file, person_file = writer.write(m)
    assert comp_file.name == f"shot.comp.1001.{writer.ext}" and person_file.name.startswith("shot.matte_lead")
    want = m.comp_display if writer.display else m.comp
    native = read_image(comp_file)
    got = native / 65535.0 if native.dtype == np.uint16 else native.astype(np.float64)
    assert np.abs(got - want).max() <= tolerance
    assert writer.done(1001, "cfg", "inp") and not writer.done(1001, "cfg", "changed")
    assert writer.patterns()[0].endswith(f"shot.comp.####.{writer.ext}")


def test_a_video_writer_writes_one_file_for_the_run(tmp_path):
    import av

    writer = make_writer("mp4", WriterSetup(tmp_path, "shot", fps=24.0))
    assert writer.video and writer.display and writer.signing == EMBEDDED
    writer.open([1001, 1002, 1003], {"facegraft/synthetic": "true"}, None, 0.0)
    for f in (1001, 1002, 1003):
        assert writer.write(merged(f)) == []
    (path,) = writer.close()
    with av.open(str(path)) as video:
        assert video.streams.video[0].frames == 3
        assert video.metadata.get("facegraft/synthetic") == "true"
    writer.abort()  # after close: nothing left to drop, and no error


def test_signing_asks_the_writer_how_its_files_carry_a_manifest():
    for name, writer in WRITERS.items():
        if writer.signing is None:
            with pytest.raises(InputError, match=f"not in {name} files"):
                signing_key("k.pem", "c.pem", writer.signing, name)
    with pytest.raises(InputError, match="both --sign-key and --sign-cert"):
        signing_key("k.pem", "", WRITERS["png"].signing, "png")
    assert signing_key("", "", WRITERS["tiff"].signing, "tiff") is None
