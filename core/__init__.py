"""facegraft: a face-replacement engine for VFX post-production (extract -> train -> merge)."""

__version__ = "0.1.0"
