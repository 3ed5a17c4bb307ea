"""The CRF side of the annotator session: requests, their results, Esc, and the exact run a save needs.

CRFRequests owns the CRF settings in use (``params``), the backend (its CRFRunner) and the timers; the session
composes it and hands it the open image (gui.session.open_image.OpenImage, whose keys say whether a result is
still for what is shown) and two lanes. It answers with signals. What to compute is engine.crf.interactive's
policy (InteractiveCRF.plan); this module wires it to two lanes and a timer:
  'preview'  downscaled previews, never cancelled mid-run: while a slider moves, the newest settings wait for
             the running preview and then run, so previews keep coming at their own pace;
  'crf'      local windows and exact whole-image runs (a newer request cancels the one running);
  idle timer after a local window, the exact run starts once nothing happened for IDLE_MS, and not while the
             open image's learning step is due or running (``exact_waits``): its result asks for the CRF again.
Every request has a serial (request_crf returns it); ``answered(serial)`` says its first answer is shown (a local
window, a preview, an exact result) or that none is coming (it failed), so a stroke's learning step can wait for
the stroke's own answer (gui.session.hand_edits).

API (all on the GUI thread):
  request_crf(region=None, probs_changed=False) -> serial
                            refine the current image for self.params. region: the pixels whose inputs changed
                            (a box (x0, y0, x1, y1), a list of boxes, or an (H, W) bool mask), e.g. a stroke's
                            box or, with probs_changed, where a head adaptation's new probabilities differ: a
                            window around it is re-solved when possible. None: anything may have changed.
  set_params(params)        the CRF settings changed (call it as often as a slider moves).
  ensure_exact()            wait (the event loop runs) until the labels are the exact result for the settings
                            shown; False if that was cancelled or failed. save() calls it.
  shown_kind()              what the label layer shows: 'exact', 'local', 'preview 1/4 resolution', ...
  stop()                    Esc: stop, and if the labels shown are for other settings than the panel's, the
                            panel goes back to theirs (params_reverted), so panel and labels always agree.
"""
from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from engine.crf import DEFAULT_BACKEND, PRESETS, CRFParams
from engine.crf.base import progress_only
from engine.crf.fast.kernel_cache import kernels_cached, uses_numba
from engine.crf.interactive import IDLE_MS, KIND_EXACT, KIND_NETWORK, InteractiveCRF
from engine.crf.runner import CRFRunner
from engine.errors import EngineError
from gui.session.event_wait import wait_for
from gui.session.keys import CrfKey
from gui.session.lanes import Lane
from gui.session.open_image import OpenImage

PREVIEW_INTERVAL = 0.06  # s between label previews of an iterating exact run: enough to follow, little GUI work
COMPILE_STATUS = "Compiling the CRF kernels once (about 40 s; later starts load them at once)…"
DEBOUNCE_MS = 150  # the reference backend (a child process it kills to cancel) runs when a slider rests this long


def _iteration_reporter(report, with_labels: bool, text: str):
    """on_iteration for an exact run: progress ('{text} 3/10' and the bar), and (small images: with_labels) the
    label map of the unfinished run at most once per PREVIEW_INTERVAL, so the window shows the result improving."""
    last = [float("-inf")]

    def on_iteration(i, n, preview=None):
        send = None
        if with_labels and callable(preview) and i < n:  # computed only when it will be shown
            now = time.monotonic()
            if now - last[0] >= PREVIEW_INTERVAL:
                last[0], send = now, (f"exact, iteration {i}/{n}", preview())
        report(i, n, f"{text} {i}/{n}", send)
    return on_iteration if with_labels else progress_only(on_iteration)


class CRFRequests(QObject):
    """The open image's CRF: requests, results and what is shown (see module docstring)."""
    results_changed = Signal()         # the CRF result shown changed (an exact run, or CRF off)
    preview_changed = Signal()         # a running CRF's label preview changed
    window_refined = Signal(object)    # local CRF windows [(x0, y0, x1, y1), ...] were pasted
    labels_changed = Signal()          # what the labels are changed: the session updates the image's status
    settled = Signal(int)              # image index: its exact labels are shown (the next images may be refined)
    exact_ready = Signal(object)       # ImageState: an exact result is shown (adaptation may take its features)
    params_reverted = Signal(object)   # Esc: the settings went back to those of the labels shown (CRFParams)
    activity = Signal(str)
    waiting = Signal(str)              # a save waits for the exact CRF (text; '' when done)
    error = Signal(str)
    backend_set = Signal(str)          # the engine in use changed (the user's pick, a folder's record): panel shows it
    answered = Signal(int)             # request serial: its first answer is shown, or none is coming (failed)

    def __init__(self, image: OpenImage, crf_lane: Lane, preview_lane: Lane, parent: QObject | None = None):
        super().__init__(parent)
        self.image, self.lane, self.preview_lane = image, crf_lane, preview_lane
        self.exact_waits = lambda: False   # True while the idle exact run must wait (the open image learns)
        self.serial = 0                    # requests made so far (request_crf)
        self._answered = 0                 # the newest request that has answered
        self._serial_of = {}               # lane name -> the request its current job serves
        self.params: CRFParams = PRESETS["deeplab-v1"]
        self.backend_name = DEFAULT_BACKEND
        self.preferred = DEFAULT_BACKEND   # the user's engine (the window's preference): a folder recording none gets it
        self.runner = CRFRunner(self.backend_name)   # used from the CRF lane only (and closed here)
        self.warm = False                             # CRF kernels loaded (see warm_up)
        self._preview_next = None          # the newest preview request, waiting for the running one
        self._windows = None               # (image token, params, [boxes]): local windows shown since the exact run
        self._idle = QTimer(self)
        self._idle.setSingleShot(True)
        self._idle.setInterval(IDLE_MS)
        self._idle.timeout.connect(self.idle_exact)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self.request_crf)
        self.lane.finished.connect(self._on_crf)
        self.lane.failed.connect(lambda key, _m: self._answer(self.lane, key))
        self.lane.preview.connect(self._on_crf_preview)
        self.preview_lane.finished.connect(self._on_preview)
        self.preview_lane.preview.connect(self._on_preview_progress)
        self.preview_lane.failed.connect(self._on_preview_failed)

    # ----- settings and backend ----------------------------------------------------------------
    def take_params(self, params: CRFParams) -> None:
        """Use ``params`` from now on without refining now (restored settings, the folder's values)."""
        self.params = params

    def set_backend(self, name: str) -> None:
        try:
            runner = CRFRunner(name)
        except EngineError as exc:
            self.error.emit(str(exc))
            return
        self.lane.cancel()
        self.runner.close()
        self.runner, self.backend_name, self.warm = runner, name, False
        self.backend_set.emit(name)
        self.warm_up()
        self.request_crf()

    def warm_up(self) -> None:
        """Load the CRF kernels (or start its process) now, in the CRF lane: see CRFRunner.warm_up. The first
        start after an install compiles the fast engine's kernels (~40 s): the status bar says so while it runs
        (COMPILE_STATUS, as lane progress) and when it is done."""
        runner = self.runner

        def job(cancel, report):
            cold = uses_numba(runner.backend) and kernels_cached() is False   # checked here: it imports numba
            if cold:
                report(0, 1, COMPILE_STATUS)
            t0 = time.monotonic()
            runner.warm_up()
            return ("compiled", time.monotonic() - t0) if cold else None
        self.lane.submit(("warm-up", self.backend_name), job)

    def before_prediction(self) -> None:
        """The network is about to run: the CRF of the old probabilities stops; an isolated CRF's process starts
        meanwhile."""
        self.lane.cancel()
        self.runner.prestart()

    def halt(self) -> None:
        """The session is closing: no timer may start a run from now on."""
        self._idle.stop()
        self._debounce.stop()
        self._preview_next = None

    def close(self) -> None:
        """After the lanes are idle: the backend's caches (and an isolated backend's process) go."""
        self.runner.close()

    # ----- requests ----------------------------------------------------------------------------
    def set_params(self, params: CRFParams) -> None:
        if params == self.params:
            return
        self.params = params
        if self.runner.isolated is not None:  # pydensecrf cannot stop: a new run per slider step would kill its
            self._debounce.start()          # process each time, so it waits for the hand to rest (as before)
            return
        self.request_crf()

    def request_crf(self, region=None, probs_changed: bool = False) -> int:
        """See the module docstring; returns the request's serial (``answered`` carries it)."""
        st, params = self.image.state, self.params
        self._idle.stop()
        self._debounce.stop()
        self.serial += 1
        if st is None or st.probs is None:
            return self.serial
        if params.iterations == 0:  # CRF off: the raw argmax is the result (locked pixels kept by set_crf)
            self.lane.cancel()
            st.set_crf(st.probs, st.raw_labels, params, st.unc, kind=KIND_EXACT)
            self.image.mark_exact()
            self.labels_changed.emit()
            self.results_changed.emit()
            self.settled.emit(st.index)
            self._answered = self.serial
            self.answered.emit(self.serial)
            return self.serial
        plan = self.interactive().plan(params, st.probs, region, probs_changed)
        if plan.first == "local":
            self._submit_local(st, region)
        elif plan.first == "preview":
            self.lane.cancel()
            self._submit_preview(st)
        else:
            self._submit_exact(st, capture=True)
        return self.serial

    @property
    def answered_serial(self) -> int:
        """The newest request that has answered (see ``answered``)."""
        return self._answered

    @property
    def pending(self) -> bool:
        """Work for the open image is due without running yet: the idle exact run, a slider's rest, a preview that
        waits for the running one (prefetch does not start meanwhile). GUI thread only."""
        return self._idle.isActive() or self._debounce.isActive() or self._preview_next is not None

    def idle_exact(self) -> None:
        """The user paused after a local window (the idle timer): the exact run, unless the open image's learning
        step is due or running; its result asks for the CRF again, so the exact run waits for it (on 2 cores it
        would slow the learning, and be cancelled by its result)."""
        if self.exact_waits():
            self._idle.start()
            return
        self._submit_exact(self.image.state, capture=True)

    def _answer(self, lane: Lane, key) -> None:
        """A job of ``lane`` ended with something shown, or with nothing to show (failed): its request answered."""
        serial = self._serial_of.get(lane.name, 0)
        if key is None or not isinstance(key, CrfKey) or serial <= self._answered:
            return
        self._answered = serial
        self.answered.emit(serial)

    def refine_changed(self, region) -> None:
        """Refine around ``region`` (x0, y0, x1, y1), where the adapted head changed the labels (and the stroke
        was): a local window on large images, then the exact run when the user pauses; None: the whole image."""
        if region is not None:
            self.request_crf(region=region, probs_changed=True)
        else:
            self.request_crf()

    def interactive(self) -> InteractiveCRF:
        """The current image's InteractiveCRF (a new one per opened image, and per backend)."""
        return self.image.crf(self.runner)

    def _key(self, kind: str, params: CRFParams) -> CrfKey:
        return self.image.crf_key(kind, params, self.backend_name)

    def _submit_exact(self, st, capture: bool = True) -> None:
        if st is None or st is not self.image.state or st.probs is None:
            return
        it, probs, params, locks = self.interactive(), st.probs, self.params, st.lock_constraints()
        with_labels = not it.wants_preview  # large images show a downscaled preview instead
        text = f"Refining with CRF ({self.backend_name})…"
        self.activity.emit(text)

        def job(cancel, report):
            n = int(params.iterations)
            report(0, n, f"{text} 0/{n}")   # the bar from the start: the lattice is built before iteration 1
            return it.exact(probs, params, locks, should_cancel=cancel,
                            on_iteration=_iteration_reporter(report, with_labels, text))
        self._serial_of[self.lane.name] = self.serial
        self.lane.submit(self._key("crf", params), job)

    def _submit_local(self, st, region) -> None:
        it, probs, params, locks = self.interactive(), st.probs, self.params, st.lock_constraints()
        self.activity.emit("Refining around the edit…")

        def job(cancel, report):
            if it.local(probs, params, region, locks, should_cancel=cancel) is None:
                return it.exact(probs, params, locks, should_cancel=cancel)  # the window would be most of it
            return None  # the windows are taken from it.pending() on the GUI thread
        self._serial_of[self.lane.name] = self.serial
        self.lane.submit(self._key("local", params), job)

    def _submit_preview(self, st) -> None:
        request = (st, self.params, st.lock_constraints(), self._key("preview", self.params))
        if self.preview_lane.busy:
            self._preview_next = request
            return
        it = self.interactive()
        _, params, locks, key = request
        probs = st.probs
        self.activity.emit(f"Refining with CRF: {it.geometry.text}…")

        def job(cancel, report):
            def on_labels(i, n, labels_of):  # the preview's first iteration shows at once (a large image's full
                report(i, n, f"Preview iteration {i}/{n}",  # redraw costs too much to show every one)
                       (it.geometry.text, labels_of()) if i == 1 else None)
            return it.preview(probs, params, locks, on_labels=on_labels)  # runs to its end (see module docstring)
        self._serial_of[self.preview_lane.name] = self.serial
        self.preview_lane.submit(key, job)

    def _next_preview(self) -> None:
        """A preview ended: run the newest waiting one, or (settings at rest) the exact run."""
        request, self._preview_next = self._preview_next, None
        st = self.image.state
        if request is not None and request[0] is st and st is not None:
            self._submit_preview(st)
        elif st is not None and st.probs is not None and self.params.iterations > 0:
            if self.exact_waits():
                self._idle.start()      # after the learning step (see idle_exact)
            else:
                self._submit_exact(st, capture=True)

    def prefetchable(self) -> bool:
        """The next images' CRF can run ahead: an in-process backend (the reference one's child process is the
        open image's) and the CRF on."""
        return self.runner.isolated is None and self.params.iterations > 0

    def _ready(self, st, note: str = "") -> None:
        """'Ready: NAME (what to know)': the run's note and the image's own (st.note, e.g. seen too narrow)."""
        notes = "; ".join(n for n in (note, st.note) if n)
        self.activity.emit(f"Ready: {st.path.name}" + (f" ({notes})" if notes else ""))

    def adopt_prefetched(self, st, outcome, solution) -> None:
        """A prefetched exact result (and solution) for the image just opened."""
        st.set_crf(outcome.probs, outcome.labels, outcome.params, outcome.unc, kind=outcome.kind)
        self.image.mark_exact()
        if solution is not None:
            self.interactive().adopt(solution, st.probs)
        self.labels_changed.emit()
        self.results_changed.emit()
        self._ready(st, "refined ahead")
        self.settled.emit(st.index)
        self.exact_ready.emit(st)

    # ----- results -----------------------------------------------------------------------------
    def _current(self, key: CrfKey) -> bool:
        return self.image.is_current(key, self.params, self.backend_name)

    def _with_windows(self, st, key, labels: np.ndarray) -> np.ndarray:
        """A whole-image preview with the local windows shown since the last exact run kept in their boxes: full
        resolution there, refined for the same settings, where the preview is a coarse copy (a walk: after a
        stroke's learning the sharp window gave way to a 1/4-resolution preview for 5 s until the exact run)."""
        kept = self._windows
        if kept is None or kept[0] != st.token or kept[1] != key.params or st.crf_kind != "local" \
                or st.labels is None or labels.shape != st.labels.shape:
            return labels
        labels = labels.copy()
        for x0, y0, x1, y1 in kept[2]:
            labels[y0:y1, x0:x1] = st.labels[y0:y1, x0:x1]
        return labels

    def _on_preview(self, key, outcome) -> None:
        st = self.image.state
        if self.image.shows_probs_of(key) and self.lane.current_key is None \
                and st.set_crf_preview(self._with_windows(st, key, outcome.labels), outcome.kind):
            self.preview_changed.emit()
        if self.image.shows_probs_of(key):
            self._answer(self.preview_lane, key)   # (not shown: a newer request runs in the CRF lane)
        self._next_preview()

    def _on_preview_failed(self, key, _message: str) -> None:
        self._answer(self.preview_lane, key)
        self._next_preview()

    def _on_preview_progress(self, key, payload) -> None:
        st = self.image.state
        if self.image.shows_probs_of(key) and self.lane.current_key is None \
                and payload[1].shape == st.shape and st.set_crf_preview(self._with_windows(st, key, payload[1]),
                                                                        payload[0]):
            self.preview_changed.emit()

    def _on_crf_preview(self, key, payload) -> None:
        st = self.image.state
        if not self._current(key) or payload[1].shape != st.shape:
            return
        if st.set_crf_preview(self._with_windows(st, key, payload[1]), payload[0]):
            self.preview_changed.emit()

    def _on_crf(self, key, outcome) -> None:
        self.warm = True
        if key[0] == "warm-up" and outcome:
            self.activity.emit(f"CRF kernels compiled in {outcome[1]:.0f} s; from now on they load at once")
        if key[0] in ("warm-up", "settle"):   # (warm-up keys are not CrfKeys)
            return
        st = self.image.state
        if not self._current(key):
            return
        windows = self._take_windows()
        if outcome is not None:  # an exact run (a local request that had to run the whole image, too)
            self._windows = None
            st.set_crf(outcome.probs, outcome.labels, outcome.params, outcome.unc, kind=outcome.kind)
            self.image.mark_exact(key.edit_serial)
            self.labels_changed.emit()
            self.results_changed.emit()
            self._ready(st, outcome.note)
            self.settled.emit(st.index)
            self.exact_ready.emit(st)   # its features, for the first stroke
        elif windows:
            self.activity.emit("Refined around the edit (local); the exact result follows when you pause")
            it = self.image.crf_session()
            self._answer(self.lane, key)   # (before the settle job replaces the lane's key)
            self.lane.submit(key._replace(kind="settle"), lambda cancel, report: it.settle())  # meanwhile
            self._idle.start()
        self._answer(self.lane, key)

    def _take_windows(self) -> bool:
        """Show every local window pasted so far (in order); True if there were any."""
        st, it = self.image.state, self.image.crf_session()
        if it is None:
            return False
        boxes = [w.box for w in it.pending() if st.set_crf_window(w.box, w.labels, w.probs, w.unc, w.params)]
        if boxes:
            if self._windows is None or self._windows[:2] != (st.token, st.crf_params):
                self._windows = (st.token, st.crf_params, [])
            self._windows[2].extend(boxes)
            self.labels_changed.emit()
            self.window_refined.emit(boxes)
        return bool(boxes)

    # ----- what is shown, Esc, saving ------------------------------------------------------------
    def shown_kind(self) -> str:
        st = self.image.state
        if st is None or st.labels is None:
            return ""
        if st.crf_preview is not None:
            return st.preview_kind or "preview"
        if not st.follows_model:
            return "from the labels file"
        if st.crf_labels is None or st.crf_params is None or st.crf_params.iterations == 0:
            return KIND_NETWORK if self.params.iterations == 0 or st.crf_params is None else \
                f"{KIND_NETWORK}, before the new settings"
        kind = st.crf_kind or KIND_EXACT
        # the panel's settings moved on and their first answer is not in: say so, not 'exact' (a walk read 'Labels:
        # exact' for 0.5 s at 1.2 MP over labels 5,846 px from the new settings' result)
        return kind if st.crf_params == self.params else f"{kind}, before the new settings"

    def labels_exact(self) -> bool:
        """The labels are what an exact run gives for the settings shown (or do not depend on the CRF: labels from
        disk do, around the corrections that spread on them)."""
        st = self.image.state
        if st is None or st.labels is None or st.probs is None or not (st.follows_model or st.spreads):
            return True
        if self.params.iterations == 0:
            return st.crf_params is not None and st.crf_params.iterations == 0
        return (st.crf_preview is None and st.crf_kind == KIND_EXACT and st.crf_params == self.params
                and self.image.exact_is_current)

    def ensure_exact(self) -> bool:
        """Compute the exact result now if the labels shown are not it; wait for it with the event loop running
        (the window shows progress; Esc cancels). True when the labels are exact."""
        if self.labels_exact():
            return True
        st = self.image.state
        self._idle.stop()
        self._preview_next = None
        key = self._key("crf", self.params)
        if self.lane.current_key != key:
            self._submit_exact(st, capture=True)
        lane = self.lane
        self.waiting.emit("Computing the exact CRF before saving…")
        try:
            wait_for(lambda: not lane.busy, lane.finished, lane.failed)
        finally:
            self.waiting.emit("")
        return self.labels_exact()

    def stop(self) -> bool:
        """Esc: stop the CRF for now (a new request starts it again). Labels and panel stay in step: a preview
        goes, windows already computed are shown, and the panel returns to the labels' settings (True then)."""
        self._idle.stop()
        self._preview_next = None
        self.lane.cancel()
        self.preview_lane.cancel()
        self._take_windows()
        self.drop_preview()
        st = self.image.state
        reverted = st is not None and st.crf_params is not None and st.crf_params != self.params \
            and st.follows_model
        if reverted:
            self.params = st.crf_params
            self.params_reverted.emit(st.crf_params)
        return reverted

    def drop_preview(self) -> None:
        """The CRF run behind the preview will not finish: show the labels it would have replaced."""
        st = self.image.state
        if st is not None and st.crf_preview is not None:
            st.crf_preview, st.preview_kind = None, ""
            self.preview_changed.emit()

    def forget(self) -> None:
        """New probabilities for the current image: its solution and pending windows are stale."""
        self._idle.stop()
        self._preview_next = None
        self.image.forget_crf()
