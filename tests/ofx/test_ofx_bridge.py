"""The OFX bridge as an OFX host uses it: built from source, loaded by a small test host, described, and
asked to render frames laid out as hosts lay them out. Through the running engine service its comp equals
`facegraft convert`'s; with the service gone or answering nonsense, the source passes through and the
plug-in says why; under AddressSanitizer a describe and ten renders are clean."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from facegraft.io.images import read_image
from facegraft.merge.options import COLOUR_MODES, MergeOptions

REPO = Path(__file__).resolve().parents[2]
BRIDGE = REPO / "ofx_bridge"
BINARY = BRIDGE / "FacegraftSwap.ofx.bundle" / "Contents" / "Linux-x86-64" / "FacegraftSwap.ofx"
ASAN_BINARY = BRIDGE / "build" / "asan" / "FacegraftSwap.ofx"
sys.path.insert(0, str(REPO / "tests" / "e2e"))
sys.path.insert(0, str(Path(__file__).parent))
from ofx_host import OfxTestHost  # noqa: E402
from test_convert import FIRST, convert, make_job  # noqa: E402


@pytest.fixture(scope="module")
def built():
    run = subprocess.run(["make", "-C", str(BRIDGE), "all", "asan"], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    return BINARY


@pytest.fixture(scope="module")
def world(tmp_path_factory, photos, start_engine, built):
    world = make_job(tmp_path_factory.mktemp("ofx_root"), photos, frames=3)
    home = tmp_path_factory.mktemp("ofx_home")
    proc = start_engine(home, world["root"])
    yield {**world, "home": home}
    from facegraft_client import Client

    Client(home=home, start=False).shutdown()
    proc.wait(timeout=30)


def plate_frame(world, frame: int) -> np.ndarray:
    return read_image(str(world["plate"]).replace("####", f"{frame:04d}"), channels=("R", "G", "B", "A"))


def test_the_bundle_exports_exactly_the_two_entry_points(built):
    out = subprocess.run(["nm", "-D", "--defined-only", str(built)], capture_output=True, text=True).stdout
    names = sorted(line.split()[-1] for line in out.splitlines() if " T " in line)
    assert names == ["OfxGetNumberOfPlugins", "OfxGetPlugin"], out


def test_describe_declares_a_float_rgba_filter_with_its_parameters(built):
    host = OfxTestHost(str(built))
    host.describe()
    props = host.values(host.effect_props)
    assert props["OfxImageEffectPropSupportedContexts"] == ["OfxImageEffectContextFilter"]
    assert props["OfxImageEffectPropSupportedPixelDepths"] == ["OfxBitDepthFloat"]
    assert props["OfxImageEffectPropSupportsTiles"] == [0]
    assert set(host.clips) == {"Source", "Output"}
    assert set(host.params) == {"model", "shot", "pass", "colour", "erode", "feather", "service"}
    options = host.values(host.params["pass"]["props"])["OfxParamPropChoiceOption"]
    assert options == ["comp", "swap", "matte"]
    colour = host.values(host.params["colour"]["props"])
    assert colour["OfxParamPropChoiceOption"] == list(COLOUR_MODES), "convert's declared choices"
    assert colour["OfxParamPropChoiceOption"][colour["OfxParamPropDefault"][0]] == MergeOptions().colour
    feather = host.values(host.params["feather"]["props"])
    assert feather["OfxParamPropDefault"] == [MergeOptions().feather] and feather["OfxParamPropMin"] == [0.0]


@pytest.mark.parametrize("layout", ["bottom-up", "padded", "negative"])
def test_a_rendered_frame_is_the_comp_convert_writes(world, built, layout, monkeypatch):
    monkeypatch.setenv("FACEGRAFT_HOME", str(world["home"]))
    reference = world["root"] / "reference"
    if not reference.exists():
        assert convert(world, reference).returncode == 0
    host = OfxTestHost(str(built))
    host.describe()
    frame = FIRST + 1
    rgba = plate_frame(world, frame)
    out = host.render(rgba, frame, layout, model=str(world["model"]), shot=str(world["shot"]))
    assert host.persistent is None, host.persistent
    want = read_image(reference / f"plate.{frame:04d}.exr", channels=("R", "G", "B", "A")).astype(np.float32)
    assert np.allclose(out, want, rtol=1e-3, atol=1e-3), np.abs(out - want).max()
    assert np.abs(out - rgba).max() > 0.01, "the face was swapped"


def test_with_the_service_gone_the_source_passes_through_with_a_message(world, built, tmp_path, monkeypatch):
    rgba = plate_frame(world, FIRST)
    host = OfxTestHost(str(built))
    host.describe()
    monkeypatch.setenv("FACEGRAFT_HOME", str(tmp_path / "nothing_here"))
    out = host.render(rgba, FIRST, model=str(world["model"]))
    assert np.array_equal(out, rgba) and "facegraft serve" in host.persistent, host.persistent
    home = tmp_path / "stale"
    (home / "service").mkdir(parents=True)
    (home / "service" / "token").write_text("x" * 40)
    (home / "service" / "service.json").write_text(json.dumps({"port": 9}))  # nothing listens on port 9
    monkeypatch.setenv("FACEGRAFT_HOME", str(home))
    out = host.render(rgba, FIRST, model=str(world["model"]))
    assert np.array_equal(out, rgba) and "cannot reach" in host.persistent


class _Liar(http.server.BaseHTTPRequestHandler):
    """Answers every frame with the reply the test asks for."""

    reply: tuple[int, bytes] = (200, b"")

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        status, body = self.reply
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize(
    "reply, says",
    [
        ((200, b"FGFR this is not a frame"), "not a frame message"),
        ((200, b"FGFR" + bytes(36) + b"x" * 100), "not a frame message"),
        ((400, b'{"error": "options.model is required"}'), "options.model is required"),
        ((200, b""), "not a frame message"),
    ],
)
def test_a_malformed_reply_passes_the_source_through(world, built, tmp_path, monkeypatch, reply, says):
    _Liar.reply = reply
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Liar)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        home = tmp_path / "liar"
        (home / "service").mkdir(parents=True)
        (home / "service" / "token").write_text("t" * 40)
        (home / "service" / "service.json").write_text(json.dumps({"port": server.server_address[1]}))
        monkeypatch.setenv("FACEGRAFT_HOME", str(home))
        rgba = plate_frame(world, FIRST)
        host = OfxTestHost(str(built))
        host.describe()
        out = host.render(rgba, FIRST, model=str(world["model"]))
    finally:
        server.shutdown()
    assert np.array_equal(out, rgba)
    assert says in host.persistent, host.persistent


def test_describe_and_ten_renders_are_clean_under_address_sanitizer(world, built, tmp_path):
    lib = subprocess.run(
        ["gcc", "-print-file-name=libasan.so"], capture_output=True, text=True
    ).stdout.strip()
    frame = tmp_path / "frame.npy"
    np.save(frame, plate_frame(world, FIRST).astype(np.float32))
    env = dict(
        os.environ,
        LD_PRELOAD=lib,
        ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0",
        UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1",
        FACEGRAFT_HOME=str(world["home"]),
    )
    settings = json.dumps({"model": str(world["model"]), "shot": str(world["shot"]), "time": FIRST})
    run = subprocess.run(
        [sys.executable, str(Path(__file__).parent / "ofx_host.py"), str(ASAN_BINARY), str(frame), "10",
         settings],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-4000:]
    assert "ERROR: AddressSanitizer" not in run.stderr and "runtime error" not in run.stderr, run.stderr[
        -4000:
    ]
    assert json.loads(run.stdout.strip().splitlines()[-1]) == {"renders": 10, "message": None}
