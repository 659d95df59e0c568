"""The engine service's HTTP API (FastAPI; the OpenAPI description is served at ``/v1/openapi.json``).

Every request, the description included, must carry the token (``X-Facegraft-Token`` or ``Authorization:
Bearer``); anything else gets 401 and nothing more. Jobs are JSON; ``/v1/frame`` takes and returns the
binary frame message of `facegraft.service.protocol`. The review page (`facegraft.review`) signs a browser
in once with the token in its address, then accepts a cookie for its own routes only.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from facegraft import __version__
from facegraft.commands import describe
from facegraft.errors import FacegraftError
from facegraft.io.roots import PathRefused, resolve_path
from facegraft.review.routes import review_router
from facegraft.review.session import session_authorised, session_login
from facegraft.service import protocol
from facegraft.service.frames import FrameEngine
from facegraft.service.jobs import KINDS, JobRequestError, Runner, build_argv
from facegraft.service.jobstore import FINAL, JobStore
from facegraft.service.persons import PersonRequestError, check_job_persons, shot_persons
from facegraft.service.state import TOKEN_HEADER

log = logging.getLogger("facegraft.service")
API_VERSION = 1
MAX_FRAME_BODY = protocol.HEADER.size + protocol.MAX_OPTIONS + protocol.MAX_PIXELS * 4 * 4


@dataclass
class ServiceContext:
    """What the API works with: token, job table, runner, allowed roots, the per-frame engine."""

    token: str
    store: JobStore
    runner: Runner
    roots: list[Path]
    engine: FrameEngine
    started: float = field(default_factory=time.time)
    shutdown: Callable[[], None] = lambda: None


# A job option's value; NaN and Infinity are no option's value (refused with the other bad requests, 422).
Scalar = str | int | Annotated[float, Field(allow_inf_nan=False)] | bool


class JobRequest(BaseModel):
    """A job: its kind and the CLI options by name (e.g. {"plate": ..., "shot": ..., "frames": "1-10"}); an
    option the CLI takes more than once (convert's ``swap``) may be given a list, one value a time."""

    kind: Literal["extract", "train", "convert"]
    args: dict[str, Scalar | list[Scalar]] = Field(default_factory=dict)


class JobOut(BaseModel):
    id: str
    kind: str
    args: dict[str, Any]
    state: Literal["queued", "running", "done", "failed", "cancelled", "interrupted"]
    fraction: float
    frame: int | None = None
    message: str = ""
    preview: str | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    attempts: int = 0
    created: float
    started: float | None = None
    finished: float | None = None
    argv: list[str]
    cancel_requested: bool = False


class JobList(BaseModel):
    jobs: list[JobOut]


class Status(BaseModel):
    service: str
    version: str
    api: int
    pid: int
    uptime_s: float
    jobs: dict[str, int]
    running: str | None
    roots: list[str]


class OptionOut(BaseModel):
    name: str
    flag: str | None
    help: str
    default: Any = None
    choices: list[Any] | None = None
    type: str  # bool, int, float, str or list
    kind: str  # flag (a switch) or value
    repeatable: bool = False
    bounds: list[float | None] | None = None  # [lowest, highest] a number may take (None: open)
    path: str | None = None  # file, folder or plate: a path the service confines to its roots
    flow: str | None = None  # in, out or inout, for a path
    required: bool = False
    positional: bool = False


class ErrorOut(BaseModel):
    error: str


class PersonOut(BaseModel):
    id: int
    label: str
    name: str
    faces: int
    tracks: list[int]
    ranges: list[list[int]]
    shots: list[int]
    photo: str | None = None


class PersonsOut(BaseModel):
    shot: str
    grouped: bool
    persons: list[PersonOut]


def _authorised(request: Request, token: str) -> bool:
    given = request.headers.get(TOKEN_HEADER, "")
    auth = request.headers.get("authorization", "")
    if not given and auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    return bool(given) and hmac.compare_digest(given.encode(), token.encode())


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(ctx: ServiceContext) -> FastAPI:
    """The API bound to one service context."""
    app = FastAPI(
        title="facegraft engine service",
        version=__version__,
        description="Local engine service: jobs (extract, train, convert) and per-frame swaps for hosts.",
        openapi_url="/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
    )

    @app.middleware("http")
    async def require_token(request: Request, call_next):
        if not _authorised(request, ctx.token) and not session_authorised(request, ctx.token):
            return session_login(request, ctx.token) or _error(401, "missing or wrong token")
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        # FastAPI's own reply echoes the input, which cannot be serialised when it holds NaN or Infinity.
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in exc.errors()
        )
        return _error(422, f"invalid request ({problems})")

    app.include_router(review_router(ctx.roots))
    for routes in (_service_routes, _job_routes, _person_routes, _frame_routes):
        app.include_router(routes(ctx))
    return app


def _service_routes(ctx: ServiceContext) -> APIRouter:
    """The service itself: its status, the options each job kind takes, shutdown."""
    router = APIRouter()

    @router.get("/v1/status", response_model=Status)
    def status() -> Status:
        return Status(
            service="facegraft",
            version=__version__,
            api=API_VERSION,
            pid=os.getpid(),
            uptime_s=round(time.time() - ctx.started, 1),
            jobs=ctx.store.counts(),
            running=ctx.runner.current,
            roots=[str(r) for r in ctx.roots],
        )

    @router.get("/v1/options/{kind}", response_model=list[OptionOut], responses={404: {"model": ErrorOut}})
    def options(kind: str):
        if kind not in KINDS:
            return _error(404, f"unknown job kind {kind!r}")
        return [OptionOut(**o) for o in describe(kind)]

    @router.post("/v1/shutdown")
    def shutdown():
        ctx.shutdown()
        return {"stopping": True}

    return router


def _job_routes(ctx: ServiceContext) -> APIRouter:
    """Jobs: submit (checked against the declarations and the roots), list, follow, cancel."""
    router = APIRouter()

    @router.post(
        "/v1/jobs",
        status_code=201,
        response_model=JobOut,
        responses={400: {"model": ErrorOut}, 403: {"model": ErrorOut}},
    )
    def submit(req: JobRequest):
        try:
            argv, args = build_argv(req.kind, req.args, ctx.roots)
            check_job_persons(req.kind, args)  # an unknown person is refused now, not by a failed job
        except (JobRequestError, PersonRequestError) as exc:
            return _error(exc.status, str(exc))
        job = ctx.store.add(req.kind, args, argv)
        log.info("job %s queued: %s", job.id, " ".join(argv))
        ctx.runner.wake()
        return job.public()

    @router.get("/v1/jobs", response_model=JobList)
    def jobs():
        return {"jobs": [j.public() for j in ctx.store.list()]}

    @router.get("/v1/jobs/{job_id}", response_model=JobOut, responses={404: {"model": ErrorOut}})
    def job(job_id: str):
        found = ctx.store.get(job_id)
        return found.public() if found else _error(404, f"no job {job_id!r}")

    @router.post("/v1/jobs/{job_id}/cancel", response_model=JobOut, responses={404: {"model": ErrorOut}})
    def cancel(job_id: str):
        found = ctx.store.request_cancel(job_id)
        return found.public() if found else _error(404, f"no job {job_id!r}")

    @router.get(
        "/v1/jobs/{job_id}/events",
        responses={200: {"content": {"application/x-ndjson": {}}}, 404: {"model": ErrorOut}},
    )
    async def events(job_id: str):
        if ctx.store.get(job_id) is None:
            return _error(404, f"no job {job_id!r}")

        async def stream():
            last = None
            while True:
                current = await run_in_threadpool(ctx.store.get, job_id)
                if current is None:
                    return
                data = current.public()
                if data != last:
                    yield json.dumps(data) + "\n"
                    last = data
                if current.state in FINAL:
                    return
                await asyncio.sleep(0.25)

        return StreamingResponse(stream(), media_type="application/x-ndjson")

    return router


def _person_routes(ctx: ServiceContext) -> APIRouter:
    """A shot's persons, for a host's person chooser."""
    router = APIRouter()

    @router.get(
        "/v1/persons",
        response_model=PersonsOut,
        responses={400: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut}},
    )
    def persons(shot: str | None = None):
        """The persons of a shot (what a host's person chooser lists), the one with the most faces first;
        ``grouped`` is false while the shot's faces were never grouped into persons."""
        if not shot:
            return _error(400, "give the shot folder: /v1/persons?shot=SHOTDIR")
        try:
            return shot_persons(resolve_path(shot, ctx.roots))
        except (PathRefused, PersonRequestError) as exc:
            return _error(exc.status, str(exc))

    return router


def _frame_routes(ctx: ServiceContext) -> APIRouter:
    """Per-frame swaps: one frame message in, one pass out, with the models kept loaded."""
    router = APIRouter()

    @router.post(
        "/v1/frame",
        responses={
            200: {"content": {"application/octet-stream": {}}, "description": "the pass as a frame message"},
            400: {"model": ErrorOut},
            413: {"model": ErrorOut},
        },
    )
    async def frame(request: Request):
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_FRAME_BODY):
            return _error(413, f"body over the limit of {MAX_FRAME_BODY} bytes")
        body = await request.body()
        try:
            msg = protocol.parse_message(body)
        except protocol.ProtocolError as exc:
            return _error(exc.status, str(exc))
        try:
            pixels, info = await run_in_threadpool(ctx.engine.process, msg)
        except FacegraftError as exc:
            return _error(400, str(exc))
        info["request_id"] = msg.request_id
        return Response(
            protocol.build_message(pixels, msg.frame, msg.request_id, info),
            media_type="application/octet-stream",
        )

    return router


def path_checker(roots: list[Path]) -> Callable[[str], str]:
    """A function that resolves a path and refuses one outside the roots (for the frame engine)."""

    def check(value: str) -> str:
        try:
            return resolve_path(value, roots)
        except PathRefused as exc:
            raise FacegraftError(str(exc)) from exc

    return check
