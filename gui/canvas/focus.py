"""Return the keyboard to the canvas once a small entry box, a CRF slider or the class list is done with (Enter or
Esc), so the next shortcut (a class digit, B for the brush) acts on the image instead of being typed into the box."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtWidgets import QDoubleSpinBox, QLineEdit, QSpinBox

DONE_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Escape)


class BackToCanvas(QObject):
    """Event filter: after Enter or Esc in a watched widget, the canvas takes the focus (the widget keeps the key
    first, so a spin box still takes its value). The window's own Esc (Image > Cancel running work) would take the
    key before the widget sees it (a walk: the box kept the focus, and the next keys were typed into it): in a
    watched widget the key is claimed for the widget, so Esc there only hands the keys back."""

    def __init__(self, canvas, parent: QObject | None = None):
        super().__init__(parent or canvas)
        self.canvas = canvas

    def watch(self, *widgets) -> None:
        for widget in widgets:
            widget.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.ShortcutOverride and event.key() in DONE_KEYS:
            event.accept()     # the widget's key, not a window shortcut's: it comes as a KeyPress next
            return True
        if event.type() == QEvent.Type.KeyPress and event.key() in DONE_KEYS:
            if event.key() == Qt.Key.Key_Escape and isinstance(obj, (QSpinBox, QDoubleSpinBox)):
                _drop_typing(obj)
            QTimer.singleShot(0, self.canvas.setFocus)
        return False


def _drop_typing(box) -> None:
    """Esc in a spin box: what was typed and not entered goes (the box shows its value again), so handing the focus
    back does not enter it (a walk typed 2, pressed Esc, and the CRF weight became 2 when the box lost focus)."""
    box.findChild(QLineEdit).setText(box.prefix() + box.textFromValue(box.value()) + box.suffix())
