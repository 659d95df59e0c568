"""`facegraft model export MODELDIR --onnx FILE`: the swap path of a trained model as ONNX, the interchange
format DeepFaceLab's DFM uses, for hosts and runtimes that do not run PyTorch.

The graph takes `face`, (N, 3, R, R) float32 RGB in 0..1 (the working encoding: display-referred, an aligned
crop of the model's face type at its resolution R; N is free), and gives `swap`, the face rendered as the
source identity, (N, 3, R, R) float32 0..1, and `mask`, its learned face mask, (N, 1, R, R) float32 0..1.
The model's resolution, face type, architecture, hash (the one convert stamps on its passes: SHA-256 of
the save's manifest) and config travel in the ONNX metadata_props (`facegraft.*`), and the file is marked
as a synthetic-media generator.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import torch

from facegraft import __version__
from facegraft.errors import FacegraftError, InputError
from facegraft.io.atomic import write_bytes_atomic
from facegraft.models.networks import FaceSwapModel

DEFAULT_OPSET = 18  # the newest opset torch's exporter writes natively (no version conversion)
INPUT = "face"
OUTPUTS = ("swap", "mask")


class _SwapPath(torch.nn.Module):
    """The model's swap as a one-input module: destination face -> (swap, mask)."""

    def __init__(self, model: FaceSwapModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, face: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.swap(face)


def export_onnx(model_dir: str | Path, out_path: str | Path, opset: int = DEFAULT_OPSET) -> dict:
    """Write the swap path of the latest good save in `model_dir` to `out_path` as ONNX (through a temp
    name, then renamed, so a reader never sees half a file); return what was written and about which
    model. InputError for a folder without a usable model; FacegraftError when ONNX export is unavailable."""
    try:
        import onnx
    except ImportError as exc:
        raise FacegraftError(
            "ONNX export needs the onnx and onnxscript packages (pip install onnx onnxscript)"
        ) from exc
    from facegraft.models.swap_model import load_swap_model

    loaded = load_swap_model(model_dir)  # the latest good save; InputError naming the folder otherwise
    model, cfg = loaded.model.float().eval(), loaded.config.to_dict()
    info = {"model_hash": loaded.hash, "iteration": loaded.iteration}
    r = cfg["resolution"]
    out = Path(out_path)
    if out.is_dir():
        raise InputError("the ONNX output is a folder; give a file name", out)
    out.parent.mkdir(parents=True, exist_ok=True)
    example = torch.rand(2, 3, r, r)
    batch = torch.export.Dim("batch", min=1, max=4096)
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    try:
        quiet.setLevel(logging.ERROR)  # the exporter logs every optional op it skips
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", (FutureWarning, DeprecationWarning, UserWarning))
            program = torch.onnx.export(
                _SwapPath(model),
                (example,),
                input_names=[INPUT],
                output_names=list(OUTPUTS),
                dynamic_shapes=({0: batch},),
                opset_version=opset,
                dynamo=True,
                external_data=False,
                verbose=False,
            )
    except ImportError as exc:  # onnxscript drives the exporter
        raise FacegraftError(f"ONNX export needs the onnxscript package ({exc})") from exc
    finally:
        quiet.setLevel(level)
    proto = program.model_proto
    meta = {
        "facegraft.resolution": str(r),
        "facegraft.face_type": cfg["face_type"],
        "facegraft.arch": cfg["arch"],
        "facegraft.model_hash": info["model_hash"],
        "facegraft.iteration": str(info["iteration"]),
        "facegraft.config": json.dumps(cfg, sort_keys=True),
        "facegraft.engine_version": __version__,
        "facegraft.input": f"{INPUT}: (N, 3, {r}, {r}) float32 RGB 0..1, aligned '{cfg['face_type']}' crop",
        "facegraft.outputs": f"swap: (N, 3, {r}, {r}) float32 0..1; mask: (N, 1, {r}, {r}) float32 0..1",
        "facegraft.synthetic": "true",
    }
    del proto.metadata_props[:]
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name, proto.producer_version = "facegraft", __version__
    proto.doc_string = "facegraft face swap: destination face in, the source identity's face and mask out"
    onnx.checker.check_model(proto)
    data = proto.SerializeToString()
    write_bytes_atomic(out, data, "the ONNX model", durable=True)
    return {
        "onnx": str(out),
        "bytes": len(data),
        "opset": opset,
        "input": INPUT,
        "outputs": list(OUTPUTS),
        "resolution": r,
        "face_type": cfg["face_type"],
        "arch": cfg["arch"],
        "model_hash": info["model_hash"],
        "iteration": info["iteration"],
    }
