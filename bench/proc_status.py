"""A process's memory as Linux reports it in /proc/<pid>/status (VmRSS now, VmHWM its peak), for the benchmarks.

VmHWM, not getrusage's ru_maxrss, for a child's own peak: Linux carries ru_maxrss over fork and exec, so a child
started by a 1.5 GB parent reports at least 1.5 GB whatever it uses itself (measured).
"""
from __future__ import annotations


def status_bytes(field: str = "VmRSS", pid: int | str = "self") -> int:
    """The ``field`` (VmRSS, VmHWM, ...) of process ``pid`` in bytes; 0 when the line is missing. OSError when the
    process is gone."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0
