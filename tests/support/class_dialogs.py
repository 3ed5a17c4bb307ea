"""Answer the class mismatch dialog from a test (it runs its own event loop)."""
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from gui.dialogs.classes import ClassMismatchDialog


def answer_mismatch(button: str, seen: list) -> None:
    """Click ``button`` of the class mismatch dialog as soon as it is shown (it runs its own event loop)."""
    def poll():
        for w in QApplication.topLevelWidgets():
            if isinstance(w, ClassMismatchDialog) and w.isVisible():
                seen.append([w.table.item(r, 2).text() for r in range(w.table.rowCount())])
                getattr(w, button).click()
                return
        QTimer.singleShot(20, poll)
    QTimer.singleShot(0, poll)
