"""Sidecar C2PA manifests for EXR sequences: one signed manifest store, `<stem>.c2pa` beside the frames (the
C2PA sidecar convention: the asset's name with a .c2pa extension), stating the frames are trained
algorithmic media and naming every file of the sequence's passes with its SHA-256.

EXR is not an asset type c2pa-python can hash, and a sequence is many files. The manifest's hard binding
(`c2pa.hash.data`) therefore covers the sequence's frame index: the sorted `sha256  name` lines of its
files (the `sha256sum` format), carried in a minimal SVG, a format c2pa hashes byte for byte. The index is
not stored: `verify` rebuilds it from the files on disk, so one changed byte in any frame makes the C2PA
validation fail, and the signed `com.facegraft.frames` assertion (the same list, with sizes) names the
frame. (C2PA's collection data hash is the spec's construct for many-file assets; c2pa-python 0.38 only
builds it for ZIP packages.)

A farm converts a sequence in frame-range chunks, possibly at once: after each chunk the sidecar is
rewritten, under a lock, to cover every facegraft-written file of the sequence then in the folder, so the
last chunk to finish leaves a sidecar covering all of them. Files whose size and modification time match
the previous sidecar's entry keep their hash instead of being read again.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import stat
from dataclasses import asdict, dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from facegraft.errors import InputError
from facegraft.io.atomic import locked, write_bytes_atomic
from facegraft.io.sequence import parse_sequence, sequence_regex, split_numbered
from facegraft.provenance.c2pa_manifest import (
    ASSERTION,
    SigningKey,
    assertion_data,
    damaged,
    make_builder,
    make_signer,
    manifest,
    summarise,
)

SUFFIX = ".c2pa"
FRAMES = "com.facegraft.frames"
INDEX_MIME = "image/svg+xml"
STORE_MIME = "application/c2pa"
MISSING = "missing"  # stands for a missing file's hash in a rebuilt index, so the binding fails
_CHUNK = 1 << 20


@dataclass(frozen=True)
class SignedFile:
    """One file the sidecar covers: its name in the folder, SHA-256, size and the writer's config hash;
    `mtime_ns` lets the next chunk reuse the hash of an unchanged file."""

    name: str
    sha256: str
    bytes: int
    mtime_ns: int
    config: str


def sidecar_path(out_dir: str | Path, stem: str) -> Path:
    """Where the sidecar of the sequence `<stem>[.<pass>].####.exr` lives."""
    return Path(out_dir) / f"{stem}{SUFFIX}"


def sha256_file(fh) -> str:
    """SHA-256 (hex) of an open binary file, read from its start."""
    h = hashlib.sha256()
    fh.seek(0)
    while block := fh.read(_CHUNK):
        h.update(block)
    return h.hexdigest()


def frame_index(hashes: dict[str, str]) -> bytes:
    """The document the hard binding covers: `sha256  name` per file, sorted by name, in an SVG."""
    lines = "".join(f"{hashes[name]}  {escape(name)}\n" for name in sorted(hashes))
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="0" height="0">'
        f"<title>facegraft frame index</title><desc>\n{lines}</desc></svg>"
    ).encode()


def _matcher(pattern: str | Path) -> re.Pattern[str]:
    """A regex for the file names of a `####` pattern's frames (one run of # in the name)."""
    name = Path(pattern).name
    start, end = name.index("#"), name.rindex("#") + 1
    return sequence_regex(name[:start], name[end:], end - start)


def _sequence_files(patterns: list[str]) -> list[Path]:
    """Every file on disk of the passes' `####` patterns, sorted by name."""
    folder = Path(patterns[0]).parent
    matchers = [_matcher(p) for p in patterns]
    try:
        names = os.listdir(folder)
    except OSError as exc:
        raise InputError(f"cannot list the output folder ({exc.strerror})", folder) from exc
    return [folder / n for n in sorted(names) if any(m.match(n) for m in matchers)]


def _written_by_facegraft(path: Path) -> str | None:
    """The file's `facegraft/config` when its header marks it a facegraft synthetic output, else None."""
    import OpenImageIO as oiio

    inp = oiio.ImageInput.open(str(path))
    if inp is None:
        oiio.geterror()
        return None
    try:
        spec = inp.spec()
        if spec.getattribute("facegraft/synthetic") != "true":
            return None
        return str(spec.getattribute("facegraft/config") or "")
    finally:
        inp.close()


def _read_store(data: bytes) -> tuple[dict, bool]:
    """A sidecar's JSON report, and whether its claim signature verified (the frames are not checked)."""
    import c2pa

    with c2pa.Reader(STORE_MIME, io.BytesIO(data)) as reader:
        store = json.loads(reader.json())
        results = reader.get_validation_results() or {}
    passed = {s.get("code") for s in (results.get("activeManifest") or {}).get("success", [])}
    return store, "claimSignature.validated" in passed


def _signed_files(store: dict) -> dict[str, SignedFile]:
    data = assertion_data(store, FRAMES) or {}
    out = {}
    for entry in data.get("files", []):
        try:
            out[entry["name"]] = SignedFile(**{k: entry[k] for k in SignedFile.__dataclass_fields__})
        except (KeyError, TypeError):
            continue
    return out


def _previous(path: Path, config: str) -> dict[str, SignedFile]:
    """The entries of an earlier chunk's sidecar for the same conversion, to reuse unchanged files' hashes."""
    import c2pa

    try:
        store, signature_ok = _read_store(path.read_bytes())
    except (OSError, c2pa.C2paError, ValueError):
        return {}
    facts = assertion_data(store, ASSERTION) or {}
    if not signature_ok or facts.get("config") != config:
        return {}
    return _signed_files(store)


def write_sidecar(
    patterns: list[str], stem: str, signing: SigningKey, facts: dict[str, str]
) -> tuple[Path, int]:
    """Sign the sequence whose passes are the `####` `patterns` (all in one folder) into `<stem>.c2pa`
    beside them; returns the sidecar and how many files it covers."""
    import c2pa

    folder = Path(patterns[0]).parent
    path = sidecar_path(folder, stem)
    with locked(path, "the C2PA sidecar"):
        known = _previous(path, facts.get("config", ""))
        signed: list[SignedFile] = []
        for file in _sequence_files(patterns):
            try:
                with open(file, "rb") as fh:
                    st = os.fstat(fh.fileno())
                    old = known.get(file.name)
                    if old is not None and (old.bytes, old.mtime_ns) == (st.st_size, st.st_mtime_ns):
                        signed.append(old)
                        continue
                    config = _written_by_facegraft(file)
                    if config is not None:
                        signed.append(
                            SignedFile(file.name, sha256_file(fh), st.st_size, st.st_mtime_ns, config)
                        )
            except FileNotFoundError:  # removed since the folder was listed
                continue
            except OSError as exc:
                raise InputError(f"cannot read a frame to sign it ({exc.strerror})", file) from exc
        if not signed:
            raise InputError("no facegraft frames to sign in the output folder", folder)
        definition = manifest(", ".join(Path(p).name for p in patterns), facts)
        definition["assertions"].append(
            {
                "label": FRAMES,
                "data": {
                    "sequences": [Path(p).name for p in patterns],
                    "binding": "c2pa.hash.data covers the SVG-wrapped sha256sum index of these files",
                    "files": [asdict(s) for s in signed],
                },
            }
        )
        index = frame_index({s.name: s.sha256 for s in signed})
        builder = make_builder(definition)
        signer = make_signer(signing)
        try:
            builder.set_no_embed()
            store = builder.sign(signer, INDEX_MIME, io.BytesIO(index), io.BytesIO())
        except c2pa.C2paError as exc:
            raise InputError(f"C2PA signing failed ({exc})", path) from exc
        finally:
            signer.close()
            builder.close()
        write_bytes_atomic(path, store, "the C2PA sidecar manifest")
        with contextlib.suppress(OSError):  # readable by whoever can read the frames
            os.chmod(path, stat.S_IMODE((folder / signed[0].name).stat().st_mode))
    return path, len(signed)


def _candidates(file: Path) -> list[Path]:
    """Sidecars that may cover a frame file, nearest first: plate.comp.1001.exr -> plate.comp.c2pa,
    plate.c2pa."""
    parts = split_numbered(file.name)
    stem = parts[0].rstrip("._-") if parts and parts[2] == file.suffix else file.stem
    parts = stem.split(".")
    return [file.with_name(".".join(parts[:n]) + SUFFIX) for n in range(len(parts), 0, -1)]


def _asked(path: Path) -> tuple[list[Path], re.Pattern[str] | None]:
    """The frame files named by a file or sequence path, and for a sequence a regex for its file names."""
    if path.is_file():
        return [path], None
    sequence = parse_sequence(path)
    if sequence is None:
        return [], None
    files = [sequence.path(f) for f in sequence.frames]
    regex = sequence_regex(sequence.prefix, sequence.suffix)
    return files, regex


def _find(files: list[Path]) -> tuple[Path, bytes, dict] | tuple[Path, None, Exception] | None:
    """The nearest sidecar that signs one of `files`, or the first that cannot be read, or None."""
    import c2pa

    names = {f.name for f in files}
    broken = None
    for candidate in (c for c in _candidates(files[0]) if c.is_file()):
        try:
            data = candidate.read_bytes()
            store, _ = _read_store(data)
        except (OSError, c2pa.C2paError, ValueError) as exc:
            broken = broken or (candidate, None, exc)
            continue
        if names & set(_signed_files(store)):
            return candidate, data, store
    return broken


def read_sidecar(path: str | Path) -> dict | None:
    """Validate the sidecar manifest covering an EXR file or sequence against the files on disk.

    Returns what `c2pa_manifest.read` reports for embedded manifests plus 'manifest' (the sidecar) and
    'frames' ({'signed': how many files it signs, then the file names asked about that are 'matching',
    'changed', 'unsigned', and the signed files of the sequence that are 'missing'}), or None when no
    sidecar signs these files. A changed or missing frame makes it Invalid, with an error naming it."""
    import c2pa

    files, regex = _asked(Path(path))
    found = _find(files) if files else None
    if found is None:
        return None
    sidecar, data, store = found
    if data is None:
        report = damaged(f"the C2PA sidecar {sidecar.name} is damaged and cannot be read ({store})")
        return {**report, "manifest": str(sidecar)}
    signed = {name: s.sha256 for name, s in _signed_files(store).items()}
    current = dict(signed)
    frames: dict[str, list[str]] = {"matching": [], "changed": [], "unsigned": [], "missing": []}
    for file in files:
        if file.name not in signed:
            frames["unsigned"].append(file.name)
            continue
        try:
            with open(file, "rb") as fh:
                current[file.name] = sha256_file(fh)
        except OSError as exc:
            raise InputError(f"cannot read the frame ({exc.strerror})", file) from exc
        frames["matching" if current[file.name] == signed[file.name] else "changed"].append(file.name)
    if regex is not None:
        asked = {f.name for f in files}
        for name in sorted(signed):
            if regex.match(name) and name not in asked and not (sidecar.parent / name).exists():
                frames["missing"].append(name)
                current[name] = MISSING
    with c2pa.Reader(INDEX_MIME, io.BytesIO(frame_index(current)), data) as reader:
        report = summarise(store, reader.get_validation_state(), reader.get_validation_results())
    errors = [
        f"{n} changed after signing: its SHA-256 is not the one {sidecar.name} signed"
        for n in frames["changed"]
    ]
    errors += [f"{n} is missing: {sidecar.name} signed it" for n in frames["missing"]]
    if errors:
        report["validation"] = "Invalid"
    report["errors"] = errors + report["errors"]
    report["manifest"] = str(sidecar)
    report["frames"] = {"signed": len(signed), **frames}
    return report
