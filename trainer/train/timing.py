"""Wall time and peak memory per phase of a training run, recorded in the model's metadata."""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1)


def own_peak_rss_mb() -> float:
    """Peak resident memory of this program alone: Linux keeps ru_maxrss across exec, so a process started by a large
    one (a local rank) would report its parent's peak; VmHWM starts again with the program. Elsewhere ru_maxrss."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return peak_rss_mb()
    kib = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), None)
    return round(kib / 2**10, 1) if kib is not None else peak_rss_mb()


class PhaseTimer:
    """Wall seconds per phase of a run and the process's peak resident memory at the end of each phase."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.peak_rss_mb: dict[str, float] = {"start": peak_rss_mb()}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(time.perf_counter() - started, 3)
            self.peak_rss_mb[name] = peak_rss_mb()
