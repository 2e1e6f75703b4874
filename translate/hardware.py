"""What the machine can do fast, for choices a user would otherwise get wrong.

bf16 on a CPU without bf16 units (no AMX, no AVX-512 BF16: most AMD and older Intel CPUs) is
emulated and runs one to two orders of magnitude slower than fp32 (tools/bench.py measures it);
a user asking for it there deserves a warning, not a run that never ends.
"""

from __future__ import annotations

from pathlib import Path

BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none, e.g. macOS)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_has_bf16_units() -> bool | None:
    """True with AMX or AVX-512 BF16, False without, None when the flags cannot be read."""
    flags = cpu_flags()
    if not flags:
        return None
    return any(flag in flags for flag in BF16_FLAGS)


def bf16_cpu_warning() -> str | None:
    """One line for a user who asked for bf16 on a CPU that only emulates it; None when fine or unknown."""
    if cpu_has_bf16_units() is False:
        return (
            "this CPU has no bf16 units (no AMX or AVX-512 BF16): bf16 is emulated here and much slower "
            "than fp32 (see tools/bench.py); use fp32 (--mixed-precision no / --precision fp32) on this machine"
        )
    return None


def bf16_cpu_tip(option: str, measured: str) -> str | None:
    """One line for a user running fp32 on a CPU whose bf16 units would run `option` (the flag that asks
    for bf16) faster, with what was `measured`; None where there are none or the flags cannot be read.
    A tip rather than a switch: bf16 changes the numbers a little, and a run's results should not depend
    on the machine it ran on."""
    flags = cpu_flags()
    units = [name for flag, name in (("amx_bf16", "AMX"), ("avx512_bf16", "AVX-512 BF16")) if flag in flags]
    if not units:
        return None
    return f"this CPU has bf16 units ({' and '.join(units)}): {option} is usually faster here ({measured})"
