"""Canvas tools for hand correction: brush, eraser (back to the model's labels), paint void, flood fill,
polygon/lasso, pick class.

Each tool turns mouse events (already in image coordinates) into Editor calls; the pixel work is
engine.annotate.edits. Alt+click picks the class under the cursor with any tool. The brush and eraser show
their footprint as an outline that follows the mouse and scales with the zoom.
"""
from __future__ import annotations

from gui.session.editor import Editor
from gui.tools.base import EditTool
from gui.tools.painting import BrushTool, FillTool, PickTool, PolygonTool
from gui.tools.superpixel import SuperpixelTool

__all__ = ["BrushTool", "EditTool", "FillTool", "PickTool", "PolygonTool", "SuperpixelTool", "make_tools"]


def make_tools(editor: Editor) -> dict[str, EditTool]:
    tools = [BrushTool(editor), BrushTool(editor, erase=True), BrushTool(editor, void=True), FillTool(editor),
             PolygonTool(editor), SuperpixelTool(editor), PickTool(editor)]
    return {t.name: t for t in tools}
