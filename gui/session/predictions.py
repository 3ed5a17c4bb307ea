"""The network's probabilities for the open image: asked for in the predict lane (with the adapted head), taken
from a prefetched image, or made again by the adapted head after a stroke; then shown and handed to the CRF.

A service of the session (gui.session.controller), handed what it uses; it answers with ``activity``, ``error``
and ``results_changed``. Results are applied only while their key (image token, model generation) still holds.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal

from engine.annotate.state import ImageState
from engine.predict import Prediction
from gui.session.keys import PredictKey


UNTAUGHT_NOTE = "the model knows none of these classes yet: paint a stroke of each and it learns them"


class Predictions(QObject):
    activity = Signal(str)
    error = Signal(str)
    results_changed = Signal()

    def __init__(self, image, classes, lanes, crf, adapt, model_lock, prefetch, ordering, model_gen, sync_status,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.image, self.classes, self.crf, self.adapt = image, classes, crf, adapt
        self.prefetch, self.ordering = prefetch, ordering
        self._model_lane, self._lane, self._model_lock = lanes["model"], lanes["predict"], model_lock
        self._model_gen, self._sync_status = model_gen, sync_status
        self._lane.finished.connect(self._on_result)

    def request(self) -> None:
        """Predict the open image (the adapted head's probabilities when the head learnt anything)."""
        st, predictor = self.image.state, self.classes.predictor
        if st is None:
            return
        if predictor is None:
            if not self._model_lane.busy:
                self.activity.emit("No model loaded: use Model > Load checkpoint…")
            return
        self.crf.before_prediction()
        self.activity.emit(f"Predicting {st.path.name}…")
        predict = self.adapt.predict_fn(predictor, self.adapt.head_for(st.token), st.path.name)
        lock = self._model_lock

        def job(cancel, report):
            with lock:
                probs, extra = predict(st.image, cancel, lambda stage, frac: report(0, 0, f"Predicting: {stage}"))
            return Prediction.from_probs(probs, extra)   # (not GUI-thread work at 12 MP)
        self._lane.submit(PredictKey("predict", st.token, self._model_gen()), job)

    def _on_result(self, key, result) -> None:
        st = self.image.state
        if st is None or key != PredictKey("predict", st.token, self._model_gen()):
            return  # the lane already drops superseded keys; this guards state swaps in between
        self.apply(st, result)

    def on_adapted(self, token: int, pred: Prediction, box) -> None:
        """The adapted head's new probabilities for the open image: shown, and the CRF re-solves around ``box``
        (what they changed) while the CRF result shown stays, as the solution a local window starts from."""
        st = self.image.state
        if st is None or st.token != token:
            return
        self.apply(st, pred, refine=False)
        self.crf.refine_changed(box)

    def apply(self, st: ImageState, pred: Prediction, refine: bool = True) -> None:
        """New probabilities for the open image; refine=False when the caller asks for the CRF itself."""
        probs, class_list = pred.probs, self.classes.class_list
        if class_list is not None and probs.shape[0] != len(class_list):
            self.error.emit(f"The model gave {probs.shape[0]} classes but the class list has {len(class_list)}.")
            return
        prefetched = self.prefetch.take_crf(st.index, probs, self.crf.params, self.crf.backend_name)
        self.image.take_prediction(pred, keep_crf=not refine)
        predictor = self.classes.predictor
        notes = [predictor.scale_note(*st.shape) if predictor is not None else None]
        head = self.adapt.carried_head
        if self.classes.knows_none() and (head is None or head.is_original):   # stays with 'Ready: NAME' until
            notes.append(UNTAUGHT_NOTE)   # a stroke teaches (a walk: the advice at loading showed for 0.04 s)
        st.note = "; ".join(n for n in notes if n)
        if refine:
            self.crf.forget()
            self.adapt.image_ready(st, pred.extra)
        self.ordering.set_score(st.index, float(st.unc.mean(dtype=np.float64)))
        if prefetched is not None and st.lock_constraints() is None:  # its CRF ran ahead: final labels at once
            self.crf.adopt_prefetched(st, *prefetched)
            return
        self._sync_status()
        self.results_changed.emit()
        if refine:
            self.crf.request_crf()

    def on_prefetched(self, index: int, ok: bool) -> None:
        """A background prediction ended; the open image may have been waiting for it."""
        st = self.image.state
        if st is None or st.index != index or st.probs is not None or self._lane.busy:
            return
        cached = self.prefetch.take(index) if ok else None
        if cached is not None and self.classes.predictor is not None:
            self.use_prefetched(st, cached)
        else:
            self.request()

    def use_prefetched(self, st: ImageState, cached) -> None:
        """A gui.session.prefetch.Prefetched entry: as it is, or, if the adapted head changed since, its
        probabilities made again from the cached features (no backbone run) in the predict lane."""
        if not self.adapt.is_stale(cached.extra):
            self.apply(st, cached.pred)
            return
        redo = self.adapt.redo_fn(cached.extra, st.path.name)
        if redo is None:          # made without features: the network runs again
            self.request()
            return
        self._lane.submit(PredictKey("predict", st.token, self._model_gen()),
                          lambda cancel, report: Prediction.from_probs(*redo()))
