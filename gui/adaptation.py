"""Corrections that teach, bound to the annotator session: after each stroke the model's head learns the locked
pixels on the open image's cached features (engine.learn), in the "adapt" lane; its new probabilities then go to
the CRF with the locks, so a correction flips the similar-looking region it was painted on.

The head (an immutable engine.learn.adapt.HeadState) carries over to the next images (``carry``, on by default):
predictions and prefetched predictions are made with it. Each stroke's undo record is paired with the head before
and after it (kept here, keyed by the RegionEdit), so undo and redo restore the head with the labels; when the
head has moved on since (another image taught it, or a learning run was superseded), undo refits it to the locks
that remain instead. Widget-free: the window's actions (gui.learn_menu) only flip ``enabled``/``carry`` or reset.
"""
from __future__ import annotations

import hashlib
import inspect
import weakref
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, Signal

from engine.learn.adapt import AdaptConfig, HeadAdapter, HeadState
from engine.learn.correction import ImageAdaptation, ReplayMemory
from engine.learn.grid import changed_box
from engine.overlays import uncertainty

LEARNS_FROM = ("brush", "eraser", "fill", "polygon", "clear locks")  # edits the head follows (undo/redo too)


@dataclass(frozen=True)
class Prepared:
    """What a prediction made with adaptation on carries besides the probabilities: the image's cached features
    and the head that made them."""
    features: object
    head: HeadState


@dataclass(frozen=True)
class _Record:
    """A stroke's heads: ``before`` fitted to the locks with key ``key_before``, ``after`` to ``key_after``."""
    before: HeadState
    after: HeadState
    key_before: bytes
    key_after: bytes


def locks_key(labels: np.ndarray, locked: np.ndarray) -> bytes:
    """A digest of which pixels are locked and to what: the head is 'fitted to' one such set of locks."""
    h = hashlib.blake2b(digest_size=16)
    h.update(np.packbits(locked).tobytes())
    h.update(np.ascontiguousarray(labels[locked]).tobytes())
    return h.digest()


def request_refine(ctl, region) -> None:
    """Refine with the CRF around ``region`` (x0, y0, x1, y1) when the controller can do a local run, else the
    whole image."""
    try:
        local = "region" in inspect.signature(ctl.request_crf).parameters
    except (TypeError, ValueError):
        local = False
    if local and region is not None:
        ctl.request_crf(region=region)
    else:
        ctl.request_crf()


class Adaptation(QObject):
    status_changed = Signal(str)   # "model adapted on N strokes / M images"

    def __init__(self, ctl, lane, config: AdaptConfig = AdaptConfig()):
        super().__init__(ctl)
        self.ctl, self.lane, self.config = ctl, lane, config
        self.enabled = True       # Edit > Adapt the model to corrections
        self.carry = True         # Model > Carry adaptation to the next images
        self.adapter: HeadAdapter | None = None
        self.head: HeadState | None = None
        self.memory = ReplayMemory()
        self.current: ImageAdaptation | None = None
        self._token = None           # the ImageState token ``current`` belongs to
        self._fit_key = b""          # the locks ``head`` is fitted to on the current image
        self._records: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._replay = None          # (RegionEdit, undone) of an undo/redo about to finish
        lane.finished.connect(self._on_done)

    # ----- model ---------------------------------------------------------------------------------------------
    def bind_predictor(self, predictor, new_model: bool) -> None:
        """A model was loaded (new head, nothing learnt) or moved to another device (the head is kept: its
        tensors live on the CPU; cached features were on the old device and are dropped)."""
        self.lane.cancel()
        self.adapter = HeadAdapter(predictor, self.config)
        if new_model or self.head is None:
            self.head = self.adapter.original
        self.memory.forget()
        self.current, self._token = None, None
        self._emit()

    def reset(self, predict: bool = True) -> None:
        """Model > Reset adaptation (and a new folder): back to the network's own head, nothing remembered; with
        ``predict`` the open image's probabilities are made again with it (from its cached features)."""
        if self.adapter is None:
            return
        self.lane.cancel()
        self.head = self.adapter.original
        self.memory.forget()
        self._emit()
        st = self.ctl.state
        if predict and self.current is not None and st is not None and st.token == self._token:
            self.current.anchor = self.head
            self._submit_probs(st, self.head, record=None, fit_key=b"")

    def set_enabled(self, on: bool) -> None:
        """The switch: off, strokes only lock pixels (the head stays as it is, unused); on again, the open image is
        predicted once more if its features were not kept."""
        self.enabled = bool(on)
        if not on:
            self.lane.cancel()
        else:
            st = self.ctl.state
            if self.adapter is not None and st is not None and st.probs is not None and \
                    (self.current is None or st.token != self._token):
                self.ctl.request_predict()
        self._emit()

    def set_carry(self, on: bool) -> None:
        self.carry = bool(on)

    def status_text(self) -> str:
        if self.head is None:
            return ""
        return self.head.describe() if self.enabled else "adaptation off"

    def _emit(self) -> None:
        self.status_changed.emit(self.status_text())

    # ----- predictions ---------------------------------------------------------------------------------------
    def _active(self, predictor=None) -> bool:
        return self.enabled and self.adapter is not None and \
            (predictor is None or self.adapter.predictor is predictor)

    def head_for(self, token) -> HeadState | None:
        """The head a prediction of the image opened as ``token`` is made with: the current one for the open
        image or when it carries over, else the network's own."""
        if self.head is None:
            return None
        return self.head if (self.carry or token == self._token) else self.adapter.original

    def predict_fn(self, predictor, head: HeadState | None):
        """fn(image, should_cancel, on_progress=None) -> (probs, Prepared or None), for a worker thread: with
        adaptation on, the backbone's features are kept and ``head`` makes the probabilities; off, it is
        Predictor.predict."""
        adapter = self.adapter
        if not self._active(predictor) or head is None:
            return lambda image, cancel, progress=None: (
                predictor.predict(image, should_cancel=cancel, on_progress=progress), None)

        def run(image, cancel, progress=None):
            if progress is not None:
                progress("network", 0.0)
            features = predictor.extract_features(image, should_cancel=cancel)
            if progress is not None:
                progress("head", 0.9)
            return adapter.probs(features, head), Prepared(features, head)
        return run

    def is_stale(self, extra) -> bool:
        """A prefetched prediction made with another head than the current one (it must be redone)."""
        return self._active() and self.head is not None and \
            (extra is None or extra.head is not self.head_for(None))

    def redo_fn(self, extra: Prepared):
        """fn() -> (probs, Prepared) from cached features with the current head (no backbone run)."""
        adapter, head = self.adapter, self.head_for(None)
        return lambda: (adapter.probs(extra.features, head), Prepared(extra.features, head))

    def image_ready(self, st, extra: Prepared | None) -> None:
        """A prediction of the open image arrived; with it come its features (adaptation on)."""
        if extra is None or not self._active():
            if st.token != self._token:
                self.current, self._token = None, None
            return
        if st.token != self._token and not self.carry:
            self.head = extra.head       # the network's own head (head_for gave it)
        self.current = ImageAdaptation(self.adapter, extra.features, st.path.name, anchor=extra.head)
        self._token = st.token
        labels, locked = st.edits.snapshot() if st.edits is not None else (None, None)
        self._fit_key = locks_key(labels, locked) if labels is not None else b""
        self._emit()

    # ----- edits ---------------------------------------------------------------------------------------------
    def on_replayed(self, edit, undone: bool) -> None:
        """Editor: an undo (undone=True) or redo is about to be reported as a finished edit."""
        self._replay = (edit, undone)

    def after_edit(self, st, kind: str) -> bool:
        """A hand edit finished with auto-refine on: learn from it (True: the CRF follows from here)."""
        replay, self._replay = self._replay, None
        if not self._active() or self.current is None or st.token != self._token or kind not in LEARNS_FROM \
                or st.edits is None:
            return False
        labels, locked = st.edits.snapshot()
        key = locks_key(labels, locked)
        if replay is not None:
            rec = self._records.get(replay[0])
            if rec is not None:
                src, dst, want = (rec.after, rec.before, rec.key_before) if replay[1] else \
                    (rec.before, rec.after, rec.key_after)
                if self.head is src and key == want:   # nothing learnt since: restore exactly
                    self._submit_probs(st, dst, record=None, fit_key=key)
                    return True
            self._submit_fit(st, labels, locked, key, edit=None)   # the head moved on: refit to what is locked
            return True
        self._submit_fit(st, labels, locked, key, edit=self.ctl.editor.last_edit())
        return True

    def _submit_fit(self, st, labels, locked, key, edit) -> None:
        image, before, memory = self.current, self.head, (self.memory if self.carry else None)
        old = st.raw_labels
        box = edit.box if edit is not None else None

        def job(cancel, report):
            report(0, 0, "Learning from the correction…")
            head, probs = image.learn(before, labels, locked, memory, should_cancel=cancel)
            return head, probs, uncertainty(probs), _union(changed_box(old, probs.argmax(0).astype(np.uint8)), box)
        record = (edit, before, self._fit_key, key) if edit is not None else None
        self.lane.submit(("adapt", st.token, key, record), job)

    def _submit_probs(self, st, head: HeadState, record, fit_key=None) -> None:
        image, old = self.current, st.raw_labels
        labels, locked = st.edits.snapshot() if st.edits is not None else (None, None)
        memory = self.memory if self.carry else None
        key = fit_key if fit_key is not None else self._fit_key

        def job(cancel, report):
            probs = image.probs(head)
            if labels is not None:
                image.remember(labels, locked, memory)
            return head, probs, uncertainty(probs), changed_box(old, probs.argmax(0).astype(np.uint8))
        self.lane.submit(("adapt", st.token, key, record), job)

    def _on_done(self, key, result) -> None:
        _, token, fit_key, record = key
        st = self.ctl.state
        if st is None or st.token != token or token != self._token:
            return
        head, probs, unc, box = result
        if record is not None:
            edit, before, key_before, key_after = record
            self._records[edit] = _Record(before, head, key_before, key_after)
        self.head, self._fit_key = head, fit_key
        self._emit()
        self.ctl._apply_prediction(st, probs, unc, refine=False)
        request_refine(self.ctl, box)


def _union(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])
