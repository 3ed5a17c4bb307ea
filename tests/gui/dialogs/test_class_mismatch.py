"""The class mismatch dialog: its suggestion, and one answer for Enter and for Esc or closing it."""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from engine.labels import ClassList
from engine.project import BY_NAME, BY_POSITION, Decision, FolderClasses
from engine.project.reconcile import reconcile
from gui.dialogs.classes import ClassMismatchDialog

DEMO = ClassList(("belt", "paper", "plastic bottle", "plastic bag", "metal can"))


def _rec(*names):
    return reconcile(FolderClasses.from_class_list(ClassList(names)), DEMO)


@pytest.mark.parametrize("names, by", [
    (("crop", "weed", "soil"), BY_NAME),            # classes of their own: strokes teach them
    (("class 0", "class 1", "class 2"), BY_POSITION),   # placeholders: the model's ids, most likely
    (("0", "1", "2", "3"), BY_POSITION),
    (("paper", "crop"), BY_NAME),
])
def test_the_suggestion(names, by):
    assert _rec(*names).suggested() == Decision(by)


@pytest.mark.parametrize("names", [("crop", "weed", "soil"), ("class 0", "class 1", "class 2")])
@pytest.mark.parametrize("key", [Qt.Key.Key_Return, Qt.Key.Key_Escape])
def test_enter_and_esc_give_the_suggested_answer_wherever_the_focus_is(qtbot, names, key):
    """A walk: with crop/weed/soil, Enter remapped by name and Esc kept the ids by position (belt fed crop): the
    button with the focus took Enter over."""
    rec = _rec(*names)
    dialog = ClassMismatchDialog(rec)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    other = dialog.keep_button if rec.suggested().by == BY_NAME else dialog.remap_button
    dialog.activateWindow()
    other.setFocus()                                   # Tab to the other button, then Enter: still the default
    assert dialog.focusWidget() is other
    QTest.keyClick(other, key)
    assert not dialog.isVisible()
    assert dialog.decision == rec.suggested()
