"""The message about recovery files that were damaged (the engine has already moved them aside, and the folder
opened as usual)."""
from __future__ import annotations

from PySide6.QtWidgets import QMessageBox


def show_damaged_journal(parent, records) -> None:
    """Recovery files that could not be trusted were moved aside (engine.folder.journal.Quarantined records)."""
    if not records:
        return
    folder = next((r.moved_to.parent for r in records if r.moved_to is not None), None)
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("Damaged recovery files")
    n = len(records)
    box.setText(f"{n} unsaved-edit recovery file{'s were' if n != 1 else ' was'} damaged and could not be "
                f"restored.")
    where = f" They were moved to {folder}, where you can look at them." if folder is not None else ""
    box.setInformativeText("The folder opened as usual; your saved labels are not affected." + where)
    box.setDetailedText("\n".join(r.message() for r in records))
    box.exec()
