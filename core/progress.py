"""Progress for long commands: a bar with rate and ETA on a terminal, plain log lines otherwise, one JSON
object per line with `json` (hosts), ``openjd_progress: N`` / ``openjd_status: ...`` lines with `openjd`
(what Open Job Description runners such as Deadline Cloud read), nothing with `quiet`."""

from __future__ import annotations

import json
import sys
import time
from typing import TextIO

from facegraft.registry import require_choice

MODES = ("auto", "bar", "plain", "json", "openjd", "quiet")


def _fmt_time(seconds: float) -> str:
    seconds = max(0, int(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress:
    """Reports `update(n, **fields)` calls for a task of `total` steps; `close()` prints the last line."""

    def __init__(
        self,
        total: int,
        task: str,
        mode: str = "auto",
        unit: str = "frames",
        stream: TextIO | None = None,
        interval: float | None = None,
    ) -> None:
        require_choice(mode, MODES, "progress mode", ValueError)
        self.stream = stream or (sys.stdout if mode in ("json", "openjd") else sys.stderr)
        if mode == "auto":
            mode = "bar" if self.stream.isatty() else "plain"
        self.mode, self.total, self.task, self.unit = mode, max(0, total), task, unit
        self.interval = interval if interval is not None else (0.1 if mode == "bar" else 5.0)
        self.done = 0
        self.start = time.monotonic()
        self._last = 0.0
        self.fields: dict[str, object] = {}

    def update(self, n: int = 1, **fields: object) -> None:
        """Count `n` more steps done; `fields` (frame=..., faces=...) ride along in the report."""
        self.done += n
        self.fields.update(fields)
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self._emit(final=False)

    def message(self, text: str) -> None:
        """A one-off line (a warning, a skipped frame) that does not break the bar."""
        if self.mode == "quiet":
            return
        if self.mode == "json":
            self._write_json({"task": self.task, "event": "message", "message": text})
            return
        if self.mode == "openjd":
            self.stream.write(f"openjd_status: {text}\n")
            self.stream.flush()
            return
        if self.mode == "bar":
            self.stream.write("\r\033[K")
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        """The final report of a task that completed."""
        self._emit(final=True)

    def fail(self) -> None:
        """End a task that failed: the bar line is ended, nothing claims it is done (the error says why)."""
        if self.mode == "bar":
            self.stream.write("\n")
            self.stream.flush()
        elif self.mode == "json":
            self._write_json({"task": self.task, "event": "failed", "done": self.done, "total": self.total})

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.fail()

    def rate(self) -> float:
        elapsed = time.monotonic() - self.start
        return self.done / elapsed if elapsed > 0 else 0.0

    def _emit(self, final: bool) -> None:
        if self.mode == "quiet":
            return
        rate = self.rate()
        eta = (self.total - self.done) / rate if rate > 0 else None
        fraction = self.done / self.total if self.total else 1.0
        if self.mode == "json":
            self._write_json(
                {
                    "task": self.task,
                    "event": "done" if final else "progress",
                    "done": self.done,
                    "total": self.total,
                    "fraction": round(fraction, 4),
                    "rate": round(rate, 3),
                    "eta_s": None if eta is None else round(eta, 1),
                    **self.fields,
                }
            )
            return
        extra = " ".join(f"{k}={v}" for k, v in self.fields.items())
        if self.mode == "openjd":
            self.stream.write(f"openjd_progress: {100 * fraction:.1f}\n")
            self.stream.write(f"openjd_status: {self.task} {self.done}/{self.total} {extra}".rstrip() + "\n")
            self.stream.flush()
            return
        if not self.total:  # open-ended (e.g. training for N minutes): count and rate only
            text = f"{self.task}: {self.done} {self.unit} {rate:.1f}/s {extra}".rstrip()
            self.stream.write(
                ("\r\033[K" if self.mode == "bar" else "")
                + text
                + ("\n" if final or self.mode != "bar" else "")
            )
            self.stream.flush()
            return
        text = (
            f"{self.task}: {self.done}/{self.total} {self.unit} {rate:.1f}/s "
            f"ETA {_fmt_time(eta) if eta is not None else '--:--'} {extra}"
        ).rstrip()
        if self.mode == "bar":
            width = 24
            filled = int(width * fraction)
            bar = "#" * filled + "-" * (width - filled)
            self.stream.write(
                f"\r\033[K{self.task} [{bar}] {fraction * 100:5.1f}% {self.done}/{self.total} "
                f"{rate:.1f} {self.unit}/s ETA {_fmt_time(eta) if eta else '00:00'} {extra}"
            )
            if final:
                self.stream.write("\n")
        else:
            self.stream.write(text + ("" if not final else " (done)") + "\n")
        self.stream.flush()

    def _write_json(self, obj: dict) -> None:
        self.stream.write(json.dumps(obj, default=str) + "\n")
        self.stream.flush()
