"""Prefetch: predict the next images, and run their CRF, in the background so that moving on shows the final
labels at once.

Runs in its own lane (one job per image and step, newest plan wins), starts a short while after the current
image is ready so it does not compete with that image's CRF, and never while the open image has work running or
due (a stroke's window, the idle exact run, a learning step, a slider's preview: ``open_image_busy``); lowers its
thread's CPU priority where the OS allows; once running, it pauses while the open image works: its CRF between
iterations, its prediction before the network runs and before the probabilities are post-processed (not while it
holds the model lock, which the open image may need); and it is cancelled whenever the user moves.

Predictions live in a small LRU cache keyed by (image path, model generation), so a new model never serves old
probabilities; a CRF result is kept with the settings and backend it was made for (and, on large images, the
solution local refinement starts from), and is used only if they still hold. Everything cached stays within BUDGET
bytes. With adaptation on (gui.session.adaptation) predictions are made with the adapted head and keep the image's
features; when the head changes, cached predictions are redone from those features (no backbone run), and their CRF
after them.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from engine.crf.interactive import InteractiveCRF
from engine.crf.runner import CRFRunner
from engine.errors import ImageReadError, check_cancel
from engine.predict import Prediction
from gui.session.keys import PrefetchKey
from gui.session.lanes import Lane

START_DELAY_MS = 400
BUDGET = 1536 << 20  # bytes of predictions, CRF results and solutions kept for the next images


class Prefetched(NamedTuple):
    """A cache entry: the image (composited RGB), alpha (H,W) or None, and its Prediction (probabilities,
    uncertainty, argmax labels, and the adaptation's Prepared: features and head, or None)."""
    image: np.ndarray
    alpha: np.ndarray | None
    pred: Prediction

    @property
    def probs(self) -> np.ndarray:
        return self.pred.probs

    @property
    def extra(self):
        return self.pred.extra


def _wait_politely(busy, cancel) -> None:
    """In a prefetch job: wait while the open image has work running (``busy()``); raises Cancelled if the job
    was superseded meanwhile."""
    while busy() and not cancel():
        time.sleep(0.02)
    check_cancel(cancel)


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
    activity = Signal(str)        # the open image waits for a prediction begun ahead: what runs
    progress = Signal(int, int, str)   # and how far it is (done, total, text), as the session's own

    def __init__(self, ctl, capacity: int = 3, ahead: int = 2, parent: QObject | None = None):
        super().__init__(parent)
        self.ctl, self.capacity, self.ahead = ctl, capacity, ahead
        self.enabled = True
        self.cache: OrderedDict = OrderedDict()   # (path str, model gen) -> Prefetched
        self.lane = Lane("prefetch", self)
        self.lane.finished.connect(self._on_done)
        self.lane.failed.connect(self._on_failed)  # an unreadable image: skip it quietly
        self.lane.progress.connect(self._on_progress)
        ctl.image_opened.connect(self._on_opened)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(START_DELAY_MS)
        self._timer.timeout.connect(self._next)
        self._plan: list = []                # dataset indices to predict; ("crf", index) to refine
        self.inflight: int | None = None     # index being predicted right now
        self.crf: dict = {}                  # cache key -> (probs, params, backend, Outcome, solution)
        self.crf_enabled = True

    def schedule(self, index: int) -> None:
        """Plan the next ``ahead`` images after ``index`` (in the controller's display order)."""
        ctl = self.ctl
        if not self.enabled or ctl.dataset is None or ctl.classes.predictor is None or index < 0:
            return
        order = ctl.ordering.order
        pos = order.index(index) if index in order else -1
        plan = []
        for i in order[pos + 1: pos + 1 + self.ahead]:
            if self._wanted(i):
                plan.append(i)  # predicted, then refined (see _on_done)
            elif self.crf_enabled and self._key(i) not in self.crf and ctl.crf.prefetchable():
                plan.append(("crf", i))
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
        """The Prefetched entry of image ``index`` (for the current model), or None."""
        if self.ctl.dataset is None:
            return None
        hit = self.cache.get(self._key(index))
        if hit is not None:
            self.cache.move_to_end(self._key(index))
        return hit

    def take_crf(self, index: int, probs, params, backend: str):
        """(Outcome, solution or None) of image ``index`` if its CRF was prefetched from these probabilities with
        these settings and backend (it is handed over, not kept), else None."""
        if self.ctl.dataset is None:
            return None
        hit = self.crf.pop(self._key(index), None)
        if hit is None or hit[0] is not probs or hit[1] != params or hit[2] != backend:
            return None
        return hit[3], hit[4]

    def nbytes(self) -> int:
        total = sum(_nbytes(a) for entry in self.cache.values() for a in entry)
        for _, _, _, outcome, solution in self.crf.values():
            total += outcome.labels.nbytes + outcome.probs.nbytes + outcome.unc.nbytes
            total += solution.nbytes if solution is not None else 0
        return total

    def _trim(self) -> None:
        """Oldest first: solutions, then CRF results, then predictions, until within BUDGET."""
        while self.nbytes() > BUDGET:
            with_solution = [k for k, v in self.crf.items() if v[4] is not None]
            if with_solution:
                k = with_solution[0]
                self.crf[k] = self.crf[k][:4] + (None,)
            elif self.crf:
                self.crf.pop(next(iter(self.crf)))
            elif len(self.cache) > 1:
                self.cache.popitem(last=False)
            else:
                return

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
        self.crf.clear()

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
        return hit is None or self.ctl.adapt.is_stale(hit.extra)

    def _waited_for(self, index) -> bool:
        """The open image is ``index`` and waits for its prediction from this lane (the user moved to it)."""
        st = self.ctl.state
        return index is not None and index == self.inflight and st is not None and st.index == index \
            and st.probs is None

    def _on_opened(self) -> None:
        if self._waited_for(self.inflight):
            self.activity.emit(f"Predicting {self.ctl.state.path.name} (begun ahead)…")

    def _on_progress(self, key, done: int, total: int, text: str) -> None:
        """A prediction the open image waits for: its progress is the session's."""
        if key.kind == "prefetch" and self._waited_for(key.index) and text:
            self.progress.emit(done, total, text)

    def open_image_busy(self) -> bool:
        """The open image has work running or due (GUI thread): prefetch waits for it."""
        ctl = self.ctl
        return ctl.busy or ctl.crf.pending or ctl.adapt.learning

    def _next(self) -> None:
        ctl = self.ctl
        if not self._plan or ctl.dataset is None or ctl.classes.predictor is None:
            return
        if self.open_image_busy():   # its answers first: look again in a while
            self._timer.start()
            return
        index = self._plan.pop(0)
        if isinstance(index, tuple):
            self._refine(index[1])
            return
        key = self._key(index)
        if not self._wanted(index):
            self._next()
            return
        adapt, hit = ctl.adapt, self.cache.get(key)
        lock = ctl.loader.lock
        background, dataset = ctl.loader.alpha_background(), ctl.dataset
        name = Path(key[0]).name
        predict = adapt.predict_fn(ctl.classes.predictor, adapt.head_for(None), name)  # float16 for large images
        redo = adapt.redo_fn(hit.extra, name) if hit is not None else None

        def busy():   # read from the worker: the lanes' plain flags
            return ctl.busy
        self.inflight = index

        def job(cancel, report):
            _lower_thread_priority()
            _wait_politely(busy, cancel)
            if redo is not None:             # the head changed: only the head runs again
                image, alpha, (probs, extra) = hit.image, hit.alpha, redo()
            else:
                try:
                    image, alpha = dataset.read_image(index, background, with_alpha=True)
                except ImageReadError as exc:
                    return str(exc)   # not a failure of the prefetch: the list shows the image as unreadable
                _wait_politely(busy, cancel)   # (outside the model lock: the open image may need it)
                with lock:
                    probs, extra = predict(image, cancel, lambda stage, frac: report(0, 0, f"Predicting {name}: "
                                                                                         f"{stage}"))
            _wait_politely(busy, cancel)
            return image, alpha, Prediction.from_probs(probs, extra)   # owned, so the open image can freeze it
        self.lane.submit(PrefetchKey("prefetch", index, *key), job)

    def _on_done(self, key, result) -> None:
        if key.kind == "prefetch-crf":
            self._on_refined(key, result)
            return
        index, path, gen = key.index, key.path, key.gen
        self.inflight = None
        if isinstance(result, str):
            self.unreadable.emit(index, result)
            self.done.emit(index, False)
            self._next()
            return
        image, alpha, pred = result
        ok = gen == self.ctl.model_gen
        if ok:
            self.cache[(path, gen)] = Prefetched(image, alpha, pred)
            self.cache.move_to_end((path, gen))
            while len(self.cache) > self.capacity:
                self.cache.popitem(last=False)
            self._trim()
            self.scored.emit(index, float(pred.unc.mean(dtype="float64")))
            if self.ctl.adapt.is_stale(pred.extra) and index not in self._plan:
                self._plan.insert(0, index)     # the head changed while it ran: redo it with the new one
            elif self.crf_enabled and self.ctl.crf.params.iterations > 0:
                self._plan.insert(0, ("crf", index))
        self.done.emit(index, ok)
        self._next()

    def _refine(self, index: int) -> None:
        """The CRF of a prefetched prediction, for the current settings, with the fast backend only (the
        reference one runs in a child process the open image needs)."""
        ctl = self.ctl
        key = self._key(index)
        hit = self.cache.get(key)
        if hit is None or not ctl.crf.prefetchable():
            self._next()
            return
        image, probs = hit.image, hit.probs
        params, backend, busy = ctl.crf.params, ctl.crf.backend_name, lambda: ctl.image_busy

        def job(cancel, report):
            _lower_thread_priority()

            def polite():  # between iterations: let the open image's work go first
                _wait_politely(busy, cancel)
                return False
            runner = CRFRunner(backend)
            try:
                it = InteractiveCRF(image, runner, ("prefetch",) + key)
                outcome = it.exact(probs, params, should_cancel=polite)
                return probs, params, backend, outcome, it.solution
            finally:
                runner.close()
        self.lane.submit(PrefetchKey("prefetch-crf", index, *key), job)

    def _on_refined(self, key, result) -> None:
        self.crf[key.cache_key] = result
        self._trim()
        self._next()

    def _on_failed(self, key, _message: str) -> None:
        if key.kind == "prefetch-crf":
            self._next()
            return
        self.inflight = None
        self.done.emit(key.index, False)
        self._next()


def _nbytes(field) -> int:
    """Bytes a cache field holds: an array's, the adaptation's kept features', nothing for None."""
    if isinstance(field, np.ndarray):
        return field.nbytes
    features = getattr(field, "features", None)
    return int(getattr(features, "nbytes", 0) or 0)
