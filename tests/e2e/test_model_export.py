"""`facegraft model export MODELDIR --onnx FILE`: the ONNX swap path runs in onnxruntime and matches torch,
carries the model's facts in its metadata, and a folder without a usable model is a one-line error."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from facegraft.cli import main
from facegraft.models.checkpoint import CheckpointStore
from facegraft.models.networks import ModelConfig, build_model


def _saved_model(folder, arch: str = "df", seed: int = 0):
    torch.manual_seed(seed)
    cfg = ModelConfig(
        arch=arch, resolution=64, face_type="whole", ae_dims=32, e_dims=8, d_dims=8, d_mask_dims=4
    )
    model = build_model(cfg)
    CheckpointStore(folder).save(model, torch.optim.Adam(model.parameters()), 7, {"config": cfg.to_dict()})
    return model.eval()


def test_exported_swap_matches_torch_in_onnxruntime(tmp_path, capsys):
    import onnx
    import onnxruntime as ort

    model = _saved_model(tmp_path / "model", "liae")
    out = tmp_path / "out" / "swap.onnx"
    assert main(["model", "export", str(tmp_path / "model"), "--onnx", str(out), "--progress", "json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["onnx"] == str(out) and summary["resolution"] == 64 and summary["arch"] == "liae"
    assert [p.name for p in out.parent.iterdir()] == ["swap.onnx"]  # no temp file left behind

    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["face"]
    assert [o.name for o in session.get_outputs()] == ["swap", "mask"]
    faces = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(1))  # not the export's batch
    swap, mask = session.run(None, {"face": faces.numpy()})
    with torch.no_grad():
        ref_swap, ref_mask = model.swap(faces)
    assert swap.shape == (3, 3, 64, 64) and mask.shape == (3, 1, 64, 64)
    assert np.abs(swap - ref_swap.numpy()).max() < 1e-4 and np.abs(mask - ref_mask.numpy()).max() < 1e-4
    # the swap path really is the source path: the destination path gives something else
    with torch.no_grad():
        assert np.abs(swap - model.reconstruct_dst(faces)[0].numpy()).max() > 1e-3

    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    manifest = CheckpointStore(tmp_path / "model").load_latest().folder / "MANIFEST.sha256"
    import hashlib

    assert meta["facegraft.model_hash"] == hashlib.sha256(manifest.read_bytes()).hexdigest()
    assert meta["facegraft.model_hash"] == summary["model_hash"]
    assert (meta["facegraft.resolution"], meta["facegraft.face_type"], meta["facegraft.arch"]) == (
        "64",
        "whole",
        "liae",
    )
    assert json.loads(meta["facegraft.config"])["ae_dims"] == 32 and meta["facegraft.synthetic"] == "true"


@pytest.mark.parametrize("case", ["missing", "empty", "tampered", "not-a-model"])
def test_a_folder_without_a_usable_model_is_a_one_line_error(tmp_path, capsys, case):
    folder = tmp_path / "model"
    if case == "empty":
        folder.mkdir()
    elif case == "tampered":
        _saved_model(folder)
        weights = CheckpointStore(folder).load_latest().folder / "model.safetensors"
        data = bytearray(weights.read_bytes())
        data[len(data) // 2] ^= 0xFF
        weights.write_bytes(bytes(data))
    elif case == "not-a-model":  # weights that are not a face-swap model of the saved config
        CheckpointStore(folder).save(torch.nn.Linear(2, 2), None, 1, {"config": ModelConfig().to_dict()})
    out = tmp_path / "swap.onnx"
    assert main(["model", "export", str(folder), "--onnx", str(out)]) == 2
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("facegraft: error: ") and str(folder) in lines[0], err
    expect = {"missing": "no such model folder", "empty": "no saved model", "tampered": "checksum"}
    assert expect.get(case, "do not fit") in lines[0]
    assert not out.exists()
