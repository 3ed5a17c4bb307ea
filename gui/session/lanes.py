"""Background jobs for the GUI: one lane per kind of work (model, predict, CRF), newest request wins.

Each request carries a key (image token, generation, parameters...). Submitting a new request sets
the cancel flag of the one before, so engine calls stop at their next should_cancel() check.
A result whose key is no longer the lane's current key is dropped here, before any slot sees it.
Results cross threads only through queued signals.
"""
from __future__ import annotations

import logging
import threading
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from engine.errors import Cancelled, EngineError

log = logging.getLogger(__name__)

# fn(should_cancel, report) -> result; report(done: int, total: int, text: str, preview=None): a preview (any
# object) is delivered as the lane's `preview` signal, for the current job only
JobFn = Callable[[Callable[[], bool], Callable[[int, int, str], None]], Any]


class _Relay(QObject):
    """Lives in the GUI thread; workers emit on it, so delivery is queued to the GUI thread.
    Jobs are named by (serial, key): two requests with equal keys are still two jobs."""
    finished = Signal(object, object)
    failed = Signal(object, str)
    cancelled = Signal(object)
    progress = Signal(object, int, int, str)
    preview = Signal(object, object)


class _Job(QRunnable):
    def __init__(self, serial: int, key, fn: JobFn, cancel: threading.Event, relay: _Relay):
        super().__init__()
        self.setAutoDelete(True)
        self.key, self.fn, self.cancel, self.relay = (serial, key), fn, cancel, relay

    def run(self) -> None:
        key, relay = self.key, self.relay
        if self.cancel.is_set():  # superseded while queued: do no work at all
            relay.cancelled.emit(key)
            return
        def report(done, total, text="", preview=None):
            relay.progress.emit(key, int(done), int(total), text)
            if preview is not None:
                relay.preview.emit(key, preview)

        try:
            result = self.fn(self.cancel.is_set, report)
        except Cancelled:
            relay.cancelled.emit(key)
        except EngineError as exc:
            relay.failed.emit(key, str(exc))
        except Exception as exc:  # noqa: BLE001 - a worker must never die silently
            log.error("job %r failed:\n%s", key, traceback.format_exc())
            relay.failed.emit(key, f"{type(exc).__name__}: {exc}")
        else:
            relay.finished.emit(key, result)


class Lane(QObject):
    """Runs at most one job of its kind at a time; only the latest submitted key is reported."""
    finished = Signal(object, object)        # key, result (current key only)
    failed = Signal(object, str)             # key, message (current key only)
    progress = Signal(object, int, int, str)  # key, done, total, text (current key only)
    preview = Signal(object, object)         # key, partial result (current key only)
    busy_changed = Signal(bool)
    dropped = Signal(object)                 # key of a stale result that was thrown away

    def __init__(self, name: str, parent: QObject | None = None):
        super().__init__(parent)
        self.name = name
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)  # jobs of one kind share state (sessions); never overlap them
        self._relay = _Relay(self)
        self._relay.finished.connect(self._on_finished)
        self._relay.failed.connect(self._on_failed)
        self._relay.cancelled.connect(self._on_cancelled)
        self._relay.progress.connect(self._on_progress)
        self._relay.preview.connect(self._on_preview)
        self._key = None
        self._serial = 0                     # of the current job; 0 = none
        self._cancel: threading.Event | None = None
        self._busy = False

    @property
    def busy(self) -> bool:
        return self._busy

    @property
    def current_key(self):
        return self._key

    def submit(self, key, fn: JobFn) -> None:
        """Start fn in the background; the previous job of this lane is cancelled and its result dropped."""
        if self._cancel is not None:
            self._cancel.set()
        self._serial += 1
        self._key = key
        self._cancel = threading.Event()
        self._set_busy(True)
        self._pool.start(_Job(self._serial, key, fn, self._cancel, self._relay))

    def cancel(self) -> None:
        """Stop the current job (at its next check) and forget its key, so its result is dropped."""
        if self._cancel is not None:
            self._cancel.set()
        self._cancel = None
        self._key = None
        self._serial += 1  # whatever is running now is stale
        self._set_busy(False)

    def wait(self, msecs: int = 30000) -> bool:
        """Block until queued jobs ended (tests, shutdown). Queued signals still need the event loop."""
        return self._pool.waitForDone(msecs)

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)

    def _current(self, job) -> bool:
        serial, key = job
        if self._key is not None and serial == self._serial:
            return True
        self.dropped.emit(key)
        return False

    def _done(self) -> None:
        self._key, self._cancel = None, None
        self._set_busy(False)

    def _on_finished(self, job, result) -> None:
        if self._current(job):
            self._done()
            self.finished.emit(job[1], result)

    def _on_failed(self, job, message: str) -> None:
        if self._current(job):
            self._done()
            self.failed.emit(job[1], message)

    def _on_cancelled(self, job) -> None:
        if job[0] == self._serial:
            self._done()

    def _on_progress(self, job, done: int, total: int, text: str) -> None:
        if job[0] == self._serial:
            self.progress.emit(job[1], done, total, text)

    def _on_preview(self, job, payload) -> None:
        if job[0] == self._serial and self._key is not None:
            self.preview.emit(job[1], payload)
