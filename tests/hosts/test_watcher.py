"""The EXR sequence watcher, as a pipeline meets it: frames land slowly, in pieces, through temporary names
and out of order; one stays truncated; the watcher is killed mid-burst and started again; a frame is
replaced. Every frame's passes are written exactly once (the service's convert jobs say how many frames
each wrote) and equal `facegraft convert` over the same shot."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from facegraft.io.images import read_image

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "e2e"))
from test_convert import FIRST, convert, make_job  # noqa: E402

FRAMES = 6
PASS_CHANNELS = ("R", "G", "B", "A", "swap.R", "swap.G", "swap.B", "swap.A", "matte.A", "facemask.A")


@pytest.fixture(scope="module")
def source(tmp_path_factory, photos):
    return make_job(tmp_path_factory.mktemp("watch_source"), photos, frames=FRAMES)


def frame_file(source, f: int) -> Path:
    return Path(str(source["plate"]).replace("####", f"{f:04d}"))


def start_watcher(in_dir: Path, out: Path, source, home: Path, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, FACEGRAFT_HOME=str(home), FACEGRAFT_ENGINE_PYTHON=sys.executable)
    cmd = [
        sys.executable, "-m", "facegraft_watcher", str(in_dir), "-o", str(out),
        "--model", str(source["model"]), "--settle", "0.5", "--batch", "10", "--progress", "json", *extra,
    ]  # fmt: skip
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def passes_done(out: Path) -> set[int]:
    return {int(p.name.split(".")[1]) for p in out.glob("plate.*.exr")}


def wait_for(predicate, timeout: float = 300, what: str = "") -> None:
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def convert_jobs(home: Path) -> list[dict]:
    from facegraft_client import Client

    client = Client(home=home, start=False)
    return [j for j in client.jobs() if j["kind"] == "convert" and j["state"] == "done"]


def stop_service(home: Path) -> None:
    from facegraft_client import Client

    client = Client(home=home, start=False)
    if client.connected:
        client.shutdown()


def same_as_cli(out: Path, tmp_path: Path, source) -> None:
    shot = out / "shots" / "plate"
    cli = tmp_path / "cli"
    assert convert({**source, "shot": shot}, cli, "--no-smooth").returncode == 0
    for f in range(FIRST, FIRST + FRAMES):
        name = f"plate.{f:04d}.exr"
        a, b = read_image(out / name, channels=PASS_CHANNELS), read_image(cli / name, channels=PASS_CHANNELS)
        assert np.array_equal(a, b), f"{name}: the watcher's passes differ from convert's"


def test_slow_partial_renamed_and_out_of_order_frames_are_each_processed_once(source, tmp_path):
    in_dir, out, home = tmp_path / "in", tmp_path / "out", tmp_path / "home"
    in_dir.mkdir()
    watcher = start_watcher(in_dir, out, source, home)
    try:
        data = {f: frame_file(source, f).read_bytes() for f in range(FIRST, FIRST + FRAMES)}
        name = {f: in_dir / f"plate.{f:04d}.exr" for f in data}
        # 1001: written in two pieces with a pause longer than --settle in between.
        with open(name[1001], "wb") as fh:
            fh.write(data[1001][: len(data[1001]) // 2])
            fh.flush()
            time.sleep(1.5)
            fh.write(data[1001][len(data[1001]) // 2 :])
        # 1002, 1003: written under a temporary name, then renamed into place.
        for f in (1003, 1002):
            tmp = in_dir / f".plate.{f:04d}.exr.tmp"
            tmp.write_bytes(data[f])
            os.replace(tmp, name[f])
        # 1004-1006 out of order, and a frame that stays truncated.
        for f in (1006, 1004, 1005):
            name[f].write_bytes(data[f])
        (in_dir / "plate.1099.exr").write_bytes(data[1001][:5000])
        wait_for(lambda: passes_done(out) >= set(data), what="all frames")
        time.sleep(2)  # anything more it would do, it would do now
        done = convert_jobs(home)
        assert sum(j["result"]["frames_done"] for j in done) == FRAMES, [j["args"]["frames"] for j in done]
        assert 1099 not in passes_done(out)
        same_as_cli(out, tmp_path, source)
        # A replaced frame is done again; a touched one is not.
        shutil.copyfile(frame_file(source, 1003), name[1002])
        os.utime(name[1004])
        wait_for(lambda: len(convert_jobs(home)) > len(done), what="the replaced frame")
        time.sleep(2)
        again = [j for j in convert_jobs(home) if j not in done]
        assert [j["args"]["frames"] for j in again] == ["1002"] and again[0]["result"]["frames_done"] == 1
    finally:
        watcher.send_signal(signal.SIGINT)
        stdout, err = watcher.communicate(timeout=60)
        stop_service(home)
    assert watcher.returncode == 0, err[-2000:]
    assert json.loads(stdout.strip().splitlines()[-1])["processed"] == FRAMES + 1, "a summary on the way out"
    assert err.count("plate.1099.exr") == 1, "the truncated frame is reported once"


def test_a_watcher_killed_mid_burst_loses_and_repeats_nothing(source, tmp_path):
    in_dir, out, home = tmp_path / "in", tmp_path / "out", tmp_path / "home"
    in_dir.mkdir()
    for f in range(FIRST, FIRST + FRAMES):
        shutil.copyfile(frame_file(source, f), in_dir / f"plate.{f:04d}.exr")
    watcher = start_watcher(in_dir, out, source, home, "--batch", "2")
    try:
        wait_for(lambda: len(passes_done(out)) >= 2, what="the first batch")
        watcher.kill()
        watcher.wait()
        restarted = start_watcher(in_dir, out, source, home, "--batch", "2", "--until-idle", "3")
        stdout, stderr = restarted.communicate(timeout=600)
        assert restarted.returncode == 0, stderr[-2000:]
        assert passes_done(out) == set(range(FIRST, FIRST + FRAMES))
        written = sum(j["result"]["frames_done"] for j in convert_jobs(home))
        assert written == FRAMES, "every frame's passes were written exactly once"
        assert json.loads(stdout.strip().splitlines()[-1])["states"] == {"done": FRAMES}
    finally:
        if watcher.poll() is None:
            watcher.kill()
        stop_service(home)
    same_as_cli(out, tmp_path, source)
