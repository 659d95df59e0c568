"""Training benchmark: samples/s of real training steps (fp32 and bf16 autocast), the FLOP/s they achieve
(FLOPs counted from the model with torch's FLOP counter) over the FLOP/s torch reaches on a large 3x3
convolution in the same run and dtype, and whether the data loader outpaces the trainer."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from facegraft.extract.pipeline import ExtractOptions, extract
from facegraft.models.networks import ModelConfig, build_model
from facegraft.sample_data import reference_photos
from facegraft.sample_plates import camera_path, render, write_png_sequence
from facegraft.train.faceset import Faceset, load_faceset
from facegraft.train.flops import count_flops
from facegraft.train.loader import BatchLoader
from facegraft.train.optim import LRDropoutAdam
from facegraft.train.options import TrainOptions
from facegraft.train.sampler import SampleOptions, batch_for_seed
from facegraft.train.trainer import batch_tensors, forward_losses

# Dense bf16 tensor-core peaks (FLOP/s, no sparsity) for MFU; FACEGRAFT_PEAK_BF16_TFLOPS overrides.
GPU_BF16_PEAK = {
    "H200": 989e12,
    "H100": 989e12,
    "A100": 312e12,
    "L40S": 362e12,
    "L4": 121e12,
    "A10": 125e12,
    "RTX 4090": 165e12,
    "RTX 3090": 71e12,
}
TARGET_RATIO = 0.7
TARGET_LOADER = 3.0
TARGET_MFU = 0.40


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rate(fn: Callable[[], None], device: torch.device, min_seconds: float, windows: int = 3) -> float:
    """Calls per second of `fn`, the best of `windows` timed windows of at least `min_seconds` each
    (a shared machine only ever makes code slower, so the fastest window is the least disturbed)."""
    fn()
    _sync(device)
    best = 0.0
    for _ in range(windows):
        n, start = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            _sync(device)
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds and n >= 2:
                break
        best = max(best, n / elapsed)
    return best


def conv_reference(device: torch.device, bf16: bool, min_seconds: float) -> dict:
    """FLOP/s of a large channels_last 3x3 convolution, forward and backward (input and weight
    gradients), under the same autocast as training: the most this torch build gets from this device."""
    n, c, s = (64, 512, 64) if device.type == "cuda" else (8, 256, 32)
    conv = torch.nn.Conv2d(c, c, 3, padding=1).to(device, memory_format=torch.channels_last)
    x = torch.rand(n, c, s, s, device=device).contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            y = conv(x)
        y.backward(torch.ones_like(y))

    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops()
    rate = _rate(step, device, min_seconds)
    return {"shape": f"{n}x{c}x{s}x{s}, 3x3, {c}->{c}", "flops": flops, "flop_s": flops * rate}


def make_facesets(work: Path, frames: int, resolution: int) -> tuple[Faceset, Faceset]:
    """Source and destination facesets extracted from moving plates of the two shipped photos."""
    photos = reference_photos()
    sets = []
    for name, photo in (("src", photos["astronaut"]), ("dst", photos["grace_hopper"])):
        plates = [render(photo, m, (640, 480))[0] for m in camera_path(frames, amplitude=30)]
        write_png_sequence(plates, work / name / "plate.%04d.png")
        shot = work / f"{name}_shot"
        extract(work / name / "plate.####.png", shot, ExtractOptions(size=256, embeddings=False), "quiet")
        sets.append(load_faceset(shot, resolution))
    return sets[0], sets[1]


def train_rate(
    cfg: ModelConfig, batch: dict[str, np.ndarray], device: torch.device, bf16: bool, min_seconds: float
) -> dict:
    """Steps/s of the trainer's own step (loss, backward, gradient clip, Adam) on one real batch, and of
    the model's forward + backward alone (the part the FLOP counter counts)."""
    torch.manual_seed(0)
    model = build_model(cfg).to(device, memory_format=torch.channels_last)
    opt = LRDropoutAdam(model.parameters(), lr=5e-5, betas=(0.5, 0.999))
    t = batch_tensors(batch, device)

    def step() -> None:
        loss, _ = forward_losses(model, t, bf16)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    def fwd_bwd() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out = model(t["src_in"], t["dst_in"])
        sum(v.float().mean() for v in out.values()).backward()

    return {"step_s": _rate(step, device, min_seconds), "fwd_bwd_s": _rate(fwd_bwd, device, min_seconds)}


def loader_rate(
    src: Faceset, dst: Faceset, n: int, opts: SampleOptions, workers: int, batches: int
) -> dict[str, float]:
    """Samples/s the loader delivers with `workers` processes (0: in this process), after a warm-up."""
    with BatchLoader(src, dst, n, opts, seed=1, workers=workers, depth=4) as loader:
        for _ in range(max(2, workers)):
            next(loader)
        start = time.perf_counter()
        for _ in range(batches):
            next(loader)
        elapsed = time.perf_counter() - start
    return {"workers": workers, "samples_s": round(2 * n * batches / elapsed, 1)}


def gpu_peak(device: torch.device) -> tuple[str, float | None]:
    """The GPU's name and its dense bf16 peak FLOP/s (None when unknown)."""
    name = torch.cuda.get_device_name(device)
    env = os.environ.get("FACEGRAFT_PEAK_BF16_TFLOPS")
    if env:
        return name, float(env) * 1e12
    for key, peak in GPU_BF16_PEAK.items():
        if key in name:
            return name, peak
    return name, None


def run(quick: bool = False, work: str | None = None) -> dict:
    """Measure everything on the best device here (CUDA when present) and return the results."""
    torch.set_flush_denormal(True)  # denormals made one optimiser step take ~600 ms on a CPU
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cpus = os.cpu_count() or 1
    defaults = TrainOptions()
    models = {"df-64": ("df", 64)}
    if device.type == "cuda":
        models["liae-256"] = ("liae", 256)
    elif not quick:
        models["liae-64"] = ("liae", 64)
    min_seconds = 1.0 if quick else 3.0
    result: dict = {
        "device": str(device),
        "cpus": cpus,
        "torch": torch.__version__,
        "batch": defaults.batch,
        "dims": {k: getattr(defaults, k) for k in ("ae_dims", "e_dims", "d_dims", "d_mask_dims")},
        "channels_last": True,
        "models": {},
    }
    if device.type == "cuda":
        name, peak = gpu_peak(device)
        result["gpu"] = {"name": name, "bf16_peak_flop_s": peak}
    else:
        torch.set_num_threads(cpus)
        result["threads"] = torch.get_num_threads()
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        frames = 6 if quick else 12
        src64, dst64 = make_facesets(Path(tmp), frames, 64)
        batch = batch_for_seed(src64, dst64, defaults.batch, 0, defaults.sampling)
        refs = {}
        for dtype in ("fp32", "bf16"):
            refs[dtype] = conv_reference(device, dtype == "bf16", min_seconds)
        result["conv_reference"] = refs
        for label, (arch, res) in models.items():
            cfg = ModelConfig(arch=arch, resolution=res, face_type=defaults.face_type, **result["dims"])
            flops = count_flops(build_model(cfg).to(device), res, defaults.batch)
            b = (
                batch
                if res == 64
                else batch_for_seed(
                    *make_facesets(Path(tmp) / label, frames, res), defaults.batch, 0, defaults.sampling
                )
            )
            entry = {"flops_per_step": flops, "samples_per_step": 2 * defaults.batch, "dtypes": {}}
            for dtype in ("fp32", "bf16"):
                r = train_rate(cfg, b, device, dtype == "bf16", min_seconds)
                achieved = flops * r["step_s"]
                d = {
                    "steps_s": round(r["step_s"], 2),
                    "samples_s": round(2 * defaults.batch * r["step_s"], 1),
                    "achieved_flop_s": achieved,
                    "ratio_to_conv": round(achieved / refs[dtype]["flop_s"], 3),
                    "fwd_bwd_ratio_to_conv": round(flops * r["fwd_bwd_s"] / refs[dtype]["flop_s"], 3),
                }
                if device.type == "cuda" and result["gpu"]["bf16_peak_flop_s"]:
                    d["mfu"] = round(achieved / result["gpu"]["bf16_peak_flop_s"], 3)
                entry["dtypes"][dtype] = d
            fp32, bf16 = entry["dtypes"]["fp32"], entry["dtypes"]["bf16"]
            entry["preferred"] = "bf16" if bf16["samples_s"] > fp32["samples_s"] else "fp32"
            entry["bf16_speedup"] = round(bf16["samples_s"] / fp32["samples_s"], 2)
            result["models"][label] = entry
        head = result["models"]["df-64"]
        consumed = head["dtypes"][head["preferred"]]["samples_s"]
        n_batches = 10 if quick else 40
        loaders = [loader_rate(src64, dst64, defaults.batch, defaults.sampling, 0, n_batches)]
        loaders.append(
            loader_rate(src64, dst64, defaults.batch, defaults.sampling, defaults.workers, n_batches)
        )
        best = max(x["samples_s"] for x in loaders[1:])
        result["loader"] = {
            "runs": loaders,
            "trainer_consumes_samples_s": consumed,
            "ratio": round(best / consumed, 2),
        }
    return result


def _g(x: float) -> str:
    return f"{x / 1e9:.1f}"


def report(r: dict) -> str:
    """The results as a Markdown page."""
    where = r["device"] if r["device"] != "cpu" else f"CPU, {r.get('threads')} threads"
    lines = [
        f"# Training benchmark ({where}, torch {r['torch']}, batch {r['batch']} per identity, channels_last)",
        "",
        f"Model dims: {r['dims']}. A step is the trainer's own: masked DSSIM + L1 and mask losses for both "
        "identities, backward, gradient clipping, Adam. FLOPs are counted by torch's FlopCounterMode over "
        "the model's forward and backward; the reference is a large 3x3 convolution, channels_last, forward "
        "and backward, in the same dtype and run.",
        "",
        "| reference conv | GFLOP/s |",
        "|---|---|",
    ]
    for dtype, ref in r["conv_reference"].items():
        lines.append(f"| {dtype} ({ref['shape']}) | {_g(ref['flop_s'])} |")
    lines += [
        "",
        "| model | dtype | samples/s | GFLOP/step | achieved GFLOP/s | step / conv | fwd+bwd / conv |"
        + (" MFU |" if r["device"] != "cpu" else ""),
        "|---|---|---|---|---|---|---|" + ("---|" if r["device"] != "cpu" else ""),
    ]
    for label, m in r["models"].items():
        for dtype, d in m["dtypes"].items():
            mark = " (preferred)" if dtype == m["preferred"] else ""
            row = (
                f"| {label} | {dtype}{mark} | {d['samples_s']} | {_g(m['flops_per_step'])} | "
                f"{_g(d['achieved_flop_s'])} | {d['ratio_to_conv']} | {d['fwd_bwd_ratio_to_conv']} |"
            )
            if "mfu" in d:
                row += f" {d['mfu']} |"
            lines.append(row)
    loader = r["loader"]
    runs = ", ".join(
        f"{x['workers']} worker process(es): {x['samples_s']}"
        if x["workers"]
        else f"in-process: {x['samples_s']}"
        for x in loader["runs"]
    )
    lines += [
        "",
        f"bf16 speed-up (df-64): {r['models']['df-64']['bf16_speedup']}x.",
        "",
        f"Loader samples/s ({runs}); the trainer consumes {loader['trainer_consumes_samples_s']} samples/s: "
        f"ratio {loader['ratio']}x.",
        "",
        f"Targets: step / conv >= {TARGET_RATIO}; loader >= {TARGET_LOADER}x the trainer; on CUDA, MFU >= "
        f"{TARGET_MFU:.0%} for liae at 256 px.",
    ]
    return "\n".join(lines) + "\n"
