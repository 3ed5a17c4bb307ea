"""Saving the open image: its labels, the folder's class list and what the head learnt, all or nothing.

A service of the session (gui.session.controller). A save first lets the learning a stroke started finish and the
exact CRF for the settings shown run (a preview or a local window is never saved); both wait with the event loop
running, so ``running`` says a save is under way (the window holds navigation until ``ended``). It answers with
``error``, ``save_failed`` (a box: the disk refused), ``activity`` and ``waiting`` (what it waits for; '' when done).
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from engine.errors import EngineError
from engine.folder.opening import file_stamp, image_stamp

LEARN_BEFORE_SAVE = "Learning from the last correction before saving…"
KEEP_THEIRS_ASIDE, CANCEL = "keep aside", "cancel"   # answers to ask_changed


class Saving(QObject):
    error = Signal(str)
    save_failed = Signal(str)   # a save hit the disk (read-only, full): the edits stay in memory
    activity = Signal(str)
    waiting = Signal(str)       # a save waits for the learning or the exact CRF (text; '' when done)
    ended = Signal()            # a save (done or not) returned: navigation held during it may go on
    saved = Signal()            # a save wrote the open image's labels (an error it resolves need not stay shown)

    def __init__(self, image, dataset_fn, classes, guard, adapt, crf, loader, recovery, learnt, sync_status,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.image, self._dataset, self.classes, self.guard = image, dataset_fn, classes, guard
        self.adapt, self.crf, self.loader, self.recovery, self.learnt = adapt, crf, loader, recovery, learnt
        self._sync_status = sync_status
        self.running = 0   # saves under way (one waiting may see another start: an autosave on leaving)
        # The label file changed on disk since the open image's labels were read (another window saved it after a
        # take-over, another program): ask_changed(path) says KEEP_THEIRS_ASIDE (save, that file renamed
        # <name>.replaced) or CANCEL. Widget-free: the window sets it to a question (gui.dialogs.prompts); headless,
        # nothing is ever written over unasked.
        self.ask_changed = lambda path: KEEP_THEIRS_ASIDE
        # The image file changed on disk since its pixels were read (another program replaced it): the labels were
        # drawn on the image as it was. ask_image_changed(path) -> True saves them anyway (headless: it does).
        self.ask_image_changed = lambda path: True

    def save(self) -> bool:
        """Write the open image's labels (atomic) with the folder's class list and the head. False (and an error)
        if not possible."""
        self.running += 1
        try:
            return self._save()
        finally:
            self.running -= 1
            if not self.running:
                self.ended.emit()

    def _save(self) -> bool:
        st, dataset = self.image.state, self._dataset()
        if st is None or st.labels is None or dataset is None:
            self.error.emit("Nothing to save yet: no labels for this image.")
            return False
        if self.classes.class_list is None:
            self.error.emit("Load a model or pick a class list before saving.")
            return False
        if self._refuse_write():           # read-only, or another window took the folder over
            return False
        if not self._learnt_before_saving(st):
            return False
        if not self.crf.ensure_exact():  # a preview or a local window is never saved: the exact result is
            self.error.emit("Not saved: the exact CRF result for the settings shown did not finish "
                            "(cancelled or failed). Save again to retry.")
            return False
        if self.image.state is not st:     # (the event loop ran while the exact CRF finished)
            self.error.emit("Not saved: another image was opened while the exact CRF was computed.")
            return False
        entry = dataset[st.index]
        keep_unknown = self.classes.resolve_unknown()   # label values that are not classes: the user decides
        if keep_unknown is None:
            return False
        if not self._image_as_read(st):
            return False
        keep_aside = self._keep_aside(st, entry.label_path)
        if keep_aside is None:
            return False
        try:
            self.classes.record_settings()
            record = st.provenance(self.loader.loaded, self.crf.backend_name, entry.label_path)
            path = dataset.save(st.index, st.labels, self.classes.class_list, provenance=record,
                                keep_unknown=keep_unknown, keep_aside=keep_aside,
                                also=self.learnt.staging())   # the head, committed with the labels
        except EngineError as exc:
            self.error.emit(str(exc))
            self.save_failed.emit(str(exc))
            self._sync_status()
            return False
        st.mark_saved()
        st.label_stamp = file_stamp(path)   # this window's own file from now on
        self.adapt.saved(st)               # carried adaptation replays the saved labels from now on
        self._sync_status()
        self.recovery.discard(st.index)
        path = Path(path)   # the file first, its folder last: a short bar cuts the folder, never the name
        self.saved.emit()
        self.activity.emit(f"Saved {path.parent.name}/{path.name} (in {path.parent.parent})")
        self.classes.report_kept_aside()   # after "Saved": a replaced class_names.txt must not go unnoticed
        if moved := dataset.pop_kept_aside():   # a label file that could not be used, renamed
            self.error.emit(moved)
        return True

    def _image_as_read(self, st) -> bool:
        """The image file is the one the labels were drawn on, or the user saves anyway (a walk replaced a 320x240
        image by a 500x360 one while it was open, and the save wrote the old size's labels without a word)."""
        now = image_stamp(st.path)
        if now is None or st.image_stamp is None or now == st.image_stamp or self.ask_image_changed(st.path):
            return True
        self.error.emit(f"Not saved: {st.path.name} changed on disk after it was opened; your edits are still in "
                        "memory (open the image again to label the new file).")
        return False

    def _keep_aside(self, st, label_path: Path) -> bool | None:
        """Whether the save keeps the label file there aside (<name>.replaced) instead of writing over it: one that
        could not be used, or one that changed on disk since it was read and the user keeps (None: the user
        cancelled). A walk: a window took its folder back after another had taken it over and saved, and its save
        wrote over the other window's newer labels without a word."""
        if st.label_file_unusable:
            return True
        if file_stamp(label_path) == st.label_stamp:
            return False
        if self.ask_changed(label_path) == KEEP_THEIRS_ASIDE:
            return True
        self.error.emit(f"Not saved: {label_path.name} changed on disk after this window read it, and it was left "
                        "as it is; your edits are still in memory.")
        return None

    def _learnt_before_saving(self, st) -> bool:
        """The learning a stroke started is part of what the stroke shows: a save waits for it (Adaptation.settle)."""
        if not self.adapt.learning:
            return True
        self.waiting.emit(LEARN_BEFORE_SAVE)
        try:
            learnt = self.adapt.settle()
        finally:
            self.waiting.emit("")
        if not learnt or self.image.state is not st:
            self.error.emit("Not saved: the learning from the last correction did not finish (another image was "
                            "opened meanwhile). Save again to retry.")
            return False
        return True

    def _refuse_write(self) -> bool:
        """True (and the user told why) if this window may not write the folder now."""
        was_read_only, message = self.guard.read_only, self.guard.refusal()
        if message:
            self.error.emit(message)
        if message and was_read_only:   # (a window that has just lost the folder was told so by the guard's box)
            self.save_failed.emit(message)
        return bool(message)
