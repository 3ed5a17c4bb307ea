"""The image canvas: a QGraphicsView holding the image item and named overlay items.

Scene coordinates are image pixel coordinates (the image item sits at 0,0, unscaled), so tools
get pixel positions directly. Zoom: wheel (proportional to the wheel delta, so trackpads zoom
smoothly), fit, 100%. Pan: drag with the left button when no tool is active, the middle button
always. Editing tools (issue 6) plug in with ``set_tool(handler)``; see ``CanvasTool``.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QGraphicsPixmapItem, QGraphicsScene, QGraphicsView

from gui.canvas.qimage import rgb_to_qimage, rgba_to_pixmap, rgba_to_qimage


class CanvasTool:
    """Base for canvas tools: override what you need; return True when the event was used.
    ``pos`` is in image pixels (float; floor it for the pixel index)."""
    cursor = Qt.CursorShape.CrossCursor

    def press(self, canvas: "Canvas", pos: QPointF, event) -> bool:
        return False

    def move(self, canvas: "Canvas", pos: QPointF, event) -> bool:
        return False

    def release(self, canvas: "Canvas", pos: QPointF, event) -> bool:
        return False

    def double_click(self, canvas: "Canvas", pos: QPointF, event) -> bool:
        return False

    def key(self, canvas: "Canvas", event) -> bool:
        """A key pressed while the canvas has focus (shortcuts of actions are handled before this)."""
        return False

    def wants_key(self, event) -> bool:
        """Whether this key is the tool's now (half-done work: Esc drops it, Ctrl+Z its last step) rather than the
        window's shortcut (Cancel running work, Undo the last edit)."""
        return False

    def activate(self, canvas: "Canvas") -> None:
        """Became the canvas's tool: add cursor items to the scene here."""

    def deactivate(self, canvas: "Canvas") -> None:
        """Another tool takes over: remove scene items, drop half-done work."""

    def leave(self, canvas: "Canvas") -> None:
        """The mouse left the view (hide a brush outline)."""


class Canvas(QGraphicsView):
    zoom_changed = Signal(float)          # scale factor, 1.0 = 100 %
    cursor_moved = Signal(int, int)       # image pixel under the mouse, (-1, -1) outside

    MIN_ZOOM, MAX_ZOOM = 0.02, 64.0
    WHEEL_STEP = 1.0015                   # zoom factor per 1/8 degree of wheel rotation

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        self.setBackgroundBrush(QColor(48, 48, 48))
        self.setMouseTracking(True)
        self._image_item = QGraphicsPixmapItem()
        self._image_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self._image_item.setZValue(0)
        self.scene().addItem(self._image_item)
        self._overlays: dict[str, QGraphicsPixmapItem] = {}
        self._smooth: set[str] = set()    # overlays drawn smoothed below 100 % (heat, uncertainty)
        self._size = (0, 0)
        self._fit_mode = True
        self._tool: CanvasTool | None = None
        self._pan_from = None

    # ----- content -------------------------------------------------------------------------------
    def set_image(self, rgb: np.ndarray, keep_view: bool = False) -> None:
        """Show an (H, W, 3) uint8 RGB image; removes all overlays; fits it unless keep_view."""
        h, w = rgb.shape[:2]
        self._image_item.setPixmap(QPixmap.fromImage(rgb_to_qimage(rgb)))
        for name in list(self._overlays):
            self.remove_overlay(name)
        self.scene().setSceneRect(QRectF(0, 0, w, h))
        self._size = (h, w)
        if not keep_view:
            self.fit()

    def clear(self) -> None:
        """Show nothing (the image could not be read)."""
        self._image_item.setPixmap(QPixmap())
        for name in list(self._overlays):
            self.remove_overlay(name)
        self.scene().setSceneRect(QRectF())
        self._size = (0, 0)

    def has_image(self) -> bool:
        return self._size != (0, 0)

    @property
    def image_size(self) -> tuple[int, int]:
        """(H, W) of the shown image."""
        return self._size

    def set_overlay(self, name: str, rgba: np.ndarray | None, z: float = 1.0, opacity: float | None = None,
                    smooth: bool = False) -> None:
        """Create or replace the overlay ``name`` from an (H, W, 4) uint8 RGBA array (None hides it).
        Label-like overlays stay unsmoothed so zoomed-in pixels are crisp."""
        if rgba is None:
            if name in self._overlays:
                self._overlays[name].setVisible(False)
            return
        if rgba.shape[:2] != self._size:
            raise ValueError(f"overlay {name!r} is {rgba.shape[:2]}, image is {self._size}")
        self.set_overlay_pixmap(name, rgba_to_pixmap(rgba), z, opacity, smooth)

    def set_overlay_pixmap(self, name: str, pixmap: QPixmap, z: float = 1.0, opacity: float | None = None,
                           smooth: bool = False) -> None:
        """set_overlay for a pixmap made already (gui.canvas.qimage.labels_to_pixmap: labels coloured straight
        into its pixels)."""
        if (pixmap.height(), pixmap.width()) != self._size:
            raise ValueError(f"overlay {name!r} is {(pixmap.height(), pixmap.width())}, image is {self._size}")
        item = self._overlays.get(name)
        if item is None:
            item = QGraphicsPixmapItem()
            self.scene().addItem(item)
            self._overlays[name] = item
        (self._smooth.add if smooth else self._smooth.discard)(name)
        item.setTransformationMode(self._mode(smooth))
        item.setZValue(z)
        item.setPixmap(pixmap)
        if opacity is not None:
            item.setOpacity(opacity)
        item.setVisible(True)

    def update_overlay_region(self, name: str, x0: int, y0: int, rgba: np.ndarray) -> bool:
        """Replace the pixels of overlay ``name`` in the box at (x0, y0) by an (h, w, 4) RGBA patch, so a
        brush stroke redraws only what it touched. False if there is no such overlay to patch."""
        item = self._overlays.get(name)
        if item is None or item.pixmap().isNull() or rgba.size == 0:
            return False
        target = item.pixmap()
        item.setPixmap(QPixmap())   # the item lets go of it, so painting the patch does not copy the whole first
        if not target.hasAlphaChannel() and (rgba[..., 3] < 255).any():
            # Qt stores a fully opaque overlay without alpha; a transparent patch needs it back
            target = target.toImage().convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)
        painter = QPainter(target)
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
        painter.drawImage(int(x0), int(y0), rgba_to_qimage(rgba))
        painter.end()
        item.setPixmap(target if isinstance(target, QPixmap) else QPixmap.fromImage(target))
        return True

    def overlay(self, name: str) -> QGraphicsPixmapItem | None:
        return self._overlays.get(name)

    def overlay_visible(self, name: str) -> bool:
        item = self._overlays.get(name)
        return bool(item is not None and item.isVisible())

    def set_overlay_opacity(self, name: str, opacity: float) -> None:
        if name in self._overlays:
            self._overlays[name].setOpacity(opacity)

    def remove_overlay(self, name: str) -> None:
        item = self._overlays.pop(name, None)
        self._smooth.discard(name)
        if item is not None:
            self.scene().removeItem(item)

    # ----- zoom ----------------------------------------------------------------------------------
    def zoom(self) -> float:
        return self.transform().m11()

    def _mode(self, smooth: bool) -> Qt.TransformationMode:
        """Past 100 % every image pixel is drawn as a hard block, like the labels over it: smoothing would
        invent colours between pixels, and a tiny image would look blurred under crisp labels."""
        if smooth and self.zoom() <= 1.0:
            return Qt.TransformationMode.SmoothTransformation
        return Qt.TransformationMode.FastTransformation

    def _update_sampling(self) -> None:
        self._image_item.setTransformationMode(self._mode(True))
        for name in self._smooth:
            if name in self._overlays:
                self._overlays[name].setTransformationMode(self._mode(True))
        self.zoom_changed.emit(self.zoom())

    def set_zoom(self, factor: float) -> None:
        """Absolute zoom (1.0 = one image pixel per screen pixel), anchored per the view anchor."""
        factor = min(max(factor, self.MIN_ZOOM), self.MAX_ZOOM)
        self._fit_mode = False
        self.scale(factor / self.zoom(), factor / self.zoom())
        self._update_sampling()

    def zoom_by(self, ratio: float) -> None:
        self.set_zoom(self.zoom() * ratio)

    def fit(self) -> None:
        """Whole image in view; stays fitted on resize until the user zooms."""
        self._fit_mode = True
        if self.has_image():
            self.fitInView(self._image_item, Qt.AspectRatioMode.KeepAspectRatio)
            self._update_sampling()

    def actual_size(self) -> None:
        self.set_zoom(1.0)

    def wheelEvent(self, event) -> None:  # noqa: N802 (Qt name)
        delta = event.angleDelta().y() or event.angleDelta().x()
        if delta and self.has_image():
            self.zoom_by(self.WHEEL_STEP ** delta)
        event.accept()

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        if self._fit_mode:
            self.fit()

    # ----- tools and panning ---------------------------------------------------------------------
    def set_tool(self, tool: CanvasTool | None) -> None:
        """Route left-button mouse events to ``tool`` (None: left-drag pans)."""
        if self._tool is not None and self._tool is not tool:
            self._tool.deactivate(self)
        previous, self._tool = self._tool, tool
        if tool is not None and tool is not previous:
            tool.activate(self)
        self.setDragMode(QGraphicsView.DragMode.NoDrag if tool else QGraphicsView.DragMode.ScrollHandDrag)
        self.viewport().setCursor(tool.cursor if tool else Qt.CursorShape.OpenHandCursor)

    @property
    def tool(self) -> CanvasTool | None:
        return self._tool

    def image_pos(self, event) -> QPointF:
        return self.mapToScene(event.position().toPoint())

    def mousePressEvent(self, event) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.MiddleButton:
            self._pan_from = event.position()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        if self._tool and event.button() == Qt.MouseButton.LeftButton and \
                self._tool.press(self, self.image_pos(event), event):
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        pos = self.image_pos(event)
        h, w = self._size
        inside = 0 <= pos.x() < w and 0 <= pos.y() < h
        self.cursor_moved.emit(int(pos.x()) if inside else -1, int(pos.y()) if inside else -1)
        if self._pan_from is not None:
            d = event.position() - self._pan_from
            self._pan_from = event.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - int(d.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - int(d.y()))
            event.accept()
            return
        if self._tool and self._tool.move(self, pos, event):
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.MiddleButton and self._pan_from is not None:
            self._pan_from = None
            self.set_tool(self._tool)  # restore the tool's cursor
            event.accept()
            return
        if self._tool and event.button() == Qt.MouseButton.LeftButton and \
                self._tool.release(self, self.image_pos(event), event):
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802
        if self._tool and event.button() == Qt.MouseButton.LeftButton and \
                self._tool.double_click(self, self.image_pos(event), event):
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    def event(self, event) -> bool:  # noqa: A003 (Qt name)
        if event.type() == QEvent.Type.ShortcutOverride and self._tool and self._tool.wants_key(event):
            event.accept()   # a KeyPress for the tool follows, not the window's shortcut
            return True
        return super().event(event)

    def keyPressEvent(self, event) -> None:  # noqa: N802
        if self._tool and self._tool.key(self, event):
            event.accept()
            return
        super().keyPressEvent(event)

    def leaveEvent(self, event) -> None:  # noqa: N802
        if self._tool:
            self._tool.leave(self)
        super().leaveEvent(event)
