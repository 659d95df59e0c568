"""Checkpoints: exact round trips, refusal of NaN, tamper detection and fallback, pruning, and kill -9."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from facegraft.errors import FacegraftError, StoreError
from facegraft.models.checkpoint import (
    BEST,
    CHECKPOINTS,
    LATEST,
    MANIFEST,
    MODEL_FILE,
    CheckpointStore,
    NonFiniteWeights,
    load_latest,
)


def _net(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))


def _steps(model: torch.nn.Module, opt: torch.optim.Optimizer, n: int, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    for _ in range(n):
        x = torch.randn(32, 8, generator=gen)
        y = torch.randn(32, 4, generator=gen)
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _flip_byte(path: Path, offset: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    i = len(data) // 2 if offset is None else offset
    data[i] ^= 0x01
    path.write_bytes(bytes(data))


def test_round_trip_and_adam_resumes_exactly(tmp_path):
    model = _net()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2, betas=(0.8, 0.99), weight_decay=1e-4)
    _steps(model, opt, 5, seed=1)
    store = CheckpointStore(tmp_path)
    state = {"config": {"arch": "df", "resolution": 64}, "loss_history": {"last": 0.5, "mean_100": 0.6}}
    folder = store.save(model, opt, 5, state, loss=0.5)
    assert folder.name.startswith("000000005-")
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [MANIFEST, MODEL_FILE, "optim.safetensors", "optim.json", "state.json"]
    )
    assert (tmp_path / CHECKPOINTS / LATEST).read_text().strip() == folder.name

    ckpt = load_latest(tmp_path)
    assert ckpt is not None and ckpt.folder == folder and ckpt.iteration == 5 and ckpt.skipped == []
    assert ckpt.state["config"] == {"arch": "df", "resolution": 64}
    assert ckpt.state["loss_history"] == {"last": 0.5, "mean_100": 0.6}
    assert ckpt.state["best_loss"] == 0.5 and ckpt.state["engine_version"]
    for key, value in model.state_dict().items():
        assert torch.equal(ckpt.model_state[key], value)
    original = opt.state_dict()
    assert ckpt.optim_state["param_groups"] == original["param_groups"]
    assert set(ckpt.optim_state["state"]) == set(original["state"])
    for idx, entries in original["state"].items():
        for name, value in entries.items():
            assert torch.equal(ckpt.optim_state["state"][idx][name], value), (idx, name)

    fresh = _net(seed=99)
    fresh_opt = torch.optim.Adam(fresh.parameters(), lr=0.5)
    store.restore(fresh, fresh_opt, ckpt)
    _steps(model, opt, 3, seed=2)
    _steps(fresh, fresh_opt, 3, seed=2)
    for (key, a), b in zip(model.state_dict().items(), fresh.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6, rtol=0), key


def test_save_without_optimizer_and_tied_weights(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 4))
    model[1].weight = model[0].weight  # shared storage: safetensors refuses it unless cloned
    store = CheckpointStore(tmp_path)
    store.save(model, None, 0, {})
    ckpt = store.load_latest()
    assert ckpt.optim_state is None and ckpt.state["loss"] is None
    assert store.load_best() is None
    twin = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 4))
    store.restore(twin, None, ckpt)
    assert torch.equal(twin[0].weight, model[0].weight) and torch.equal(twin[1].bias, model[1].bias)


def test_no_checkpoint_is_none(tmp_path):
    assert load_latest(tmp_path) is None
    (tmp_path / CHECKPOINTS / "000000007-abcdef").mkdir(parents=True)  # a first save killed early
    assert load_latest(tmp_path) is None
    assert CheckpointStore(tmp_path).cleanup_partial()
    assert not (tmp_path / CHECKPOINTS / "000000007-abcdef").exists()


@pytest.mark.parametrize("where", ["weights", "optimiser", "loss"])
def test_non_finite_is_refused_and_nothing_written(tmp_path, where):
    model = _net()
    opt = torch.optim.Adam(model.parameters())
    _steps(model, opt, 2, seed=0)
    store = CheckpointStore(tmp_path)
    store.save(model, opt, 2, {}, loss=1.0)
    before = _snapshot(tmp_path)
    loss = 0.9
    with torch.no_grad():
        if where == "weights":
            model[0].weight[3, 1] = float("nan")
        elif where == "optimiser":
            next(iter(opt.state.values()))["exp_avg_sq"][0] = float("inf")
        else:
            loss = float("nan")
    with pytest.raises(NonFiniteWeights) as info:
        store.save(model, opt, 3, {}, loss=loss)
    assert isinstance(info.value, FacegraftError)
    assert "refusing to save iteration 3" in str(info.value)
    if where == "weights":
        assert "0.weight" in str(info.value)
    assert _snapshot(tmp_path) == before
    assert store.load_latest().iteration == 2


def test_flipped_byte_is_a_checksum_mismatch_naming_the_file(tmp_path):
    store = CheckpointStore(tmp_path)
    folder = store.save(_net(), None, 1, {})
    _flip_byte(folder / MODEL_FILE)
    with pytest.raises(StoreError) as info:
        store.load_latest(fallback=False)
    assert "checksum mismatch" in str(info.value) and MODEL_FILE in str(info.value)
    assert info.value.path == str(folder / MODEL_FILE)
    with pytest.raises(StoreError, match="none verifies"):  # never a silent fresh start
        store.load_latest(fallback=True)


@pytest.mark.parametrize("damage", ["model", "state", "manifest", "missing-file", "deleted-folder"])
def test_fallback_to_previous_good_save(tmp_path, damage):
    store = CheckpointStore(tmp_path)
    model = _net()
    first = store.save(model, None, 10, {})
    with torch.no_grad():
        model[0].bias.add_(1.0)
    second = store.save(model, None, 20, {})
    if damage == "model":
        _flip_byte(second / MODEL_FILE)
    elif damage == "state":
        _flip_byte(second / "state.json", offset=3)
    elif damage == "manifest":
        _flip_byte(second / MANIFEST, offset=0)
    elif damage == "missing-file":
        (second / "state.json").unlink()
    else:
        import shutil

        shutil.rmtree(second)
    ckpt = store.load_latest()
    assert ckpt.iteration == 10 and ckpt.folder == first
    assert [p for p, _ in ckpt.skipped] == [second]
    with pytest.raises(StoreError):
        store.load_latest(fallback=False)
    # the next save goes on from a clean state and becomes LATEST
    third = store.save(model, None, 30, {})
    assert store.load_latest(fallback=False).folder == third


def test_keep_k_prunes_but_preserves_best(tmp_path):
    store = CheckpointStore(tmp_path, keep=2)
    model = _net()
    folders = [store.save(model, None, i, {}, loss=loss) for i, loss in enumerate([5.0, 1.0, 3.0, 4.0, 6.0])]
    assert store.list_saves() == [folders[1], folders[3], folders[4]]
    root = tmp_path / CHECKPOINTS
    assert sorted(p.name for p in root.iterdir()) == sorted(
        [BEST, LATEST] + [folders[i].name for i in (1, 3, 4)]
    )
    best = store.load_best()
    assert best.iteration == 1 and best.state["loss"] == 1.0
    latest = store.load_latest()
    assert latest.iteration == 4 and latest.state["best_loss"] == 1.0
    folders.append(store.save(model, None, 5, {}, loss=0.5))  # a new best: the old best may go
    assert store.list_saves() == [folders[4], folders[5]]
    assert store.load_best().iteration == 5


_CHILD = textwrap.dedent(
    """
    import sys
    import torch
    from facegraft.models.checkpoint import CheckpointStore

    torch.set_num_threads(1)
    model = torch.nn.Linear(1024, 1024)  # ~4 MB of weights, ~12 MB a save with Adam's moments
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.ones(1, 1024)).sum().backward()
    opt.step()
    store = CheckpointStore(sys.argv[1], keep=2)
    for i in range(1, 400):
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(float(i))
        print(f"begin {i}", flush=True)
        store.save(model, opt, i, {"config": {"child": True}}, loss=float(1000 - i))
        print(f"saved {i}", flush=True)
    """
)


def test_kill_9_during_save_always_leaves_a_loadable_checkpoint(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    seeds = [11, 22, 33, 44, 55]
    dirs = {seed: tmp_path / f"model-{seed}" for seed in seeds}
    seen: dict[int, list[str]] = {seed: [] for seed in seeds}
    children = {
        seed: subprocess.Popen(
            [sys.executable, str(script), str(dirs[seed])], stdout=subprocess.PIPE, text=True, bufsize=1
        )
        for seed in seeds
    }
    try:
        for seed in seeds:
            rng = random.Random(seed)
            proc = children[seed]
            target = rng.randint(1, 3)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                line = proc.stdout.readline()
                assert line, f"seed {seed}: child ended early (rc {proc.poll()})"
                seen[seed].append(line)
                if line.strip() == f"saved {target}":
                    break
            time.sleep(rng.uniform(0.0, 0.25))  # a random moment, most often inside a save
            proc.send_signal(signal.SIGKILL)
    finally:
        for proc in children.values():
            if proc.poll() is None:
                proc.kill()
    for seed in seeds:
        proc = children[seed]
        seen[seed].append(proc.stdout.read())  # what the child printed before the kill is still in the pipe
        proc.stdout.close()
        assert proc.wait() == -signal.SIGKILL
        lines = "".join(seen[seed]).split()
        reported = [int(n) for word, n in zip(lines[::2], lines[1::2]) if word == "saved"]
        begun = [int(n) for word, n in zip(lines[::2], lines[1::2]) if word == "begin"]
        last = max(reported, default=0)
        in_flight = max(begun, default=0)
        ckpt = load_latest(dirs[seed], fallback=False)  # LATEST itself must verify
        assert ckpt is not None and ckpt.skipped == []
        # the last save that returned, or the one in flight if it got past the LATEST switch
        assert ckpt.iteration in {last, in_flight}, (seed, ckpt.iteration, last, in_flight)
        assert torch.equal(ckpt.model_state["bias"], torch.full((1024,), float(ckpt.iteration)))
        assert ckpt.optim_state is not None
        store = CheckpointStore(dirs[seed], keep=2)
        store.save(torch.nn.Linear(2, 2), None, ckpt.iteration + 1, {})
        root = dirs[seed] / CHECKPOINTS
        names = [p.name for p in root.iterdir()]
        assert all((root / n / MANIFEST).is_file() for n in names if n not in (LATEST, BEST)), names
        assert store.load_latest(fallback=False).iteration == ckpt.iteration + 1
        assert store.load_best() is not None
