"""The bf16 autocast modes a trainer offers (`--bf16`) and whether this CPU computes bf16 natively (where
it does not, torch emulates it, slower than float32)."""

from __future__ import annotations

BF16_MODES = ("auto", "on", "off")


def cpu_has_native_bf16() -> bool:
    """True when /proc/cpuinfo lists avx512_bf16 or amx_bf16 (elsewhere bf16 is emulated and slower)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
