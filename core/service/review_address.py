"""`facegraft review SHOTDIR`: the review page's address on the running engine service, or on one started
for the shot (allowed to read the shot folder and its plate's folder), carrying the token once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

from facegraft.errors import InputError
from facegraft.io.roots import inside
from facegraft.service.state import read_state, service_dir
from facegraft.store.alignments import AlignmentsStore


@dataclass
class ReviewAddress:
    """The page's address (with the token), the service's port, and whether this call started it."""

    url: str
    port: int
    started: bool


def _folders(shot_dir: Path) -> list[Path]:
    """The folders the service must be allowed to read: the shot and its plate's folder."""
    with AlignmentsStore.open(shot_dir) as store:
        plate = store.plate().get("path")
    folders = [shot_dir]
    if plate:
        folders.append(Path(plate).parent.resolve())
    return folders


def review_address(shot: str | Path, port: int | None = None) -> ReviewAddress:
    """Find the engine service (starting one when none runs) and give the review page's address for `shot`.

    InputError when the shot has no store, when the running service may not read the shot or its plate,
    or when it listens on a Unix socket only (a browser needs a TCP port)."""
    from facegraft.service import local

    shot_dir = Path(shot).resolve()
    folders = _folders(shot_dir)
    status = local.ask("GET", "/v1/status")
    started = status is None
    if started:
        serve = [a for folder in folders for a in ("--root", str(folder))]
        serve += ["--port", str(port)] if port else []
        status = local.start(serve)
    roots = [Path(r) for r in status.get("roots", [])]
    outside = [str(f) for f in folders if not inside(f, roots)]
    if outside:
        raise InputError(
            f"the running engine service may not read {', '.join(outside)} (its folders: "
            f"{', '.join(map(str, roots))}); stop it with `facegraft serve --stop` and run this again"
        )
    info = read_state(service_dir()) or {}
    if "port" not in info:
        raise InputError(
            "the running engine service listens on a Unix socket, which a browser cannot reach; stop it "
            "with `facegraft serve --stop` and run this again (or start it with `facegraft serve --port N`)"
        )
    token = (service_dir() / "token").read_text().strip()
    url = f"http://127.0.0.1:{int(info['port'])}/review{quote(str(shot_dir))}?{urlencode({'token': token})}"
    return ReviewAddress(url, int(info["port"]), started)
