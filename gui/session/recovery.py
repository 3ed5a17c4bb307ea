"""Never lose work: autosave the current image's unsaved edits to the folder's recovery journal
(engine.folder.journal) a moment after each change, and bring them back after a crash.

The journal entry exists exactly while an image holds unsaved edits: it is written (debounced) when
the image is dirty, and discarded when it is saved, when the user discards the edits, or when it is
clean again. A write is a small compressed npz, done on the GUI thread. Disk problems are reported
once (the edits stay in memory) and retried on the next change.

Only the folder's writer (gui.session.folder_guard) reads or writes the journal. A damaged entry is moved aside by the
engine and announced with `damaged`. An entry is restored once the model's class count is known. Label values that
are no class of the folder (a class list made shorter since the autosave) are restored as they are, as a label PNG's
would be: the window shows them with their own checks, the CRF treats them as void, and Save asks what to do.
"""
from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QTimer, Signal

from engine.errors import LabelIOError
from engine.folder.journal import DamagedEntry, JournalEntry, RecoveryJournal, default_recovery_dir

AUTOSAVE_MS = 1000
log = logging.getLogger(__name__)


class Recovery(QObject):
    autosaved = Signal(str)     # image id
    emptied = Signal()          # the journal holds no entry any more (all saved or thrown away)
    error = Signal(str)
    damaged = Signal(list)      # engine.folder.journal.Quarantined records of entries moved aside

    def __init__(self, guard, image, folder, class_list, model_loading, parent: QObject | None = None):
        """``guard``: the folder's FolderGuard (only its writer journals); ``image``: the session's OpenImage;
        ``folder()``: the open Dataset or None; ``class_list()``: the folder's classes or None;
        ``model_loading()``: a model is on its way (its class count will come)."""
        super().__init__(parent)
        self.guard, self.image = guard, image
        self._folder, self._class_list, self._model_loading = folder, class_list, model_loading
        self.journal: RecoveryJournal | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(AUTOSAVE_MS)
        self._timer.timeout.connect(self.flush)
        self._failing = ""       # last error shown, so a failing disk is reported once, not every second
        self.recovered: set[int] = set()   # dataset indices whose edits come back when they are opened
        self.postponed: int | None = None  # index whose restore waits for the model (its class count)
        # a live window's autosaves found when this one took the folder over: its edits, not ours to drop
        self._foreign: set[str] = set()

    # ----- folder ---------------------------------------------------------------------------------
    def open(self, dataset, writer: bool = True) -> list[JournalEntry]:
        """Use the journal of ``dataset``; return its entries for images of this folder. A window that is not
        the folder's writer has no journal: it neither offers, autosaves nor discards entries."""
        self._timer.stop()
        self.recovered, self.postponed, self._foreign = set(), None, set()
        if not writer:
            self.journal = None
            return []
        self.journal = RecoveryJournal(default_recovery_dir(dataset.labels_dir))
        if not self.guard.took_live:  # we hold the folder lock and no other writer is alive
            try:
                self.journal.clean_temp_files(older_than_s=0)
            except OSError:
                pass
        pending = [e for e in self.journal.pending() if dataset.index_of_id(e.image_id) is not None]
        pending = self._drop_saved_over(dataset, pending)
        if self.guard.took_live:
            self._foreign = {e.image_id for e in pending}
        if self.journal.damaged:
            self.damaged.emit(list(self.journal.damaged))
        return pending

    def _drop_saved_over(self, dataset, pending: list[JournalEntry]) -> list[JournalEntry]:
        """Entries older than a save the folder's sweep just completed (a crash between the save's commit and its
        last rename): that save is the newer work, and the entry would have been discarded right after it. A walk
        killed the app there: the entry was offered with Restore first and put older labels over the saved file
        (92.7 % alike) and the model back a stroke. An entry autosaved after the commit (edits made since) stays."""
        sweep = self.guard.sweep
        if sweep is None or not sweep.committed:
            return pending
        kept = []
        for e in pending:
            entry = dataset.entries[dataset.index_of_id(e.image_id)]
            when = sweep.committed.get(entry.label_path.name)
            if when is not None and e.saved_at <= when:
                self._discard_id(e.image_id)
                log.info("%s: its autosave predates the save completed on opening; dropped", e.image_id)
            else:
                kept.append(e)
        return kept

    def accept(self, dataset, entries: list[JournalEntry]) -> None:
        """Restore these entries: each image gets its edits back when it is opened."""
        self.recovered = {dataset.index_of_id(e.image_id) for e in entries}

    def decline(self, entries: list[JournalEntry]) -> None:
        for e in entries:
            self._discard_id(e.image_id)

    def restore_postponed(self, state, image_id: str) -> bool:
        """The model is ready: restore the open image's entry if it waited for the class count."""
        return self.postponed == state.index and bool(self.restore_into(state, image_id))

    def restore_into(self, state, image_id: str) -> bool | None:
        """Put the journal's edits of ``image_id`` into a freshly opened ImageState. None: postponed until the
        model being loaded tells how many classes there are (call again then)."""
        class_list = self._class_list()
        if class_list is None and self._model_loading():
            self.postponed = state.index
            return None
        self.recovered.discard(state.index)
        self.postponed = None
        if self.journal is None:
            return False
        try:
            rec = self.journal.restore(image_id, expected_shape=state.shape)   # unknown values: Save asks
        except DamagedEntry as exc:
            self.damaged.emit(list(self.journal.damaged))
            self.error.emit(f"Could not restore unsaved edits: {exc}")
            return False
        except LabelIOError as exc:
            self.error.emit(f"Could not restore unsaved edits: {exc}")
            return False
        state.restore_edits(rec.labels, rec.locked, rec.meta.get("base", "model"))
        return True

    # ----- autosave -------------------------------------------------------------------------------
    def schedule(self) -> None:
        """Something changed: autosave in AUTOSAVE_MS unless something changes again first."""
        if self.journal is not None:
            self._timer.start()

    @property
    def pending_write(self) -> bool:
        return self._timer.isActive()

    def flush(self) -> None:
        """Write (or drop) the current image's entry now."""
        self._timer.stop()
        st, dataset = self.image.state, self._folder()
        if self.journal is None or st is None or dataset is None or st.edits is None:
            return
        if st.index in self.recovered or not self.guard.may_write():
            return  # its entry is still to be restored / another window took over the folder
        image_id = dataset.image_id(st.index)
        if not st.dirty:
            self._discard_id(image_id)
            return
        labels, locked = st.edits.snapshot()
        try:
            self.journal.save(image_id, labels, locked, {"base": st.base, "image": image_id})
            self._foreign.discard(image_id)   # (ours now: this window's edits of the image replaced them)
        except LabelIOError as exc:
            message = f"Autosave failed, your edits are only in memory: {exc}"
            if message != self._failing:
                self._failing = message
                self.error.emit(message)
            return
        self._failing = ""
        self.autosaved.emit(image_id)

    def discard(self, index: int) -> None:
        """Image ``index`` was saved or its edits were thrown away: its entry must go."""
        dataset, st = self._folder(), self.image.state
        if dataset is not None and self.journal is not None:
            if st is not None and st.index == index:
                self._timer.stop()
            self.recovered.discard(index)
            self._discard_id(dataset.image_id(index))

    def _discard_id(self, image_id: str) -> None:
        """Drop an entry of this window's (never a live window's that this one took the folder from: a walk found
        such edits gone half a second after the takeover, so a crash of that window lost them)."""
        if self.journal is None or not self.guard.may_write() or image_id in self._foreign:
            return
        try:
            self.journal.discard(image_id)
        except LabelIOError as exc:
            self.error.emit(str(exc))
            return
        if self.journal.is_empty():
            self.emptied.emit()
