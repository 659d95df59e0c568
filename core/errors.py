"""Errors the engine raises on purpose: each names the file and the problem, and maps to an exit code."""

from __future__ import annotations

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_MISSING_FRAMES = 3
EXIT_RETRY = 75


class FacegraftError(Exception):
    """Base of expected failures; the CLI prints `facegraft: error: <message>` and exits with `exit_code`."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, path: str | None = None) -> None:
        self.path = str(path) if path is not None else None
        super().__init__(f"{self.path}: {message}" if self.path else message)


class InputError(FacegraftError):
    """Bad input: a missing, truncated or unreadable plate, a bad option value, an unknown name (exit 2)."""


class MissingFramesError(InputError):
    """Frames the job asks for are not in the plate or were never extracted (farm exit 3)."""

    exit_code = EXIT_MISSING_FRAMES


class StoreError(FacegraftError):
    """The alignments store cannot be opened, is too new, or its contents contradict the request (exit 2)."""


class ModelFileError(FacegraftError):
    """Model weights that a plugin needs are absent or unreadable (exit 2); the message names the file."""


class TransientError(FacegraftError):
    """A fault worth retrying (farm exit 75)."""

    exit_code = EXIT_RETRY
