"""Prefetch: predict the next images in the background so that moving on shows a prediction at once.

Runs in its own lane (one job per image, newest plan wins), starts a short while after the current
image is ready so it does not compete with that image's CRF, lowers its thread's CPU priority where
the OS allows, and is cancelled whenever the user moves. Results live in a small LRU cache keyed by
(image path, model generation), so a new model never serves old probabilities. With adaptation on
(gui.adaptation) predictions are made with the adapted head and keep the image's features; when the
head changes, cached predictions are redone from those features (no backbone run).
"""
from __future__ import annotations

import os
import sys
import threading
from collections import OrderedDict
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from engine.errors import ImageReadError
from engine.io.images import read_image
from engine.overlays import uncertainty
from gui.workers import Lane

START_DELAY_MS = 400


def _lower_thread_priority() -> None:
    """Best effort: on Linux, setpriority on a thread id renices only that thread."""
    if sys.platform.startswith("linux"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        except (OSError, AttributeError):
            pass


class Prefetcher(QObject):
    """Owned by the controller; ``schedule(index)`` after an image is ready, ``take`` when opening one."""
    scored = Signal(int, float)   # dataset index, mean uncertainty of its prediction
    done = Signal(int, bool)      # dataset index, whether its prediction is now in the cache
    unreadable = Signal(int, str)  # dataset index, why its file cannot be read

    def __init__(self, ctl, capacity: int = 3, ahead: int = 2, parent: QObject | None = None):
        super().__init__(parent)
        self.ctl, self.capacity, self.ahead = ctl, capacity, ahead
        self.enabled = True
        self.cache: OrderedDict = OrderedDict()   # (path str, model gen) -> (image, probs, unc, alpha or None, adaptation extra)
        self.lane = Lane("prefetch", self)
        self.lane.finished.connect(self._on_done)
        self.lane.failed.connect(self._on_failed)  # an unreadable image: skip it quietly
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(START_DELAY_MS)
        self._timer.timeout.connect(self._next)
        self._plan: list[int] = []
        self.inflight: int | None = None     # index being predicted right now

    def schedule(self, index: int) -> None:
        """Plan the next ``ahead`` images after ``index`` (in the controller's display order)."""
        ctl = self.ctl
        if not self.enabled or ctl.dataset is None or ctl.predictor is None or index < 0:
            return
        order = ctl.order
        pos = order.index(index) if index in order else -1
        plan = [i for i in order[pos + 1: pos + 1 + self.ahead] if self._wanted(i)]
        if self.inflight is not None and self.inflight in plan:
            self._plan = [i for i in plan if i != self.inflight]   # let the running one finish
            return
        if plan == self._plan and self._timer.isActive():
            return
        self._stop()
        self._plan = plan
        if plan:
            self._timer.start()

    def take(self, index: int):
        """(image, probs, unc, alpha, extra) for image ``index`` from the cache (for the current model), or None."""
        if self.ctl.dataset is None:
            return None
        hit = self.cache.get(self._key(index))
        if hit is not None:
            self.cache.move_to_end(self._key(index))
        return hit

    def cancel(self, keep: int | None = None) -> None:
        """The user moved: forget the plan and stop what is running (the cache stays), unless it is
        image ``keep``, the one the user moved to: then its result is on its way (see ``done``)."""
        self._timer.stop()
        self._plan = []
        if keep is None or self.inflight != keep:
            self._stop()

    def clear(self) -> None:
        """A new model: cached probabilities are stale."""
        self.cancel()
        self.cache.clear()

    def _stop(self) -> None:
        self.lane.cancel()
        if self.inflight is not None:
            index, self.inflight = self.inflight, None
            self.done.emit(index, False)

    def wait(self, msecs: int = 30000) -> bool:
        return self.lane.wait(msecs)

    def _key(self, index: int):
        return str(self.ctl.dataset[index].path), self.ctl.model_gen

    def _wanted(self, index: int) -> bool:
        """Not cached, or cached with another adapted head than the current one."""
        hit = self.cache.get(self._key(index))
        return hit is None or self.ctl.adapt.is_stale(hit[4])

    def _next(self) -> None:
        ctl = self.ctl
        if not self._plan or ctl.dataset is None or ctl.predictor is None:
            return
        index = self._plan.pop(0)
        key = self._key(index)
        if not self._wanted(index):
            self._next()
            return
        adapt, hit = ctl.adapt, self.cache.get(key)
        path, lock = Path(key[0]), ctl.model_lock
        background = ctl.alpha_background()
        predict = adapt.predict_fn(ctl.predictor, adapt.head_for(None))
        redo = adapt.redo_fn(hit[4]) if hit is not None else None
        self.inflight = index

        def job(cancel, report):
            _lower_thread_priority()
            if redo is not None:             # the head changed: only the head runs again
                image, alpha, (probs, extra) = hit[0], hit[3], redo()
            else:
                try:
                    image, alpha = read_image(path, background, with_alpha=True)
                except ImageReadError as exc:
                    return str(exc)   # not a failure of the prefetch: the list shows the image as unreadable
                with lock:
                    probs, extra = predict(image, cancel)
            unc = uncertainty(probs)
            return image, probs, unc, float(unc.mean(dtype="float64")), alpha, extra
        self.lane.submit(("prefetch", index) + key, job)

    def _on_done(self, key, result) -> None:
        _, index, path, gen = key
        self.inflight = None
        if isinstance(result, str):
            self.unreadable.emit(index, result)
            self.done.emit(index, False)
            self._next()
            return
        image, probs, unc, score, alpha, extra = result
        ok = gen == self.ctl.model_gen
        if ok:
            self.cache[(path, gen)] = (image, probs, unc, alpha, extra)
            self.cache.move_to_end((path, gen))
            while len(self.cache) > self.capacity:
                self.cache.popitem(last=False)
            self.scored.emit(index, score)
            if self.ctl.adapt.is_stale(extra) and index not in self._plan:
                self._plan.insert(0, index)     # the head changed while it ran: redo it with the new one
        self.done.emit(index, ok)
        self._next()

    def _on_failed(self, key, _message: str) -> None:
        self.inflight = None
        self.done.emit(key[1], False)
        self._next()
