"""Every output says it is synthetic, which engine and model made it, and whose likeness it carries under
which release: recorded on the shot, copied into EXR, PNG and MP4 outputs, and read back by `verify`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from test_convert import FIRST, convert, make_job


@pytest.fixture(scope="module")
def world(tmp_path_factory, photos):
    return make_job(tmp_path_factory.mktemp("provenance"), photos, frames=2)


def facegraft(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "facegraft", *map(str, args)], capture_output=True, text=True
    )


def verify(*files) -> tuple[int, list[dict]]:
    run = facegraft("verify", *files, "--progress", "json")
    return run.returncode, [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]


def test_without_a_release_convert_warns_once_and_says_none_recorded(world, tmp_path):
    run = convert(world, tmp_path / "out")
    assert run.returncode == 0, run.stderr
    assert run.stderr.count("no likeness release recorded") == 1
    code, (report,) = verify(tmp_path / "out" / f"plate.{FIRST:04d}.exr")
    assert code == 0 and report["synthetic"] is True and report["release"] == "none recorded"


def test_a_recorded_release_travels_into_exr_png_and_mp4(world, tmp_path):
    made = facegraft(
        "release", "set", world["shot"], "--identity", "Eileen Collins", "--reference", "LR-2026-0042"
    )
    assert made.returncode == 0, made.stderr
    shown = json.loads(facegraft("release", "show", world["shot"]).stdout)
    assert shown["identity"] == "Eileen Collins" and shown["reference"] == "LR-2026-0042"
    files = []
    for fmt, name in (
        ("exr", f"plate.{FIRST:04d}.exr"),
        ("png", f"plate.comp.{FIRST:04d}.png"),
        ("mp4", "plate.mp4"),
    ):
        run = convert(world, tmp_path / fmt, "--format", fmt)
        assert run.returncode == 0 and "no likeness release" not in run.stderr, run.stderr
        files.append(tmp_path / fmt / name)
    code, reports = verify(*files)
    assert code == 0 and len(reports) == 3
    for report in reports:
        assert report["synthetic"] is True, report
        assert report["identity"] == "Eileen Collins" and report["release"] == "LR-2026-0042", report
        assert report["model"] and report["config"] and report["version"], report


def test_verify_says_when_a_file_is_not_marked_or_not_there(world, tmp_path):
    plate = str(world["plate"]).replace("####", f"{FIRST:04d}")
    run = facegraft("verify", plate)
    assert run.returncode == 1 and "NOT marked as synthetic" in run.stdout
    run = facegraft("verify", tmp_path / "missing.exr")
    assert run.returncode == 2 and "no such file" in run.stderr
