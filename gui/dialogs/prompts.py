"""Modal questions, in one module so tests can replace them (a modal dialog would block a test)."""
from __future__ import annotations

from PySide6.QtWidgets import QFileDialog, QMessageBox

SAVE, DISCARD, CANCEL = "save", "discard", "cancel"


def ask_unsaved(parent, what: str, leaving: str | None = None) -> str:
    """Ask what to do with unsaved labels of ``what`` before ``leaving`` ("moving on", "quitting", ...; default:
    the parent window's ``leaving`` attribute): SAVE, DISCARD or CANCEL. Alt+S saves, Alt+D discards, Esc cancels."""
    leaving = leaving or getattr(parent, "leaving", None) or "moving on"
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("Unsaved labels")
    box.setText(f"The labels of {what} have unsaved changes.")
    box.setInformativeText(f"Save them before {leaving}?")
    box.setStandardButtons(QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                           | QMessageBox.StandardButton.Cancel)
    box.button(QMessageBox.StandardButton.Save).setText("&Save")
    box.button(QMessageBox.StandardButton.Discard).setText("&Discard")   # Qt's own text has no mnemonic
    box.setDefaultButton(QMessageBox.StandardButton.Save)
    answer = box.exec()
    if answer == QMessageBox.StandardButton.Save:
        return SAVE
    if answer == QMessageBox.StandardButton.Discard:
        return DISCARD
    return CANCEL


def ask_restore(parent, entries) -> bool:
    """After a crash: restore the unsaved edits the recovery journal holds (``entries``: JournalEntry list)?"""
    names = ", ".join(e.image_id for e in entries[:5]) + (" …" if len(entries) > 5 else "")
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Restore unsaved edits")
    box.setText(f"Restore unsaved edits for {len(entries)} image{'s' if len(entries) != 1 else ''}?")
    box.setInformativeText(f"The last session ended without saving them: {names}. "
                           "Discard throws them away for good.")
    box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Discard)
    box.button(QMessageBox.StandardButton.Yes).setText("Restore")
    box.setDefaultButton(QMessageBox.StandardButton.Yes)
    return box.exec() != QMessageBox.StandardButton.Discard


def warn(parent, title: str, text: str) -> None:
    """A problem the user must see (a save that failed); the work is still in memory."""
    QMessageBox.warning(parent, title, text)


def notice(parent, title: str, text: str) -> None:
    """A problem the user must see that needs no answer now (a damaged file in the folder): a warning box that
    does not block, so the folder goes on opening behind it."""
    from PySide6.QtCore import Qt

    box = QMessageBox(QMessageBox.Icon.Warning, title, text.split("\n\n")[0][:300], QMessageBox.StandardButton.Ok,
                      parent)
    box.setInformativeText("What was found is listed under Show Details.")
    box.setDetailedText(text)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setWindowModality(Qt.WindowModality.NonModal)
    box.show()


def ask_overwrite(parent, title: str, text: str) -> bool:
    """Write into something that exists (an export target)? No is the default."""
    answer = QMessageBox.question(parent, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                  QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes


def confirm(parent, title: str, text: str) -> bool:
    """Yes or No to something that cannot be undone; No is the default."""
    return ask_overwrite(parent, title, text)


def ask_save_path(parent, title: str, default: str, filters: str) -> str | None:
    path, _ = QFileDialog.getSaveFileName(parent, title, default, filters)
    return path or None


def ask_folder(parent, title: str, default: str) -> str | None:
    """An existing folder; a suggested one that does not exist yet opens the dialog at its parent (a folder dialog
    cannot accept a name that is not there: the user picks the parent's New Folder, or another folder)."""
    from pathlib import Path
    start = Path(default)
    while not start.is_dir() and start != start.parent:
        start = start.parent
    return QFileDialog.getExistingDirectory(parent, title, str(start)) or None


WAITING_DIALOG = "waiting_dialog"   # objectName of the busy dialog, found again among the parent's children


def waiting_progress(parent, done: int, total: int) -> None:
    """The busy dialog's bar follows the work it waits for (a walk: it kept moving to and fro while the status bar
    behind it counted the exact run's iterations); nothing when no dialog is open or no total is known."""
    from PySide6.QtWidgets import QProgressDialog

    dialog = parent.findChild(QProgressDialog, WAITING_DIALOG)
    if dialog is not None and total > 0:
        dialog.setRange(0, total)
        dialog.setValue(min(done, total - 1))   # (at total a QProgressDialog resets and hides itself)


def waiting(parent, text: str, on_cancel) -> None:
    """Show (text) or close ('') a window-modal busy dialog while the app finishes work the user asked for
    (a save waiting for the exact CRF); its Cancel calls on_cancel. Never blocks: the caller's loop runs."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QProgressDialog

    dialog = parent.findChild(QProgressDialog, WAITING_DIALOG)
    if not text:
        if dialog is not None:
            dialog.setObjectName("")      # (deleteLater keeps it a child until the event loop runs)
            dialog.canceled.disconnect()  # closing a QProgressDialog emits canceled: the work is done, not cancelled
            shown = dialog.isVisible()
            dialog.close()
            dialog.deleteLater()
            if shown:
                parent.activateWindow()
        return
    if dialog is None:
        dialog = QProgressDialog(text, "Cancel", 0, 0, parent)
        dialog.setObjectName(WAITING_DIALOG)
        dialog.setWindowTitle("Please wait")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(400)  # shows itself only if the wait lasts (a short one must not steal focus)
        dialog.canceled.connect(on_cancel)
    if dialog.labelText() != text:
        dialog.setRange(0, 0)   # another step: its own numbers come with its progress (waiting_progress)
    dialog.setLabelText(text)


REPLACE, KEEP = "replace", "keep"


def ask_replace_saved(parent, names: list[str]) -> str:
    """An import would replace labels a person saved (``names``): REPLACE them, KEEP them (import the rest) or
    CANCEL the import."""
    shown = ", ".join(names[:5]) + (" …" if len(names) > 5 else "")
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Replace saved labels?")
    box.setText(f"{len(names)} image{'s' if len(names) != 1 else ''} already {'have' if len(names) != 1 else 'has'} "
                f"saved labels: {shown}")
    box.setInformativeText("Replace them with the imported annotations, or keep them and import the other images?")
    replace = box.addButton("&Replace", QMessageBox.ButtonRole.DestructiveRole)
    keep = box.addButton("&Keep saved labels", QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(keep)
    box.exec()
    clicked = box.clickedButton()
    return REPLACE if clicked is replace else KEEP if clicked is keep else CANCEL


def _warn_and_choose(parent, title: str, text: str, question: str, yes: str, yes_is_default: bool) -> bool:
    """A warning with one action button and Cancel: True if the action was chosen."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(title)
    box.setText(text)
    box.setInformativeText(question)
    action = box.addButton(yes, QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(action if yes_is_default else QMessageBox.StandardButton.Cancel)
    box.exec()
    return box.clickedButton() is action


def ask_changed_on_disk(parent, path) -> bool:
    """The open image's label file changed on disk after it was read: True to save and keep that file aside as
    <name>.replaced (the default: nothing is lost), False to cancel the save."""
    return _warn_and_choose(
        parent, "Labels changed on disk",
        f"{path.name} was changed on disk after this window read it: another window or program saved labels for "
        "this image.",
        f"Save your labels and keep that file as {path.name}.replaced beside it, or cancel and leave it as it is "
        "(your edits stay in memory)?", "&Save, keep theirs aside", True)


def ask_image_changed(parent, path) -> bool:
    """The open image's file changed on disk after its pixels were read: True to save the labels anyway (they were
    drawn on the image as it was), False (the default) to cancel."""
    return _warn_and_choose(
        parent, "Image changed on disk",
        f"{path.name} was changed on disk after it was opened: another program replaced or edited it.",
        "Your labels were drawn on the image as it was. Save them anyway, or cancel (your edits stay in memory; "
        "opening the image again shows the new file)?", "&Save anyway", False)
