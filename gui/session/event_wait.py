"""Waiting for background work with the event loop running: the window stays live (progress, Cancel) while a save
waits for the learning and the exact CRF it must include."""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEventLoop, QObject, QTimer

POLL_MS = 25


def wait_for(done: Callable[[], bool], *quit_on) -> None:
    """Run the event loop until ``done()`` (checked every POLL_MS) or one of the signals ``quit_on`` fires."""
    if done():
        return
    loop, timer = QEventLoop(), QTimer()
    timer.setInterval(POLL_MS)
    timer.timeout.connect(lambda: done() and loop.quit())
    connections = [signal.connect(lambda *_: loop.quit()) for signal in quit_on]
    timer.start()
    try:
        loop.exec()
    finally:
        timer.stop()
        for c in connections:
            QObject.disconnect(c)
