"""Training from two extracted shots: the loss falls, checkpoints land and verify, a rerun resumes from the
last save, options that change the model's shape are refused, previews are written."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from facegraft.errors import StoreError
from facegraft.extract.pipeline import ExtractOptions, extract
from facegraft.models.checkpoint import CheckpointStore
from facegraft.sample_plates import camera_path, render, write_png_sequence

TINY = [
    "--resolution",
    "64",
    "--ae-dims",
    "64",
    "--e-dims",
    "16",
    "--d-dims",
    "16",
    "--d-mask-dims",
    "8",
    "--batch",
    "4",
    "--lr",
    "5e-4",
    "--workers",
    "1",
]


@pytest.fixture(scope="module")
def shots(tmp_path_factory, photos):
    return make_shots(tmp_path_factory.mktemp("train"), photos)


def make_shots(root, photos):
    """Two extracted shots under `root`: the astronaut (source), Grace Hopper (destination), 8 frames each."""
    for name, photo in (("src", photos["astronaut"]), ("dst", photos["grace_hopper"])):
        frames = [render(photo, m, (640, 480))[0] for m in camera_path(8, amplitude=30)]
        write_png_sequence(frames, root / name / "plate.%04d.png")
        extract(
            root / name / "plate.####.png",
            root / f"{name}_shot",
            ExtractOptions(size=128, embeddings=False),
            progress_mode="quiet",
        )
    return root


def _cmd(shots, model, *extra) -> list[str]:
    """`facegraft train` on the two test shots into `model`, with the tiny model's options and `extra`."""
    return [
        sys.executable,
        "-m",
        "facegraft",
        "train",
        "--src",
        str(shots / "src_shot"),
        "--dst",
        str(shots / "dst_shot"),
        "--model",
        str(model),
        *extra,
    ]


def _train(shots, model, *extra, check=True):
    cmd = _cmd(shots, model, *TINY, "--progress", "json", *extra)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def _summary(proc) -> dict:
    return [json.loads(x) for x in proc.stdout.splitlines() if '"summary"' in x][-1]


def test_training_learns_saves_and_resumes(shots, tmp_path):
    model = tmp_path / "model"
    first = _summary(
        _train(shots, model, "--iterations", "60", "--save-every", "30", "--preview-every", "30")
    )
    assert first["iteration"] == 60 and first["resumed_from"] is None
    store = CheckpointStore(model)
    ckpt = store.load_latest(fallback=False)
    assert ckpt.iteration == 60
    history = ckpt.state["loss_history"]
    assert len(history) == 60
    early, late = np.mean(history[:5]), np.mean(history[-5:])
    assert late < 0.75 * early, f"loss should fall: {early:.3f} -> {late:.3f}"
    assert (model / "preview.png").stat().st_size > 0 and (model / "loss.png").stat().st_size > 0

    second = _summary(
        _train(shots, model, "--iterations", "80", "--save-every", "30", "--preview-every", "40")
    )
    assert second["resumed_from"] == 60 and second["iteration"] == 80
    assert CheckpointStore(model).load_latest(fallback=False).iteration == 80
    assert len(CheckpointStore(model).load_latest().state["loss_history"]) == 80


def test_shape_changing_options_are_refused_on_resume(shots, tmp_path):
    model = tmp_path / "model"
    _train(shots, model, "--iterations", "2", "--save-every", "2", "--preview-every", "2")
    proc = _train(shots, model, "--iterations", "4", "--d-dims", "24", check=False)
    assert proc.returncode == 2
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "d_dims" in lines[0] and "Traceback" not in proc.stderr


def test_a_tampered_checkpoint_is_never_trained_over(shots, tmp_path):
    model = tmp_path / "model"
    _train(shots, model, "--iterations", "2", "--save-every", "2", "--preview-every", "2")
    latest = CheckpointStore(model).load_latest(fallback=False).folder
    weights = latest / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    proc = _train(shots, model, "--iterations", "4", check=False)
    assert proc.returncode == 2
    assert "checksum" in proc.stderr and "Traceback" not in proc.stderr


def _has_save(model) -> bool:
    """A save is listed (read while the trainer may be pruning old ones, so errors mean 'not yet')."""
    try:
        return bool(CheckpointStore(model).list_saves())
    except (OSError, StoreError):
        return False


def test_killed_training_resumes_from_its_last_save_every_time(shots, tmp_path):
    """kill -9 at random moments (during steps and during saves), three times: each rerun resumes from a
    verified save no older than the previous one, and the last run reaches the target with an unbroken
    loss history."""
    import random
    import signal
    import time

    model = tmp_path / "model"
    target = 400
    cmd = _cmd(
        shots,
        model,
        *TINY,
        "--iterations",
        str(target),
        "--save-every",
        "3",
        "--preview-every",
        "1000",
        "--progress",
        "quiet",
    )
    rng = random.Random(5)
    last_resume = 0
    for _ in range(3):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while not _has_save(model):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(rng.uniform(0.2, 2.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stderr.close()
        ckpt = CheckpointStore(model).load_latest(fallback=False)  # the newest save verifies: never corrupt
        assert ckpt.iteration >= last_resume
        assert len(ckpt.state["loss_history"]) == ckpt.iteration
        last_resume = ckpt.iteration
    finish = last_resume + 6
    final_cmd = [*cmd[:-2], "--progress", "json"]
    final_cmd[final_cmd.index(str(target))] = str(finish)
    final = subprocess.run(final_cmd, capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr
    summary = [json.loads(x) for x in final.stdout.splitlines() if '"summary"' in x][-1]
    assert summary["resumed_from"] == last_resume and summary["iteration"] == finish
    assert len(CheckpointStore(model).load_latest().state["loss_history"]) == finish


def test_two_process_gloo_training_keeps_the_ranks_identical(shots, tmp_path):
    """`torchrun --nproc-per-node 2` on CPU (gloo): each rank draws its own batches, gradients are averaged,
    every rank ends with the same weights (compared across ranks), and rank 0 alone saves."""
    model = tmp_path / "model"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        *_cmd(
            shots,
            model,
            *TINY,
            "--workers",
            "0",
            "--iterations",
            "6",
            "--save-every",
            "3",
            "--preview-every",
            "100",
            "--progress",
            "json",
        )[2:],
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summaries = [json.loads(x) for x in proc.stdout.splitlines() if '"summary"' in x]
    assert len(summaries) == 1, proc.stdout  # rank 0 reports for both
    assert summaries[0]["ranks"] == 2 and summaries[0]["ranks_agree"] is True
    saves = CheckpointStore(model).list_saves()
    assert [CheckpointStore(model).load(s).iteration for s in saves] == [3, 6]


def test_loss_options_train_and_a_gan_joins_a_model_saved_without_one(shots, tmp_path, capsys):
    """The patch-GAN, learning-rate dropout, eye/mouth priority and warp-to-landmarks run together on top of
    a model saved without a discriminator; the discriminator lands in the same checkpoints, a different
    --gan-dims is refused on resume, and turning the GAN off keeps the discriminator as it was."""
    import torch

    from facegraft.cli import main

    model = tmp_path / "model"

    def run(*extra) -> int:  # in this process: four interpreter start-ups would cost more than the steps
        return main(_cmd(shots, model, *TINY, "--workers", "0", "--progress", "quiet", *extra)[3:])

    assert run("--iterations", "2", "--save-every", "2", "--preview-every", "100") == 0
    assert CheckpointStore(model).load_latest().parts == {}
    on = ("--gan-power", "0.1", "--gan-dims", "8")
    extra = ("--lr-dropout", "0.5", "--eyes-mouth-priority", "--warp-to-landmarks")
    assert run("--iterations", "4", "--save-every", "2", "--preview-every", "100", *on, *extra) == 0
    ckpt = CheckpointStore(model).load_latest(fallback=False)
    assert ckpt.iteration == 4 and np.isfinite(ckpt.state["loss"])
    assert ckpt.state["gan"] == {"dims": 8} and ckpt.state["options"]["lr_dropout"] == 0.5
    disc = ckpt.parts["disc"]
    assert disc.model_state["layers.0.weight"].shape[0] == 8 and disc.optim_state is not None

    capsys.readouterr()
    assert run("--iterations", "6", "--gan-power", "0.1", "--gan-dims", "12") == 2
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and "gan_dims" in lines[0] and "Traceback" not in err, err

    assert run("--iterations", "6", "--save-every", "2", "--preview-every", "100") == 0
    kept = CheckpointStore(model).load_latest(fallback=False)
    assert kept.iteration == 6 and set(kept.parts) == {"disc"}
    for k, v in disc.model_state.items():
        assert torch.equal(kept.parts["disc"].model_state[k], v), k
