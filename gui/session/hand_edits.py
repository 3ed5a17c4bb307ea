"""The hand-correction side of the annotator session (one concern of AnnotatorController): whole-map edits,
discarding, the reaction to an edit (status, autosave, auto-refine), taking a prefetched prediction, and the
folder order by uncertainty. Mixed into AnnotatorController, whose attributes (image, dataset, editor, recovery,
...) it uses.
"""
from __future__ import annotations

from engine.annotate.state import ImageState
from engine.folder.dataset import Status
from engine.predict import Prediction
from engine.uncertainty import order_by_uncertainty

NO_REFINE = ("set labels", "use model result")


class HandEditsMixin:
    """Methods of AnnotatorController about hand edits and ordering (see module docstring)."""

    def discard_edits(self) -> None:
        """The user threw away the current image's unsaved edits: forget them, on disk too."""
        st = self.state
        if st is not None:
            self.recovery.discard(st.index)
            # the list must not keep saying "edited" for work that no longer exists
            on_disk = self.dataset is not None and self.dataset[st.index].label_path.is_file()
            status = Status.SAVED if on_disk else Status.PREDICTED if st.probs is not None else Status.NEW
            if self.dataset is not None:
                self.dataset.set_status(st.index, status)
            self.status_changed.emit(st.index, status.value)

    def set_labels(self, labels) -> None:
        """The annotator replaced the whole label map: changed pixels are locked (undoable)."""
        if self.state is not None:
            edit = self.state.set_hand_labels(labels)
            self.editor.push_edit(edit)
            self.results_changed.emit()

    def use_model_result(self) -> None:
        """Replace saved/edited labels (and locks) of the current image by the model + CRF result (undoable)."""
        st = self.state
        if st is None:
            return
        before = st.base
        edit = st.use_model_result()
        if edit is not None:
            self.editor.push_edit(edit, (before, st.base))
            self._sync_status()
            self.results_changed.emit()

    def _after_edit(self, kind: str) -> None:
        """An undoable hand edit is complete: status, autosave, and the CRF spreads it (auto-refine).
        A whole map set at once (set labels, use model result) is taken as it is."""
        st = self._sync_status()
        if st is not None and self.auto_refine and st.follows_model and st.probs is not None \
                and kind not in NO_REFINE:
            self.image.edited()  # the exact result must now include this edit (ensure_exact)
            large = self.interactive().wants_windows
            if large:   # the stroke's own window first (under a second), the adapted head's after it
                self.request_crf(region=self.editor.last_box)
            if not self.adapt.after_edit(st, kind) and not large:  # small: the head learns first, then asks for
                self.request_crf(region=self.editor.last_box)      # the CRF of everything it changed

    # ----- prefetch, order and uncertainty -------------------------------------------------------
    def _on_prefetched(self, index: int, ok: bool) -> None:
        """A background prediction ended; the open image may have been waiting for it."""
        st = self.state
        if st is None or st.index != index or st.probs is not None or self.lanes["predict"].busy:
            return
        cached = self.prefetch.take(index) if ok else None
        if cached is not None and self.predictor is not None:
            self._use_prefetched(st, cached)
        else:
            self.request_predict()

    def _use_prefetched(self, st: ImageState, cached) -> None:
        """A gui.session.prefetch.Prefetched entry: as it is, or, if the adapted head changed since, its
        probabilities made again from the cached features (no backbone run) in the predict lane."""
        extra = cached.extra
        if not self.adapt.is_stale(extra):
            self._apply_prediction(st, cached.pred)
            return
        redo = self.adapt.redo_fn(extra)
        if redo is None:          # made without features: the network runs again
            self.request_predict()
            return

        def job(cancel, report):
            return Prediction.from_probs(*redo())
        self.lanes["predict"].submit(("predict", st.token, self.model_gen), job)

    def set_score(self, index: int, score: float) -> None:
        """The mean uncertainty of image ``index``'s prediction (list column, sort order)."""
        self.scores[index] = score
        self.score_changed.emit(index, score)

    def take_prelabelled(self, index: int, score: float | None, labels) -> None:
        """A pre-labelling run wrote image ``index``'s labels (File > Pre-label folder): its score and status; the
        open image, if it has no hand work, shows the file just written, as a reopened one would."""
        if self.dataset is None:
            return
        if score is not None:
            self.set_score(index, score)
        st = self.state
        if index != self.index:
            self.dataset.set_status(index, Status.PRELABELLED)
            self.status_changed.emit(index, Status.PRELABELLED.value)
        elif st is not None and st.index == index and st.status in (Status.NEW, Status.PREDICTED) \
                and labels is not None and labels.shape == st.shape:
            st.set_saved_labels(labels, machine=True)
            self._sync_status()
            self.results_changed.emit()

    def sort_by_uncertainty(self) -> None:
        """Most uncertain first (mean uncertainty of the predictions made so far); unknown ones last."""
        if self.dataset is not None:
            self.order = order_by_uncertainty({i: self.scores.get(i) for i in range(len(self.dataset))})
            self.order_changed.emit()

    def sort_by_name(self) -> None:
        if self.dataset is not None:
            self.order = list(range(len(self.dataset)))
            self.order_changed.emit()
