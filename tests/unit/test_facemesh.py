"""The default landmarker, MediaPipe Face Mesh read as the 68 iBUG points: it ships with the engine under a
licence that allows commercial use, its points sit on the face where an independent model puts them, the jaw
follows the visible cheek edge of a turned head, and building it prints nothing."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from importlib import resources

import numpy as np
import pytest

from facegraft.extract.detectors import make_detector
from facegraft.extract.landmarkers import facemesh_table, make_landmarker, mesh_to_ibug68
from facegraft.extract.pipeline import ExtractOptions
from facegraft.geometry.alignment import eye_distance

MODEL_SHA256 = "2efcb4f4de43c7614b80a3cc3e8a37354b3b3b40f75cce20f6f38f0f25d65493"
INNER = np.r_[17:68]  # brows, nose, eyes, mouth: where the two models' conventions agree


def test_the_default_landmarker_is_facemesh_shipped_with_its_apache_licence() -> None:
    assert ExtractOptions().landmarker == "facemesh"
    data = resources.files("facegraft.extract").joinpath("data")
    model = data.joinpath("face_landmark.tflite").read_bytes()
    assert hashlib.sha256(model).hexdigest() == MODEL_SHA256
    notice = data.joinpath("LICENSE-facemesh.md").read_text()
    assert "Apache License" in notice and "Version 2.0" in notice and MODEL_SHA256 in notice


def test_the_table_maps_every_ibug_point_to_a_mesh_vertex() -> None:
    ibug, sides = facemesh_table()
    assert ibug.shape == (68,) and len(set(ibug[17:].tolist())) == 51 and ibug.max() < 468
    for side, chin_to_temple in zip(sides, (range(0, 9), range(16, 7, -1))):
        assert side[-1].tolist() == [ibug[8]], "both halves end at the chin"
        assert ibug[chin_to_temple[0]] in side[0], "and start at the temple vertex of their point 0 / 16"


@pytest.fixture(scope="module")
def facemesh():
    return make_landmarker("facemesh", ensemble=1)


def test_points_sit_where_dlib68_puts_them_on_frontal_photos(photos, facemesh) -> None:
    """Two independent models on the shipped frontal photos: the inner 51 points agree within 5% of the
    eye distance on average (the jaw contour is drawn differently by the two, so it is left out)."""
    dlib68 = make_landmarker("dlib68", ensemble=1)
    hog = make_detector("dlib-hog")
    for name, rgb in photos.items():
        box = hog.detect(rgb)[0].box
        ref = dlib68.refine(rgb, dlib68.landmarks(rgb, box), final=True)
        pts = facemesh.refine(rgb, facemesh.refine(rgb, ref))
        err = np.linalg.norm(pts[INNER] - ref[INNER], axis=1).mean() / eye_distance(ref)
        assert err < 0.05, f"{name}: inner points {err:.3f} eye distances from dlib68's"
        assert facemesh.presence > 0.9, f"{name}: the model's face presence {facemesh.presence:.2f}"


def test_a_blank_crop_is_not_a_face(facemesh) -> None:
    flat = np.full((256, 256, 3), 128, np.uint8)
    facemesh.landmarks_in_box(flat, np.array([64.0, 64.0, 192.0, 192.0]))
    assert facemesh.presence < 0.5


def test_jaw_points_follow_the_visible_cheek_edge_of_a_turned_head() -> None:
    """A mesh whose face oval is a half circle: the nine points of each jaw half are spaced evenly along it.
    Then the rows' inner vertices are pushed out beyond the oval (the oval turned away, hidden behind the
    cheek): the jaw follows them instead."""
    _, sides = facemesh_table()
    mesh = np.zeros((468, 2))
    mesh[33], mesh[263] = (-0.5, 0.0), (0.5, 0.0)  # outer eye corners: the eye line along x
    for s, rows in zip((-1.0, 1.0), sides):
        for k, row in enumerate(rows):
            a = np.pi / 2 * k / (len(rows) - 1)  # temple (a = 0) to chin (a = pi/2)
            mesh[row] = (s * 0.5 * np.cos(a), np.sin(a))  # every vertex of the row on the oval...
            mesh[row[1:]] *= (0.8, 1.0)  # ...then the inner ones pulled in
    jaw = mesh_to_ibug68(mesh)[:17]
    assert np.allclose(np.hypot(jaw[:, 0] / 0.5, jaw[:, 1]), 1.0, atol=0.02), "points on the oval"
    steps = np.linalg.norm(np.diff(jaw, axis=0), axis=1)
    assert steps.max() / steps.min() < 1.1, f"evenly spaced: {steps.round(3)}"
    for rows in sides:
        for row in rows:
            if len(row) > 1:
                mesh[row[-1]] = mesh[row[0]] * (1.3, 1.0)  # an inner vertex now lies beyond the oval
    turned = mesh_to_ibug68(mesh)[:17]
    assert np.abs(turned[:, 0]).mean() > np.abs(jaw[:, 0]).mean() + 0.05


def test_building_it_writes_nothing_to_stderr() -> None:
    """The runtime's own log line would land in every command's output and JSON progress stream."""
    code = "from facegraft.extract.landmarkers import make_landmarker; make_landmarker('facemesh')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stderr == "", out.stderr
