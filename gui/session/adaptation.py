"""Corrections that teach, bound to the annotator session: after each stroke the model's head learns the locked
pixels on the open image's cached features (engine.learn), in the "adapt" lane; its new probabilities then go to
the CRF with the locks, so a correction flips the similar-looking region it was painted on.

The head predicts the folder's classes (engine.models.folder_head): a class the model knows keeps its channel, one it
lacks gets an output strokes teach, so labels and probabilities are in the folder's ids throughout. A class added,
renamed or deleted mid-session (classes_changed) keeps what the others learnt. What the head learnt is kept in the
folder with every save (engine.learn.head_store) and restored when the folder is opened with that model again.

Features: a prediction made with the network's own head is Predictor.predict as before; the image's classifier
inputs are then extracted in the adapt lane once the image is ready (or at the first stroke). Once the head has
learnt something, predictions go through the cached features (Predictor.extract_features + the adapted head) and
keep them. The head (an immutable engine.learn.adapt.HeadState) carries over to the next images (``carry``, on by
default): predictions and prefetched predictions are made with it. Each stroke's undo record is paired with the
head before and after it (kept here, keyed by the RegionEdit), so undo and redo restore the head with the labels;
when the head has moved on since (another image taught it, or a learning run was superseded), undo refits it to
the locks that remain instead. Widget-free: the window's actions (gui.menus.learn) flip ``enabled``/``carry`` or
reset.

The learning step never delays a stroke's own answer: after_edit only takes what to learn from the edit; the
session (gui.session.hand_edits) calls start_learning once the CRF has shown the stroke's refined labels, and the
CRF's idle exact run waits while ``learning`` (the fit's result asks for the CRF again).

What the status bar counts is the strokes in effect, not the fits: each image's teaching edits that still stand
(not undone, painted over or erased), plus what the head it was opened with counted for the other images. A fit
that only re-teaches (an undo after the head moved on, an erase, a revisited image) does not add a stroke, and a
revisited image whose locks the carried head already learnt is not taught them again.
"""
from __future__ import annotations

import threading
from dataclasses import replace

from PySide6.QtCore import QObject, Signal

from engine.boxes import union
from engine.crf.interactive import probs_dtype
from engine.learn.adapt import AdaptConfig, HeadAdapter, HeadState, warm_up_optimizer
from engine.learn.correction import ImageAdaptation, ReplayMemory
from engine.learn.grid import changed_box
from engine.predict import Prediction
from gui.session.adapt_records import (Prepared, Refitted, StrokeRecords, TaughtImages, carried_to, locks_key,
                                       locks_now, replay_job, standing_strokes)
from gui.session.event_wait import wait_for
from gui.session.keys import AdaptKey

LEARNS_FROM = ("brush", "eraser", "void", "fill", "polygon", "superpixel", "clear locks")  # edits the head
#                                                                                   follows (undo/redo too)
RESTORED = "restored"   # an undo or redo whose head after_edit restored (_restore)
FEATURES_STATUS = "Learning: reading the image's features…"
LEARN_STATUS = "Learning from the correction…"


class Adaptation(QObject):
    status_changed = Signal(str)   # "model adapted on N strokes / M images"
    adapted = Signal(int, object, object)   # (image token, Prediction of the adapted head, box it changed or None)
    predict_requested = Signal()   # the head was reset and the image has no features: the network runs again

    def __init__(self, image, lane, model_lock, editor, channel_map, config: AdaptConfig = AdaptConfig(),
                 parent=None):
        """``image``: the session's OpenImage; ``model_lock``: held during a forward pass; ``editor``: the last
        edit comes from it; ``channel_map()``: the folder's ChannelMap (or None)."""
        super().__init__(parent)
        self.image, self.lane, self.config = image, lane, config
        self.model_lock, self.editor, self.channel_map = model_lock, editor, channel_map
        self.enabled = True       # Edit > Adapt the model to corrections
        self.carry = True         # Model > Carry adaptation to the next images
        self.adapter: HeadAdapter | None = None
        self.head: HeadState | None = None
        self._parked: HeadState | None = None   # the carried head, set aside while Carry is off (see set_carry)
        self._to_replay: list = []    # (image id, read()) of a reopened folder's saved images (replay_saved)
        self.memory = ReplayMemory()
        self._token = None           # the open image (ImageState token) the fields below describe
        self._image_id = ""
        self._anchor: HeadState | None = None   # the head that image was opened with
        self._features = None        # its classifier inputs, once extracted
        self._waiting = None         # (token, edit, replay) of an edit that waits for the features
        self._pending = None         # (token, edit, replay) of an edit that waits for its CRF answer (start_learning)
        self._teach_on_ready = False  # the image came with locks (restored, revisited): learn them when ready
        self._fit_key = b""          # the locks ``head`` is fitted to on the open image
        self._records = StrokeRecords()
        self._replay = None          # (RegionEdit, undone) of an undo/redo about to finish
        self._taught = TaughtImages()   # per image: strokes in effect and the locks the head last learnt there
        self._others = 0             # strokes the open image's anchor counted for the other images
        self._opened = (0, None)     # the open image's (count, learnt) entries when it was opened (Discard)
        lane.finished.connect(self._on_done)
        lane.failed.connect(self._on_failed)

    # ----- model ---------------------------------------------------------------------------------------------
    def bind_predictor(self, predictor, new_model: bool) -> None:
        """A model was loaded (new head, nothing learnt) or moved to another device (the head is kept: its
        tensors live on the CPU; cached features were on the old device and are dropped)."""
        self.lane.cancel()
        self.adapter = HeadAdapter(predictor, self.config, self._source())
        if new_model or self.head is None:
            self.head = self.adapter.original
            self._forget_counts()
        else:
            self.head = self.adapter.resized(self.head)
        self.memory.forget()
        self._forget_image()
        self._emit()

    def _source(self):
        cmap = self.channel_map()
        return None if cmap is None else cmap.source

    def classes_changed(self) -> None:
        """The folder's classes or their match to the model changed: the head keeps a row per folder class id
        (a new class starts untaught, a deleted one loses its output); what the earlier images taught is
        replayed only when no class was deleted or rematched."""
        if self.adapter is None:
            return
        source = self._source()
        source = tuple(range(self.adapter.n_model)) if source is None else tuple(source)
        if source == self.adapter.source:
            return
        old = self.adapter.source
        self.lane.cancel()
        self._waiting = self._pending = None
        self.adapter = self.adapter.with_source(source)
        self.head = self.adapter.resized(self.head)
        self._anchor = self.adapter.resized(self._anchor)
        if source[:len(old)] != old[:len(source)] or len(source) < len(old):
            self.memory.forget()
            self._fit_key = b""   # (a class added keeps the head's fit to these locks: an undo restores it exactly)
        self._emit()

    def take_head(self, state: HeadState | None, taught: dict | None = None) -> None:
        """A head kept beyond the session (the folder's head file, or the journal's after a crash; None: the
        network's own) is the head from now on, with what each image taught (the journal's; else nothing), so an
        image whose locks it learnt is not taught them again. Nothing is replayed: the earlier images' features
        are not kept (engine.learn.head_store)."""
        if self.adapter is None:
            return
        self.lane.cancel()
        self.head = self.adapter.original if state is None else self.adapter.resized(state)
        self._parked, self._to_replay = None, []
        self.memory.forget()
        self._forget_counts()
        self._taught.take(taught or {})
        self._emit()

    def kept(self) -> tuple[HeadState, tuple, dict] | None:
        """What the folder keeps of the head (engine.learn.head_store): (head, channel source, what each image
        taught), or None when there is nothing to keep (no model, or a head kind that is not kept)."""
        if self.adapter is None or self.adapter.kind != "residual":
            return None
        return self.carried_head, self.adapter.source, self._taught.entries()

    @property
    def carried_head(self) -> HeadState | None:
        """The head the next images get and the folder keeps: the open image's, or while Carry is off the one set
        aside when it went off (what the open image learns then stays on it)."""
        return self._parked if self._parked is not None else self.head

    def taught(self, class_id: int) -> tuple[int, int]:
        """(strokes, images) that taught folder class ``class_id`` in this session's head."""
        head = self.carried_head
        return (0, 0) if head is None else head.taught_by(class_id)

    def _forget_image(self) -> None:
        self._token, self._features, self._anchor, self._waiting, self._pending = None, None, None, None, None

    def _forget_counts(self) -> None:
        self._taught.clear()
        self._others, self._opened = 0, (0, None)

    def strokes_in_effect(self, st) -> int:
        """The open image's teaching edits that still stand (adapt_records.standing_strokes)."""
        if st is None or st.edits is None or self.adapter is None:
            return 0
        stack = self.editor.stack() if self.editor.state is st else None
        opened = self._opened[0] if st.token == self._token else 0   # the strokes it came with (a restore)
        return standing_strokes(st.edits, stack, self.adapter.n_classes, opened or 1)

    def reset(self, predict: bool = True) -> None:
        """Model > Reset adaptation (and a new folder): back to the network's own head, nothing remembered; with
        ``predict`` the open image's probabilities are made again with it."""
        if self.adapter is None:
            return
        self.lane.cancel()
        self._waiting = self._pending = None
        self.head = self._anchor = self.adapter.original
        self._parked, self._to_replay = None, []
        self.memory.forget()
        self._fit_key = b""
        self._forget_counts()
        self._emit()
        st = self.image.state
        if predict and st is not None and st.token == self._token and st.probs is not None:
            if self._features is not None:
                self._submit_probs(st, self.head, record=None, fit_key=b"")
            else:
                self.predict_requested.emit()

    def discard(self, st) -> None:
        """The open image's unsaved edits were thrown away (Discard): what they taught goes too. While an image is
        open only its strokes teach, so the head it was opened with is the head without them."""
        if self.adapter is None or st is None or st.token != self._token:
            return
        self.lane.cancel()
        self._waiting, self._pending, self._teach_on_ready, self._fit_key = None, None, False, b""
        self.memory.forget(self._image_id)
        if self._anchor is not None and self.head is not self._anchor:
            self.head = self._anchor
        self._taught.set(self._image_id, *self._opened)
        self._emit()

    def stop(self) -> None:
        """Esc: the running learning step stops and the one waiting for its edit's CRF answer is dropped (the next
        stroke learns every lock that stands)."""
        self.lane.cancel()
        self._waiting = self._pending = None

    def set_enabled(self, on: bool) -> None:
        """The switch: off, strokes only lock pixels (the head stays as it is, unused)."""
        self.enabled = bool(on)
        if not on:
            self.lane.cancel()
            self._waiting = self._pending = None
        self._emit()

    def set_carry(self, on: bool) -> None:
        """Model > Carry adaptation to the next images. Off: each next image starts from the network's own head and
        what a stroke teaches stays on its image; the carried head is set aside, not lost (a walk: turning it off
        threw away 23 strokes' learning, and the next save overwrote the folder's head with a 1-stroke one), and
        comes back to the next images when Carry is on again. The folder keeps the carried head meanwhile."""
        self.carry = bool(on)
        self._emit()

    def status_text(self) -> str:
        if self.head is None:
            return ""
        if not self.enabled:
            return "adaptation off"
        parked = self._parked
        if parked is not None and not parked.is_original and parked is not self.head:
            return f"{self.head.describe()} (Carry off; kept: {parked.describe().replace('model adapted on ', '')})"
        return self.head.describe()

    def _emit(self) -> None:
        self.status_changed.emit(self.status_text())

    # ----- predictions ---------------------------------------------------------------------------------------
    def _active(self, predictor=None) -> bool:
        # the window's predictor may be the model's wrapped in the folder's class map (engine.project)
        return self.enabled and self.adapter is not None and \
            (predictor is None or self.adapter.predictor is getattr(predictor, "inner", predictor))

    def head_for(self, token) -> HeadState | None:
        """The head a prediction of the image opened as ``token`` is made with: the current one for the open
        image or when it carries over, else the network's own (None: adaptation off or no model)."""
        if not self._active():
            return None
        if token is not None and token == self._token:
            return self.head
        return self.carried_head if self.carry else self.adapter.original

    def predict_fn(self, predictor, head: HeadState | None, image_id: str = ""):
        """fn(image, should_cancel, on_progress=None) -> (probs, Prepared or None), for a worker thread. With an
        adapted head the backbone's features are kept and the head makes the probabilities; with the network's
        own head (or adaptation off) it is Predictor.predict. Probabilities are float16 for large images
        (engine.crf.interactive.probs_dtype). The head is carried (gated, engine.models.folder_head) unless it was
        last fitted on image ``image_id`` (predicting that image again, revisited or restored after a crash, shows
        what its strokes showed)."""
        adapter = self.adapter
        carried = carried_to(head, image_id)
        if not self._active(predictor) or head is None or head.is_original:
            return lambda image, cancel, progress=None: (
                predictor.predict(image, should_cancel=cancel, on_progress=progress,
                                  **probs_dtype(*image.shape[:2], predictor.n_classes)), None)

        def run(image, cancel, progress=None):
            if progress is not None:
                progress("network", 0.0)
            features = adapter.predictor.extract_features(image, should_cancel=cancel)
            if progress is not None:
                progress("adapted head", 0.9)
            probs = adapter.probs(features, head, carried=carried,
                                  **probs_dtype(*image.shape[:2], adapter.n_classes))
            return probs, Prepared(features, head)
        return run

    def _head_of(self, extra) -> HeadState | None:
        return extra.head if extra is not None else (self.adapter.original if self.adapter else None)

    def is_stale(self, extra) -> bool:
        """A prefetched prediction made with another head than a new image would get now (it must be redone)."""
        return self._active() and self._head_of(extra) is not self.head_for(None)

    def redo_fn(self, extra: Prepared | None, image_id: str = ""):
        """fn() -> (probs, Prepared) of image ``image_id`` from cached features with the current head (no backbone
        run); None when the prediction kept no features."""
        if extra is None or extra.features is None or not self._active():
            return None
        adapter, head = self.adapter, self.head_for(None)
        kw, carried = probs_dtype(*extra.features.image_hw, adapter.n_classes), carried_to(head, image_id)
        return lambda: (adapter.probs(extra.features, head, carried=carried, **kw), Prepared(extra.features, head))

    def image_ready(self, st, extra: Prepared | None) -> None:
        """A prediction of the open image arrived (with its features when it went through the seam)."""
        if not self._active():
            if st.token != self._token:
                self._forget_image()
            return
        same = st.token == self._token
        if not same:
            if not self.carry:                # the carried head waits aside (set_carry)
                if self._parked is None:
                    self._parked = self.head
                self.head = self.adapter.original
            elif self._parked is not None:    # Carry on again: the next images get it back
                self.head, self._parked = self._parked, None
            self._anchor = anchor = self._head_of(extra)
            self._features, self._waiting, self._pending = None, None, None
            image_id = st.path.name
            self._opened = self._taught.get(image_id)
            taught_here = anchor is not None and image_id in anchor.images
            self._others = max(0, anchor.strokes - (self._opened[0] if taught_here else 0)) if anchor else 0
            locks, now = st.edits is not None and st.edits.has_locks, locks_now(st)
            # a revisited image whose locks the carried head learnt already: nothing to teach again
            self._teach_on_ready = locks and not (taught_here and self._opened[1] == now)
            # the head is fitted to the locks the image has now unless they are to be taught: an undo back to them
            # restores the head exactly (a walk: a saved stroke undone after a visit to another image stayed learnt)
            self._fit_key = b"" if self._teach_on_ready else now
        if extra is not None and extra.features is not None:
            self._features = extra.features
        self._token, self._image_id = st.token, st.path.name
        self._emit()

    def idle(self, st) -> None:
        """The open image is ready (its CRF finished): extract its features now, so the first stroke is quick;
        an image that came with locks (restored after a crash, or revisited) teaches the head what they say."""
        if not self._active() or st is None or st.token != self._token or self.lane.busy:
            return
        if self._features is None:
            self._extract(st, quiet=True)
        elif self._teach_on_ready:
            self._teach_on_ready = False
            self._learn(st, None, None)
        elif self._to_replay and self.carry:
            self._replay_next()

    def replay_saved(self, items) -> None:
        """The head came from the folder's file (a reopened folder): its saved images are replayed again, as in the
        session that taught it, each read and run through the network in the adapt lane while the open image is
        idle (a stroke's learning goes first). ``items``: (image id, read() -> (rgb, labels) or None), oldest
        first. Why: with nothing replayed, a walk's one 17-px stroke on a nucleus edge after reopening took the
        next images' stroma from IoU 0.99 to 0.04; with the six saved images replayed it stayed 0.99."""
        self._to_replay = list(items)

    def _replay_next(self) -> None:
        image_id, read = self._to_replay[0]
        job = replay_job(self.adapter, self.model_lock, self.memory, image_id, read)
        self.lane.submit(AdaptKey("replay", self._token), job)

    @property
    def _extracting(self) -> bool:
        key = self.lane.current_key
        return key is not None and key.kind == "features" and key.token == self._token

    def _extract(self, st, quiet: bool = False) -> None:
        """The image's features in the adapt lane (the network's forward pass: seconds at 12 MP). ``quiet`` when
        the image just got ready: the status bar keeps saying what its CRF said (a note, 'refined ahead')."""
        predictor, image, lock = self.adapter.predictor, st.image, self.model_lock

        def job(cancel, report):
            if not quiet:   # a stroke's learning waits for them
                report(0, 0, FEATURES_STATUS)
            with lock:
                features = predictor.extract_features(image, should_cancel=cancel)
            warm_up_optimizer()   # torch's one-time import for the first optimizer, before the first stroke needs it
            return features
        self.lane.submit(AdaptKey("features", st.token), job)

    def saved(self, st) -> None:
        """The open image was saved: with the head carried across images, its saved labels (every labelled pixel)
        become what the head replays for it while it learns on the next images. Computed on a thread of its own
        (the grid targets take a while at 12 MP; the adapt lane would cancel a stroke's fit)."""
        if not (self._active() and self.carry) or st is None or st.token != self._token or \
                self._features is None or st.labels is None:
            return
        image, memory = self._image_adaptation(), self.memory
        labels = st.labels.copy()
        threading.Thread(target=image.remember_saved, args=(labels, memory, memory.epoch),
                         name="adapt-saved-labels", daemon=True).start()   # dropped if Reset comes first

    # ----- edits ---------------------------------------------------------------------------------------------
    def on_replayed(self, edit, undone: bool) -> None:
        """Editor: an undo (undone=True) or redo is about to be reported as a finished edit."""
        self._replay = (edit, undone)

    def after_edit(self, st, kind: str) -> bool:
        """A hand edit finished with auto-refine on: take what to learn from it (the edit, or the undo/redo being
        replayed) now; the learning starts with start_learning, after the edit's own CRF answer (True: pending).
        A fit still running for earlier locks is superseded: the new one learns every lock."""
        replay, self._replay = self._replay, None
        edit = replay[0] if replay is not None else self.editor.last_edit()
        if edit is not None and not edit.teaches and kind in LEARNS_FROM:   # (void over unlocked pixels: nothing
            return False   # to learn, and a refit only moved the head; a pending step for earlier edits goes on)
        self._pending = None
        if not self._active() or st.token != self._token or kind not in LEARNS_FROM or st.edits is None:
            return False
        key = self.lane.current_key
        if key is not None and key.kind == "adapt":   # its result would ask for a CRF ahead of this edit's
            self.lane.cancel()
        self._pending = (st.token, edit, None) if replay is None else (st.token, None, self._restore(st, replay))
        return True

    def _restore(self, st, replay):
        """An undo or redo: when nothing was learnt since, the head its record pairs with that side of the stroke
        is the head now, not when its probabilities come (a second quick redo chains from it: a walk's two redos
        30 ms apart refitted from the head before both, and 37k of 77k pixels came out otherwise); when the
        stroke's own learning never ended (undone while it ran), the head as it is, fitted to these very locks.
        RESTORED then, else the replay, for _learn to fit again."""
        key = locks_key(*st.edits.snapshot())
        if not self._records.known(replay[0]):
            return RESTORED if key == self._fit_key else replay
        dst, moved = self._records.side(replay[0], replay[1], self.head, key)
        if dst is None:   # (moved: its other side goes, StrokeRecords.refitted)
            return replay[0], replay[1], moved
        self.head, self._fit_key = dst, key
        self._emit()
        return RESTORED

    def start_learning(self) -> None:
        """The pending edit's CRF answer is shown: learn from it now (the first stroke extracts the features
        first, unless they are on their way)."""
        pending, self._pending = self._pending, None
        st = self.image.state
        if pending is None or st is None or st.token != pending[0] or st.token != self._token \
                or not self._active() or st.edits is None:
            return
        if self._features is None:            # first stroke before the features are in: they come first
            self._waiting = pending
            if not self._extracting:
                self._extract(st)
            return
        self._learn(st, pending[1], pending[2])

    @property
    def preparing(self) -> str:
        """What the adapt lane does while nobody waits for it ('' when it is idle or a stroke waits for it): an idle
        image's features, a reopened folder's saved images. The status bar says it beside 'Ready', without the
        busy bar and Cancel (a walk read 'Ready' beside a moving bar for 1-1.6 s)."""
        key = self.lane.current_key
        if not self.lane.busy or key is None or self.learning:
            return ""
        return {"features": "reading this image's features for learning",
                "replay": "reading the folder's saved images for learning"}.get(key.kind, "")

    @property
    def learning(self) -> bool:
        """A learning step for the open image is due or running (its result will ask for the CRF again)."""
        st, key = self.image.state, self.lane.current_key
        if st is None or st.token != self._token:
            return False
        if self._pending is not None and self._pending[0] == st.token:
            return True
        return key is not None and key.token == st.token and \
            (key.kind == "adapt" or (key.kind == "features" and self._waiting is not None))

    def settle(self) -> bool:
        """Before a save: the learning due for the open image runs now (not after its edit's CRF answer) and is
        waited for with the event loop running, so the labels saved are the ones it leads to. A walk pressed Ctrl+S
        0.05 s after a stroke on a 12 MP photo: the save waited for an exact run, the learning came after it and
        changed 14.8 % of the saved labels, and the image went back to edited. True when nothing is left to learn
        (a learning step that failed or was cancelled leaves the labels as they are)."""
        if self._pending is not None:
            self.start_learning()
        wait_for(lambda: not self.learning, self.lane.failed)
        return not self.learning

    def _learn(self, st, edit, replay) -> None:
        if replay is RESTORED:   # (after_edit set the head, and the key of these locks): its probabilities
            self._submit_probs(st, self.head, record=None, fit_key=self._fit_key)
            return
        labels, locked = st.edits.snapshot()
        key = locks_key(labels, locked)
        # a new stroke, or the head moved on: fit the locks (a replay's refit then stands in its record)
        self._submit_fit(st, labels, locked, key, edit, None if replay is None else Refitted(*replay))

    def _image_adaptation(self) -> ImageAdaptation:
        return ImageAdaptation(self.adapter, self._features, self._image_id, anchor=self._anchor)

    def _submit_fit(self, st, labels, locked, key, edit, refitted: Refitted | None = None) -> None:
        image, before, memory = self._image_adaptation(), self.head, (self.memory if self.carry else None)
        old, box = st.raw_labels, (edit.box if edit is not None else None)
        count = self.strokes_in_effect(st)

        def job(cancel, report):
            report(0, 0, LEARN_STATUS)
            head, probs = image.learn(before, labels, locked, memory, should_cancel=cancel)
            pred = Prediction.from_probs(probs)  # here, not on the GUI thread (seconds at 12 MP)
            return head, pred, union(changed_box(old, pred.labels), box), count
        record = (edit, before, self._fit_key, key) if edit is not None else refitted
        self.lane.submit(AdaptKey("adapt", st.token, key, record), job)

    def _submit_probs(self, st, head: HeadState, record, fit_key) -> None:
        image, old = self._image_adaptation(), st.raw_labels
        labels, locked = st.edits.snapshot() if st.edits is not None else (None, None)
        memory = self.memory if self.carry else None
        count = self.strokes_in_effect(st)
        carried = carried_to(head, self._image_id)   # an undo back to the head the image was opened with: as shown

        def job(cancel, report):
            probs = image.probs(head, carried=carried)
            if labels is not None:
                image.remember(labels, locked, memory)
            pred = Prediction.from_probs(probs)
            return head, pred, changed_box(old, pred.labels), count
        self.lane.submit(AdaptKey("adapt", st.token, fit_key, record), job)

    def _counted(self, head: HeadState, count: int, fit_key: bytes) -> HeadState:
        """``head`` counting the strokes in effect: the other images' (as the anchor counted them) plus ``count``
        on the open image, which it has learnt with the locks ``fit_key``."""
        self._taught.set(self._image_id, count, fit_key or None)
        want = self._others + count
        # the images: those whose strokes stand (a walk undid every stroke of a revisited image and read "1 stroke
        # / 2 images")
        images = head.images | {self._image_id} if count else head.images - {self._image_id}
        if head.is_original or (head.strokes == want and head.images == images):
            return head
        return replace(head, strokes=want, images=frozenset(images))

    def _on_failed(self, key, _message: str) -> None:
        """Learning failed (the controller shows the message): the edit's CRF, asked for first, stands."""
        self._waiting = None

    def _on_done(self, key, result) -> None:
        st = self.image.state
        if st is None or st.token != key.token or key.token != self._token:
            return
        if key.kind == "replay":
            if self._to_replay and self._to_replay[0][0] == result:
                self._to_replay.pop(0)
            self.idle(st)   # the next one, while the image stays idle
            return
        if key.kind == "features":
            self._features = result
            waiting, self._waiting = self._waiting, None
            if waiting is not None and waiting[0] == st.token:
                self._teach_on_ready = False
                self._learn(st, waiting[1], waiting[2])
            elif self._teach_on_ready:
                self._teach_on_ready = False
                self._learn(st, None, None)
            else:
                self.idle(st)   # the saved images to replay, if any (the image was idle when this was asked for)
            return
        fit_key, record = key.fit_key, key.record
        head, pred, box, count = result
        if key.kind == "adapt":   # the count is the strokes in effect (a refit is no new stroke)
            head = self._counted(head, count, fit_key)
        if isinstance(record, Refitted):
            self._records.refitted(record, head, fit_key)
        elif record is not None:
            edit, before, key_before, key_after = record
            self._records.add(edit, before, head, key_before, key_after)
        self.head, self._fit_key = head, fit_key
        self._emit()
        self.adapted.emit(st.token, pred, box)   # the session shows it and refines around ``box``
