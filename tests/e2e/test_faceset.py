"""Faceset tools, the way a user meets them: extract shots of two people (moved, relit, heads turned) and a
plate with false detections, merge them into one mixed faceset, then sort, filter, clean, dedupe, rebuild
and report on it, checking each result by what is in the files and the store afterwards."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from facegraft.cli import main as facegraft_main
from facegraft.extract.pipeline import ExtractOptions, extract
from facegraft.geometry.alignment import mean_face
from facegraft.sample_data import no_face
from facegraft.sample_plates import Move, render, turn_head, write_png_sequence
from facegraft.store.alignments import AlignmentsStore
from facegraft.store.face_images import read_face_png, read_face_tags

CANVAS = (640, 520)
# Roll, scale, shift and light change between frames; a long lens keeps faces a similar size.
MOVES = [
    Move(angle=0, scale=0.9),
    Move(angle=8, scale=0.85, shift=(20, -10), gain=0.6),
    Move(angle=-10, scale=0.95, shift=(-25, 5), gain=1.2),
    Move(angle=4, scale=0.8, shift=(10, 15), gain=0.4),
    Move(angle=-4, scale=0.92, shift=(-10, -15), gain=0.8),
    Move(angle=12, scale=0.88, shift=(5, 0), gain=1.0),
]


def facegraft(*args: str) -> int:
    return facegraft_main([str(a) for a in args] + ["--quiet"])


def shoot(tmp: Path, name: str, photo: np.ndarray, landmarks: np.ndarray, yaws, moves=MOVES) -> Path:
    """Extract a plate of `photo` with the head turned to each yaw and then moved by each move."""
    frames = []
    for yaw in yaws:
        turned = turn_head(photo, landmarks, yaw)[0] if yaw else photo
        frames.extend(render(turned, m, CANVAS)[0] for m in moves)
    write_png_sequence(frames, tmp / name / "plate.%04d.png", first=1)
    shot = tmp / f"{name}_shot"
    summary = extract(tmp / name / "plate.####.png", shot, ExtractOptions(), progress_mode="quiet")
    assert summary.faces == len(frames), f"{name}: {summary.faces} faces in {len(frames)} frames"
    return shot


def false_detections(tmp: Path) -> Path:
    """A faceless plate whose 'faces' are landmarks placed on the background, as a bad detector gives."""
    plate = write_png_sequence([no_face()] * 3, tmp / "fp" / "plate.%04d.png", first=1)
    places = [(30, 30, 110), (330, 40, 120), (320, 330, 100)]
    frames = []
    for i, (x, y, s) in enumerate(places):
        lms = mean_face() * s + (x, y)
        frames.append({"frame": i + 1, "faces": [{"landmarks": lms.tolist()}]})
    doc = {"schema": "facegraft.alignments/1", "plate": {"path": str(plate[0].parent / "plate.####.png")}}
    (tmp / "fp.json").write_text(json.dumps({**doc, "frames": frames}))
    assert facegraft("alignments", "import", tmp / "fp_store", "--json", tmp / "fp.json") == 0
    assert facegraft("faceset", "export", tmp / "fp_store", "-o", tmp / "fp_shot") == 0
    return tmp / "fp_shot"


@pytest.fixture(scope="module")
def shots(tmp_path_factory, photos, reference_landmarks) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("facesets")
    out = {
        "astronaut": shoot(
            tmp, "astronaut", photos["astronaut"], reference_landmarks["astronaut"], [0, -15, 15]
        ),
        "grace_hopper": shoot(
            tmp, "grace_hopper", photos["grace_hopper"], reference_landmarks["grace_hopper"], [0, 15]
        ),
        "false": false_detections(tmp),
    }
    mixed = tmp / "mixed"
    assert (
        facegraft("faceset", "merge", out["astronaut"], out["grace_hopper"], out["false"], "-o", mixed) == 0
    )
    out["mixed"] = mixed
    out["tmp"] = tmp
    return out


def copy_shot(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def who(shot: Path) -> dict[int, str]:
    """Face id -> which input it came from, by the merged store's origins."""
    with AlignmentsStore.open(shot) as store:
        origins = store.setting("faceset_origins")
    names = ["astronaut", "grace_hopper", "false"]
    return {int(fid): names[src] for fid, (src, _, _) in origins.items()}


def runs(labels: list[str]) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for lab in labels:
        if out and out[-1][0] == lab:
            out[-1] = (lab, out[-1][1] + 1)
        else:
            out.append((lab, 1))
    return out


def sorted_labels(faces_dir: Path, person: dict[int, str]) -> list[str]:
    files = sorted(p for p in faces_dir.glob("*.png"))
    return [person[int(read_face_tags(p)["face_id"])] for p in files]


def test_merge_keeps_every_face_with_its_origin(shots):
    person = who(shots["mixed"])
    counts = {k: list(person.values()).count(k) for k in ("astronaut", "grace_hopper", "false")}
    assert counts == {"astronaut": 18, "grace_hopper": 12, "false": 3}, counts
    with AlignmentsStore.open(shots["mixed"]) as store:
        faces = store.faces()
    assert (
        len(
            {f.track_id for f in faces if person[f.id] == "astronaut"}
            & {f.track_id for f in faces if person[f.id] == "grace_hopper"}
        )
        == 0
    ), "track ids of different sources collide"
    for f in faces:
        assert (shots["mixed"] / "faces" / f.image).is_file()


def test_sort_by_identity_puts_people_in_runs_and_false_detections_last(shots):
    shot = copy_shot(shots["mixed"], shots["tmp"] / "sort_identity")
    person = who(shot)
    assert facegraft("faceset", "sort", shot, "--by", "identity") == 0
    labels = sorted_labels(shot / "faces", person)
    r = runs(labels)
    assert [name for name, _ in r[:2]] == ["astronaut", "grace_hopper"], r
    assert r[0][1] == 18 and r[1][1] == 12, f"each person must be one contiguous run: {r}"
    assert all(name == "false" for name, _ in r[2:]) and sum(n for _, n in r[2:]) == 3, r
    # The store follows the renames, so training still finds every face; clean restores the names.
    with AlignmentsStore.open(shot) as store:
        assert all((shot / "faces" / f.image).is_file() for f in store.faces())
    assert facegraft("faceset", "clean", shot) == 0
    assert sorted(p.name for p in (shot / "faces").glob("*.png")) == sorted(
        p.name for p in (shots["mixed"] / "faces").glob("*.png")
    )


def test_identity_dissim_puts_the_strangers_first(shots):
    shot = copy_shot(shots["mixed"], shots["tmp"] / "sort_dissim")
    person = who(shot)
    assert facegraft("faceset", "sort", shot, "--by", "identity-dissim") == 0
    labels = sorted_labels(shot / "faces", person)
    assert labels[:3] == ["false"] * 3, labels


def test_sort_by_blur_puts_blurred_faces_last_and_groups_by_yaw(shots, tmp_path):
    import cv2

    shot = copy_shot(shots["grace_hopper"], tmp_path / "blur")
    faces = sorted((shot / "faces").glob("*.png"))
    blurred = faces[::4]
    for p in blurred:  # soften some faces as a focus pull would, keeping their tags
        from facegraft.store.face_images import write_face_image

        write_face_image(p, cv2.GaussianBlur(read_face_png(p), (0, 0), 4), read_face_tags(p))
    blurred_ids = {read_face_tags(p)["face_id"] for p in blurred}
    assert facegraft("faceset", "sort", shot, "--by", "blur") == 0
    order = [read_face_tags(p)["face_id"] for p in sorted((shot / "faces").glob("*.png"))]
    assert set(order[-len(blurred) :]) == blurred_ids, "blurred faces must sort to the end"
    assert facegraft("faceset", "sort", shot, "--by", "yaw", "--group-into-folders", "--bins", "3") == 0
    groups = sorted(p for p in (shot / "faces").iterdir() if p.is_dir())
    assert len(groups) >= 2, groups
    with AlignmentsStore.open(shot) as store:
        yaw = {str(f.id): f.pose[0] for f in store.faces()}
        assert all((shot / "faces" / f.image).is_file() for f in store.faces())
    ranges = [[yaw[read_face_tags(p)["face_id"]] for p in g.glob("*.png")] for g in groups]
    for a, b in zip(ranges, ranges[1:]):
        assert max(a) <= min(b), "yaw groups must not overlap"
    assert facegraft("faceset", "clean", shot) == 0
    assert not [p for p in (shot / "faces").iterdir() if p.is_dir()], "clean gathers the groups back"


def test_filter_by_reference_photo_keeps_exactly_one_person(shots, photos, tmp_path):
    import cv2

    shot = copy_shot(shots["mixed"], tmp_path / "filter")
    person = who(shot)
    ref = tmp_path / "who.jpg"
    cv2.imwrite(str(ref), photos["grace_hopper"][:, :, ::-1])
    out = tmp_path / "not_her"
    assert facegraft("faceset", "filter", shot, "--reference", ref, "--move", out) == 0
    kept = {person[int(read_face_tags(p)["face_id"])] for p in (shot / "faces").glob("*.png")}
    moved = [person[int(read_face_tags(p)["face_id"])] for p in out.glob("*.png")]
    assert kept == {"grace_hopper"}
    assert len(list((shot / "faces").glob("*.png"))) == 12
    assert sorted(set(moved)) == ["astronaut", "false"] and len(moved) == 21


def test_filter_by_face_id_lists_the_others(shots, capsys):
    person = who(shots["mixed"])
    astronaut_id = min(fid for fid, p in person.items() if p == "astronaut")
    assert facegraft_main(["faceset", "filter", str(shots["mixed"]), "--reference", str(astronaut_id)]) == 0
    listed = [line.split("\t")[0] for line in capsys.readouterr().out.splitlines() if "\t" in line]
    assert len(listed) == 15
    assert {person[int(read_face_tags(p)["face_id"])] for p in listed} == {"grace_hopper", "false"}


def test_clean_flags_deleted_faces_not_target_and_changes_nothing_else(shots, tmp_path):
    shot = copy_shot(shots["mixed"], tmp_path / "clean")
    before = tmp_path / "before.json"
    assert facegraft("alignments", "export", shot, "--json", before) == 0
    assert facegraft("faceset", "sort", shot, "--by", "hist") == 0
    files = sorted((shot / "faces").glob("*.png"))
    doomed = files[1:4]
    doomed_ids = {int(read_face_tags(p)["face_id"]) for p in doomed}
    for p in doomed:
        p.unlink()
    kept_bytes = {read_face_tags(p)["face_id"]: p.read_bytes() for p in files if p not in doomed}
    assert facegraft("faceset", "clean", shot) == 0
    after = tmp_path / "after.json"
    assert facegraft("alignments", "export", shot, "--json", after) == 0
    old = {f["id"]: f for fr in json.loads(before.read_text())["frames"] for f in fr["faces"]}
    new = {f["id"]: f for fr in json.loads(after.read_text())["frames"] for f in fr["faces"]}
    assert set(new) == set(old), "no face leaves the store: a deleted image flags its face"
    assert all(new[i] == old[i] for i in set(new) - doomed_ids), "faces that were kept must not change"
    for i in doomed_ids:
        assert "not-target" in new[i]["flags"] and new[i]["landmarks"] == old[i]["landmarks"]
    names = {read_face_tags(p)["face_id"]: p for p in (shot / "faces").glob("*.png")}
    assert {k: p.read_bytes() for k, p in names.items()} == kept_bytes
    with AlignmentsStore.open(shot) as store:
        for f in store.faces():
            if f.id in doomed_ids:
                continue
            assert f.image == f"{f.frame:06d}_{f.index}.png" and (shot / "faces" / f.image).is_file()
    # Once flagged, a second clean changes nothing; remove-deleted takes them out for good.
    assert facegraft("faceset", "clean", shot) == 0
    assert facegraft("alignments", "remove-deleted", shot) == 0
    with AlignmentsStore.open(shot) as store:
        assert {f.id for f in store.faces()} == set(new) - doomed_ids


def test_merge_dedupe_drops_copies_but_keeps_other_poses(photos, reference_landmarks, tmp_path):
    photo, lms = photos["astronaut"], reference_landmarks["astronaut"]
    base = Move(scale=0.9)
    nudged = Move(scale=0.9, shift=(1, 0), gain=1.03)  # re-exposed and one pixel off: a near copy
    a = shoot(tmp_path, "a", photo, lms, [0, -20, 20], moves=[base])
    b = shoot(tmp_path, "b", photo, lms, [0, 0, 0], moves=[base, nudged])
    out = tmp_path / "deduped"
    assert facegraft("faceset", "merge", a, b, "-o", out, "--dedupe") == 0
    with AlignmentsStore.open(out) as store:
        origins = store.setting("faceset_origins")
        yaws = sorted(f.pose[0] for f in store.faces())
    kept_from = [src for src, _, _ in origins.values()]
    assert kept_from.count(0) == 3, "all three poses of the first shot stay"
    assert kept_from.count(1) == 0, (
        f"the second shot holds only copies of the first's frontal face: {origins}"
    )
    assert yaws[-1] - yaws[0] > 25, "the turned heads are kept"
    plain = tmp_path / "plain"
    assert facegraft("faceset", "merge", a, b, "-o", plain) == 0
    assert len(list((plain / "faces").glob("*.png"))) == 9


def test_export_rebuilds_the_faceset_at_another_face_type_and_size(shots, tmp_path):
    from facegraft.geometry.alignment import canonical_crop_landmarks

    out = tmp_path / "whole128"
    assert (
        facegraft("faceset", "export", shots["astronaut"], "-o", out, "--face-type", "whole", "--size", "128")
        == 0
    )
    with AlignmentsStore.open(out) as new, AlignmentsStore.open(shots["astronaut"]) as old:
        new_faces, old_faces = new.faces(), old.faces()
        masks = new.masks(new_faces[0].id)
    assert len(new_faces) == len(old_faces)
    for f, g in zip(new_faces, old_faces):
        assert (f.frame, f.index, f.face_type, f.size) == (g.frame, g.index, "whole", 128)
        assert np.allclose(f.landmarks, g.landmarks) and np.allclose(f.embedding, g.embedding)
        img = read_face_png(out / "faces" / f.image)
        assert img.shape == (128, 128, 3)
        assert read_face_tags(out / "faces" / f.image)["face_type"] == "whole"
    assert set(masks) == {"components", "extended"} and masks["components"].shape == (128, 128)
    # The rebuilt crops are real aligned faces: landmarks found on them sit on the whole-face template.
    from facegraft.extract.pipeline import build_tracker

    template = canonical_crop_landmarks("whole", 128)
    errors = []
    for f in new_faces:
        crop = read_face_png(out / "faces" / f.image)
        big = np.ascontiguousarray(np.pad(crop, ((96, 96), (96, 96), (0, 0)), mode="edge"))
        found = build_tracker(ExtractOptions(embeddings=False, detect_every=1)).step(big, 0)
        assert found, f"no face found again in {f.image}"
        inner = slice(17, 68)
        errors.append(np.abs(found[0].landmarks[inner] - 96 - template[inner]).mean())
    assert np.mean(errors) < 4.0, f"mean landmark offset from the template {np.mean(errors):.2f} px at 128 px"


def test_export_and_tools_refuse_bad_input(shots, tmp_path, capsys):
    assert facegraft_main(["faceset", "sort", str(tmp_path / "nowhere")]) == 2
    assert "not a folder" in capsys.readouterr().err
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x").write_text("x")
    assert facegraft_main(["faceset", "export", str(shots["astronaut"]), "-o", str(busy)]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        facegraft_main(["faceset", "sort", str(shots["mixed"]), "--by", "nonsense"])
    assert exit_info.value.code == 2 and "invalid choice: 'nonsense'" in capsys.readouterr().err
    bare = tmp_path / "bare"
    shutil.copytree(shots["mixed"] / "faces", bare)
    assert facegraft_main(["faceset", "sort", str(bare), "--by", "yaw"]) == 2
    assert "needs the shot's alignments store" in capsys.readouterr().err
    assert facegraft_main(["faceset", "sort", str(bare), "--by", "brightness"]) == 0, (
        "pixel sorts need no store"
    )


HARNESS = """<!DOCTYPE html><html><body><iframe id="f" src="report.html" width="1400" height="3000"></iframe>
<pre id="result">pending</pre><script>
document.getElementById('f').addEventListener('load', () => {
  const d = document.getElementById('f').contentDocument;
  const cells = s => [...s.querySelectorAll('rect.cell')];
  const out = {
    heatmaps: [...d.querySelectorAll('svg.heatmap')].map(s => ({
      role: s.dataset.role, cells: cells(s).length, width: s.getBoundingClientRect().width,
      faces: cells(s).reduce((n, r) => n + Number(r.dataset.count), 0),
      filled: cells(s).filter(r => Number(r.dataset.count) > 0).map(r => Number(r.dataset.yaw))})),
    missing: [...d.querySelectorAll('tr.missing-pose')].map(r => ({
      yawMin: Number(r.dataset.yawMin), yawMax: Number(r.dataset.yawMax), faces: Number(r.dataset.faces)})),
    images: [...d.images].map(i => ({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0})),
    charts: d.querySelectorAll('svg.dist').length,
  };
  document.getElementById('result').textContent = JSON.stringify(out);
});
</script></body></html>"""


def render_in_chromium(folder: Path) -> dict:
    """Serve `folder` on loopback and let headless Chromium load report.html in the harness page."""
    import functools
    import html
    import http.server
    import re
    import subprocess
    import threading

    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    assert exe, "headless Chromium is needed for this test (`make test` installs Debian's chromium)"
    (folder / "harness.html").write_text(HARNESS)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        flags = [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={folder / '.chromium'}", "--virtual-time-budget=15000",
        ]  # fmt: skip
        url = f"http://127.0.0.1:{server.server_address[1]}/harness.html"
        dom = subprocess.run(
            [exe, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120
        ).stdout
    finally:
        server.shutdown()
    found = re.search(r'<pre id="result">(.*?)</pre>', dom, re.S)
    assert found and found.group(1) != "pending", f"the harness did not run: {dom[:500]}"
    return json.loads(html.unescape(found.group(1)))


def test_coverage_report_flags_target_poses_the_source_lacks(photos, reference_landmarks, tmp_path):
    photo, lms = photos["astronaut"], reference_landmarks["astronaut"]
    src = shoot(tmp_path, "src", photo, lms, [0])  # only frontal faces
    dst = shoot(tmp_path, "dst", photo, lms, [-30, 0, 30], moves=MOVES[:2])
    page = tmp_path / "site" / "report.html"
    page.parent.mkdir()
    assert facegraft("faceset", "report", src, "--against", dst, "-o", page) == 0
    with AlignmentsStore.open(src) as s, AlignmentsStore.open(dst) as d:
        src_yaw = [f.pose[0] for f in s.faces()]
        turned = sorted(f.pose[0] for f in d.faces() if abs(f.pose[0] - np.mean(src_yaw)) > 15)
    assert len(turned) == 4, f"the turned heads should read as turned: {turned}"
    seen = render_in_chromium(page.parent)
    maps = {m["role"]: m for m in seen["heatmaps"]}
    assert set(maps) == {"source", "target"}
    assert maps["source"]["cells"] == 18 * 12 and maps["source"]["width"] > 200
    assert maps["source"]["faces"] == len(MOVES) and maps["target"]["faces"] == 6
    assert len(seen["missing"]) >= 2
    assert sum(m["faces"] for m in seen["missing"]) == 4, seen["missing"]
    for m in seen["missing"]:
        assert m["yawMax"] <= min(src_yaw) - 5 or m["yawMin"] >= max(src_yaw) + 5, (m, src_yaw)
    assert min(m["yawMin"] for m in seen["missing"]) < 0 < max(m["yawMax"] for m in seen["missing"])
    assert seen["images"] and all(i["ok"] for i in seen["images"]), seen["images"]
    assert seen["charts"] == 4
    assert (page.parent / "report_files" / "source_heatmap.png").is_file()
    assert (page.parent / "report_files" / "target_heatmap.png").is_file()


def test_final_keeps_the_sharpest_faces_spread_over_yaw(shots, tmp_path):
    import cv2

    from facegraft.store.face_images import write_face_image

    shot = copy_shot(shots["astronaut"], tmp_path / "final")
    turn = {}  # frames 1-6 frontal, 7-12 turned one way, 13-18 the other
    blurred = set()
    for p in sorted((shot / "faces").glob("*.png")):
        tags = read_face_tags(p)
        frame = int(tags["frame"])
        turn[tags["face_id"]] = (frame - 1) // len(MOVES)
        if frame % len(MOVES) == 2:  # one soft face per turn
            write_face_image(p, cv2.GaussianBlur(read_face_png(p), (0, 0), 3), tags)
            blurred.add(tags["face_id"])
    assert facegraft("faceset", "sort", shot, "--by", "final", "--count", "6") == 0
    kept = [read_face_tags(p)["face_id"] for p in (shot / "faces").glob("*.png")]
    rest = list((shot / "faces_rest").glob("*.png"))
    assert len(kept) == 6 and len(rest) == 12
    assert sorted(turn[k] for k in kept) == [0, 0, 1, 1, 2, 2], "two faces from each head turn"
    assert not blurred & set(kept), "a blurred face was chosen over sharp ones at the same pose"


def test_a_sort_killed_half_way_is_put_right_by_clean(shots, tmp_path, monkeypatch):
    import os

    from facegraft.faceset import collection

    shot = copy_shot(shots["astronaut"], tmp_path / "killed")
    before = {read_face_tags(p)["face_id"]: p.read_bytes() for p in (shot / "faces").glob("*.png")}
    calls = {"n": 0}
    real_replace = os.replace

    def dying_replace(src, dst):
        calls["n"] += 1
        if calls["n"] == 25:  # after all files went to temporary names and a few reached their targets
            raise KeyboardInterrupt
        return real_replace(src, dst)

    monkeypatch.setattr(collection.os, "replace", dying_replace)
    assert facegraft("faceset", "sort", shot, "--by", "blur") == 130
    monkeypatch.setattr(collection.os, "replace", real_replace)
    assert list((shot / "faces").glob(".facegraft-moving-*")), "the kill should leave files in flight"
    assert facegraft("faceset", "clean", shot) == 0
    after = {read_face_tags(p)["face_id"]: p.read_bytes() for p in (shot / "faces").glob("*.png")}
    assert after == before, "every face image is back, unchanged"
    with AlignmentsStore.open(shot) as store:
        faces = store.faces()
    assert len(faces) == len(before)
    assert all(
        f.image == f"{f.frame:06d}_{f.index}.png" and (shot / "faces" / f.image).is_file() for f in faces
    )


def summary_of(capsys, *args: object) -> dict:
    """Run a faceset command with --progress json and return its summary line."""
    capsys.readouterr()
    assert facegraft_main([str(a) for a in args] + ["--progress", "json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return next(line for line in lines if line.get("event") == "summary")


def test_faces_flagged_unreliable_are_counted_and_skipped_unless_asked(shots, tmp_path, capsys):
    from facegraft.store.alignments import LANDMARKS_UNRELIABLE

    shot = copy_shot(shots["astronaut"], tmp_path / "flagged")
    with AlignmentsStore.open(shot) as store:
        marked = [f.id for f in store.faces()[::6]]  # as extraction flags a failed 68-point fit
        places = {(f.frame, f.index) for f in store.faces()[::6]}
        with store.edit("flag") as edit:
            for face_id in marked:
                face = edit.expect(face_id, store.face_revision(face_id))
                face.flags, face.landmark_confidence = (LANDMARKS_UNRELIABLE,), 0.1
                edit.replace_face(face)
    assert len(marked) == 3

    report = summary_of(capsys, "faceset", "report", shot, "-o", tmp_path / "report.html")
    assert report["source_flags"] == {LANDMARKS_UNRELIABLE: 3}
    page = (tmp_path / "report.html").read_text()
    assert f'data-flag="{LANDMARKS_UNRELIABLE}" data-faces="3">3 flagged {LANDMARKS_UNRELIABLE}' in page

    merged = summary_of(capsys, "faceset", "merge", shot, shots["grace_hopper"], "-o", tmp_path / "m")
    assert (merged["faces"], merged["skipped_unreliable"]) == (18 - 3 + 12, 3)
    everything = summary_of(
        capsys, "faceset", "merge", shot, "-o", tmp_path / "m_all", "--include-unreliable"
    )
    assert (everything["faces"], everything["skipped_unreliable"]) == (18, 0)
    with AlignmentsStore.open(tmp_path / "m") as m, AlignmentsStore.open(tmp_path / "m_all") as m_all:
        assert m.stats()["flagged_faces"] == 0 and m_all.stats()["flagged_faces"] == 3
        assert {f.landmark_confidence for f in m_all.flagged_faces()} == {0.1}

    exported = summary_of(capsys, "faceset", "export", shot, "-o", tmp_path / "e", "--size", "64")
    assert (exported["faces"], exported["skipped_unreliable"]) == (15, 3)
    with AlignmentsStore.open(tmp_path / "e") as e:
        assert (
            len(e.faces()) == 15
            and not e.flagged_faces()
            and not places & {(f.frame, f.index) for f in e.faces()}
        )
    capsys.readouterr()
    assert (
        facegraft_main(
            ["faceset", "export", str(shot), "-o", str(tmp_path / "e_all"), "--include-unreliable"]
        )
        == 0
    )
    assert capsys.readouterr().out.startswith("wrote 18 ")
    assert facegraft_main(["faceset", "merge", str(shot), "-o", str(tmp_path / "m2")]) == 0
    assert (
        "3 flagged landmarks-unreliable skipped (--include-unreliable takes them)" in capsys.readouterr().out
    )
