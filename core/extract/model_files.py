"""Where model weights live: dlib's files shipped by `face-recognition-models`, and face-alignment's cache."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from facegraft.errors import ModelFileError

SHIPPED = {
    "shape_predictor_68": "shape_predictor_68_face_landmarks.dat",
    "shape_predictor_5": "shape_predictor_5_face_landmarks.dat",
    "mmod": "mmod_human_face_detector.dat",
    "face_recognition": "dlib_face_recognition_resnet_model_v1.dat",
}


def shipped_model(key: str) -> Path:
    """Path of a dlib model file from `face-recognition-models`, found without importing the package.

    (Importing it needs `pkg_resources`, which current setuptools no longer ships.)
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileError("the package face-recognition-models is not installed (pip install it)")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / SHIPPED[key]
    if not path.is_file():
        raise ModelFileError("model file missing from face-recognition-models", path)
    return path


def torch_hub_checkpoints() -> Path:
    """The folder where face-alignment (through torch.hub) caches downloaded weights."""
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "torch"
    )
    return Path(home) / "hub" / "checkpoints"


def require_file(path: str | os.PathLike, what: str) -> Path:
    """`path` as a Path when it is a readable file, else ModelFileError naming it and what it should be."""
    p = Path(path)
    if not p.is_file():
        raise ModelFileError(f"{what} not found (expected this file; pass its path or place it there)", p)
    return p
