"""Superpixel fill tool (S): a click gives the SLIC superpixel under the cursor the paint class; dragging adds every
superpixel the cursor crosses; one press-to-release is one undo step. Painted pixels are locked like a brush's.

SLIC (engine.annotate.superpixels) runs in its own worker lane, never on the GUI thread, as soon as the tool is chosen or a
new image opens while it is active, and its result is cached per (image, size). A click that arrives before the
segmentation is applied once it is ready. The size box (and Ctrl+[ / Ctrl+]) sets the superpixel size in pixels;
the outlines of the current superpixels are drawn while the tool is active.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel, QSpinBox

from engine.annotate import superpixels
from engine.display.overlays import mask_rgba
from gui.session.lanes import Lane
from gui.tools.base import EditTool

OUTLINE_Z = 4.5
OUTLINE_COLOR = (255, 255, 255)


class SuperpixelTool(EditTool):
    name, title = "superpixel", "Superpixel fill"
    cursor = Qt.CursorShape.PointingHandCursor

    def __init__(self, editor):
        super().__init__(editor)
        self.size = superpixels.DEFAULT_SIZE
        self.cache = superpixels.SuperpixelCache()
        self.lane = Lane("superpixels", editor)
        self.lane.finished.connect(self._on_ready)
        self.lane.failed.connect(lambda _key, message: self.editor.message.emit(f"Superpixels failed: {message}"))
        self.segments = None        # (H, W) int32 of the open image at self.size, or None while computing
        self._for = None            # (image token, size) the segments belong to
        self._pending = None        # (x, y) of a click made before the segments were ready
        self._canvas = None
        self._visited: set[int] = set()
        self.size_box: QSpinBox | None = None
        self._actions = None        # the EditActions that show this tool's status
        editor.bound.connect(self._on_image_opened)

    # ----- window hook-up (called by EditActions) ----------------------------------------------------
    def attach(self, actions) -> None:
        """Size box in the Tools toolbar, size keys in the Edit menu, the size remembered in QSettings."""
        self._actions = actions
        prefs = actions.window.prefs
        self.size = prefs.superpixel_size or superpixels.DEFAULT_SIZE
        box = self.size_box = QSpinBox()
        box.setRange(superpixels.MIN_SIZE, superpixels.MAX_SIZE)
        box.setValue(self.size)
        box.setSuffix(" px")
        box.setToolTip("Superpixel size: about how many pixels across each superpixel is (Ctrl+[ / Ctrl+])")
        box.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        box.valueChanged.connect(lambda v: (setattr(prefs, "superpixel_size", v), self.set_size(v)))
        actions.toolbar.addWidget(QLabel(" Superpixel "))
        actions.toolbar.addWidget(box)
        self.smaller = QAction("Smaller superpixels", actions)
        self.smaller.setShortcut(QKeySequence("Ctrl+["))
        self.smaller.triggered.connect(lambda: box.setValue(round(box.value() / 1.25)))
        self.larger = QAction("Larger superpixels", actions)
        self.larger.setShortcut(QKeySequence("Ctrl+]"))
        self.larger.triggered.connect(lambda: box.setValue(max(round(box.value() * 1.25), box.value() + 1)))
        for act in (self.smaller, self.larger):
            actions.menu.addAction(act)

    def status_extra(self) -> str:
        return f"size {self.size} px" + ("" if self.ready else " (computing…)")

    # ----- segmentation ------------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        st = self.editor.state
        return self.segments is not None and st is not None and self._for == (st.token, self.size)

    def set_size(self, size: int) -> None:
        size = int(min(max(size, superpixels.MIN_SIZE), superpixels.MAX_SIZE))
        if size != self.size:
            self.size = size
            if self._canvas is not None:
                self.request()

    def request(self) -> None:
        """Get the segmentation of the open image at the current size, in the worker (from the cache if there)."""
        st = self.editor.state
        self.segments, self._for = None, None
        if st is None:
            return
        key = (str(st.path), st.shape)
        image, size, cache = st.image, self.size, self.cache

        def job(cancel, report):   # a cache hit still comes this way: its outlines are not GUI-thread work either
            seg = cache.get_or_compute(key, image, size)
            return seg, superpixels.boundaries(seg)
        if cache.get(key, size) is None:
            self.editor.activity.emit(f"Computing superpixels ({size} px)…")
        self.lane.submit(("slic", st.token, size), job)
        self._refresh_status()

    def _on_ready(self, key, result) -> None:
        _, token, size = key
        st = self.editor.state
        if st is None or st.token != token or size != self.size or self._canvas is None:
            return   # another image, size or tool by now: stale
        self.editor.activity.emit(f"Superpixels ready ({size} px)")
        self._take(token, size, *result)

    def _refresh_status(self) -> None:
        if self._actions is not None and self._canvas is not None:
            self._actions.refresh()

    def _take(self, token, size, segments, edges) -> None:
        self.segments, self._for = segments, (token, size)
        self._refresh_status()
        if self._canvas is not None and self._canvas.image_size == segments.shape:
            self._canvas.set_overlay("superpixels", mask_rgba(edges, OUTLINE_COLOR, 110), OUTLINE_Z)
        if self._pending is not None:
            point, self._pending = self._pending, None
            if self.editor.begin_region_stroke(self.name):
                self._visited = set()
                self._add(point)
                self.editor.end_stroke()

    def _on_image_opened(self) -> None:
        self.segments, self._for, self._pending = None, None, None
        if self._canvas is not None:   # after the window has put the new image on the canvas
            QTimer.singleShot(0, self.editor, self._request_if_active)

    def _request_if_active(self) -> None:
        if self._canvas is not None and self.segments is None:
            self.request()

    # ----- tool --------------------------------------------------------------------------------------
    def activate(self, canvas) -> None:
        self._canvas = canvas
        self.request()

    def deactivate(self, canvas) -> None:
        self.editor.end_stroke()
        self._pending = None
        self.lane.cancel()
        canvas.set_overlay("superpixels", None)
        self._canvas = None

    def on_press(self, canvas, pos, event) -> bool:
        point = (pos.x(), pos.y())
        if not self.ready:
            self._pending = point
            if self.segments is None and not self.lane.busy:
                self.request()
            return True
        if self.editor.begin_region_stroke(self.name):
            self._visited = set()
            self._add(point)
        return True

    def move(self, canvas, pos, event) -> bool:
        if self.editor.stroking and self.ready:
            self._add((pos.x(), pos.y()))
            return True
        return False

    def release(self, canvas, pos, event) -> bool:
        if not self.editor.stroking:
            return False
        self.editor.end_stroke()
        return True

    def _add(self, point) -> None:
        """Paint the superpixel under ``point`` unless this stroke already did."""
        h, w = self.segments.shape
        x, y = int(point[0]), int(point[1])
        if not (0 <= x < w and 0 <= y < h):
            return
        sid = int(self.segments[y, x])
        if sid in self._visited:
            return
        self._visited.add(sid)
        self.editor.stroke_region(self.segments == sid)
