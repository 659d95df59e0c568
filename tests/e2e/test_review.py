"""The review page, the way a compositor uses it: a shot with a second person in one frame, a face the
detector missed and one it could not see upside down is opened in (headless) Chromium; the wrong person is
deleted, a landmark dragged, a missed face boxed, a mask stroke painted and a mistake undone with the
keyboard and the mouse; then `facegraft alignments export` must show exactly those changes and nothing
else. Two tabs editing one face: the second gets a conflict message and the store stays whole."""

from __future__ import annotations

import http.client
import json
import shutil
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import cv2
import numpy as np
import pytest

from facegraft.cli import main as facegraft_main
from facegraft.extract.pipeline import ExtractOptions, extract
from facegraft.geometry.alignment import transform_points
from facegraft.review.masks import LABEL
from facegraft.sample_plates import Move, render, write_png_sequence
from facegraft.store.alignments import LANDMARKS_UNRELIABLE, AlignmentsStore
from facegraft.store.face_images import read_face_tags

CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "build" / "test-artifacts" / "review_page.png"
CANVAS = (880, 520)  # plate width, height
SIZE = 256  # aligned crop size
# Frame 1: the astronaut; 2: the astronaut and Grace Hopper; 3: the astronaut (her face is then removed
# from the store: a face the detector missed); 4: the astronaut upside down (found; removed as well, to be
# added back by hand as a face an older detector missed, and turned).
MOVES = {
    1: Move(scale=0.9, shift=(-150, 0)),
    2: Move(scale=0.9, shift=(-140, 5)),
    3: Move(scale=0.9, shift=(-120, -8)),
    4: Move(angle=180, scale=0.9, shift=(-150, 0)),
}
DRAG = (15, -10)  # screen pixels a landmark is dragged by
POINT = 30  # the tip of the nose


def facegraft(*args: object) -> int:
    return facegraft_main([str(a) for a in args] + ["--quiet"])


def plate_frame(photos, frame: int) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) uint8 plate frame and the (2, 3) astronaut photo -> plate matrix."""
    image, matrix = render(photos["astronaut"], MOVES[frame], CANVAS)
    if frame == 2:
        other = cv2.resize(photos["grace_hopper"], None, fx=0.55, fy=0.55, interpolation=cv2.INTER_AREA)
        x = CANVAS[0] - other.shape[1] - 10
        image[40 : 40 + other.shape[0], x : x + other.shape[1]] = other
    return image, matrix


@pytest.fixture(scope="module")
def world(tmp_path_factory, photos, reference_landmarks, start_engine) -> dict:
    root = tmp_path_factory.mktemp("review")
    frames = [plate_frame(photos, f) for f in sorted(MOVES)]
    write_png_sequence([f for f, _ in frames], root / "plate" / "plate.%04d.png", first=1)
    shot = root / "shot"
    # Not grouped into persons, so every face starts at revision 1 and the edits below count from there
    # (the person panel is driven in test_review_persons.py).
    opts = ExtractOptions(detect_every=1, size=SIZE, persons=False)
    summary = extract(root / "plate" / "plate.####.png", shot, opts, progress_mode="quiet")
    assert summary.faces == 5 and summary.frames_without_faces == [], summary
    with AlignmentsStore.open(shot) as store:
        missed = store.faces(3)[0]
        (flagged,) = store.faces(4)
    # The faces of frames 3 and 4 go, as a user removes them: images deleted, then `remove-deleted`.
    (shot / "faces" / missed.image).unlink()
    (shot / "faces" / flagged.image).unlink()
    assert facegraft("alignments", "remove-deleted", shot) == 0
    shutil.copytree(shot, root / "shot_b")
    shutil.copytree(shot, root / "shot_c")
    truth = {
        f: transform_points(reference_landmarks["astronaut"], m) for f, (_, m) in zip(sorted(MOVES), frames)
    }
    home = root / "home"
    start_engine(home, root)
    info = json.loads((home / "service" / "service.json").read_text())
    token = (home / "service" / "token").read_text().strip()
    return {
        "root": root,
        "shot": shot,
        "missed": missed,
        "truth": truth,
        "home": home,
        "port": info["port"],
        "token": token,
    }


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium, headless, driven by Debian's chromedriver (Selenium Manager never runs: the
    driver's path is given)."""
    if not CHROMEDRIVER.is_file():
        pytest.skip(
            "Debian's chromedriver is missing (apt-get install chromium-driver; `make test` installs it)"
        )
    pytest.importorskip("selenium", reason="selenium is in the dev extra (`make test` installs it)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    flags = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
             "--window-size=1400,1050", "--force-device-scale-factor=1", "--disable-background-networking",
             "--disable-component-update", "--disable-sync"]  # fmt: skip
    for flag in flags:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


# -- driving the page -------------------------------------------------------------------------------------
STATE_JS = """
const svg = document.getElementById('frame-view'), canvas = document.getElementById('mask-canvas');
const msg = document.getElementById('message'), ctm = svg.getScreenCTM();
return {ready: document.body.dataset.ready, busy: document.body.dataset.busy,
  frame: Number(svg.dataset.frame),
  faces: [...document.querySelectorAll('#faces g.face')].map(g => ({id: Number(g.dataset.faceId),
    revision: Number(g.dataset.revision), selected: g.classList.contains('selected')})),
  message: msg.hidden ? '' : msg.textContent, kind: msg.className,
  mask: {face: canvas.dataset.faceId, revision: canvas.dataset.revision},
  ctm: [ctm.a, ctm.b, ctm.c, ctm.d, ctm.e, ctm.f],
  reviewed: [...document.querySelectorAll('#timeline .tick.reviewed')].map(t => Number(t.dataset.frame))};
"""


def page(driver) -> dict:
    return driver.execute_script(STATE_JS)


def wait_for(driver, test, what: str, timeout: float = 30.0) -> dict:
    """The page state once `test(state)` holds and no request is in flight."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    seen: dict = {}

    def ready(d) -> dict | bool:
        seen.update(page(d))
        return dict(seen) if seen["ready"] == "1" and seen["busy"] == "0" and test(seen) else False

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.05).until(ready)
    except TimeoutException:
        raise AssertionError(f"the page never showed {what}: {seen}") from None


def keys(driver, *sequence: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).send_keys(*sequence).perform()


def to_client(state: dict, x: float, y: float) -> tuple[int, int]:
    """Plate pixels -> whole viewport pixels through the frame view's current transform."""
    a, b, c, d, e, f = state["ctm"]
    return round(a * x + c * y + e), round(b * x + d * y + f)


def drag_landmark(driver, face_id: int, point: int, by: tuple[int, int]) -> None:
    """A real mouse drag of one landmark circle."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    dot = driver.find_element(
        By.CSS_SELECTOR, f'g.face[data-face-id="{face_id}"] circle[data-point="{point}"]'
    )
    ActionChains(driver).move_to_element(dot).click_and_hold().move_by_offset(*by).release().perform()


def mouse_drag(driver, start: tuple[int, int], end: tuple[int, int]) -> None:
    """Press at `start`, move to `end`, release (viewport pixels)."""
    from selenium.webdriver.common.action_chains import ActionChains

    actions = ActionChains(driver)
    pointer = actions.w3c_actions.pointer_action
    pointer.move_to_location(*start)
    pointer.pointer_down()
    pointer.move_to_location((start[0] + end[0]) // 2, (start[1] + end[1]) // 2)
    pointer.move_to_location(*end)
    pointer.pointer_up()
    actions.perform()


def open_page(driver, url: str) -> dict:
    driver.get(url)
    return wait_for(driver, lambda s: s["frame"] > 0, "the shot")


def review_url(world: dict, shot: Path, monkeypatch, capsys) -> str:
    """The address `facegraft review SHOT --no-browser` prints for the running service."""
    monkeypatch.setenv("FACEGRAFT_HOME", str(world["home"]))
    capsys.readouterr()
    assert facegraft_main(["review", str(shot), "--no-browser"]) == 0
    url = capsys.readouterr().out.strip().splitlines()[0]
    assert url.startswith(f"http://127.0.0.1:{world['port']}/review/") and f"token={world['token']}" in url
    return url


def export(shot: Path, path: Path) -> dict:
    assert facegraft("alignments", "export", shot, "--json", path) == 0
    return {f["frame"]: f for f in json.loads(path.read_text())["frames"]}


def segment_distance(shape: tuple[int, int], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(H, W) distance of every pixel centre to the segment a-b."""
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(np.float64)
    p = np.stack([xx, yy], -1)
    ab = b - a
    t = np.clip(((p - a) @ ab) / max(float(ab @ ab), 1e-9), 0, 1)
    return np.linalg.norm(p - (a + t[..., None] * ab), axis=-1)


# -- the tests ----------------------------------------------------------------------------------------------
def test_review_page_fixes_a_shot_and_the_export_shows_exactly_those_fixes(
    world, browser, monkeypatch, capsys, tmp_path
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    shot = world["shot"]
    before = export(shot, tmp_path / "before.json")
    images_before = {p.name: p.read_bytes() for p in (shot / "faces").glob("*.png")}
    target_id, wrong_id = (f["id"] for f in sorted(before[2]["faces"], key=lambda f: f["box"][0]))
    first_id = before[1]["faces"][0]["id"]
    assert before[3]["faces"] == [] and before[4]["faces"] == []

    url = review_url(world, shot, monkeypatch, capsys)
    state = open_page(browser, url)
    assert "token" not in browser.current_url, "the token must leave the address bar"
    cookie = next(c for c in browser.get_cookies() if c["name"].startswith("facegraft_review_"))
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["value"] != world["token"]
    assert state["frame"] == 1

    # Step to the multi-face frame with the keyboard; Tab to the wrong person and delete her.
    keys(browser, "n")
    state = wait_for(browser, lambda s: s["frame"] == 2 and len(s["faces"]) == 2, "frame 2 with two faces")
    keys(browser, Keys.TAB, Keys.TAB)
    state = wait_for(browser, lambda s: any(f["selected"] for f in s["faces"]), "a selected face")
    assert [f["id"] for f in state["faces"] if f["selected"]] == [wrong_id]
    keys(browser, Keys.DELETE)
    wait_for(browser, lambda s: [f["id"] for f in s["faces"]] == [target_id], "the wrong person gone")

    # Frame 1: select the face, zoom in, drag the nose tip with the mouse.
    keys(browser, Keys.ARROW_LEFT, Keys.TAB, "z")
    state = wait_for(browser, lambda s: s["frame"] == 1 and s["faces"][0]["selected"], "frame 1 zoomed")
    scale = state["ctm"][0]  # screen pixels per plate pixel
    assert scale > 1.5, f"zoomed in on the face: {scale}"
    drag_landmark(browser, first_id, POINT, DRAG)
    state = wait_for(
        browser, lambda s: s["faces"][0]["revision"] == 2 and s["mask"]["revision"] == "2", "the drag"
    )

    # Paint an exclude stroke across the lower face in the mask editor.
    canvas = browser.find_element(By.ID, "mask-canvas")
    rect = browser.execute_script(
        "const r = arguments[0].getBoundingClientRect(); return [r.left, r.top, r.width];", canvas
    )
    crop_to_client = lambda x, y: (round(rect[0] + x * rect[2] / SIZE), round(rect[1] + y * rect[2] / SIZE))  # noqa: E731
    start, end = crop_to_client(0.3 * SIZE, 0.74 * SIZE), crop_to_client(0.7 * SIZE, 0.74 * SIZE)
    mouse_drag(browser, start, end)
    wait_for(browser, lambda s: s["mask"]["revision"] == "3", "the painted stroke")
    stroke = [
        np.array([(c[0] - rect[0]) * SIZE / rect[2], (c[1] - rect[1]) * SIZE / rect[2]]) for c in (start, end)
    ]
    radius = 16 * SIZE / rect[2]  # the default brush: 16 screen pixels

    # The missed face: the next problem frame is frame 3; draw a box where the detector's box was.
    keys(browser, "n")
    state = wait_for(browser, lambda s: s["frame"] == 3 and not s["faces"], "frame 3, no face")
    keys(browser, "b")
    box = world["missed"].box
    mouse_drag(browser, to_client(state, box[0], box[1]), to_client(state, box[2], box[3]))
    state = wait_for(browser, lambda s: len(s["faces"]) == 1, "the added face")
    new_id = state["faces"][0]["id"]

    # A mistake on frame 2 (the right person deleted), undone with Ctrl+Z; then the frame is accepted.
    keys(browser, Keys.ARROW_LEFT, Keys.TAB, Keys.DELETE)
    wait_for(browser, lambda s: s["frame"] == 2 and not s["faces"], "frame 2 emptied by mistake")
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(browser).key_down(Keys.CONTROL).send_keys("z").key_up(Keys.CONTROL).perform()
    wait_for(browser, lambda s: [f["id"] for f in s["faces"]] == [target_id], "the undone delete")
    keys(browser, "a")
    state = wait_for(browser, lambda s: s["reviewed"] == [2] and s["frame"] == 4, "frame 2 accepted")

    # Back to frame 1 for the picture people look at, the window as tall as the page.
    browser.find_element(By.CSS_SELECTOR, '#timeline .tick[data-frame="1"]').click()
    keys(browser, Keys.TAB)
    wait_for(browser, lambda s: s["frame"] == 1 and s["mask"]["revision"] == "3", "frame 1 again")
    for _ in range(2):  # the frame view grows with the window, up to a limit
        need, chrome = browser.execute_script(
            "return [document.documentElement.scrollHeight, window.outerHeight - window.innerHeight]"
        )
        browser.set_window_size(1400, need + chrome)
    wait_for(browser, lambda s: s["frame"] == 1, "the taller page")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOT))
    print(f"review page screenshot: {SCREENSHOT}")

    # The export shows exactly those changes.
    after = export(shot, tmp_path / "after.json")
    assert sorted(after) == sorted(before) == [1, 2, 3, 4]
    assert after[4] == before[4]
    assert after[2]["faces"] == [f for f in before[2]["faces"] if f["id"] == target_id], (
        "only the wrong person went"
    )
    (old,), (new,) = before[1]["faces"], after[1]["faces"]
    moved = np.subtract(new["landmarks"][POINT], old["landmarks"][POINT])
    np.testing.assert_allclose(
        moved, np.array(DRAG) / scale, atol=0.02, err_msg="dragged by the mouse's amount"
    )
    others = [i for i in range(68) if i != POINT]
    assert np.array_equal(np.array(new["landmarks"])[others], np.array(old["landmarks"])[others])
    assert {k: v for k, v in new.items() if k not in ("landmarks", "pose")} == {
        k: v for k, v in old.items() if k not in ("landmarks", "pose")
    }
    # The pose follows the nose: moved right and up, the head reads as turned right and looking up.
    d_yaw, d_pitch, d_roll = np.subtract(new["pose"], old["pose"])
    assert d_yaw > 2 and d_pitch > 1 and abs(d_roll) < 0.5, (d_yaw, d_pitch, d_roll)
    (added,) = after[3]["faces"]
    assert added["id"] == new_id > max(f["id"] for r in before.values() for f in r["faces"])
    lms = np.array(added["landmarks"])
    off_found = np.linalg.norm(lms - world["missed"].landmarks, axis=1)
    off_truth = np.linalg.norm(lms - world["truth"][3], axis=1)
    assert off_found.max() < 3.0, f"the added face's landmarks are {off_found.max():.2f} px from extraction's"
    assert off_truth.mean() < 2.5, f"the added face's landmarks are {off_truth.mean():.2f} px from the truth"

    # The painted mask, in the face's crop: the stroke is out, the rest is the landmark mask it started from.
    with AlignmentsStore.open(shot) as store:
        masks = store.masks(first_id)
        reviewed, kinds = store.reviewed_frames(), [(e.kind, e.undone) for e in store.edits()]
        added_face = store.face(new_id)
    label, base = masks[LABEL], np.where(masks["extended"] >= 128, 255, 0)
    assert label.shape == (SIZE, SIZE) and set(np.unique(label)) <= {0, 255}
    dist = segment_distance(label.shape, *stroke)
    assert (label[dist <= radius - 1.5] == 0).all() and (base[dist <= radius - 1.5] == 255).sum() > 500
    assert np.array_equal(label[dist >= radius + 1.5], base[dist >= radius + 1.5])
    assert list(reviewed) == [2]
    assert kinds == [("delete", False), ("landmark", False), ("mask", False), ("add", False),
                     ("delete", True), ("accept", False)]  # fmt: skip

    # Face images: rewritten for the edited faces only.
    images_after = {p.name: p.read_bytes() for p in (shot / "faces").glob("*.png")}
    assert set(images_after) == (set(images_before) - {"000002_1.png"}) | {added_face.image}
    assert images_after["000002_0.png"] == images_before["000002_0.png"], (
        "the undone delete left it as it was"
    )
    assert images_after["000001_0.png"] != images_before["000001_0.png"], "the dragged face is cropped again"
    assert read_face_tags(shot / "faces" / added_face.image)["face_id"] == str(new_id)


def request(port: int, method: str, path: str, body: dict | None = None, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    data = None if body is None else json.dumps(body).encode()
    conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
    reply = conn.getresponse()
    out = reply.status, reply.read(), dict(reply.getheaders())
    conn.close()
    return out


def test_two_tabs_on_one_face_get_a_conflict_and_the_store_stays_whole(world, browser, monkeypatch, capsys):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    shot = world["root"] / "shot_b"
    with AlignmentsStore.open(shot) as store:
        kept_frame2 = min(store.faces(2), key=lambda f: f.box[0]).id
    url = review_url(world, shot, monkeypatch, capsys)
    auth = {"X-Facegraft-Token": world["token"]}
    api = "/v1/review/{}?shot=" + str(shot)
    # The token rules: the page needs the token once, then its cookie opens the review routes only.
    path = urlparse(url).path
    assert request(world["port"], "GET", path)[0] == 401
    assert request(world["port"], "GET", f"{path}?token={'x' * 43}")[0] == 401
    status, _, headers = request(world["port"], "GET", f"{path}?token={world['token']}")
    assert status == 303 and headers["location"] == path and "HttpOnly" in headers["set-cookie"]
    cookie = {"Cookie": headers["set-cookie"].split(";")[0]}
    assert request(world["port"], "GET", api.format("shot"), headers=cookie)[0] == 200
    assert request(world["port"], "GET", "/v1/status", headers=cookie)[0] == 401

    open_page(browser, url)
    first = browser.current_window_handle
    browser.switch_to.new_window("tab")
    state = open_page(browser, url)
    (face,) = state["faces"]
    face_id = face["id"]
    # Tab A moves a landmark; tab B, still showing the old revision, moves another one of the same face.
    browser.switch_to.window(first)
    drag_landmark(browser, face_id, POINT, (6, 6))
    wait_for(browser, lambda s: s["faces"][0]["revision"] == 2, "tab A's edit")
    browser.switch_to.window(browser.window_handles[-1])
    drag_landmark(browser, face_id, 36, (-6, 4))
    state = wait_for(browser, lambda s: s["kind"] == "conflict", "a conflict message")
    assert (
        f"face {face_id} was changed elsewhere" in state["message"]
        and "Nothing was changed" in state["message"]
    )
    assert browser.find_element(By.ID, "message").is_displayed()
    assert state["faces"][0]["revision"] == 2, "the tab reloaded the current state"
    with AlignmentsStore.open(shot) as store:
        kept = store.face(face_id)
        other = max(store.faces(2), key=lambda f: f.box[0])  # Grace Hopper
    browser.close()
    browser.switch_to.window(first)

    # Tab A again: Grace Hopper's box made bigger by its corner (the landmarks are found again inside it),
    # then her whole identity dropped as not the target.
    keys(browser, Keys.ARROW_RIGHT, Keys.TAB, Keys.TAB)
    state = wait_for(
        browser, lambda s: s["frame"] == 2 and s["faces"][1]["selected"], "Grace Hopper selected"
    )
    handle = browser.find_element(By.CSS_SELECTOR, f'g.face[data-face-id="{other.id}"] rect.handle')
    ActionChains(browser).move_to_element(handle).click_and_hold().move_by_offset(10, 8).release().perform()
    wait_for(browser, lambda s: s["faces"][1]["revision"] == 2, "the new box")
    with AlignmentsStore.open(shot) as store:
        reboxed = store.face(other.id)
    np.testing.assert_allclose(
        np.subtract(reboxed.box, other.box), [0, 0, *(np.array([10, 8]) / state["ctm"][0])], atol=0.02
    )
    assert np.linalg.norm(reboxed.landmarks - other.landmarks, axis=1).mean() < 2.0, "found again in the box"
    drop = browser.find_element(
        By.XPATH, f'//section[@class="group"][.//img[@data-face-id="{other.id}"]]//button[@class="drop"]'
    )
    assert drop.text == "Not the target: drop this face"
    drop.click()
    wait_for(browser, lambda s: [f["id"] for f in s["faces"]] == [kept_frame2], "Grace Hopper gone")

    # Eight editors at once against the same revision: one wins, seven are refused, nothing is torn.
    barrier = threading.Barrier(8)
    x, y = (float(v) for v in kept.landmarks[48])

    def one(i: int) -> int:
        body = {"kind": "landmark", "face": {"id": face_id, "revision": 2}, "point": 48, "x": x + i, "y": y}
        barrier.wait()
        return request(world["port"], "POST", api.format("edit"), body, auth)[0]

    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(one, range(8)))
    assert statuses == [200] + [409] * 7, statuses
    status, body, _ = request(world["port"], "POST", api.format("undo"), {"edit": 1}, auth)
    assert status == 409 and "not the latest" in json.loads(body)["error"]

    # The upside-down face of frame 4: a box gives poor landmarks; found again turned 180 degrees, right.
    truth = world["truth"][4]
    lo, hi = truth.min(0), truth.max(0)
    box = [*(lo - 0.1 * (hi - lo)), *(hi + 0.1 * (hi - lo))]
    assert (
        request(world["port"], "POST", api.format("edit"), {"kind": "add", "frame": 4, "box": box}, auth)[0]
        == 200
    )
    with AlignmentsStore.open(shot) as store:
        (upside,) = store.faces(4)
    turn = {"kind": "turn", "face": {"id": upside.id, "revision": upside.revision}, "degrees": 180}
    assert request(world["port"], "POST", api.format("edit"), turn, auth)[0] == 200

    db = shot / "alignments.db"
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    conn.close()
    with AlignmentsStore.open(shot) as store:
        face = store.face(face_id)
        turned = store.face(upside.id)
        kinds = [e.kind for e in store.edits()]
    assert kinds == ["landmark", "box", "not-target", "landmark", "add", "turn"]
    assert face.revision == 3 and np.array_equal(face.landmarks[36], kept.landmarks[36]), (
        "tab B changed nothing"
    )
    assert face.landmarks[POINT].tolist() == kept.landmarks[POINT].tolist(), "tab A's edit stands"
    assert x <= face.landmarks[48][0] <= x + 7 and face.landmarks[48][1] == pytest.approx(y, abs=1e-3)
    assert np.linalg.norm(upside.landmarks - truth, axis=1).mean() > 10, (
        "a plain box cannot fit it upside down"
    )
    assert np.linalg.norm(turned.landmarks - truth, axis=1).mean() < 2.0, "turned, the face is found right"


MARKS_JS = """
const tick = (n) => document.querySelector(`#timeline .tick[data-frame="${n}"]`);
const g = document.querySelector('#faces g.face');
return {cuts: [...document.querySelectorAll('#timeline .tick.cut')].map(t => Number(t.dataset.frame)),
  flagged: [...document.querySelectorAll('#timeline .tick.flagged')].map(t => Number(t.dataset.frame)),
  title: tick(3).title, counts: document.getElementById('counts').textContent,
  face: g.getAttribute('class'), badge: (g.querySelector('text.flag-badge') || {}).textContent || '',
  fill: getComputedStyle(g.querySelector('circle.lm')).fill};
"""


def test_timeline_marks_cuts_and_flagged_faces_and_the_frame_labels_them(world, browser, monkeypatch, capsys):
    """Extraction's cut and flags, as the page shows them: a cut mark before frame 3, frame 1 marked for
    its flagged face, and that face labelled and drawn in another colour."""
    shot = world["root"] / "shot_c"
    with AlignmentsStore.open(shot) as store:
        one, three = store.frame(1, load_masks=True), store.frame(3)
        one.faces[0].flags, one.faces[0].landmark_confidence = (LANDMARKS_UNRELIABLE,), 0.2
        three.cut = True
        store.write_frames([one, three])
    open_page(browser, review_url(world, shot, monkeypatch, capsys))
    marks = wait_for(browser, lambda s: s["frame"] == 1 and len(s["faces"]) == 1, "frame 1") and (
        browser.execute_script(MARKS_JS)
    )
    assert marks["cuts"] == [3] and marks["flagged"] == [1]
    assert "hard cut" in marks["title"] and "2 shots" in marks["counts"]
    assert "1 with flagged faces" in marks["counts"]
    assert "flagged" in marks["face"].split() and marks["badge"] == "⚠ landmarks unreliable (0.20)"
    assert marks["fill"] == "rgb(255, 93, 93)", "a flagged face's landmarks are drawn red"
    assert browser.save_screenshot(str(SCREENSHOT.with_name("review_page_flags.png")))


def test_review_command_starts_an_engine_service_for_the_shot_when_none_runs(
    world, tmp_path, monkeypatch, capsys
):
    home = tmp_path / "home"
    monkeypatch.setenv("FACEGRAFT_HOME", str(home))
    capsys.readouterr()
    assert facegraft_main(["review", str(world["shot"]), "--no-browser", "--progress", "json"]) == 0
    said = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    info = json.loads((home / "service" / "service.json").read_text())
    try:
        assert said["started"] is True and said["port"] == info["port"]
        assert info["roots"] == [str(world["shot"]), str(world["root"] / "plate")], (
            "the shot and its plate only"
        )
        parts = urlparse(said["url"])
        status, _, headers = request(info["port"], "GET", f"{parts.path}?{parts.query}")
        assert status == 303
        cookie = {"Cookie": headers["set-cookie"].split(";")[0]}
        status, body, _ = request(
            info["port"], "GET", f"/v1/review/shot?shot={world['shot']}", headers=cookie
        )
        assert status == 200 and [f["frame"] for f in json.loads(body)["frames"]] == [1, 2, 3, 4]
        other = world["root"] / "shot_b"
        assert request(info["port"], "GET", f"/v1/review/shot?shot={other}", headers=cookie)[0] == 403
    finally:
        stop_child_service(info, (home / "service" / "token").read_text().strip())


def stop_child_service(info: dict, token: str, timeout: float = 30.0) -> None:
    """Stop a service this test process started (through the client) and reap it: it is our child, so it
    would stay a zombie, which `serve --stop` waits on, until we wait for it."""
    import os
    import signal
    import time

    request(info["port"], "POST", "/v1/shutdown", headers={"X-Facegraft-Token": token})
    pid, deadline = int(info["pid"]), time.monotonic() + timeout
    while os.waitpid(pid, os.WNOHANG)[0] == 0:
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise AssertionError("the service did not stop when asked")
        time.sleep(0.05)
