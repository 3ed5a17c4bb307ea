"""A GUI-thread heartbeat: a fast QTimer whose late ticks measure how long the event loop was
blocked. Used by the latency test and bench/gui_latency.py (and handy when profiling the app)."""
from __future__ import annotations

import time

from PySide6.QtCore import QObject, Qt, QTimer


class Heartbeat(QObject):
    def __init__(self, interval_ms: int = 5, parent: QObject | None = None):
        super().__init__(parent)
        self.interval_ms = interval_ms
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)
        self._last = None
        self.gaps_ms: list[float] = []
        self.ticks: list[float] = []      # perf_counter() of each tick, to place a stall in time

    def start(self) -> None:
        self.gaps_ms.clear()
        self.ticks.clear()
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps_ms.append((now - self._last) * 1000.0)
        self.ticks.append(now)
        self._last = now

    @property
    def worst_stall_ms(self) -> float:
        """Longest time the GUI thread could not run a timer tick, beyond the tick interval."""
        return max((g - self.interval_ms for g in self.gaps_ms), default=0.0)

    def worst(self, n: int = 5) -> list[tuple[float, float]]:
        """The n longest gaps as (gap_ms, perf_counter at the late tick)."""
        return sorted(zip(self.gaps_ms, self.ticks), reverse=True)[:n]

    def percentile_ms(self, q: float) -> float:
        if not self.gaps_ms:
            return 0.0
        s = sorted(self.gaps_ms)
        return s[min(len(s) - 1, int(q / 100.0 * len(s)))] - self.interval_ms
