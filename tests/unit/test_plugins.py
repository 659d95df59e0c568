"""Detector and landmarker plugins: registries, errors for unknown names and missing or wrong weights,
and the shipped detectors finding the face in a real photo."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from facegraft.errors import InputError, ModelFileError
from facegraft.extract import model_files
from facegraft.extract.detectors import DETECTORS, make_detector
from facegraft.extract.landmarkers import LANDMARKERS, make_landmarker

DOCUMENTED_DETECTORS = {"dlib-hog", "dlib-mmod", "haar", "sfd"}
DOCUMENTED_LANDMARKERS = {"dlib68", "fan"}
# File names face-alignment downloads into torch.hub's cache (its own URLs end in these names).
SFD_FILE = "s3fd-619a316812.pth"
FAN_FILE = "2DFAN4-11f355bf06.pth.tar"


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / area)


def _landmark_box(landmarks: np.ndarray) -> np.ndarray:
    return np.concatenate([landmarks.min(0), landmarks.max(0)])


@pytest.fixture
def empty_torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "torch_home"
    home.mkdir()
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return home


@pytest.fixture
def fast_fan_cpu(monkeypatch: pytest.MonkeyPatch):
    """Skip two one-off warm-up costs of a first FAN call in a process, ~25 s on a 2-core CPU together:
    oneDNN's (~8 s on each of the first two calls; the plain kernels take ~0.5 s) and numba compiling
    face-alignment's heat-map decoding (~10 s; its plain-Python body does the same in milliseconds)."""
    torch = pytest.importorskip("torch")
    fa_utils = pytest.importorskip("face_alignment.utils")
    was = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    for name in ("_get_preds_fromhm", "transform_np"):
        fn = getattr(fa_utils, name)
        monkeypatch.setattr(fa_utils, name, getattr(fn, "py_func", fn))
    yield torch
    torch.backends.mkldnn.enabled = was


# --- registries --------------------------------------------------------------------------------------


def test_registries_list_the_documented_names() -> None:
    assert DOCUMENTED_DETECTORS <= set(DETECTORS)
    assert DOCUMENTED_LANDMARKERS <= set(LANDMARKERS)
    for name, cls in {**DETECTORS, **LANDMARKERS}.items():
        assert cls.name == name


def test_unknown_detector_is_an_input_error_listing_choices() -> None:
    with pytest.raises(InputError) as err:
        make_detector("nope")
    assert "nope" in str(err.value)
    for name in DOCUMENTED_DETECTORS:
        assert name in str(err.value)
    assert err.value.exit_code == 2


def test_unknown_landmarker_is_an_input_error_listing_choices() -> None:
    with pytest.raises(InputError) as err:
        make_landmarker("nope")
    assert "nope" in str(err.value)
    for name in DOCUMENTED_LANDMARKERS:
        assert name in str(err.value)


def test_shipped_model_finds_the_dlib_files() -> None:
    for key in ("shape_predictor_68", "shape_predictor_5", "mmod", "face_recognition"):
        path = model_files.shipped_model(key)
        assert path.is_file() and path.suffix == ".dat" and path.stat().st_size > 10_000


def test_require_file_names_the_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such.dat"
    with pytest.raises(ModelFileError) as err:
        model_files.require_file(missing, "test weights")
    assert str(missing) in str(err.value) and "test weights" in str(err.value)
    assert model_files.require_file(__file__, "this file") == Path(__file__)


def test_torch_hub_checkpoints_follows_torch_home(empty_torch_home: Path) -> None:
    assert model_files.torch_hub_checkpoints() == empty_torch_home / "hub" / "checkpoints"


# --- detectors on a real photo -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["dlib-hog", "haar"])
def test_detector_finds_the_astronaut(photos, reference_landmarks, name: str) -> None:
    found = make_detector(name).detect(photos["astronaut"])
    assert found, f"{name} found no face"
    best = found[0]
    assert best.box.shape == (4,) and np.isfinite(best.score)
    assert _iou(best.box, _landmark_box(reference_landmarks["astronaut"])) > 0.3
    assert [d.score for d in found] == sorted((d.score for d in found), reverse=True)


def test_dlib_mmod_finds_the_astronaut(photos, reference_landmarks) -> None:
    start = time.monotonic()
    found = make_detector("dlib-mmod").detect(photos["astronaut"])
    assert time.monotonic() - start < 10
    assert found
    assert _iou(found[0].box, _landmark_box(reference_landmarks["astronaut"])) > 0.3


def test_detector_finds_nothing_in_a_plate_without_faces() -> None:
    grey = np.full((480, 640, 3), 128, np.uint8)
    assert make_detector("dlib-hog").detect(grey) == []


def test_detector_boxes_are_in_full_frame_pixels(photos, reference_landmarks) -> None:
    """Detection runs on a frame downscaled to `detect_width`; boxes come back in the frame's pixels."""
    photo = photos["astronaut"]
    big = np.ascontiguousarray(np.repeat(np.repeat(photo, 2, axis=0), 2, axis=1))  # 1024 x 1024
    found = make_detector("dlib-hog", detect_width=512).detect(big)
    assert found
    assert _iou(found[0].box, 2 * _landmark_box(reference_landmarks["astronaut"])) > 0.3


# --- missing and wrong weights -----------------------------------------------------------------------


def test_sfd_without_weights_names_the_expected_file(empty_torch_home: Path) -> None:
    with pytest.raises(ModelFileError) as err:
        make_detector("sfd")
    expected = empty_torch_home / "hub" / "checkpoints" / SFD_FILE
    assert str(expected) in str(err.value)
    assert err.value.exit_code == 2


def test_fan_without_weights_names_the_expected_file(empty_torch_home: Path) -> None:
    with pytest.raises(ModelFileError) as err:
        make_landmarker("fan")
    expected = empty_torch_home / "hub" / "checkpoints" / FAN_FILE
    assert str(expected) in str(err.value)


def test_fan_with_a_missing_weights_path_names_it(tmp_path: Path, empty_torch_home: Path) -> None:
    path = tmp_path / "nowhere.pth"
    with pytest.raises(ModelFileError) as err:
        make_landmarker("fan", weights=str(path))
    assert str(path) in str(err.value)


def test_fan_with_a_file_that_is_not_a_state_dict(tmp_path: Path, empty_torch_home: Path) -> None:
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"this is not a torch file\n" * 10)
    with pytest.raises(ModelFileError) as err:
        make_landmarker("fan", weights=str(junk))
    assert str(junk) in str(err.value)


def test_fan_with_a_state_dict_of_another_model(tmp_path: Path, empty_torch_home: Path) -> None:
    torch = pytest.importorskip("torch")
    other = tmp_path / "other.pth"
    torch.save(torch.nn.Linear(3, 2).state_dict(), other)
    with pytest.raises(ModelFileError) as err:
        make_landmarker("fan", weights=str(other))
    assert str(other) in str(err.value)


def test_fan_with_random_weights_runs(
    tmp_path: Path, empty_torch_home: Path, photos, reference_landmarks, fast_fan_cpu
) -> None:
    """A FAN-4 with random weights loads from a file and gives 68 finite points for the reference box.

    Random weights say nothing about accuracy: this checks loading, cropping and the heat-map decoding
    only. The accuracy of real weights can't be tested offline (they are not shipped)."""
    torch = fast_fan_cpu
    from face_alignment.models import FAN

    torch.manual_seed(0)
    path = tmp_path / "fan_random.pth"
    torch.save(FAN(4).state_dict(), path)
    lmk = make_landmarker("fan", weights=str(path))
    box = _landmark_box(reference_landmarks["astronaut"])
    pts = lmk.landmarks_in_box(photos["astronaut"], box)
    assert pts.shape == (68, 2) and pts.dtype == np.float64
    assert np.all(np.isfinite(pts))
    # Heat-map peaks lie in the crop around the box (FAN's crop is about 1.6 box widths around it).
    side = box[2] - box[0]
    assert np.all(pts >= box[:2] - 1.5 * side) and np.all(pts <= box[2:] + 1.5 * side)
