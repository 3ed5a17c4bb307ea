"""The painting tools: brush (and eraser, and paint void), flood fill, polygon/lasso and the class picker."""
from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QKeySequence, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsPathItem

from gui.session.editor import Editor
from gui.tools.base import OUTLINE_Z, EditTool, point_xy


MIN_OUTLINE_PX = 6   # the outline's smallest radius on screen: a brush smaller than that at this zoom is drawn
#                      this big, dashed (not to scale), so it never vanishes (radius 5 at 15 % zoom is 0.8 px)


class BrushTool(EditTool):
    """Paint along the drag; one undo step per stroke. As the eraser: the pixels go back to the model's labels,
    unlocked (labelme's and CVAT's erase); as paint void: void, locked (nothing learns from it)."""
    name, title = "brush", "Brush"
    cursor = Qt.CursorShape.CrossCursor   # the outline shows the footprint; the cross stays visible when tiny

    def __init__(self, editor: Editor, erase: bool = False, void: bool = False):
        super().__init__(editor)
        self.erase, self.void = erase, void and not erase
        if erase:
            self.name, self.title = "eraser", "Eraser"
        elif self.void:
            self.name, self.title = "void", "Paint void"
        self.outline: QGraphicsEllipseItem | None = None
        self._canvas = None

    def activate(self, canvas) -> None:
        self._canvas = canvas
        self.outline = QGraphicsEllipseItem()
        colour = QColor(255, 80, 80) if self.erase else QColor(160, 160, 160) if self.void else QColor(255, 255, 255)
        pen = QPen(colour, 0)  # cosmetic: 1 screen px
        self.outline.setPen(pen)
        self.outline.setZValue(OUTLINE_Z)
        self.outline.setVisible(False)
        canvas.scene().addItem(self.outline)
        self.editor.radius_changed.connect(self._resize)
        canvas.zoom_changed.connect(self._resize)

    def deactivate(self, canvas) -> None:
        self.editor.end_stroke()
        for signal in (self.editor.radius_changed, canvas.zoom_changed):
            try:
                signal.disconnect(self._resize)
            except (RuntimeError, TypeError):
                pass
        if self.outline is not None:
            canvas.scene().removeItem(self.outline)
            self.outline = None

    def _place(self, pos: QPointF) -> None:
        if self.outline is None:
            return
        r = self.editor.radius + 0.5
        zoom = self._canvas.zoom() if self._canvas is not None else 1.0
        least = MIN_OUTLINE_PX / max(zoom, 1e-6)
        pen = self.outline.pen()
        pen.setStyle(Qt.PenStyle.DashLine if r < least else Qt.PenStyle.SolidLine)
        self.outline.setPen(pen)
        r = max(r, least)
        cx, cy = int(pos.x()) + 0.5, int(pos.y()) + 0.5   # centred on the pixel that gets painted
        self.outline.setRect(QRectF(cx - r, cy - r, 2 * r, 2 * r))
        self.outline.setVisible(True)

    def outline_screen_radius(self) -> float:
        """The outline's radius in screen pixels now (0 when hidden)."""
        if self.outline is None or not self.outline.isVisible() or self._canvas is None:
            return 0.0
        return self.outline.rect().width() / 2 * self._canvas.zoom()

    def _resize(self, _value=None) -> None:
        if self.outline is not None and self.outline.isVisible():
            c = self.outline.rect().center()
            self._place(QPointF(c.x() - 0.5, c.y() - 0.5))

    def on_press(self, canvas, pos, event) -> bool:
        self._place(pos)
        return self.editor.begin_stroke(point_xy(pos), erase=self.erase, void=self.void)

    def move(self, canvas, pos, event) -> bool:
        self._place(pos)
        if self.editor.stroking:
            self.editor.stroke_to(point_xy(pos))
            return True
        return False

    def release(self, canvas, pos, event) -> bool:
        if not self.editor.stroking:
            return False
        self.editor.stroke_to(point_xy(pos))
        self.editor.end_stroke()
        return True

    def leave(self, canvas) -> None:
        if self.outline is not None:
            self.outline.setVisible(False)


class FillTool(EditTool):
    """Flood fill the 4-connected region of equal label under the click."""
    name, title = "fill", "Flood fill"
    cursor = Qt.CursorShape.PointingHandCursor

    def on_press(self, canvas, pos, event) -> bool:
        self.editor.fill(point_xy(pos))
        return True


class PickTool(EditTool):
    """Eyedropper: the class under the click becomes the paint class."""
    name, title = "pick", "Pick class"
    cursor = Qt.CursorShape.WhatsThisCursor

    def on_press(self, canvas, pos, event) -> bool:
        self.editor.pick(point_xy(pos))
        return True


class PolygonTool(EditTool):
    """Click points, then double-click or Enter to fill the polygon (Backspace or Ctrl+Z drops the last point, Esc
    the polygon). Or drag: a freehand lasso filled on release."""
    name, title = "polygon", "Polygon / lasso"
    cursor = Qt.CursorShape.CrossCursor
    DRAG_PX = 4.0   # screen pixels of travel before a press-and-move becomes a lasso

    def __init__(self, editor: Editor):
        super().__init__(editor)
        self.points: list[tuple[float, float]] = []
        self.path_item: QGraphicsPathItem | None = None
        self._press_screen = None
        self._lasso = False
        self._hover: tuple[float, float] | None = None

    def activate(self, canvas) -> None:
        self.path_item = QGraphicsPathItem()
        self.path_item.setPen(QPen(QColor(255, 255, 0), 0))
        self.path_item.setZValue(OUTLINE_Z)
        canvas.scene().addItem(self.path_item)

    def deactivate(self, canvas) -> None:
        self.cancel()
        if self.path_item is not None:
            canvas.scene().removeItem(self.path_item)
            self.path_item = None

    def cancel(self) -> None:
        self.points, self._lasso, self._press_screen, self._hover = [], False, None, None
        self._draw()

    def on_press(self, canvas, pos, event) -> bool:
        self._press_screen = event.position() if event is not None else None
        self._lasso = False
        self.points.append(point_xy(pos))
        self._draw()
        return True

    def move(self, canvas, pos, event) -> bool:
        pressed = event is not None and event.buttons() & Qt.MouseButton.LeftButton
        if pressed and self._press_screen is not None:
            d = event.position() - self._press_screen
            if self._lasso or abs(d.x()) + abs(d.y()) >= self.DRAG_PX:
                if not self._lasso and len(self.points) > 1:
                    self.points = self.points[-1:]   # a drag starts a lasso from the press point
                self._lasso = True
                self.points.append(point_xy(pos))
                self._draw()
                return True
        if self.points and not self._lasso:
            self._hover = point_xy(pos)
            self._draw()
        return False

    def release(self, canvas, pos, event) -> bool:
        self._press_screen = None
        if self._lasso:
            self.points.append(point_xy(pos))
            self.finish()
        return True

    def double_click(self, canvas, pos, event) -> bool:
        # a real double-click's first press already added this point; a synthetic one may not have
        here = (int(pos.x()), int(pos.y()))
        if not self.points or (int(self.points[-1][0]), int(self.points[-1][1])) != here:
            self.points.append(point_xy(pos))
        self.finish()
        return True

    def key(self, canvas, event) -> bool:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.points:
            self.finish()
            return True
        if (event.key() == Qt.Key.Key_Backspace or event.matches(QKeySequence.StandardKey.Undo)) and self.points:
            self.points.pop()   # (Ctrl+Z too, as in labelme: a walk's undid the last finished edit instead)
            self._draw()
            return True
        if event.key() == Qt.Key.Key_Escape and self.points:
            self.cancel()   # (a walk's Esc kept the points: the polygon drawn again was the two traced as one)
            return True
        return False

    def wants_key(self, event) -> bool:
        return bool(self.points) and (event.key() == Qt.Key.Key_Escape or
                                      event.matches(QKeySequence.StandardKey.Undo))

    def finish(self) -> None:
        """Fill the polygon (needs 3 distinct pixels) and start over; fewer are said, not silently dropped."""
        points = self.points
        self.cancel()
        if len({(int(x), int(y)) for x, y in points}) < 3:
            self.editor.message.emit("A polygon needs at least 3 points: click 3 or more, then Enter")
            return
        self.editor.polygon(points)

    def _draw(self) -> None:
        if self.path_item is None:
            return
        path = QPainterPath()
        pts = self.points + ([self._hover] if self._hover and not self._lasso else [])
        if pts:
            path.moveTo(*pts[0])
            for p in pts[1:]:
                path.lineTo(*p)
        self.path_item.setPath(path)
