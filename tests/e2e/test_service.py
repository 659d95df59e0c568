"""The engine service as a host uses it: started as its own process, reached through the stdlib client,
jobs submitted and followed, frames swapped one at a time, and every way in that should be shut, shut."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from facegraft.io.images import read_image

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "hosts" / "client"))
from test_convert import FIRST, convert, make_job  # noqa: E402

from facegraft_client import Client, ServiceError, encode_frame  # noqa: E402

N = 4
PASS_CHANNELS = ("R", "G", "B", "A", "swap.R", "swap.G", "swap.B", "swap.A", "matte.A", "facemask.A")


@pytest.fixture(scope="module")
def world(tmp_path_factory, photos, start_engine):
    world = make_job(tmp_path_factory.mktemp("service_root"), photos, frames=N)
    home = tmp_path_factory.mktemp("service_home")
    proc = start_engine(home, world["root"])
    client = Client(home=home, start=False)
    yield {**world, "home": home, "client": client, "proc": proc}
    client.shutdown()
    proc.wait(timeout=30)


def wait_running(client: Client, job_id: str, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while client.job(job_id)["state"] != "running":
        assert time.time() < deadline, client.job(job_id)
        time.sleep(0.2)


def read_passes(path: Path) -> np.ndarray:
    return read_image(path, channels=PASS_CHANNELS)


def test_the_client_imports_with_the_standard_library_alone():
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import facegraft_client, json; "
        "print(json.dumps(sorted(m.split('.')[0] for m in sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code, str(REPO / "hosts" / "client")],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    third_party = {"numpy", "torch", "facegraft", "fastapi", "requests", "httpx", "cv2"} & set(
        json.loads(out.stdout)
    )
    assert not third_party, third_party


def test_a_convert_job_gives_the_same_passes_as_the_cli(world):
    client = world["client"]
    out = world["root"] / "via_service"
    job = client.submit(
        "convert",
        plate=str(world["plate"]),
        shot=str(world["shot"]),
        model=str(world["model"]),
        out_dir=str(out),
    )
    seen = [j["state"] for j in client.events(job["id"])]
    assert seen[-1] == "done", client.job(job["id"])
    done = client.job(job["id"])
    assert done["fraction"] == 1.0 and done["result"]["frames_done"] == N
    cli_out = world["root"] / "via_cli"
    run = convert(world, cli_out)
    assert run.returncode == 0, run.stderr
    files = sorted(p.name for p in out.glob("*.exr"))
    assert files == sorted(p.name for p in cli_out.glob("*.exr")) and len(files) == N
    for name in files:
        a, b = read_passes(out / name), read_passes(cli_out / name)
        assert np.array_equal(a, b), f"{name}: the service's passes differ from the CLI's"
        assert a[..., 8].max() > 0.2, "the matte covers the face"


def test_job_options_come_from_the_cli_declarations(world):
    opts = {o["name"]: o for o in world["client"].options("convert")}
    assert {"plate", "shot", "model", "out_dir", "colour", "erode", "frames"} <= set(opts)
    assert "rct" in opts["colour"]["choices"] and opts["colour"]["flag"] == "--colour"
    assert opts["colour"]["default"] == "rct" and opts["feather"]["default"] == 6.0, "the dataclass defaults"
    assert {"occlusion", "occlusion*learned", "occlusion*landmark"} <= set(opts["mask"]["choices"])
    assert (
        opts["occlusion_mask"]["flag"] == "--occlusion-mask"
        and opts["occlusion_mask"]["default"] == "occlusion"
    )


def raw(world, method, path, body=None, headers=None):
    info = json.loads((world["home"] / "service" / "service.json").read_text())
    conn = http.client.HTTPConnection("127.0.0.1", info["port"], timeout=30)
    conn.request(method, path, body=body, headers=headers or {})
    reply = conn.getresponse()
    data = reply.read()
    conn.close()
    return reply.status, data


def test_requests_without_the_right_token_get_401_and_nothing_else(world):
    for headers in ({}, {"X-Facegraft-Token": "wrong" * 8}, {"Authorization": "Bearer nope"}):
        for method, path in (
            ("GET", "/v1/status"),
            ("GET", "/v1/openapi.json"),
            ("GET", "/v1/jobs"),
            ("POST", "/v1/shutdown"),
        ):
            status, data = raw(world, method, path, headers=headers)
            assert status == 401 and json.loads(data) == {"error": "missing or wrong token"}, (
                path,
                status,
                data,
            )
    token = (world["home"] / "service" / "token").read_text().strip()
    assert (world["home"] / "service" / "token").stat().st_mode & 0o777 == 0o600
    assert raw(world, "GET", "/v1/status", headers={"Authorization": f"Bearer {token}"})[0] == 200


def test_jobs_cannot_reach_outside_the_allowed_roots(world):
    client = world["client"]
    for plate in ("../../etc/passwd", "/etc/passwd", str(world["root"] / ".." / ".." / "etc" / "passwd")):
        with pytest.raises(ServiceError) as info:
            client.submit(
                "convert", plate=plate, shot=str(world["shot"]), model=str(world["model"]), out_dir="out"
            )
        assert info.value.status == 403 and "outside the folders" in str(info.value)
    with pytest.raises(ServiceError) as info:
        client.submit(
            "convert",
            plate=str(world["plate"]),
            shot=str(world["shot"]),
            model=str(world["model"]),
            out_dir="o",
            erode="lots",
        )
    assert info.value.status == 400 and "erode" in str(info.value)
    with pytest.raises(ServiceError) as info:
        client.submit("convert", plate=str(world["plate"]), rm_rf=True)
    assert info.value.status == 400 and "unknown option" in str(info.value)


def test_bad_frame_messages_are_refused_clearly(world):
    client = world["client"]
    pixels = np.zeros((8, 8, 4), np.float32)
    good = encode_frame(pixels, 8, 8, 4, {"model": str(world["model"])})
    status, data, _ = client.request("POST", "/v1/frame", good[:-10])
    assert status == 400 and "too short" in json.loads(data)["error"]
    huge = bytearray(good)
    huge[8:12] = (100000).to_bytes(4, "little")  # width
    status, data, _ = client.request("POST", "/v1/frame", bytes(huge))
    assert status == 413 and "outside" in json.loads(data)["error"]
    big_options = bytearray(good)
    big_options[32:36] = (1 << 30).to_bytes(4, "little")
    status, data, _ = client.request("POST", "/v1/frame", bytes(big_options))
    assert status == 413 and "options" in json.loads(data)["error"]
    status, data, _ = client.request("POST", "/v1/frame", b"GET / HTTP/1.0\r\n\r\n" + bytes(40))
    assert status == 400 and "magic" in json.loads(data)["error"]
    status, data, _ = client.request("POST", "/v1/frame", encode_frame(pixels, 8, 8, 4, {"model": "/etc"}))
    assert status == 400 and "outside" in json.loads(data)["error"]
    assert client.status()["service"] == "facegraft", "the service is still up"


def test_a_frame_is_swapped_in_place_by_the_resident_model(world):
    client = world["client"]
    rgba = read_image(str(world["plate"]).replace("####", str(FIRST)), channels=("R", "G", "B", "A"))
    h, w = rgba.shape[:2]
    opts = {"model": str(world["model"]), "pass": "comp", "mask": "landmark"}
    comp, info = client.frame(np.ascontiguousarray(rgba, np.float32), w, h, opts, frame=FIRST, request_id=5)
    assert info["faces"] == 1 and info["channels"] == 4 and info["request_id"] == 5
    comp = np.asarray(comp).reshape(h, w, 4)
    matte, minfo = client.frame(np.ascontiguousarray(rgba, np.float32), w, h, {**opts, "pass": "matte"})
    matte = np.asarray(matte).reshape(h, w)
    assert minfo["channels"] == 1 and 0.02 < (matte > 0.5).mean() < 0.5
    outside = matte == 0
    assert np.array_equal(comp[outside][:, :3], rgba[outside][:, :3]), (
        "pixels outside the matte are the plate's"
    )
    assert np.abs(comp[matte > 0.9][:, :3] - rgba[matte > 0.9][:, :3]).mean() > 0.01, "the face changed"


def test_fifty_status_calls_while_a_job_runs_all_succeed(world):
    client = world["client"]
    job = client.submit(
        "train", src=str(world["shot"]), dst=str(world["shot"]), model=str(world["root"] / "busy_model"),
        iterations=100000, batch=2, ae_dims=32, e_dims=8, d_dims=8, d_mask_dims=8, save_every=50,
    )  # fmt: skip
    wait_running(client, job["id"])
    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(lambda _: client.status(), range(50)))
    assert len(results) == 50 and all(r["running"] == job["id"] for r in results)
    client.cancel(job["id"])
    final = client.wait(job["id"], timeout=60)
    assert final["state"] == "cancelled"


def listening_addresses(port: int) -> set[str]:
    """Local addresses of listening TCP sockets on `port` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            addr, p = local.split(":")
            if int(p, 16) == port and state == "0A":
                found.add(addr)
    return found


def test_the_service_listens_on_loopback_only(world):
    info = json.loads((world["home"] / "service" / "service.json").read_text())
    assert info["host"] == "127.0.0.1"
    assert listening_addresses(info["port"]) == {"0100007F"}, "only 127.0.0.1 may listen"
    import socket

    others = {a[4][0] for a in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)} - {"127.0.0.1"}
    for addr in others:
        with pytest.raises(OSError):
            socket.create_connection((addr, info["port"]), timeout=2).close()


def test_a_killed_service_loses_no_job(world, tmp_path, start_engine):
    home = tmp_path / "home"
    home.mkdir()
    root = world["root"]
    work = root / "killed"  # job outputs must lie inside the service's roots
    proc = start_engine(home, root, "--no-resume")
    client = Client(home=home, start=False)
    done = client.submit(
        "convert",
        plate=str(world["plate"]),
        shot=str(world["shot"]),
        model=str(world["model"]),
        out_dir=str(work / "c1"),
    )
    assert client.wait(done["id"], timeout=120)["state"] == "done"
    long = client.submit(
        "train", src=str(world["shot"]), dst=str(world["shot"]), model=str(work / "m"),
        iterations=100000, batch=2, ae_dims=32, e_dims=8, d_dims=8, d_mask_dims=8,
    )  # fmt: skip
    queued = client.submit(
        "convert",
        plate=str(world["plate"]),
        shot=str(world["shot"]),
        model=str(world["model"]),
        out_dir=str(work / "c2"),
    )
    wait_running(client, long["id"])
    child = client.status()["running"]
    assert child == long["id"]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc = start_engine(home, root, "--no-resume")
    client = Client(home=home, start=False)
    jobs = {j["id"]: j for j in client.jobs()}
    assert set(jobs) == {done["id"], long["id"], queued["id"]}, "every job is still listed"
    assert jobs[done["id"]]["state"] == "done"
    assert jobs[long["id"]]["state"] == "interrupted", jobs[long["id"]]
    assert client.wait(queued["id"], timeout=120)["state"] == "done", "the queued job runs after the restart"
    client.shutdown()
    proc.wait(timeout=30)
    # Restarted with resume (the default), the interrupted job is not lost either: it stays listed.
    proc = start_engine(home, root)
    client = Client(home=home, start=False)
    assert client.job(long["id"])["state"] == "interrupted"
    client.cancel(long["id"])
    assert client.job(long["id"])["state"] == "cancelled"
    env = dict(os.environ, FACEGRAFT_HOME=str(home))
    cli = [sys.executable, "-m", "facegraft", "serve"]
    status = subprocess.run([*cli, "--status"], env=env, capture_output=True, text=True)
    assert status.returncode == 0 and json.loads(status.stdout)["jobs"]["done"] == 2, status.stdout
    stop = subprocess.run([*cli, "--stop"], env=env, capture_output=True, text=True)
    assert stop.returncode == 0 and "stopped" in stop.stdout
    assert proc.wait(timeout=30) == 0
    assert subprocess.run([*cli, "--status"], env=env, capture_output=True, text=True).returncode == 1


def test_a_crashed_job_is_resumed_when_the_service_restarts(world, tmp_path, start_engine):
    home = tmp_path / "home"
    home.mkdir()
    proc = start_engine(home, world["root"])
    client = Client(home=home, start=False)
    job = client.submit(
        "train", src=str(world["shot"]), dst=str(world["shot"]), model=str(world["root"] / "resumed"),
        iterations=40, batch=2, ae_dims=32, e_dims=8, d_dims=8, d_mask_dims=8, save_every=10,
    )  # fmt: skip
    wait_running(client, job["id"])
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc = start_engine(home, world["root"])
    client = Client(home=home, start=False)
    final = client.wait(job["id"], timeout=240)
    assert final["state"] == "done" and final["attempts"] == 2, final
    assert final["result"]["iteration"] == 40
    client.shutdown()
    proc.wait(timeout=30)


def test_the_service_can_listen_on_a_private_unix_socket(world, tmp_path, start_engine):
    home = tmp_path / "home"
    home.mkdir()
    sock = tmp_path / "engine.sock"
    proc = start_engine(home, world["root"], "--socket", str(sock))
    client = Client(home=home, start=False)
    assert client.connected and client.status()["service"] == "facegraft"
    assert sock.is_socket() and sock.stat().st_mode & 0o777 == 0o600
    info = json.loads((home / "service" / "service.json").read_text())
    assert info["socket"] == str(sock) and "port" not in info
    client.shutdown()
    assert proc.wait(timeout=30) == 0
    assert not sock.exists()


@pytest.mark.parametrize("window", [1, 3, 0])
def test_a_frame_call_with_the_shot_gives_convert_s_pixels(world, tmp_path, window):
    """Colour window included: the service reads the window's other frames from the shot's plate."""
    client = world["client"]
    out = world["root"] / f"frame_reference_{window}"
    assert convert(world, out, "--colour-window", str(window)).returncode == 0
    frame = FIRST + 2
    rgba = read_image(str(world["plate"]).replace("####", str(frame)), channels=("R", "G", "B", "A"))
    h, w = rgba.shape[:2]
    opts = {"model": str(world["model"]), "shot": str(world["shot"]), "colour_window": window}
    if window != 1:  # the window changes the swap's colour, so matching convert here means pooling as it does
        alone = read_image(
            world["root"] / "frame_reference_1" / f"plate.{frame:04d}.exr", channels=("swap.R",)
        )
        pooled = read_image(out / f"plate.{frame:04d}.exr", channels=("swap.R",))
        assert np.abs(alone - pooled).max() > 1e-2
    for name, channels in (("comp", ("R", "G", "B")), ("swap", ("swap.R", "swap.G", "swap.B", "swap.A"))):
        got, info = client.frame(
            np.ascontiguousarray(rgba, np.float32), w, h, {**opts, "pass": name}, frame=frame
        )
        got = np.asarray(got).reshape(h, w, 4)[..., : len(channels)]
        want = read_image(out / f"plate.{frame:04d}.exr", channels=channels).astype(np.float32)
        assert info["faces"] == 1
        assert np.allclose(got, want, rtol=1e-3, atol=1e-3), f"{name}: max {np.abs(got - want).max()}"


def test_a_frame_comp_carries_convert_s_watermark_and_the_swap_pass_does_not(world, monkeypatch):
    import OpenImageIO as oiio

    from facegraft.io.colour import ColourConverter
    from facegraft.merge.convert import load_shot_faces
    from facegraft.merge.options import MergeOptions
    from facegraft.provenance import marking
    from facegraft.provenance import watermark as wm
    from facegraft.service import protocol
    from facegraft.service.frames import FrameEngine
    from facegraft.store.alignments import AlignmentsStore

    # The fixture's model is untrained: its learned mask is about one half, so the landmark matte is used.
    client, frame = world["client"], FIRST + 1
    out = world["root"] / "frame_watermark_reference"
    assert convert(world, out, "--mask", "landmark").returncode == 0
    inp = oiio.ImageInput.open(str(out / f"plate.{frame:04d}.exr"))
    header = {k: inp.spec().getattribute(f"facegraft/{k}") for k in ("watermark", "config", "colourspace")}
    inp.close()
    want = header["watermark"].split(";")[0].removeprefix("comp: ")  # convert's payload: engine fa job ...
    rgba = np.ascontiguousarray(
        read_image(str(world["plate"]).replace("####", str(frame)), channels=("R", "G", "B", "A")), np.float32
    )
    h, w = rgba.shape[:2]
    opts = {"model": str(world["model"]), "shot": str(world["shot"]), "mask": "landmark"}
    got, info = {}, {}
    for name in ("comp", "swap"):
        pixels, info[name] = client.frame(rgba, w, h, {**opts, "pass": name}, frame=frame)
        got[name] = np.asarray(pixels).reshape(h, w, 4)
        assert info[name]["facegraft/synthetic"] == "true"
        assert info[name]["facegraft/config"] == header["config"], "convert's config hash"
    assert info["comp"]["facegraft/watermark"] == f"comp: {want}; swap, matte unmarked for grading"
    assert info["swap"]["facegraft/watermark"] == "none: left unmarked for grading"
    # Without the shot, the plate named in the options gives the job id (and the payload) convert's.
    _, named = client.frame(
        rgba, w, h, {**opts, "shot": None, "plate": str(world["plate"]), "colourspace": header["colourspace"]}
    )
    assert named["facegraft/watermark"] == info["comp"]["facegraft/watermark"]

    # The same frame through an engine in this process with marking switched off: the unmarked passes.
    monkeypatch.setattr(
        marking, "mark_comp", lambda comp, display, *a, **k: marking.MarkedFrame(comp, display, 0)
    )
    engine = FrameEngine(lambda path: path)
    plain = {
        name: engine.process(
            protocol.parse_message(encode_frame(rgba, w, h, 4, {**opts, "pass": name}, frame))
        )[0]
        for name in ("comp", "swap")
    }
    matte = plain["swap"][..., 3]
    assert np.array_equal(got["swap"], plain["swap"]), "the swap pass is left unmarked"
    outside = matte == 0
    assert 0.02 < (~outside).mean() < 0.5
    assert np.array_equal(got["comp"][outside], plain["comp"][outside]), "nothing outside the matte changes"
    conv = ColourConverter(header["colourspace"])
    marked_u8, plain_u8, swap_u8 = (
        conv.to_working_uint8(np.ascontiguousarray(x[..., :3]))
        for x in (got["comp"], plain["comp"], got["swap"])
    )
    inside = conv.to_working_float(np.ascontiguousarray(got["comp"][..., :3]))[~outside]
    before = conv.to_working_float(np.ascontiguousarray(plain["comp"][..., :3]))[~outside]
    mse = float(np.mean((np.clip(inside, 0, 1) - np.clip(before, 0, 1)) ** 2))
    assert mse > 0 and 10 * np.log10(1 / mse) >= 45.0, "marked, within 45 dB of the unmarked comp"

    # The reader finds convert's payload in the comp, and nothing in the swap pass or the unmarked comp.
    # (The untrained model paints no face the detector finds: the reader is pointed at the face's smoothed
    # landmarks, where the marker put the mark.)
    with AlignmentsStore.open(world["shot"]) as store:
        (face,) = load_shot_faces(store, MergeOptions(mask="landmark")).by_frame[frame]
    reading = wm.read_face(wm.luma(marked_u8), face.landmarks)
    assert reading.detected and marking.describe(reading.payload) == want, reading
    for u8 in (swap_u8, plain_u8):
        r = wm.read_face(wm.luma(u8), face.landmarks)
        assert not r.detected and not wm.read_face(wm.luma(u8), face.landmarks, reading.payload).detected
