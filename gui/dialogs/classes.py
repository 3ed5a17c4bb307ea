"""The questions about the folder's classes and settings, in one module so tests can answer them.

- ClassMismatchDialog: the folder's class list and the model's differ: remap by name, or keep by position.
- ask_settings: the folder records another model or CRF values: use them, or keep mine.
- ask_unknown: label values that are not classes: make them void, keep them, add classes, or cancel.
- ask_class_name, ask_colour, confirm: the class editor's small prompts.
"""
from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from engine.project import BY_NAME, BY_POSITION, Decision, Reconciliation
from gui.session.classes import ADD_CLASSES, CANCEL, KEEP_THEM, VOID_THEM


def _fed_by(rec: Reconciliation, by: str) -> list[str]:
    source = rec.channel_map(by).source
    return [rec.model[s] if s >= 0 else "— (no prediction)" for s in source]


class ClassMismatchDialog(QDialog):
    """Shows, per folder id, which model class would feed it by name and by position; the answer is a Decision.
    Closing the dialog takes the suggested answer: neither choice changes the folder's files."""

    def __init__(self, rec: Reconciliation, model_name: str = "", parent=None):
        super().__init__(parent)
        self.rec = rec
        self.setWindowTitle("The folder's classes differ from the model's")
        self.decision = rec.suggested()
        summary = rec.summary()
        text = QLabel(f"<b>This folder's labels use other classes than the model"
                      f"{' ' + html.escape(model_name) if model_name else ''}.</b><br>"
                      f"{html.escape(summary[:1].upper() + summary[1:])}.<br>Either way the saved labels and the "
                      "folder's class list stay as they are: only the model's predictions are mapped onto the "
                      "folder's ids.")
        text.setWordWrap(True)
        self.table = QTableWidget(len(rec.folder), 4)
        self.table.setHorizontalHeaderLabels(["Id", "Folder class", "Remap by name: model class",
                                              "By position: model class"])
        by_name, by_pos = _fed_by(rec, BY_NAME), _fed_by(rec, BY_POSITION)
        for i, name in enumerate(rec.folder):
            for col, value in enumerate((str(i), name, by_name[i], by_pos[i])):
                self.table.setItem(i, col, QTableWidgetItem(value))
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.add_missing = QCheckBox(f"Also add the model's classes this folder lacks ({', '.join(rec.model_only[:6])}"
                                     f"{' …' if len(rec.model_only) > 6 else ''}) as new ids")
        self.add_missing.setVisible(bool(rec.model_only))
        buttons = QDialogButtonBox()
        self.remap_button = QPushButton("&Remap by name")
        self.keep_button = QPushButton("&Keep the folder's ids (by position)")
        buttons.addButton(self.remap_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(self.keep_button, QDialogButtonBox.ButtonRole.AcceptRole)
        chosen = self.remap_button if self.decision.by == BY_NAME else self.keep_button
        for button in (self.remap_button, self.keep_button):   # Enter and Esc (or closing) give the same answer:
            button.setAutoDefault(False)                        # a focused button no longer takes over Enter
        chosen.setDefault(True)
        self.remap_button.clicked.connect(lambda: self._choose(BY_NAME))
        self.keep_button.clicked.connect(lambda: self._choose(BY_POSITION))
        self.add_missing.toggled.connect(lambda on: self.keep_button.setEnabled(not on))
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(self.table)
        layout.addWidget(self.add_missing)
        layout.addWidget(buttons)
        self.resize(720, 420)
        chosen.setFocus()

    def _choose(self, by: str) -> None:
        self.decision = Decision(by, self.add_missing.isChecked() and by == BY_NAME)
        self.accept()


def ask_mismatch(parent, rec: Reconciliation, model_name: str = "") -> Decision:
    dialog = ClassMismatchDialog(rec, model_name, parent)
    dialog.exec()
    return dialog.decision


def ask_settings(parent, lines: list[str]) -> bool:
    """The folder records other settings than the current ones: True to use the folder's."""
    box = _box(parent, QMessageBox.Icon.Question, "This folder's settings",
               "This folder was last saved with other settings:")
    box.setInformativeText("\n".join(lines) + "\n\nUse the folder's settings? If you keep yours, they are recorded "
                           "in the folder (labels/project.json) when you next save labels there.")
    use = box.addButton("&Use the folder's settings", QMessageBox.ButtonRole.AcceptRole)
    box.addButton("&Keep mine", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(use)
    box.exec()
    return box.clickedButton() is use


def ask_unknown(parent, text: str, values) -> str:
    """Label values that are not classes are about to be saved: VOID_THEM, KEEP_THEM, ADD_CLASSES or CANCEL."""
    box = _box(parent, QMessageBox.Icon.Warning, "Label values that are not classes", text + ".")
    box.setInformativeText("They are drawn with orange and black checks. Make them void (unlabelled; undoable), "
                           "keep them in the file as they are, or add classes for them?")
    void = box.addButton("Make them &void", QMessageBox.ButtonRole.DestructiveRole)
    keep = box.addButton("&Keep them", QMessageBox.ButtonRole.AcceptRole)
    add = box.addButton("&Add classes", QMessageBox.ButtonRole.ActionRole)
    add.setEnabled(max(values, default=0) < 255)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    return {id(void): VOID_THEM, id(keep): KEEP_THEM, id(add): ADD_CLASSES}.get(id(box.clickedButton()), CANCEL)


def ask_class_name(parent, title: str, default: str = "") -> str | None:
    text, ok = QInputDialog.getText(parent, title, "Class name:", text=default)
    return text if ok else None


def ask_colour(parent, rgb) -> tuple[int, int, int] | None:
    colour = QColorDialog.getColor(QColor(*rgb), parent, "Class colour")
    return (colour.red(), colour.green(), colour.blue()) if colour.isValid() else None


def _box(parent, icon, title: str, text: str) -> QMessageBox:
    """A message box showing ``text`` as plain text: class names and paths come from files, never as markup."""
    box = QMessageBox(parent)
    box.setIcon(icon)
    box.setWindowTitle(title)
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setText(text)
    return box


def confirm(parent, title: str, text: str) -> bool:
    box = _box(parent, QMessageBox.Icon.Question, title, text)
    box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
    box.setDefaultButton(QMessageBox.StandardButton.No)
    return box.exec() == QMessageBox.StandardButton.Yes


def inform(parent, title: str, text: str) -> None:
    _box(parent, QMessageBox.Icon.Information, title, text).exec()
