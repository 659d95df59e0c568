"""Training's promise, measured: a few CPU minutes of a small model move the swap towards the source person.

Its own module (the same two shots as test_train) so that a split test run can give it a worker of its own.
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from test_train import TINY, _cmd, make_shots  # the same two extracted shots, model and command

from facegraft.models.checkpoint import CheckpointStore

STEPS = 150


@pytest.fixture(scope="module")
def shots(tmp_path_factory, photos):
    return make_shots(tmp_path_factory.mktemp("train_identity"), photos)


def test_a_few_minutes_of_training_moves_the_swap_towards_the_source_identity(shots, tmp_path, photos):
    """A small 64 px model trained for a few CPU minutes (a fixed step count, not wall-clock time): the loss
    falls by more than half, and the destination faces run through the source path are measurably closer
    to the source person (dlib face-recognition distance) than the destination faces themselves."""
    from facegraft.extract import identity
    from facegraft.models.networks import ModelConfig, build_model
    from facegraft.train.evaluate import swap_identity
    from facegraft.train.faceset import load_faceset

    model = tmp_path / "model"
    proc = subprocess.run(
        _cmd(
            shots,
            model,
            *TINY,  # the same small model; the later options below win
            "--workers",
            "0",
            "--lr",
            "3e-4",
            "--bf16",
            "auto",
            "--iterations",
            str(STEPS),
            "--save-every",
            str(STEPS),
            "--preview-every",
            str(STEPS),
            "--progress",
            "quiet",
        ),
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr
    ckpt = CheckpointStore(model).load_latest(fallback=False)
    history = ckpt.state["loss_history"]
    assert np.mean(history[-20:]) < 0.5 * np.mean(history[:10])
    net = build_model(ModelConfig.from_dict(ckpt.state["config"]))
    net.load_state_dict(ckpt.model_state)
    dst = load_faceset(shots / "dst_shot", 64)
    from facegraft.extract.pipeline import ExtractOptions, build_tracker

    ref = photos["astronaut"]
    src_desc = identity.embed(
        ref, build_tracker(ExtractOptions(detect_every=1, embeddings=False)).step(ref, 0)[0].landmarks
    )
    report = swap_identity(net, dst.images, src_desc).summary()
    assert report["faces"] >= len(dst) // 2, report
    assert report["swap_to_source_mean"] < report["original_to_source_mean"] - 0.1, report
