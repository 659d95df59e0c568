"""The watcher's own logic without a service: which files count as complete (from their bytes), and a
burst of 1,000 frames handed out in frame order, in bounded batches, with bounded memory."""

from __future__ import annotations

import random
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest

from facegraft.io.images import write_image
from facegraft_watcher import Watcher, WatchOptions, frame_of
from facegraft_watcher.complete import file_state


def test_exr_and_png_completeness_is_read_from_the_bytes(tmp_path):
    img = np.random.default_rng(0).random((64, 48, 3)).astype(np.float32)
    exr = tmp_path / "a.0001.exr"
    write_image(exr, img, channels=("R", "G", "B"), dtype="half")
    data = exr.read_bytes()
    assert file_state(exr) == "complete"
    for cut in (len(data) - 1, len(data) // 2, 40, 4):
        exr.write_bytes(data[:cut])
        assert file_state(exr) == "incomplete", cut
    # OpenEXR writes the offset table as zeros until the file is closed. 64 lines of ZIP (16 lines a
    # chunk) make 4 chunks: the table is where the first offset points just past a 32-byte table.
    exr.write_bytes(data)
    table = next(p for p in range(8, 2000) if int.from_bytes(data[p : p + 8], "little") == p + 32)
    exr.write_bytes(data[:table] + bytes(32) + data[table + 32 :])
    assert file_state(exr) == "incomplete"
    exr.write_bytes(b"not an exr at all, long enough to have a header" * 10)
    assert file_state(exr) == "invalid"
    png = tmp_path / "a.0001.png"
    cv2.imwrite(str(png), (img * 255).astype(np.uint8))
    assert file_state(png) == "complete"
    png.write_bytes(png.read_bytes()[:-5])
    assert file_state(png) == "incomplete"


class FakeClient:
    """Records jobs; every job succeeds at once."""

    def __init__(self) -> None:
        self.jobs: list[tuple[str, dict]] = []

    def submit(self, kind: str, **args) -> dict:
        self.jobs.append((kind, args))
        return {"id": str(len(self.jobs))}

    def wait(self, job_id: str, poll: float = 0.5, **_) -> dict:
        return {"id": job_id, "state": "done"}


def test_a_burst_of_1000_frames_goes_out_in_frame_order_in_bounded_batches(tmp_path):
    ok, png = cv2.imencode(".png", np.zeros((4, 4, 3), np.uint8))
    frames = list(range(1, 1001))
    random.Random(0).shuffle(frames)
    for f in frames:  # they land out of order
        (tmp_path / "in").mkdir(exist_ok=True)
        (tmp_path / "in" / f"plate.{f:04d}.png").write_bytes(png.tobytes())
    (tmp_path / "in" / ".plate.0005.png.tmp").write_bytes(b"half")
    client = FakeClient()
    opts = WatchOptions(
        tmp_path / "in", tmp_path / "out", Path("/models/m"), pattern="*.png", settle=0.0, batch=64
    )
    watcher = Watcher(opts, client)  # type: ignore[arg-type]
    tracemalloc.start()
    watcher.scan()
    watcher.tick()  # first sight: sizes recorded
    watcher.tick()  # settled: processed
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    converts = [args for kind, args in client.jobs if kind == "convert"]
    batches = [[int(x) for x in a["frames"].split(",")] for a in converts]
    assert [f for b in batches for f in b] == list(range(1, 1001)), "every frame once, in frame order"
    assert max(len(b) for b in batches) <= 64
    assert peak < 16 * 2**20, f"peak {peak / 2**20:.1f} MiB for 1,000 queued frames"
    watcher.scan()
    assert watcher.tick() == 0, "nothing is done twice"
    assert frame_of("plate.1001.exr") == ("plate.####.exr", 1001) and frame_of("notes.txt") is None


@pytest.fixture(scope="module")
def convert_declared(tmp_path_factory) -> list[dict]:
    from support.service_api import declared_options

    return declared_options(tmp_path_factory.mktemp("options"), "convert")


def test_the_watcher_takes_converts_options_as_the_service_declares_them(convert_declared):
    from facegraft_watcher.cli import convert_args

    by_name = {o["name"]: o for o in convert_declared}
    flag = by_name["colour"]["flag"]
    args = convert_args(convert_declared, [flag, "lct", "--person", "lead", "--person", "2", "--patch"])
    assert args == {"colour": "lct", "person": ["lead", "2"], "patch": True}
    # A choice the declaration does not offer is refused by the declaration's own choices.
    from facegraft_watcher.cli import UsageError

    with pytest.raises(UsageError, match="invalid choice"):
        convert_args(convert_declared, [flag, "sepia"])
    with pytest.raises(UsageError, match="unrecognized arguments"):
        convert_args(convert_declared, ["--no-such-option", "1"])


@pytest.mark.parametrize("given", [["--frames", "1-5"], ["--no-smooth"], ["--swap", "1=/m"]])
def test_options_the_watcher_sets_itself_are_refused_in_one_line(convert_declared, given):
    from facegraft_watcher.cli import UsageError, convert_args

    with pytest.raises(UsageError, match="set by the watcher itself"):
        convert_args(convert_declared, given)
