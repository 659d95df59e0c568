"""The engine service's API in-process, for tests that ask it what it declares: a context whose job runner
never starts (jobs queue, nothing runs), one root folder, the token ``t`` * 32."""

from __future__ import annotations

from pathlib import Path

TOKEN = "t" * 32


def in_process_api(root: Path):
    """The FastAPI app over `root` (its jobs.db and logs/ land there)."""
    from facegraft.service.app import ServiceContext, create_app, path_checker
    from facegraft.service.frames import FrameEngine
    from facegraft.service.jobs import Runner
    from facegraft.service.jobstore import JobStore

    store = JobStore(root / "jobs.db")
    ctx = ServiceContext(
        TOKEN, store, Runner(store, root / "logs"), [root], FrameEngine(path_checker([root]))
    )
    return create_app(ctx)


def declared_options(root: Path, kind: str) -> list[dict]:
    """What `GET /v1/options/<kind>` answers, as a host's client receives it."""
    from fastapi.testclient import TestClient

    answer = TestClient(in_process_api(root)).get(f"/v1/options/{kind}", headers={"X-Facegraft-Token": TOKEN})
    assert answer.status_code == 200, answer.text
    return answer.json()
