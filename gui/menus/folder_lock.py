"""The folder lock, as the user sees it: the question when another window holds the folder, the File menu's
*Take over folder*, a read-only mark in the title, and the warning when another window took over."""
from __future__ import annotations

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QMessageBox

from gui.dialogs import prompts
from gui.session.folder_guard import CANCEL, READ_ONLY, TAKE_OVER
from gui.session.saving import CANCEL as SAVE_CANCELLED
from gui.session.saving import KEEP_THEIRS_ASIDE

READ_ONLY_MARK = " [read-only]"


def ask_lock_choice(parent, holder, folder) -> str:
    """Another window holds ``folder``: READ_ONLY (default), TAKE_OVER or CANCEL."""
    who = holder.describe() if holder is not None else "another window"
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("Folder in use")
    box.setText(f"{folder} is open in another window ({who}).")
    box.setInformativeText("Open it read-only (look, but not save), or take it over: the other window then "
                           "can no longer save, and its unsaved edits stay in that window.")
    read_only = box.addButton("Open read-only", QMessageBox.ButtonRole.AcceptRole)
    take = box.addButton("Take over", QMessageBox.ButtonRole.DestructiveRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(read_only)
    box.exec()
    clicked = box.clickedButton()
    if clicked is read_only:
        return READ_ONLY
    if clicked is take:
        return TAKE_OVER
    return CANCEL


class FolderLockActions:
    """Binds a window to its controller's FolderGuard (a few lines in MainWindow create it)."""

    def __init__(self, window):
        """``take_over_action`` goes in the File menu (gui.menus.menubar), ``badge`` in the status bar."""
        self.window, guard = window, window.ctl.guard
        self.take_over_action = QAction("&Take over folder (make this window the one that saves)", window)
        self.take_over_action.setEnabled(False)
        self.take_over_action.triggered.connect(window.ctl.take_over_folder)
        self.badge = QLabel("<b>Read-only</b>")          # stays visible while other messages come and go
        self.badge.setVisible(False)
        guard.ask = lambda holder, folder: ask_lock_choice(window, holder, folder)
        window.ctl.saver.ask_changed = lambda path: KEEP_THEIRS_ASIDE if prompts.ask_changed_on_disk(window, path) \
            else SAVE_CANCELLED   # (a label file another window saved after a take-over: never written over unasked)
        window.ctl.saver.ask_image_changed = lambda path: prompts.ask_image_changed(window, path)
        guard.mode_changed.connect(self._on_mode)
        guard.lost.connect(lambda msg: prompts.warn(
            window, "The labels folder is gone" if guard.gone else "This folder was taken over", msg))
        guard.problem.connect(lambda msg: prompts.warn(window, "An interrupted save could not be completed", msg))
        window.windowTitleChanged.connect(lambda _title: self._mark())  # the window retitles on a model change

    def _on_mode(self, read_only: bool) -> None:
        self.take_over_action.setEnabled(read_only)
        self.badge.setVisible(read_only)
        self.badge.setToolTip(self.window.ctl.guard.why_not() if read_only else "")
        self._mark()

    def _mark(self) -> None:
        title = self.window.windowTitle()
        want = title.replace(READ_ONLY_MARK, "") + (READ_ONLY_MARK if self.window.ctl.guard.read_only else "")
        if want != title:
            self.window.setWindowTitle(want)
