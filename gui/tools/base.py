"""What every editing tool shares: the canvas hook-up (EditTool), Alt as the secondary button, and how far above
the image a tool's outline is drawn."""
from __future__ import annotations

from PySide6.QtCore import QPointF, Qt

from gui.canvas.canvas import CanvasTool
from gui.session.editor import Editor

OUTLINE_Z = 10.0


def alt_held(event) -> bool:
    return bool(event is not None and event.modifiers() & Qt.KeyboardModifier.AltModifier)


def point_xy(pos: QPointF) -> tuple[float, float]:
    return pos.x(), pos.y()


class EditTool(CanvasTool):
    """Base: knows the editor; Alt+click = pick class."""
    name = ""
    title = ""

    def __init__(self, editor: Editor):
        self.editor = editor

    def press(self, canvas, pos, event) -> bool:
        if alt_held(event):
            self.editor.pick(point_xy(pos))
            return True
        return self.on_press(canvas, pos, event)

    def on_press(self, canvas, pos, event) -> bool:
        return False
