"""Head pose (yaw, pitch, roll in degrees) from 68 landmarks.

Yaw and pitch come from a perspective fit (solvePnP) of a generic 3D head to eight landmarks; roll comes
from the 2D similarity fit to the mean face, which is steadier. Yaw > 0: the face turns towards the
image's right; pitch > 0: the face looks up; roll > 0: counter-clockwise on screen.
"""

from __future__ import annotations

import cv2
import numpy as np

from facegraft.geometry.alignment import roll_degrees

# Generic head, millimetres, x to the image's right, y up, z towards the camera. Only points that do not
# move with expression (eye corners, nose, chin): mouth corners would read a smile as a nod.
_MODEL_IDS = [27, 30, 33, 36, 39, 42, 45, 8]
_MODEL_3D = np.array(
    [
        [0.0, 33.0, -21.0],  # 27 nasion, between the eyes
        [0.0, 0.0, 0.0],  # 30 nose tip
        [0.0, -11.0, -12.0],  # 33 base of the nose
        [-44.0, 33.0, -30.0],  # 36 outer corner of the eye on the image's left
        [-14.0, 32.0, -24.0],  # 39 its inner corner
        [14.0, 32.0, -24.0],  # 42 inner corner of the other eye
        [44.0, 33.0, -30.0],  # 45 its outer corner
        [0.0, -66.0, -16.0],  # 8 chin
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
    # Start from the head facing the camera, at the distance its eye corners give: without a start the fit
    # may settle on the mirrored pose a near-flat set of points allows (a nose moved right read as turning
    # left).
    eyes_px = max(float(np.linalg.norm(image_pts[6] - image_pts[3])), 1e-6)
    depth = f * float(model[6, 0] - model[3, 0]) / eyes_px
    tip = image_pts[1]
    tvec = np.array([[(tip[0] - w / 2) * depth / f], [(tip[1] - h / 2) * depth / f], [depth]])
    ok, rvec, _ = cv2.solvePnP(
        model, image_pts, camera, None, np.zeros((3, 1)), tvec, True, flags=cv2.SOLVEPNP_ITERATIVE
    )
    roll = roll_degrees(landmarks)
    if not ok:
        return 0.0, 0.0, roll
    rot, _ = cv2.Rodrigues(rvec)
    yaw = float(np.degrees(np.arcsin(np.clip(-rot[2, 0], -1.0, 1.0))))
    pitch = float(np.degrees(np.arctan2(rot[2, 1], rot[2, 2])))
    return -yaw, -pitch, roll
