"""The one owner of the image being annotated: its ImageState, the token of this opening, the generations that
tell a background result whether it is still for what is shown, its interactive CRF session, and its undo history.

Every result the lanes bring back carries a key made here (``CrfKey`` for the CRF); ``is_current`` compares it
with what is shown now, so a result for an earlier image, older probabilities, other CRF settings or an earlier
edit is dropped, never shown. Before this object the same question was answered by five counters spread over the
controller and four mixins. Widget-free.
"""
from __future__ import annotations

import itertools

from engine.annotate.state import ImageState
from engine.crf import CRFParams
from engine.crf.interactive import InteractiveCRF
from engine.predict import Prediction
from gui.session.history import ImageHistory
from gui.session.keys import CrfKey


class OpenImage:
    """The open image (``state`` is None while one is being opened or none could be read)."""

    def __init__(self, history: ImageHistory):
        self.history = history
        self.state: ImageState | None = None
        self._tokens = itertools.count(1)
        self.pred_gen = 0         # bumped by every new probability map of the open image
        self.edit_serial = 0      # counts the hand edits the CRF refines, so a result knows which it saw
        self.exact_serial = -1    # the edit serial of the exact result shown
        self._crf: InteractiveCRF | None = None

    # ----- opening and leaving ------------------------------------------------------------------------
    def new_token(self) -> int:
        return next(self._tokens)

    def leave(self, keep_history: bool) -> None:
        """The user moves to another image (or folder): drop the CRF preview of a run just cancelled and hand the
        history to the store (kept if the labels are on disk)."""
        st = self.state
        if st is not None:
            st.crf_preview = None
            self.history.leave(str(st.path), keep=keep_history and st.edits is not None)
        self.state = None

    def close_folder(self) -> None:
        """Another folder: the open image and every history kept from this one go."""
        self.leave(keep_history=False)
        self.history.clear()

    def show(self, state: ImageState) -> None:
        """``state`` is the open image now (the editor, bound to it, makes its undo stack the active one)."""
        self.state = state

    def kept_labels(self, state: ImageState):
        """The label map (with locks and undo history) kept from an earlier visit, if any."""
        return self.history.kept_labels(str(state.path))

    # ----- probabilities -------------------------------------------------------------------------------
    def take_prediction(self, pred: Prediction, keep_crf: bool) -> None:
        """New probabilities for the open image (the CRF result shown stays, marked local, if ``keep_crf``)."""
        self.state.set_prediction(pred.probs, pred.unc, pred.labels, keep_crf=keep_crf)
        self.pred_gen += 1

    def refit_channels(self, probs, crf_probs=None) -> None:
        """The folder's classes the model does not know came or went: same probabilities, other channel count."""
        self.state.set_channels(probs, crf_probs)

    # ----- the CRF ------------------------------------------------------------------------------------
    def crf(self, runner) -> InteractiveCRF:
        """The open image's InteractiveCRF (a new one per opening, and per backend runner)."""
        st, it = self.state, self._crf
        if it is None or it.key != st.token or it.runner is not runner:
            self._crf = it = InteractiveCRF(st.image, runner, st.token)
        return it

    def crf_session(self) -> InteractiveCRF | None:
        """The CRF session of the open image, if one was started for it."""
        it, st = self._crf, self.state
        return it if it is not None and st is not None and it.key == st.token else None

    def forget_crf(self) -> None:
        """New probabilities: the session's solution and pending windows are stale."""
        if self._crf is not None:
            self._crf.forget_solution()

    def crf_key(self, kind: str, params: CRFParams | None, backend: str) -> CrfKey:
        st = self.state
        return CrfKey(kind, st.token if st is not None else 0, self.pred_gen, params, backend, self.edit_serial)

    def is_current(self, key: CrfKey, params: CRFParams, backend: str) -> bool:
        """The result keyed ``key`` is for the image, probabilities, settings and engine shown now."""
        st = self.state
        return (st is not None and (key.token, key.pred_gen, key.params, key.backend)
                == (st.token, self.pred_gen, params, backend))

    def shows_probs_of(self, key: CrfKey) -> bool:
        """The result keyed ``key`` is for the probabilities shown now (whatever the settings)."""
        st = self.state
        return st is not None and (key.token, key.pred_gen) == (st.token, self.pred_gen)

    # ----- hand edits ---------------------------------------------------------------------------------
    def edited(self) -> None:
        """A hand edit the CRF must now include (an exact result from before it is no longer exact)."""
        self.edit_serial += 1

    def mark_exact(self, edit_serial: int | None = None) -> None:
        self.exact_serial = self.edit_serial if edit_serial is None else edit_serial

    @property
    def exact_is_current(self) -> bool:
        return self.exact_serial == self.edit_serial
