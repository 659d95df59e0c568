"""A shot with three real speakers, one of them before and after the others (hard cuts between): persons
are found across the cuts, named from the CLI, matched to a photo, merged and split (issue 24)."""

from __future__ import annotations

import json
import subprocess
import sys

import av
import cv2
import numpy as np
import pytest
from support.real_footage import REAL_DIR

SPEAKERS = ("grid_bbaf2n", "grid_lbax4n", "grid_swiz3n")
STRANGER = REAL_DIR / "photos" / "biden.jpg"  # a public-domain portrait of someone in no test shot


def facegraft(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "facegraft", *map(str, args)], capture_output=True, text=True, timeout=600
    )


def _frames(stem: str) -> list[np.ndarray]:
    with av.open(str(REAL_DIR / f"{stem}.mpg")) as clip:
        return [f.to_ndarray(format="rgb24") for f in clip.decode(video=0)]


@pytest.fixture(scope="module")
def shot(tmp_path_factory) -> dict:
    """Speaker A's first half, B, C, A's second half, as one 25 fps H.264 plate; extracted with defaults;
    a later frame of A kept as a photo of A."""
    root = tmp_path_factory.mktemp("persons")
    a, b, c = (_frames(s) for s in SPEAKERS)
    half = len(a) // 2
    parts = [a[:half], b, c, a[half:]]
    plate = root / "three_speakers.mp4"
    with av.open(str(plate), "w") as out:
        stream = out.add_stream("libx264", rate=25, options={"crf": "18"})
        stream.height, stream.width = a[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for frame in (f for part in parts for f in part):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    photo = root / "speaker_a.jpg"
    cv2.imwrite(str(photo), cv2.cvtColor(a[-3], cv2.COLOR_RGB2BGR))
    proc = facegraft("extract", plate, "-o", root / "shot", "--quiet")
    assert proc.returncode == 0, proc.stderr
    starts = np.cumsum([0, *map(len, parts)])[:-1] + 1  # stored frames are numbered from 1
    return {"root": root, "shot": root / "shot", "photo": photo, "starts": [int(s) for s in starts]}


def persons(shot: dict, *args: object) -> list[dict]:
    proc = facegraft("alignments", "persons", shot["shot"], "--json", *args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_each_speaker_is_one_person_across_the_cuts(shot):
    found = persons(shot)
    s = shot["starts"]
    speaker_a = [p for p in found if any(a <= s[1] - 1 for a, _ in p["ranges"])]
    assert len(speaker_a) == 1, found
    a = speaker_a[0]
    # A's faces before the first cut and after the last one carry one id; B and C have their own.
    assert a["ranges"][0][0] == s[0] and a["ranges"][-1][1] >= s[3] + 30 and a["shots"] == [0, 3], a
    others = [p for p in found if p["id"] != a["id"] and p["faces"] >= 10]
    assert len(others) == 2 and sorted(p["shots"] for p in others) == [[1], [2]], found
    assert (shot["shot"] / "persons.png").is_file()


def test_a_photo_names_its_person_and_a_stranger_is_refused(shot):
    named = persons(shot, "--name", f"{shot['photo']}=speaker_a")
    mine = [p for p in named if p["name"] == "speaker_a"]
    assert len(mine) == 1 and mine[0]["shots"] == [0, 3] and mine[0]["photo"] == str(shot["photo"].resolve())
    assert persons(shot, "--name", "speaker_a=lead")[0]["name"] in {"lead", ""}
    proc = facegraft("alignments", "persons", shot["shot"], "--name", f"{STRANGER}=guest")
    assert proc.returncode == 2 and "no person of the shot matches this photo" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_split_and_merge_fix_mistakes_and_a_photo_of_two_persons_is_refused(shot):
    lead = next(p for p in persons(shot) if p["shots"] == [0, 3])
    first_track = lead["tracks"][0]
    split = persons(shot, "--split", f"{lead['id']}={first_track}")
    assert len(split) == len(persons(shot)) and lead["id"] in {p["id"] for p in split}
    halves = [p for p in split if p["shots"] in ([0], [3])]
    assert len(halves) == 2, split
    proc = facegraft("alignments", "persons", shot["shot"], "--name", f"{shot['photo']}=again")
    assert proc.returncode == 2 and "matches 2 persons" in proc.stderr, proc.stderr
    merged = persons(shot, "--merge", ",".join(str(p["id"]) for p in halves))
    back = [p for p in merged if p["shots"] == [0, 3]]
    assert len(back) == 1 and back[0]["faces"] == lead["faces"]
    proc = facegraft("alignments", "persons", shot["shot"], "--merge", "1")
    assert proc.returncode == 2 and "at least two persons" in proc.stderr
