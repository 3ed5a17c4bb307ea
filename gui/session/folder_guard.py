"""One writer per folder, for the controller: takes the folder's lock (engine.folder.lock) when a folder opens,
asks when another window holds it, sweeps what interrupted saves left once it is the writer, and says no to
every write once another window has taken over. Widget-free: the question itself is `ask` (the window sets it
to gui.menus.folder_lock.ask_lock_choice)."""
from __future__ import annotations

import logging
import os

from PySide6.QtCore import QObject, Signal

from engine.folder.lock import FolderLock, LockInfo, Outcome, read_lock
from engine.io.transaction import sweep_temp_files
from engine.learn.head_store import head_folders

READ_ONLY, TAKE_OVER, CANCEL = "read-only", "take-over", "cancel"
log = logging.getLogger(__name__)


class FolderGuard(QObject):
    message = Signal(str)        # for the status bar
    lost = Signal(str)           # another window took over: this one is read-only now
    mode_changed = Signal(bool)  # read_only
    problem = Signal(str)        # an interrupted save could not be completed as the folder opened: a box says so

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.lock: FolderLock | None = None
        self.labels_dir = None
        self.read_only = False
        self.took_live = False       # took over from a live window: its journal entries are its live autosaves
        self.force_read_only = False  # `main.py FOLDER --read-only`
        self.holder: LockInfo | None = None
        self.sweep = None             # the labels folder's start-up sweep (engine.io.transaction.SweepReport)
        self.gone = False             # the labels folder went away while open (deleted, moved): why it is read-only
        self.ask = lambda holder, folder: READ_ONLY  # headless default: never take another window's folder

    @property
    def may_restore(self) -> bool:
        """May this window offer the journal's entries as a crash restore? Only as the writer, and not when
        they belong to a window that is still running."""
        return not self.read_only and not self.took_live

    def open(self, dataset) -> bool:
        """Lock the folder of ``dataset``. False if the user cancelled (the previous folder stays locked)."""
        if self.lock is not None and self.labels_dir == dataset.labels_dir:
            self.release()  # the same folder again: our own lock must not count as another window's
        lock, read_only, took_live = FolderLock(dataset.labels_dir), False, False
        outcome = Outcome.UNAVAILABLE if self.force_read_only else lock.acquire()
        note = ""
        if self.force_read_only:
            read_only, note = True, "Opened read-only (--read-only): nothing is saved or autosaved"
        elif outcome == Outcome.HELD:
            holder = lock.holder
            who = holder.describe() if holder is not None else "another window"
            log.warning("%s is held by %s: asking whether to open it read-only or take it over", dataset.folder, who)
            choice = self.ask(holder, dataset.folder)
            log.info("%s: %s", dataset.folder, choice)
            if choice == CANCEL:
                return False
            if choice == TAKE_OVER:
                try:
                    lock.take_over()
                    took_live = True
                    note = f"Took over {dataset.folder} from {who}; that window can no longer save"
                except OSError as exc:
                    read_only, note = True, f"Could not take over the folder ({exc.strerror or exc}): read-only"
            else:
                read_only, note = True, f"Read-only: {who} is working on this folder"
            lock.holder = holder
        elif outcome == Outcome.TOOK_STALE:
            note = "Took over the folder lock of a session that ended without closing"
        elif outcome == Outcome.UNAVAILABLE:
            note = f"No folder lock ({lock.problem}); saving may fail here"
        self.release()
        self.holder = lock.holder
        self.lock = lock if lock.held else None
        self.labels_dir, self.read_only, self.took_live = dataset.labels_dir, read_only, took_live
        self.gone = False
        self.sweep = None
        if self.lock is not None and not took_live:  # only the writer cleans up, and not under a live window's
            head_files, head_journal = head_folders(dataset.labels_dir)
            # a save in progress, with the head file it commits in labels/.model/
            report = sweep_temp_files(dataset.labels_dir, subfolders=(head_files.name,))
            self.sweep = report   # (the journal drops the autosaves a completed save replaced: gui.session.recovery)
            sweep_temp_files(head_journal)   # a journalled head's write cut off by a kill (a walk found them left)
            if report.message():
                note = "; ".join(filter(None, [note, "Labels folder: " + report.message()]))
            if report.problems:   # (a walk saw only "Ready": the status bar's note is replaced within a second)
                self.problem.emit(f"In {dataset.labels_dir}: " + "; ".join(report.problems))
        self.mode_changed.emit(self.read_only)
        if note:
            self.message.emit(note)
        return True

    def may_write(self) -> bool:
        """Before a save or an autosave: is this window (still) the folder's writer?"""
        if self.read_only:
            return False
        if self.lock is None or self.lock.holds():
            return True  # no lock could be made (read-only disk): the write itself will say why it fails
        self.read_only = True
        other = read_lock(self.lock.path)
        self.holder = other
        self.gone = not os.path.isdir(self.labels_dir)
        then = "use File > Take over folder to save them here"
        if other is not None:
            who = f"Another window ({other.describe()}) took over this folder"
        elif self.gone:   # (a walk deleted labels/ and renamed the folder: both read "another window took over")
            who = f"The labels folder {self.labels_dir} is gone (deleted, or the folder was moved or renamed)"
            then = f"File > Take over folder makes {self.labels_dir} again and saves there"
        else:
            who = "Another window took over this folder (and has closed since)"
        self.lost.emit(f"{who}. This window is now read-only: your edits are kept in memory, no longer autosaved; "
                       f"{then}.")
        self.mode_changed.emit(True)
        return False

    def refusal(self) -> str:
        """'' if this window may write the folder now, else why not (for the error message)."""
        return "" if self.may_write() else self.why_not()

    def why_not(self) -> str:
        """Why a write was refused, for the error message."""
        who = self.holder.describe() if self.holder else "another window"
        if self.force_read_only:
            return "This window was opened read-only (--read-only); nothing is saved."
        if self.gone and self.holder is None:
            return (f"Read-only: the labels folder {self.labels_dir} is gone. File > Take over folder makes it again "
                    "and saves there; your edits stay in memory.")
        return f"Read-only: {who} holds this folder. File > Take over folder saves here; your edits stay in memory."

    def take_over(self) -> bool:
        """From read-only to writer (File > Take over folder)."""
        if self.labels_dir is None or not self.read_only:
            return False
        lock = FolderLock(self.labels_dir)
        try:
            live = lock.acquire() == Outcome.HELD
            if live:
                lock.take_over()
        except OSError as exc:
            self.message.emit(f"Could not take over the folder: {exc.strerror or exc}")
            return False
        self.force_read_only = False
        # the journal's entries are a live window's autosaves only if one still held the folder: once the window
        # that took it from us has closed, they are ours again (a walk's save left its entry, and the next opening
        # offered to restore edits already saved)
        self.lock, self.read_only, self.took_live = (lock if lock.held else None), False, live
        self.gone = False
        self.mode_changed.emit(False)
        self.message.emit("This window is now the folder's writer")
        return True

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()
        self.lock = None
