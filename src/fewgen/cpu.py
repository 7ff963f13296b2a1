"""The CPU this process runs on: its feature flags, and the vector ones that decide fewgen's kernels and precision
(AVX2 only: fp32; AVX512-BF16 or AMX: bf16, see :func:`fewgen.train.cpu_has_native_bf16`). Timings are recorded with
them (``config.json``'s ``machine``, the benches' first line), since the same command runs 2-4x apart on the two kinds."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=2)
def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU's feature flags (the ``flags`` lines of ``cpuinfo``); empty where that file is not there."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return frozenset()
    return frozenset(word for line in text.splitlines() if line.startswith("flags") for word in line.split(":", 1)[1].split())


def vector_flags(flags: frozenset[str] | None = None) -> str:
    """The AVX2 and AVX-512 flags among ``flags`` (default: this CPU's), sorted and space-separated; empty if none."""
    return " ".join(sorted(f for f in (cpu_flags() if flags is None else flags) if f == "avx2" or f.startswith("avx512")))
