"""The annotation session: opens folders and images, runs the network, saves, and composes the services that own
the rest (docs/design/architecture.md, "The session").

Widget-free, so the flow can be driven and tested without a window. Every request is keyed by the image token and
the generation of its inputs; a result is applied only if its key still matches the current state, otherwise it
is dropped (see gui.session.lanes.Lane). The services, each handed only what it uses and answering with signals:
``image`` (the open image), ``editor`` (hand edits and their undo), ``crf`` (CRF requests and settings), ``edits``
(the reaction to an edit), ``classes`` (the folder's classes against the model's), ``loader`` (the model),
``ordering`` (display order and scores), ``adapt`` (the head learns from strokes), ``recovery`` (autosave and
crash recovery), ``guard`` (one writer per folder), ``prefetch`` (the next images, ahead of the user) and
``predictions`` (the network's probabilities for the open image).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoGroup

from engine.annotate.state import ImageState
from engine.batch.report import read_scores
from engine.errors import EngineError
from engine.folder.dataset import Dataset, Status
from engine.folder.opening import file_stamp, image_stamp, next_readable, read_for_opening
from engine.models.device import describe
from engine.predict import transparent_mask
from gui.session.adaptation import Adaptation
from gui.session.classes import Classes
from gui.session.crf_requests import CRFRequests
from gui.session.editor import Editor
from gui.session.folder_guard import FolderGuard
from gui.session.folder_probe import FolderProbe
from gui.session.hand_edits import HandEdits
from gui.session.history import ImageHistory
from gui.session.keys import ImageKey
from gui.session.lanes import Lane
from gui.session.learnt_head import LearntHead
from gui.session.model_loader import ModelLoader
from gui.session.open_image import OpenImage
from gui.session.ordering import Ordering
from gui.session.predictions import Predictions
from gui.session.prefetch import Prefetcher
from gui.session.recovery import Recovery
from gui.session.relay import relay as _relay
from gui.session.saving import Saving

IMAGE_LANES = ("model", "image", "predict", "crf", "preview", "adapt")   # the open image's work


class AnnotatorController(QObject):
    folder_opened = Signal()
    image_opened = Signal()            # a new ImageState (None if the file could not be read): views reset
    pixels_changed = Signal()          # the open image was read again (another band choice or scaling)
    results_changed = Signal()         # probabilities / CRF / labels of the current image changed
    preview_changed = Signal()         # a running CRF's label preview of the current image changed
    window_refined = Signal(object)    # local CRF windows [(x0, y0, x1, y1), ...] of the current image changed
    status_changed = Signal(int, str)  # dataset index, Status value
    model_changed = Signal()           # model or class list changed
    device_changed = Signal(str)       # human-readable device in use
    activity = Signal(str)             # what is running / last outcome, for the status bar
    progress = Signal(int, int, str)   # done, total (0 = unknown), text
    busy_changed = Signal(bool)
    error = Signal(str)
    save_failed = Signal(str)          # a save hit the disk (read-only, full): the edits stay in memory
    score_changed = Signal(int, float)  # dataset index, mean uncertainty of its prediction
    order_changed = Signal()           # the display/navigation order of the folder changed
    project_settings_applied = Signal(object, str)  # the folder's CRF values and backend were taken
    params_reverted = Signal(object)   # Esc: the CRF settings went back to those of the labels shown (CRFParams)
    waiting = Signal(str)              # a save waits for the exact CRF (text; '' when done)
    save_ended = Signal()              # a save (done or not) returned: navigation held during it may go on
    saved = Signal()                   # a save wrote the open image's labels

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.dataset: Dataset | None = None
        self.model_gen = 0
        self.index = -1                      # image shown or being opened
        self._skipped: list[int] | None = None   # while a folder opens: the images refused so far (else None)
        self.ask_restore = lambda entries: True  # the window asks the user; headless: restore
        self.wait_on_shutdown = True  # False when the process ends right after (gui.app): no stage need be waited for
        history = ImageHistory(QUndoGroup(self))   # one store of per-image undo history, with one cap
        self.image = OpenImage(history)             # the one owner of the open image
        self.editor = Editor(history, lambda: self.classes.class_list, self)
        self.editor.activity.connect(self.activity)
        self.ordering = Ordering(self)
        _relay(self.ordering, self, "score_changed", "order_changed")
        self.prefetch = Prefetcher(self, parent=self)
        self.prefetch.scored.connect(self.ordering.set_score)
        _relay(self.prefetch, self, "activity", "progress")   # a prediction begun ahead that the open image awaits
        self.guard = FolderGuard(self)                 # one writer per folder (engine.folder.lock)
        self.guard.message.connect(self.activity)
        self.recovery = Recovery(self.guard, self.image, lambda: self.dataset, lambda: self.classes.class_list,
                                 lambda: self.lanes["model"].busy, self)   # the recovery journal's autosaves
        self.recovery.error.connect(self.error)
        self.lanes = {name: Lane(name, self) for name in IMAGE_LANES}   # (dialogs add theirs: train, tune-crf)
        self.loader = ModelLoader(self.lanes["model"], self)   # checkpoint, device, pipeline
        self.loader.ready.connect(self._on_model_ready)
        _relay(self.loader, self, "device_changed", "activity", "error")
        self.adapt = Adaptation(self.image, self.lanes["adapt"], self.loader.lock, self.editor,
                                lambda: self.classes.channel_map, parent=self)   # the head learns from strokes
        self.adapt.predict_requested.connect(self.request_predict)
        self.editor.replaying.connect(self.adapt.on_replayed)
        for lane in self.lanes.values():
            lane.busy_changed.connect(self._on_busy)
            lane.failed.connect(self._on_failed)
            lane.progress.connect(lambda _k, d, t, s: self.progress.emit(d, t, s))
        self.lanes["image"].finished.connect(self._on_image_loaded)
        self.lanes["image"].failed.connect(self._on_image_failed)
        self.prefetch.unreadable.connect(self._mark_unreadable)
        self.crf = CRFRequests(self.image, self.lanes["crf"], self.lanes["preview"], self)
        _relay(self.crf, self, "results_changed", "preview_changed", "window_refined", "params_reverted", "activity",
               "waiting", "error")
        self.crf.labels_changed.connect(self.sync_status)
        self.crf.settled.connect(self.prefetch.schedule)
        self.crf.exact_ready.connect(self.adapt.idle)
        self.edits = HandEdits(self.image, self.editor, self.crf, self.adapt, self.sync_status, self)
        self.edits.results_changed.connect(self.results_changed)
        self.classes = Classes(lambda: self.dataset, lambda: self.loader.loaded, self.image, self.crf,
                               self.lanes["model"], self.edits, self,
                               read_only=lambda: self.guard.read_only)
        _relay(self.classes, self, "model_changed", "error", "activity", "project_settings_applied")
        self.classes.load_requested.connect(self.loader.load)
        self.loader.loading.connect(self.classes.expect_model)
        self.classes.channels_changed.connect(self._on_channels_changed)
        self.learnt = LearntHead(self.loader, self.adapt, self.classes, self.guard, lambda: self.dataset,
                                 self)   # what the head learnt: kept in the folder, exported
        _relay(self.learnt, self, "activity", "error")
        self.classes.edited.connect(self.learnt.classes_edited)   # the folder's head file follows the class list
        self.predictions = Predictions(self.image, self.classes, self.lanes, self.crf, self.adapt, self.loader.lock,
                                       self.prefetch, self.ordering, lambda: self.model_gen, self.sync_status, self)
        _relay(self.predictions, self, "activity", "error", "results_changed")
        self.prefetch.done.connect(self.predictions.on_prefetched)
        self.adapt.adapted.connect(self.predictions.on_adapted)
        self.adapt.adapted.connect(lambda *_: self.recovery.schedule())   # the head changed: journal it too
        self.recovery.autosaved.connect(lambda _image_id: self.learnt.journal())
        self.recovery.emptied.connect(self.learnt.drop_journal)
        self.classes.predict_again.connect(self._on_predict_again)
        self.saver = Saving(self.image, lambda: self.dataset, self.classes, self.guard, self.adapt, self.crf,
                            self.loader, self.recovery, self.learnt, self.sync_status, self)
        _relay(self.saver, self, "error", "save_failed", "saved", "activity", "waiting")
        self.saver.ended.connect(self.save_ended)
        self.probe = FolderProbe(lambda: self.dataset, self)
        self.probe.unreadable.connect(self._mark_unreadable)

    # ----- folder and images ---------------------------------------------------------------------
    def open_folder(self, folder: str | Path, start_name: str | None = None) -> bool:
        """Open a folder of images at the image named ``start_name`` if it is there, else the first (caller has
        dealt with unsaved work). False on error."""
        try:
            dataset = Dataset(folder)
        except EngineError as exc:
            self.error.emit(str(exc))
            return False
        self.leave_folder()
        if not self.guard.open(dataset):   # another window holds it and the user cancelled
            return False
        for name in ("image", "predict", "crf", "preview", "adapt"):
            self.lanes[name].cancel()
        self.crf.forget()
        self.adapt.reset(predict=False)   # another folder: nothing learnt here yet
        self.prefetch.clear()
        self.image.close_folder()
        self.editor.bind(None)          # nothing to edit until an image of the new folder is read
        self.dataset, self.index = dataset, -1
        self.ordering.reset(len(dataset))
        pending = self.recovery.open(dataset, writer=not self.guard.read_only)
        if not self.guard.may_restore:
            pending = []                   # a live window's autosaves: not a crash to recover from
        self.learnt.from_journal = False
        if pending and self.ask_restore(pending):
            self.recovery.accept(dataset, pending)
            self.learnt.from_journal = True   # the head those edits were shown with comes back with them
            for i in self.recovery.recovered:
                dataset.set_status(i, Status.EDITED)
        elif pending:
            self.recovery.decline(pending)
        self.classes.bind_folder()
        self.adapt.classes_changed()       # the head predicts this folder's classes
        self.learnt.restore()
        self.folder_opened.emit()
        self.probe.start()                 # files that cannot be images: marked before they are opened
        for i, score in read_scores(dataset).items():  # a pre-labelling run's labels/prelabel.csv
            self.ordering.set_score(i, score)
        self.ordering.scores_read()
        if len(dataset) == 0:
            self.activity.emit(f"No images in {dataset.folder}")
            return True
        start = dataset.index_of_id(start_name) if start_name else None
        ok = self.open_index(start if start is not None else 0)
        if start is None:   # set after open_index, which clears it: until one opens, go past refusals; an image
            self._skipped = []   # named (a file dropped or given) says why and stays (a walk was moved on from it)
        return ok

    def open_index(self, index: int) -> bool:
        """Load image ``index`` in the background, then predict it (caller has dealt with unsaved work).
        Until it arrives ``state`` is None and ``index`` already names the new image."""
        if self.dataset is None or not 0 <= index < len(self.dataset):
            return False
        self._skipped = None         # an image the user chose: if it cannot be read, it says why and stays
        for name in ("image", "predict", "crf", "preview", "adapt"):
            self.lanes[name].cancel()
        self.crf.forget()
        self.prefetch.cancel(keep=index)   # if image ``index`` is being prefetched, its result is awaited
        st = self.state                    # leaving it: its history stays if its labels are on disk
        self.image.leave(keep_history=st is not None and st.status in (Status.SAVED, Status.PRELABELLED))
        dataset, entry, token = self.dataset, self.dataset[index], self.image.new_token()
        background = self.loader.alpha_background()
        cached = self.prefetch.take(index)
        self.index = index
        self.editor.bind(None)
        self.activity.emit(f"Opening {entry.path.name}…")

        def job(cancel, report):
            return read_for_opening(dataset, index, background, cached), cached
        self.lanes["image"].submit(ImageKey("image", token, index), job)
        return True

    def set_image_settings(self, scaling) -> bool:
        """Image > Bands and scaling: the folder's band choice and scaling (an engine.io.scaling.ImageScaling, None
        for the default). Written to labels/project.json when this window may write the folder (else kept for
        this session), then the open image is read again with it and predicted again; prefetched images go."""
        dataset = self.dataset
        if dataset is None:
            return False
        message, failed = dataset.apply_image_settings(scaling, self.classes.class_list, self.guard.refusal() or "")
        (self.error if failed else self.activity).emit(message)
        self.model_gen += 1                  # predictions from the old pixels (prefetched ones too) are stale
        self.prefetch.clear()
        self.reread_image()
        return True

    def reread_image(self) -> None:
        """Read the open image again (the folder's band choice or scaling changed), off the GUI thread; its labels,
        locks and undo history stay. An image that could not be read is opened again from the start."""
        st, dataset = self.state, self.dataset
        if dataset is None or not 0 <= self.index < len(dataset):
            return
        if st is None or st.index != self.index:
            self.open_index(self.index)
            return
        for name in ("image", "predict", "crf", "preview", "adapt"):
            self.lanes[name].cancel()
        self.crf.forget()
        index, token, background = st.index, self.image.new_token(), self.loader.alpha_background()
        self.activity.emit(f"Reading {st.path.name} again…")
        self.lanes["image"].submit(ImageKey("reread", token, index),
                                   lambda cancel, report: dataset.read_image(index, background, with_alpha=True))

    def _on_pixels_read(self, key, result) -> None:
        st = self.state
        if st is None or st.index != key.index or self.index != key.index:
            return
        image, alpha = result
        if image.shape[:2] != st.shape:      # the file itself changed on disk: open it as a new image
            self.open_index(key.index)
            return
        st.take_pixels(image, key.token, transparent_mask(alpha))
        st.image_stamp = image_stamp(st.path)   # (the same file read again: its pixels are the file's now)
        self.pixels_changed.emit()
        self.request_predict()

    def _on_image_loaded(self, key, result) -> None:
        if key.kind == "reread":
            self._on_pixels_read(key, result)
            return
        token, index = key.token, key.index
        if self.dataset is None or index != self.index:
            return
        opened, cached = result
        state = ImageState(index=index, path=self.dataset[index].path, image=opened.image, token=token,
                           void_mask=transparent_mask(opened.alpha), label_file_unusable=bool(opened.problem),
                           label_stamp=opened.label_stamp, image_stamp=opened.image_stamp)
        if opened.saved is not None:
            state.set_saved_labels(opened.saved, machine=opened.machine, hand=opened.hand)
            kept = self.image.kept_labels(state)
            if kept is not None and np.array_equal(kept.labels, opened.saved):
                state.edits = kept               # same labels as on disk: bring back locks and undo history
        if index in self.recovery.recovered:
            self.recovery.restore_into(state, self.dataset.image_id(index))
        self.image.show(state)
        self.editor.bind(state)
        self.image_opened.emit()
        skipped, self._skipped = self._skipped, None
        if skipped:
            names = ", ".join(self.dataset[i].path.name for i in skipped[:3]) + (" …" if len(skipped) > 3 else "")
            its = "its tooltip says" if len(skipped) == 1 else "their tooltips say"
            self.error.emit(f"Opened {state.path.name}: {names} cannot be opened (marked in the list; {its} why)")
        if opened.problem:
            self.error.emit(opened.problem)
        self.classes.report_unknown(state)
        self.sync_status()
        cached = cached or self.prefetch.take(index)
        if cached is not None and self.classes.predictor is not None:
            self.predictions.use_prefetched(state, cached)        # prefetched: no waiting
        elif self.prefetch.inflight != index:
            self.request_predict()                                # else _on_prefetched takes it

    def _on_image_failed(self, key, message: str) -> None:
        """The file could not be read: nothing is shown (state stays None) and the list says why. Read again with
        other bands or scaling, the image shown stays, with its edits (``_on_failed`` shows the message)."""
        index = key.index
        if key.kind == "reread":
            return
        self.image_opened.emit()
        if self.dataset is not None and index == self.index:
            self._mark_unreadable(index, message)
            if self._skipped is not None:   # the folder is opening: go on to the next image that may open
                self._open_next_readable(index, self._skipped + [index])

    def _open_next_readable(self, refused: int, skipped: list[int]) -> None:
        """After ``refused`` failed while a folder opened: open the next image in display order (wrapping
        around) not known to be unreadable; the refused ones stay listed, marked with their reason."""
        order = self.ordering.order or list(range(len(self.dataset)))
        i = next_readable(order, refused, skipped, lambda i: self.dataset.status(i) == Status.ERROR)
        if i is not None:
            self.open_index(i)
            self._skipped = skipped
            return
        self.error.emit(f"No image in {self.dataset.folder} can be opened: the list says why for each")

    def _mark_unreadable(self, index: int, message: str) -> None:
        if self.dataset is not None and 0 <= index < len(self.dataset):
            self.dataset.mark_unreadable(index, message)
            self.status_changed.emit(index, Status.ERROR.value)

    def save(self) -> bool:
        """Write the current labels, the folder's class list and the learnt head, all or nothing (gui.session.saving).
        False (and an error) if not possible."""
        return self.saver.save()

    @property
    def saving(self) -> bool:
        """A save is under way (it may be waiting for the learning or the exact CRF, with the event loop running)."""
        return self.saver.running > 0

    def _on_channels_changed(self) -> None:
        """The channel map changed: predictions made with the old one (prefetched ones too) are stale."""
        self.model_gen += 1
        self.prefetch.clear()
        self.adapt.classes_changed()

    def _on_predict_again(self) -> None:
        self.results_changed.emit()
        self.request_predict()

    def _on_model_ready(self, changed: bool, switched: bool, predictor) -> None:
        """The loader has a model (another checkpoint, the same on another device, or another pipeline)."""
        loaded, is_new_model = self.loader.loaded, changed and not switched   # a pipeline switch keeps the classes
        if changed:
            if self.model_gen:   # another model: the scores were the old one's (the first keeps prelabel.csv's)
                self.ordering.forget_scores()
            self.prefetch.clear()
        if is_new_model:
            self.classes.model_classes = loaded.spec.class_list()
            if self.state is not None:   # saved labels stay as saved: the new model's result is one Ctrl+R away
                self.state.keep_saved()
        self.classes.bind_model(predictor, is_new_model)   # folder classes vs the model's; sets its predictor
        self._restore_postponed()          # a journal entry waiting for the class count
        self.model_gen += 1
        # another pipeline gives the network other features: the adapted head starts again (the locks re-teach it)
        self.adapt.bind_predictor(predictor, is_new_model or switched)
        if is_new_model:
            self.learnt.restore()
        self.device_changed.emit(describe(predictor.device))
        self.model_changed.emit()
        self.activity.emit(f"Model {loaded.spec.name or Path(loaded.path).name} ({loaded.spec.pipeline} pipeline) "
                           f"on {describe(predictor.device)}")
        if is_new_model:
            self.learnt.hint_if_untaught_backbone()
        self.request_predict()

    def request_predict(self) -> None:
        """Predict the open image again (F5; a new model, pixels or class map): gui.session.predictions."""
        self.predictions.request()

    # ----- misc ----------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return any(lane.busy for lane in self.lanes.values())

    @property
    def preparing(self) -> str:
        """The adapt lane's preparation when it is all that runs (Adaptation.preparing), else ''."""
        if any(lane.busy for name, lane in self.lanes.items() if name != "adapt"):
            return ""
        return self.adapt.preparing

    @property
    def image_busy(self) -> bool:
        """The open image's own work runs (not a dialog's search or training): what a prefetch job that is already
        running waits for. (A CRF search on the same image waits for that job's iteration history: a job waiting
        for the search in turn never ended.)"""
        return any(self.lanes[name].busy for name in IMAGE_LANES)

    def wait_idle(self, msecs: int = 30000) -> bool:
        return all(lane.wait(msecs) for lane in self.lanes.values()) and self.prefetch.wait(msecs)

    def cancel(self) -> None:
        """Esc: stop prediction, learning and the CRF for now (a new request starts them again); the CRF panel
        returns to the settings of the labels shown (CRFRequests.stop)."""
        busy = self.busy
        self.lanes["predict"].cancel()
        self.adapt.stop()
        reverted = self.crf.stop()
        if busy or reverted:
            self.activity.emit("Cancelled" + ("; the CRF settings are back to those of the labels shown"
                                              if reverted else ""))

    def leave_folder(self) -> None:
        """Before another folder opens or the window closes: CRF values moved in this folder stay with it."""
        if self.dataset is not None:
            self.classes.keep_crf(self.guard.may_write)

    def shutdown(self) -> None:
        self.leave_folder()
        self.crf.halt()
        self.prefetch.cancel()
        self.probe.lane.cancel()
        for lane in self.lanes.values():
            lane.cancel()
        if self.wait_on_shutdown:
            self.wait_idle(5000)
        self.crf.close()
        self.guard.release()

    @property
    def state(self) -> ImageState | None:
        """The open image's ImageState (owned by ``image``, gui.session.open_image.OpenImage)."""
        return self.image.state

    def discard_edits(self) -> None:
        """The user threw away the current image's unsaved edits: forget them, on disk too."""
        st = self.state
        if st is not None:
            self.adapt.discard(st)          # what the discarded strokes taught goes with them
            self.recovery.discard(st.index)
            if self.dataset is not None:   # the list must not keep saying "edited" for work that no longer exists
                status = self.dataset.status_on_disk(st.index, predicted=st.probs is not None)
                self.dataset.set_status(st.index, status)
                self.status_changed.emit(st.index, status.value)

    def take_prelabelled(self, index: int, score: float | None, labels) -> None:
        """A pre-labelling run wrote image ``index``'s labels (File > Pre-label folder): its score and status; the
        open image, if it has no hand work, shows the file just written, as a reopened one would."""
        if self.dataset is None:
            return
        if score is not None:
            self.ordering.set_score(index, score)
        st = self.state
        if index != self.index:
            self.dataset.set_status(index, Status.PRELABELLED)
            self.status_changed.emit(index, Status.PRELABELLED.value)
        elif st is not None and st.index == index and labels is not None and labels.shape == st.shape \
                and st.status in (Status.NEW, Status.PREDICTED, Status.PRELABELLED):   # (a pre-label: replaced)
            st.set_saved_labels(labels, machine=True)
            st.label_stamp = file_stamp(self.dataset[index].label_path)   # the file it shows now (saving.py)
            self.sync_status()
            self.results_changed.emit()

    def take_over_folder(self) -> bool:
        """File > Take over folder: this read-only window becomes the writer (the other one stops saving).
        The journal's entries are not offered: they are the other window's autosaves."""
        if self.dataset is None or not self.guard.take_over():
            return False
        self.recovery.open(self.dataset)
        self.recovery.schedule()
        return True

    def _restore_postponed(self) -> None:
        """The model is ready: restore the entry of the open image that waited for its class count."""
        st = self.state
        if st is None or self.dataset is None:
            return
        if self.recovery.restore_postponed(st, self.dataset.image_id(st.index)):
            self.editor.bind(st)
            self.results_changed.emit()
            self.classes.report_unknown(st)
        self.sync_status()

    def _on_busy(self, _busy: bool) -> None:
        self.busy_changed.emit(self.busy)

    def _on_failed(self, key, message: str) -> None:
        if isinstance(key, tuple) and key and key[0] in ("crf", "local"):
            self.crf.drop_preview()
        if isinstance(key, tuple) and key and key[0] in ("model", "device"):
            self._restore_postponed()      # no class count is coming: restore what waited without it
        self.error.emit(message)

    def sync_status(self) -> ImageState | None:
        """Push the current image's derived status to the dataset and views; autosave follows it."""
        st = self.state
        if st is None or self.dataset is None:
            return None
        status = st.status
        self.dataset.set_status(st.index, status)
        self.status_changed.emit(st.index, status.value)
        self.recovery.schedule()
        return st
