"""Shared pieces of the fuzz suite: hypothesis settings sized for CI, and a peak-memory guard.

Why a guard on the peak (VmHWM, reset through /proc/self/clear_refs) rather than on the final RSS: a reader that
decodes a bomb and then fails frees everything again; only the high-water mark shows what it allocated.
"""
from __future__ import annotations

import os
import re
from contextlib import contextmanager
from datetime import timedelta

from hypothesis import HealthCheck, settings

# FUZZ_EXAMPLES=20000 runs a deeper search locally; CI uses the default.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1000"))

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=timedelta(seconds=5),      # far above any input's cost here (a few ms); catches a runaway build
    derandomize=True,                   # the same inputs every CI run: a failure is reproducible
    database=None,                      # nothing written into the work tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                           HealthCheck.function_scoped_fixture],
)


def _status_mb(key: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            m = re.search(rf"{key}:\s+(\d+)", fh.read())
    except OSError:
        return None
    return int(m.group(1)) // 1024 if m else None


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


@contextmanager
def peak_memory_below(extra_mb: int):
    """Assert the process's peak RSS inside the block stays within extra_mb of its RSS at the start
    (skipped where Linux's peak counters are not available)."""
    measured = _reset_peak()
    base = _status_mb("VmRSS")
    yield
    peak = _status_mb("VmHWM")
    if measured and base is not None and peak is not None:
        assert peak - base < extra_mb, f"peak memory grew by {peak - base} MB (limit {extra_mb} MB)"
