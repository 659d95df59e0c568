"""C2PA signing of a run's outputs, in one place: each output format says how its files carry a manifest
(`EMBEDDED` in every file, or one `SIDECAR` beside an image sequence), and `OutputSigner` does that as
files are finished and when the run ends."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from facegraft.errors import InputError
from facegraft.provenance.c2pa_manifest import SigningKey, load_signing_key, sign_file
from facegraft.provenance.c2pa_sidecar import write_sidecar

EMBEDDED, SIDECAR = "embedded", "sidecar"


def signing_key(key: str, cert: str, carries: str | None, fmt: str) -> SigningKey | None:
    """The key for --sign-key/--sign-cert (None when neither is given); InputError for half a pair, or for a
    format whose files cannot carry a manifest, before any work."""
    if not (key or cert):
        return None
    if not (key and cert):
        raise InputError("C2PA signing needs both --sign-key and --sign-cert")
    if carries not in (EMBEDDED, SIDECAR):
        raise InputError(
            "C2PA manifests go in png, mp4 and mov files and beside exr sequences (a .c2pa sidecar), "
            f"not in {fmt} files"
        )
    return load_signing_key(key, cert)


class OutputSigner:
    """Signs a run's outputs the way their format carries a manifest; does nothing without a key.

    `patterns` gives the sequence's file patterns and `stem` its name, for the sidecar."""

    def __init__(
        self, key: SigningKey | None, carries: str | None, patterns: Callable[[], list[str]], stem: str
    ) -> None:
        self.key, self.carries, self.patterns, self.stem = key, carries, patterns, stem

    def finished(self, paths: Sequence[Path], facts: dict[str, str], source: str | None) -> None:
        """Files just written (a frame's, or the run's video): embedded formats sign each, naming the
        plate file it was made from."""
        if self.key is not None and self.carries == EMBEDDED:
            for path in paths:
                sign_file(path, self.key, facts, source)

    def end(self, facts: dict[str, str]) -> None:
        """The run is over (or had nothing to do): a sidecar format's manifest is written again to cover
        every frame of the sequence in the folder."""
        if self.key is not None and self.carries == SIDECAR:
            write_sidecar(self.patterns(), self.stem, self.key, facts)
