"""`facegraft serve`: run the engine service on loopback (or a Unix socket), and `--status` / `--stop`.

The listening socket is made here, bound to 127.0.0.1 or to a Unix socket path (mode 0600), and handed
to uvicorn: no option can make the service listen on another address. Jobs found running in the job
table were cut short by a crash; they are resumed (or, with ``--no-resume``, left ``interrupted``).
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import socket
import sys
import time
from pathlib import Path

from facegraft import __version__
from facegraft.errors import InputError
from facegraft.service.state import (
    clear_state,
    ensure_token,
    pid_alive,
    read_state,
    service_dir,
    write_state,
)

log = logging.getLogger("facegraft.service")


def _logging(folder: Path, verbose: bool) -> None:
    (folder / "logs").mkdir(exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        folder / "logs" / "service.log", maxBytes=5 << 20, backupCount=5
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("facegraft")
    root.setLevel(logging.INFO)
    root.addHandler(handler)
    if verbose:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter("facegraft serve: %(message)s"))
        root.addHandler(console)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = [handler]


def _listen(port: int | None, socket_path: str | None) -> tuple[socket.socket, dict]:
    if socket_path:
        path = Path(socket_path).absolute()
        if path.exists():
            if not path.is_socket():
                raise InputError("exists and is not a socket", path)
            path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            sock.bind(str(path))
        finally:
            os.umask(old)
        sock.listen(128)
        return sock, {"socket": str(path)}
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", int(port or 0)))
    except OSError as exc:
        raise InputError(f"cannot listen on 127.0.0.1:{port} ({exc.strerror})") from exc
    sock.listen(128)  # connections wait in the backlog until the server accepts: none is refused at start
    return sock, {"host": "127.0.0.1", "port": sock.getsockname()[1]}


def serve(
    port: int | None = None,
    socket_path: str | None = None,
    roots: list[str] | None = None,
    verbose: bool = False,
    resume: bool = True,
) -> int:
    """Run the service until stopped; returns the exit code."""
    import uvicorn

    from facegraft.service.app import ServiceContext, create_app, path_checker
    from facegraft.service.frames import FrameEngine
    from facegraft.service.jobs import Runner, kill_stale
    from facegraft.service.jobstore import JobStore

    folder = service_dir()
    running = read_state(folder)
    if running and pid_alive(int(running.get("pid", 0))) and running.get("pid") != os.getpid():
        raise InputError(
            f"a service already runs (pid {running['pid']}); stop it with `facegraft serve --stop`"
        )
    token = ensure_token(folder)
    _logging(folder, verbose)
    env_roots = [r for r in os.environ.get("FACEGRAFT_ROOTS", "").split(os.pathsep) if r]
    allowed = [Path(r).resolve() for r in (roots or env_roots or [str(Path.home()), os.getcwd()])]
    for r in allowed:
        if not r.is_dir():
            raise InputError("an allowed root must be an existing folder", r)
    store = JobStore(folder / "jobs.db")
    for job in store.recover(resume):
        kill_stale(job)
        log.warning(
            "job %s was running when the service stopped; %s", job.id, "resumed" if resume else "left"
        )
    runner = Runner(store, folder / "logs" / "jobs")
    sock, address = _listen(port, socket_path)
    ctx = ServiceContext(token, store, runner, allowed, FrameEngine(path_checker(allowed)))
    server = uvicorn.Server(
        uvicorn.Config(create_app(ctx), log_config=None, access_log=False, lifespan="off")
    )
    ctx.shutdown = lambda: setattr(server, "should_exit", True)
    info = {
        "pid": os.getpid(),
        **address,
        "roots": [str(r) for r in allowed],
        "version": __version__,
        "started": time.time(),
        "token_file": str(folder / "token"),
    }
    write_state(folder, info)
    runner.start()
    log.info("service %s listening on %s (roots: %s)", __version__, address, ", ".join(map(str, allowed)))
    try:
        server.run(sockets=[sock])
    finally:
        runner.stop()
        clear_state(folder, os.getpid())
        if socket_path:
            Path(address["socket"]).unlink(missing_ok=True)
        store.close()
        log.info("service stopped")
    return 0


def status() -> dict:
    """The running service's status (`up`, where it listens, its API status), or {"up": False}."""
    from facegraft.service import local

    info = local.running()
    answer = local.ask("GET", "/v1/status") if info else None
    if not info or answer is None:
        return {"up": False}
    return {"up": True, **{k: info[k] for k in ("port", "socket") if k in info}, **answer}


def stop(timeout: float = 30.0) -> bool:
    """Ask the running service to stop and wait for it; False when none was running."""
    from facegraft.service import local

    info = local.running()
    if not info or local.ask("POST", "/v1/shutdown") is None:
        return False
    deadline = time.time() + timeout
    while pid_alive(int(info["pid"])) and time.time() < deadline:
        time.sleep(0.1)
    return True
