"""Crash-safe training checkpoints: safetensors only, a new folder per save, switched atomically.

Layout under a model folder::

    MODELDIR/checkpoints/
        000001200-a1b2c3/           one save: <iteration:09d>-<short random>
            model.safetensors       model weights
            optim.safetensors       optimiser tensors, flattened (absent when saved without an optimiser)
            optim.json              optimiser non-tensor parts (param groups, step counts...), with
                                    {"__tensor__": key} placeholders for the tensors
            state.json              iteration, config, loss summary, best loss, timestamps, engine version
            part.<name>.safetensors         weights of an extra module trained beside the model (e.g. the
        part.<name>.optim.safetensors   GAN discriminator `disc`) and its optimiser, stored like the
        part.<name>.optim.json          model's; absent when the save has no such part
        MANIFEST.sha256         `sha256sum` format, written last: a folder without it is partial
        LATEST                      names the newest save; replaced atomically
        BEST                        names the best-loss save; replaced atomically

A save writes and fsyncs every file and the folder, then the manifest, then switches LATEST (and BEST),
and only then prunes older saves (keeping the last `keep` plus the best). A process killed at any point
leaves LATEST naming a complete save; leftovers are removed by `cleanup_partial()`, which every save runs
first. Nothing is ever read with pickle: weights and optimiser tensors go through safetensors, the rest is
JSON. Non-finite weights are refused before anything is written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from facegraft.errors import FacegraftError, ModelFileError, StoreError
from facegraft.io.atomic import fsync_folder, move, remove_leftovers, write_bytes_atomic

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
LATEST = "LATEST"
BEST = "BEST"
MODEL_FILE = "model.safetensors"
OPTIM_FILE = "optim.safetensors"
OPTIM_JSON = "optim.json"
STATE_FILE = "state.json"
MANIFEST = "MANIFEST.sha256"
FORMAT_VERSION = 1

_SAVE_RE = re.compile(r"^(\d{9,})-([0-9a-f]+)$")
_PART_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_PART_FILE_RE = re.compile(r"^part\.([a-z][a-z0-9_]*)\.safetensors$")
_TRASH_PREFIX = ".trash-"
# Keys the store writes into state.json itself; a caller's keys of the same name are overridden.
RESERVED_STATE_KEYS = (
    "format",
    "engine_version",
    "iteration",
    "loss",
    "best_loss",
    "saved_at",
    "saved_at_unix",
)


class NonFiniteWeights(FacegraftError):
    """A save was refused because a weight or optimiser tensor (or the loss) holds NaN or Inf."""


@dataclass
class PartState:
    """The saved weights of an extra module (and its optimiser state, None when saved without one)."""

    model_state: dict[str, torch.Tensor]
    optim_state: dict | None


def _part_files(name: str) -> tuple[str, str, str]:
    return f"part.{name}.safetensors", f"part.{name}.optim.safetensors", f"part.{name}.optim.json"


@dataclass
class Checkpoint:
    """A verified save. `state` is the content of state.json (the caller's keys plus the store's own:
    iteration, loss, best_loss, saved_at, engine_version); `optim_state` is ready for
    `optimizer.load_state_dict` (None when saved without an optimiser). `skipped` lists newer saves that
    failed verification and were passed over by a fallback load, newest first, with the reason."""

    folder: Path
    iteration: int
    state: dict
    model_state: dict[str, torch.Tensor]
    optim_state: dict | None
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    parts: dict[str, PartState] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------- fs helpers


def _write_file(path: Path, data: bytes) -> str:
    """Write and fsync `data` to `path`; return its SHA-256."""
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------------------------ tensor (de)flattening


def _prepare(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Detached, contiguous CPU tensors, with storage-sharing ones (tied weights) cloned for safetensors."""
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for key, t in tensors.items():
        t = t.detach().to("cpu").contiguous()
        ptr = t.untyped_storage().data_ptr()
        if t.numel() and ptr in seen:
            t = t.clone()
        elif t.numel():
            seen.add(ptr)
        out[key] = t
    return out


def _split(obj: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    """Move every tensor of `obj` into `tensors` and return a JSON-able skeleton with placeholders."""
    if isinstance(obj, torch.Tensor):
        tensors[prefix] = obj
        return {"__tensor__": prefix}
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {k: _split(v, f"{prefix}/{k}", tensors) for k, v in obj.items()}
        if not all(isinstance(k, (str, int)) for k in obj):
            raise TypeError(f"optimizer state has a key that is neither str nor int under {prefix!r}")
        return {"__items__": [[k, _split(v, f"{prefix}/{k}", tensors)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_split(v, f"{prefix}/{i}", tensors) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_split(v, f"{prefix}/{i}", tensors) for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"optimizer state holds a {type(obj).__name__} under {prefix!r}, not storable as JSON")


def _join(obj: Any, tensors: dict[str, torch.Tensor], path: Path) -> Any:
    """Inverse of `_split`."""
    if isinstance(obj, dict):
        if set(obj) == {"__tensor__"}:
            key = obj["__tensor__"]
            if key not in tensors:
                raise StoreError(f"optimiser tensor {key!r} named in {OPTIM_JSON} is missing", path)
            return tensors[key]
        if set(obj) == {"__tuple__"}:
            return tuple(_join(v, tensors, path) for v in obj["__tuple__"])
        if set(obj) == {"__items__"}:
            return {k: _join(v, tensors, path) for k, v in obj["__items__"]}
        return {k: _join(v, tensors, path) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_join(v, tensors, path) for v in obj]
    return obj


def _non_finite(tensors: dict[str, torch.Tensor]) -> list[str]:
    bad = []
    for key, t in tensors.items():
        if (t.is_floating_point() or t.is_complex()) and t.numel() and not bool(torch.isfinite(t).all()):
            bad.append(key)
    return bad


# ------------------------------------------------------------------------------------------------ the store


class CheckpointStore:
    """Saves and loads the checkpoints of one model folder (`model_dir/checkpoints`). One writer at a time."""

    def __init__(self, model_dir: str | Path, keep: int = 3) -> None:
        if keep < 1:
            raise ValueError("keep must be at least 1")
        self.model_dir = Path(model_dir)
        self.root = self.model_dir / CHECKPOINTS
        self.keep = keep

    # ------------------------------------------------------------------------------------------- listing

    def _candidates(self) -> list[Path]:
        """Every save-named folder, complete or not."""
        if not self.root.is_dir():
            return []
        return [p for p in self.root.iterdir() if _SAVE_RE.match(p.name) and p.is_dir()]

    @staticmethod
    def _order_key(folder: Path) -> tuple[int, int, str]:
        try:
            mtime = (folder / MANIFEST).stat().st_mtime_ns
        except OSError:
            mtime = 0
        return int(_SAVE_RE.match(folder.name).group(1)), mtime, folder.name

    def list_saves(self) -> list[Path]:
        """Complete saves (those with a manifest), oldest first. Their content is not verified here."""
        saves = [p for p in self._candidates() if (p / MANIFEST).is_file()]
        return sorted(saves, key=self._order_key)

    def _read_pointer(self, name: str) -> Path | None:
        """The folder a pointer file names (which may no longer exist), or None without a pointer."""
        try:
            text = (self.root / name).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise StoreError(f"unreadable checkpoint pointer: {exc}", self.root / name) from exc
        if not _SAVE_RE.match(text):
            raise StoreError(f"checkpoint pointer names no save folder: {text!r}", self.root / name)
        return self.root / text

    def _switch(self, name: str, folder: Path) -> None:
        write_bytes_atomic(self.root / name, (folder.name + "\n").encode(), "the save pointer", durable=True)

    # ------------------------------------------------------------------------------------------- cleanup

    def cleanup_partial(self) -> list[Path]:
        """Remove what killed saves and prunes left behind: save folders without a manifest (unless a
        pointer names them), half-deleted folders and temp files. Returns what was removed. Call it only
        while no save is running (every `save()` calls it first)."""
        if not self.root.is_dir():
            return []
        keep = set()
        for name in (LATEST, BEST):
            try:
                target = self._read_pointer(name)
            except StoreError:
                target = None
            if target is not None:
                keep.add(target.name)
        removed = []
        for p in list(self.root.iterdir()):
            if p.name.startswith(_TRASH_PREFIX) or (
                _SAVE_RE.match(p.name) and p.is_dir() and not (p / MANIFEST).exists() and p.name not in keep
            ):
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p)
        removed += remove_leftovers(self.root)  # a pointer's temporary file, left by a kill
        for folder in self.list_saves():  # a manifest's own
            removed += remove_leftovers(folder)
        if removed:
            log.info("removed %d leftovers of interrupted saves in %s", len(removed), self.root)
            fsync_folder(self.root)
        return removed

    def _prune(self) -> None:
        saves = self.list_saves()
        keep = {p.name for p in saves[-self.keep :]}
        for name in (LATEST, BEST):
            target = self._read_pointer(name)
            if target is not None:
                keep.add(target.name)
        doomed = [p for p in saves if p.name not in keep]
        for p in doomed:  # rename first, so a kill mid-delete leaves no half save that looks complete
            trash = p.with_name(f"{_TRASH_PREFIX}{p.name}")
            move(p, trash, "the old save")
        if doomed:
            fsync_folder(self.root)
        for p in doomed:
            shutil.rmtree(p.with_name(f"{_TRASH_PREFIX}{p.name}"), ignore_errors=True)

    # ---------------------------------------------------------------------------------------------- save

    def _best_loss(self) -> float | None:
        try:
            target = self._read_pointer(BEST)
        except StoreError:
            return None
        if target is None:
            return None
        try:
            loss = json.loads((target / STATE_FILE).read_text(encoding="utf-8")).get("loss")
        except (OSError, ValueError):
            return None
        return float(loss) if isinstance(loss, (int, float)) else None

    def _gather_optim(
        self, optimizer: torch.optim.Optimizer | None, prefix: str
    ) -> tuple[dict[str, torch.Tensor], Any]:
        """An optimiser's tensors (ready for safetensors) and its JSON skeleton; empty without one."""
        tensors: dict[str, torch.Tensor] = {}
        if optimizer is None:
            return tensors, None
        try:
            skeleton = _split(optimizer.state_dict(), prefix, tensors)
        except TypeError as exc:
            raise FacegraftError(f"cannot save the optimiser state: {exc}", self.root) from exc
        return _prepare(tensors), skeleton

    def save(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer | None,
        iteration: int,
        state: dict | None = None,
        loss: float | None = None,
        parts: dict[str, tuple[torch.nn.Module, torch.optim.Optimizer | None]] | None = None,
    ) -> Path:
        """Write a new save and make it LATEST (and BEST when `loss` is the lowest so far); return its
        folder. `state` is the caller's JSON-able dict (config, loss-history summary, timestamps...).
        `parts` names extra (module, optimiser or None) pairs saved beside the model, such as a GAN
        discriminator. Raises NonFiniteWeights, writing nothing, when any tensor or the loss is NaN/Inf."""
        if isinstance(iteration, bool) or not isinstance(iteration, int) or iteration < 0:
            raise ValueError(f"iteration must be a non-negative int, not {iteration!r}")
        # Everything is gathered and checked before the first byte goes to disk.
        model_tensors = _prepare(model.state_dict())
        optim_tensors, optim_skeleton = self._gather_optim(optimizer, "optim")
        bad = _non_finite(model_tensors) + _non_finite(optim_tensors)
        gathered = []
        for name, (module, part_optim) in (parts or {}).items():
            if not _PART_NAME_RE.match(name):
                raise ValueError(f"checkpoint part name {name!r} must be lower-case letters, digits and _")
            tensors = _prepare(module.state_dict())
            p_tensors, p_skeleton = self._gather_optim(part_optim, f"{name}.optim")
            bad += [f"{name}:{k}" for k in _non_finite(tensors) + _non_finite(p_tensors)]
            gathered.append((name, tensors, p_tensors, p_skeleton))
        if bad:
            shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
            raise NonFiniteWeights(
                f"refusing to save iteration {iteration}: NaN/Inf in {len(bad)} tensor(s): {shown}", self.root
            )
        if loss is not None and not math.isfinite(loss):
            raise NonFiniteWeights(f"refusing to save iteration {iteration}: the loss is {loss}", self.root)

        from facegraft import __version__

        now = time.time()
        best = self._best_loss()
        is_best = loss is not None and (best is None or loss < best)
        doc = dict(state or {})
        doc.setdefault("config", {})
        doc.setdefault("created_at", now)
        doc.update(
            format=FORMAT_VERSION,
            engine_version=__version__,
            iteration=iteration,
            loss=loss,
            best_loss=loss if is_best else best,
            saved_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            saved_at_unix=now,
        )
        try:
            state_bytes = json.dumps(doc, indent=1, sort_keys=True).encode()
            optim_json = json.dumps(optim_skeleton).encode() if optimizer is not None else None
        except (TypeError, ValueError) as exc:
            raise FacegraftError(f"checkpoint state is not JSON-serialisable: {exc}", self.root) from exc
        files: list[tuple[str, bytes]] = [(MODEL_FILE, st_save(model_tensors))]
        if optimizer is not None:
            files += [(OPTIM_FILE, st_save(optim_tensors)), (OPTIM_JSON, optim_json)]
        for name, tensors, p_tensors, p_skeleton in gathered:
            weights_file, optim_file, optim_json_file = _part_files(name)
            files.append((weights_file, st_save(tensors)))
            if p_skeleton is not None:
                files.append((optim_file, st_save(p_tensors)))
                files.append((optim_json_file, json.dumps(p_skeleton).encode()))
        files.append((STATE_FILE, state_bytes))

        self.cleanup_partial()
        new_root = not self.root.is_dir()
        self.root.mkdir(parents=True, exist_ok=True)
        if new_root:
            fsync_folder(self.root.parent)
        while True:
            folder = self.root / f"{iteration:09d}-{secrets.token_hex(3)}"
            try:
                folder.mkdir()
                break
            except FileExistsError:
                continue
        fsync_folder(self.root)
        lines = [f"{_write_file(folder / name, data)}  {name}\n" for name, data in files]
        fsync_folder(folder)
        # last: the save is now complete
        write_bytes_atomic(folder / MANIFEST, "".join(lines).encode(), "the save manifest", durable=True)
        self._switch(LATEST, folder)
        if is_best:
            self._switch(BEST, folder)
        self._prune()
        return folder

    # ---------------------------------------------------------------------------------------------- load

    def verify(self, folder: Path) -> dict[str, bytes]:
        """Check a save against its manifest; return the content of each listed file. Raises StoreError
        naming the file on a missing manifest or file, or a checksum mismatch."""
        manifest = folder / MANIFEST
        if not folder.is_dir():
            raise StoreError("checkpoint folder is missing", folder)
        try:
            text = manifest.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise StoreError(f"incomplete save: no {MANIFEST}", folder) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise StoreError(f"unreadable manifest: {exc}", manifest) from exc
        expected: dict[str, str] = {}
        for n, line in enumerate(text.splitlines(), 1):
            m = re.fullmatch(r"([0-9a-f]{64}) [ *]([^/\\]+)", line)
            if not m or m.group(2) in (".", ".."):
                raise StoreError(f"malformed manifest line {n}", manifest)
            expected[m.group(2)] = m.group(1)
        for required in (MODEL_FILE, STATE_FILE):
            if required not in expected:
                raise StoreError(f"manifest does not list {required}", manifest)
        if (OPTIM_FILE in expected) != (OPTIM_JSON in expected):
            raise StoreError(f"manifest lists only one of {OPTIM_FILE} and {OPTIM_JSON}", manifest)
        contents = {}
        for name, digest in expected.items():
            path = folder / name
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                raise StoreError("file listed in the manifest is missing", path) from None
            except OSError as exc:
                raise StoreError(f"unreadable checkpoint file: {exc}", path) from exc
            if hashlib.sha256(data).hexdigest() != digest:
                raise StoreError("checksum mismatch (the file was changed or damaged after saving)", path)
            contents[name] = data
        return contents

    def load(self, folder: str | Path) -> Checkpoint:
        """Verify and load one save folder."""
        folder = Path(folder)
        contents = self.verify(folder)
        try:
            state = json.loads(contents[STATE_FILE])
        except ValueError as exc:
            raise StoreError(f"state is not valid JSON: {exc}", folder / STATE_FILE) from exc
        if not isinstance(state, dict) or not isinstance(state.get("iteration"), int):
            raise StoreError("state has no integer iteration", folder / STATE_FILE)
        if state.get("format", 0) > FORMAT_VERSION:
            raise StoreError(
                f"checkpoint format {state['format']} is newer than this engine reads ({FORMAT_VERSION})",
                folder / STATE_FILE,
            )
        try:
            model_state = st_load(contents[MODEL_FILE])
        except Exception as exc:  # safetensors raises its own error types
            raise ModelFileError(f"unreadable safetensors weights: {exc}", folder / MODEL_FILE) from exc
        optim_state = None
        if OPTIM_FILE in contents:
            try:
                optim_tensors = st_load(contents[OPTIM_FILE])
            except Exception as exc:
                raise ModelFileError(f"unreadable optimiser tensors: {exc}", folder / OPTIM_FILE) from exc
            try:
                skeleton = json.loads(contents[OPTIM_JSON])
            except ValueError as exc:
                raise StoreError(f"optimiser state is not valid JSON: {exc}", folder / OPTIM_JSON) from exc
            optim_state = _join(skeleton, optim_tensors, folder / OPTIM_JSON)
        parts = {}
        for fname in sorted(contents):
            m = _PART_FILE_RE.match(fname)
            if m:
                parts[m.group(1)] = self._load_part(folder, m.group(1), contents)
        return Checkpoint(folder, state["iteration"], state, model_state, optim_state, parts=parts)

    @staticmethod
    def _load_part(folder: Path, name: str, contents: dict[str, bytes]) -> PartState:
        weights_file, optim_file, optim_json_file = _part_files(name)
        if (optim_file in contents) != (optim_json_file in contents):
            raise StoreError(f"manifest lists only one of {optim_file} and {optim_json_file}", folder)
        try:
            weights = st_load(contents[weights_file])
            optim_tensors = st_load(contents[optim_file]) if optim_file in contents else None
        except Exception as exc:  # safetensors raises its own error types
            raise ModelFileError(f"unreadable safetensors tensors of part '{name}': {exc}", folder) from exc
        optim_state = None
        if optim_tensors is not None:
            try:
                skeleton = json.loads(contents[optim_json_file])
            except ValueError as exc:
                where = folder / optim_json_file
                raise StoreError(f"optimiser state is not valid JSON: {exc}", where) from exc
            optim_state = _join(skeleton, optim_tensors, folder / optim_json_file)
        return PartState(weights, optim_state)

    def load_latest(self, fallback: bool = True) -> Checkpoint | None:
        """The save LATEST names, verified. None when the model folder has no save at all.

        With `fallback` (the default) a save that fails verification, or a LATEST naming a missing or
        partial folder, is passed over for the next newest complete save that verifies; the ones passed
        over are logged and listed in `Checkpoint.skipped`. When saves exist but none verifies, StoreError
        is raised: a fresh model is never returned in place of a damaged one. Without `fallback`, any
        problem with the LATEST save raises."""
        latest = self._read_pointer(LATEST)
        saves = self.list_saves()
        if latest is None and not saves:
            return None  # at most a first save that was killed before completing
        order = ([latest] if latest is not None else []) + [p for p in reversed(saves) if p != latest]
        skipped: list[tuple[Path, str]] = []
        for folder in order:
            try:
                ckpt = self.load(folder)
            except (StoreError, ModelFileError) as exc:
                if not fallback:
                    raise
                log.warning("skipping checkpoint %s: %s", folder.name, exc)
                skipped.append((folder, str(exc)))
                continue
            if skipped:
                log.warning("resuming from %s; skipped %d newer save(s)", folder.name, len(skipped))
            ckpt.skipped = skipped
            return ckpt
        reasons = "; ".join(f"{p.name}: {why}" for p, why in skipped)
        raise StoreError(f"checkpoints exist but none verifies ({reasons})", self.root)

    def load_best(self) -> Checkpoint | None:
        """The best-loss save, verified; None when no save recorded a loss."""
        best = self._read_pointer(BEST)
        return None if best is None else self.load(best)

    @staticmethod
    def restore(
        model: torch.nn.Module, optimizer: torch.optim.Optimizer | None, checkpoint: Checkpoint
    ) -> None:
        """Load a checkpoint's weights (strictly) and, when both exist, its optimiser state."""
        model.load_state_dict(checkpoint.model_state)
        if optimizer is not None:
            if checkpoint.optim_state is None:
                log.warning("%s has no optimiser state; the optimiser starts fresh", checkpoint.folder)
            else:
                optimizer.load_state_dict(checkpoint.optim_state)

    @staticmethod
    def restore_part(
        name: str,
        module: torch.nn.Module,
        optimizer: torch.optim.Optimizer | None,
        checkpoint: Checkpoint,
    ) -> bool:
        """Load a saved part into `module` (strictly) and `optimizer`; False, touching nothing, when the
        checkpoint has no such part (it was saved before the part existed: the part starts fresh)."""
        part = checkpoint.parts.get(name)
        if part is None:
            return False
        module.load_state_dict(part.model_state)
        if optimizer is not None and part.optim_state is not None:
            optimizer.load_state_dict(part.optim_state)
        return True


def load_latest(model_dir: str | Path, fallback: bool = True) -> Checkpoint | None:
    """`CheckpointStore(model_dir).load_latest(fallback)`."""
    return CheckpointStore(model_dir).load_latest(fallback=fallback)


def restore(model: torch.nn.Module, optimizer: torch.optim.Optimizer | None, checkpoint: Checkpoint) -> None:
    """`CheckpointStore.restore`."""
    CheckpointStore.restore(model, optimizer, checkpoint)
