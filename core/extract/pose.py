"""Head pose (yaw, pitch, roll in degrees) from 68 landmarks.

Yaw and pitch come from a perspective fit (solvePnP) of a generic 3D head to six landmarks; roll comes
from the 2D similarity fit to the mean face, which is steadier. Yaw > 0: the face turns towards the
image's right; pitch > 0: the face looks up; roll > 0: counter-clockwise on screen.
"""

from __future__ import annotations

import cv2
import numpy as np

from facegraft.extract.alignment import roll_degrees

# Generic head, millimetres, x to the subject's left (image right), y up, z towards the camera.
_MODEL_IDS = [30, 8, 36, 45, 48, 54]
_MODEL_3D = np.array(
    [
        [0.0, 0.0, 0.0],  # nose tip
        [0.0, -64.0, -13.0],  # chin
        [-44.0, 33.0, -27.0],  # outer corner of the eye on the image's left
        [44.0, 33.0, -27.0],  # outer corner of the eye on the image's right
        [-29.0, -29.0, -24.0],  # mouth corner, image left
        [29.0, -29.0, -24.0],  # mouth corner, image right
    ]
)


def head_pose(landmarks: np.ndarray, frame_size: tuple[int, int]) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees for (68, 2) landmarks in a frame of (width, height) pixels."""
    w, h = frame_size
    f = float(max(w, h))
    camera = np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1]], np.float64)
    image_pts = np.asarray(landmarks, np.float64)[_MODEL_IDS]
    # Image y runs down, the model's y runs up: flip the model so the fit needs no 180-degree turn.
    model = _MODEL_3D * np.array([1.0, -1.0, -1.0])
    ok, rvec, _ = cv2.solvePnP(model, image_pts, camera, None, flags=cv2.SOLVEPNP_ITERATIVE)
    roll = roll_degrees(landmarks)
    if not ok:
        return 0.0, 0.0, roll
    rot, _ = cv2.Rodrigues(rvec)
    yaw = float(np.degrees(np.arcsin(np.clip(-rot[2, 0], -1.0, 1.0))))
    pitch = float(np.degrees(np.arctan2(rot[2, 1], rot[2, 2])))
    return -yaw, -pitch, roll
