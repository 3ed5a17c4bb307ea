"""The hand-correction side of the annotator session: whole-map edits (set labels, use the model result) and the
reaction to every finished edit: the image's status (and so its autosave), then the CRF spreads the edit and the
adapted head learns from it (auto-refine). The edit's own CRF answer comes first (a local window on large images,
current probabilities and the new locks); the learning step starts once that answer is shown (CRFRequests.answered),
and its result refines again where the adapted head changed the labels. On 2 cores a fit running beside the
stroke's CRF would slow the answer the user waits for. Every image gets that help: on labels read from disk (saved or
pre-labelled) the model's result is taken only around the corrections (ImageState.follow_corrections), so the rest
of the file's labels stays as saved.

Composed by the session and handed exactly what it uses: the open image, the editor, the CRF requests, the
adaptation and a way to re-derive the image's status. Widget-free.
"""
from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QObject, Signal

from engine.annotate.state import SOURCE_DISK
from gui.session.open_image import OpenImage

NO_REFINE = ("set labels", "use model result")


class HandEdits(QObject):
    results_changed = Signal()   # the labels shown changed (a whole map set at once)

    def __init__(self, image: OpenImage, editor, crf, adapt, sync_status: Callable, parent: QObject | None = None):
        """``sync_status()`` pushes the open image's derived status to the folder and returns its ImageState."""
        super().__init__(parent)
        self.image, self.editor, self.crf, self.adapt, self.sync_status = image, editor, crf, adapt, sync_status
        self.auto_refine = True      # re-run the CRF with the locks after each hand edit (Edit > Auto-refine)
        self._learn_after = None     # serial of the CRF request whose answer the pending learning step waits for
        self._unanswered = (None, [], 0)   # (image token, boxes, request serial): edits whose CRF has not answered
        editor.edit_finished.connect(self.after_edit)
        crf.answered.connect(self._on_answered)
        crf.exact_waits = lambda: adapt.learning   # the idle exact run waits for the learning step's result

    def set_labels(self, labels) -> None:
        """The annotator replaced the whole label map: changed pixels are locked (undoable)."""
        st = self.image.state
        if st is not None:
            self.editor.push_edit(st.set_hand_labels(labels))
            self.results_changed.emit()

    def use_model_result(self) -> None:
        """Take the model + CRF result on the current image, except on its locked (hand-edited) pixels, which keep
        their label and lock (undoable)."""
        st = self.image.state
        if st is None:
            return
        before = st.base
        edit = st.use_model_result()
        if edit is not None:
            self.editor.push_edit(edit, (before, st.base))
            self.sync_status()
            self.results_changed.emit()

    def after_edit(self, kind: str) -> None:
        """An undoable hand edit is complete: status, autosave, and the CRF spreads it (auto-refine).
        A whole map set at once (set labels, use model result) is taken as it is."""
        st = self.image.state
        if st is not None and kind not in NO_REFINE and (self.auto_refine or st.spread is not None) \
                and st.follow_corrections():   # a saved image: at once, so an undo or an erase takes its spread
            self.results_changed.emit()        # back before any new result comes
        st = self.sync_status()
        if st is not None and self.auto_refine and (st.follows_model or st.base == SOURCE_DISK) \
                and st.probs is not None and kind not in NO_REFINE:
            self.image.edited()  # the exact result must now include this edit (ensure_exact)
            learns = self.adapt.after_edit(st, kind)   # takes the edit; learns when the answer below is shown
            self._learn_after = None
            boxes = self._unanswered_boxes(st)
            serial = self.crf.request_crf(region=boxes or None)   # the stroke's own answer first
            self._unanswered = (st.token, boxes, serial)
            self._learn_after = serial if learns else None
            if self.crf.answered_serial >= serial:   # answered at once (the CRF is off)
                self._on_answered(serial)

    def _unanswered_boxes(self, st) -> list:
        """The boxes of this edit and of the earlier ones whose CRF has not answered: a quick second stroke cancels
        the first one's window, so the new window covers both."""
        token, boxes, _ = self._unanswered
        box = self.editor.last_box
        return (boxes if token == st.token else []) + ([box] if box is not None else [])

    def _on_answered(self, serial: int) -> None:
        """The CRF showed the answer to request ``serial`` (or to a newer one): the edits before it are answered,
        and the pending learning starts."""
        if serial >= self._unanswered[2]:
            self._unanswered = (None, [], 0)
        if self._learn_after is not None and serial >= self._learn_after:
            self._learn_after = None
            self.adapt.start_learning()
