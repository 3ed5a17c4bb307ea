"""Modal questions, in one module so tests can replace them (a modal dialog would block a test)."""
from __future__ import annotations

from PySide6.QtWidgets import QMessageBox

SAVE, DISCARD, CANCEL = "save", "discard", "cancel"


def ask_unsaved(parent, what: str) -> str:
    """Ask what to do with unsaved labels of ``what``: SAVE, DISCARD or CANCEL."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("Unsaved labels")
    box.setText(f"The labels of {what} have unsaved changes.")
    box.setInformativeText("Save them before moving on?")
    box.setStandardButtons(QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                           | QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(QMessageBox.StandardButton.Save)
    answer = box.exec()
    if answer == QMessageBox.StandardButton.Save:
        return SAVE
    if answer == QMessageBox.StandardButton.Discard:
        return DISCARD
    return CANCEL
