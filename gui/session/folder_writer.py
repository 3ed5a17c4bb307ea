"""Methods of AnnotatorController about being the folder's one writer and about the recovery journal's timing:
refusing writes in a read-only window, taking a folder over, and restoring a journal entry that had to wait for
the model (see gui.session.folder_guard and gui.session.recovery)."""
from __future__ import annotations


class FolderWriterMixin:
    def _refuse_write(self) -> bool:
        """True (and the user told why) if this window may not write the folder now."""
        if self.guard.may_write():
            return False
        message = self.guard.why_not()
        self.error.emit(message)
        self.save_failed.emit(message)
        return True

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
        if st is None or self.dataset is None or self.recovery.postponed != st.index:
            return
        if self.recovery.restore_into(st, self.dataset.image_id(st.index)):
            self.editor.bind(st)
            self.results_changed.emit()
        self._sync_status()
