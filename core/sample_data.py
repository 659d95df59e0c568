"""Real face photos that ship inside dependencies, used by the demo, the tests and the benchmarks.

`astronaut` is Eileen Collins (NASA, public domain, from scikit-image) and `grace_hopper` is Grace Hopper
(US Navy, public domain, from matplotlib). `camera` (scikit-image) is a plate with no face.
"""

from __future__ import annotations

import numpy as np


def astronaut() -> np.ndarray:
    """(512, 512, 3) uint8 sRGB photo of Eileen Collins."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


def grace_hopper() -> np.ndarray:
    """(600, 512, 3) uint8 sRGB photo of Grace Hopper."""
    import cv2
    from matplotlib import cbook

    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return np.ascontiguousarray(bgr[:, :, ::-1])


def no_face() -> np.ndarray:
    """(512, 512, 3) uint8 photo of a cup of coffee on a table: a plate without a face (scikit-image's
    cameraman is no such plate: a CNN detector finds his face)."""
    import cv2
    from skimage import data

    rgb = data.coffee()[:, 44:556]
    return np.ascontiguousarray(cv2.resize(rgb, (512, 512), interpolation=cv2.INTER_AREA))


def reference_photos() -> dict[str, np.ndarray]:
    """Both face photos by name."""
    return {"astronaut": astronaut(), "grace_hopper": grace_hopper()}
