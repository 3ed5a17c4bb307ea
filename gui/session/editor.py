"""Hand correction bound to Qt: applies engine.annotate.edits operations to the current image and records
each one as a QUndoCommand holding only the changed region (engine.annotate.edits.RegionEdit).

One command per mouse stroke, pushed on the open image's QUndoStack; the stacks live in the per-image history
store it is handed (gui.session.history.ImageHistory, which also caps them). Widget-free: tools call it with
image coordinates, and it edits only the state it was bound to.
"""
from __future__ import annotations

import math

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from engine.annotate.edits import RegionEdit
from engine.labels import VOID

KIND_TEXT = {"brush": "Brush stroke", "eraser": "Erase", "void": "Paint void", "fill": "Flood fill",
             "polygon": "Polygon fill", "superpixel": "Superpixel fill",
             "clear locks": "Clear locks", "set labels": "Set labels", "use model result": "Use model result"}


class RegionCommand(QUndoCommand):
    """Undo/redo of one RegionEdit on one EditableLabels; the edit is already applied when pushed."""

    def __init__(self, editor: "Editor", editable, edit: RegionEdit, bases: tuple[str, str] | None = None):
        super().__init__(KIND_TEXT.get(edit.kind, edit.kind or "Edit"))
        self.editor, self.editable, self.edit = editor, editable, edit
        self.bases = bases      # (before, after) label base, for edits that switch it (use model result)
        self._applied = True
        # the box as the undo found it: the redo puts that back, not the edit's own `after`. On a saved image one
        # comes back to, its pixels show the file's labels, which the CRF refined after the stroke: a walk's redo
        # there left 36-48 px off the saved file, and the image marked edited
        self._undone_from: tuple | None = None

    def copy(self) -> "RegionCommand":
        """The same record, as applied (for a history that drops its oldest records by rebuilding its stack)."""
        return RegionCommand(self.editor, self.editable, self.edit, self.bases)

    def redo(self) -> None:
        if self._applied:       # QUndoStack.push calls redo(); the edit is already in place
            self._applied = False
            return
        if self._undone_from is not None:
            self.editable.put(self.edit.x0, self.edit.y0, *self._undone_from)
        else:
            self.editable.redo(self.edit)
        self.editor.replayed(self.editable, self.edit, self.bases and self.bases[1], undone=False)

    def undo(self) -> None:
        self._undone_from = None if self.edit.is_empty else self.editable.patch(self.edit.box)
        self.editable.undo(self.edit)
        self.editor.replayed(self.editable, self.edit, self.bases and self.bases[0], undone=True)


def _px(point) -> tuple[int, int]:
    """Image position (float) -> pixel index."""
    x, y = point
    return math.floor(x), math.floor(y)


class Editor(QObject):
    region_changed = Signal(object)   # (x0, y0, x1, y1) of pixels just changed: redraw that part
    edit_finished = Signal(str)       # an undoable change is complete (kind): status, autosave, auto-refine
    replaying = Signal(object, bool)  # (RegionEdit, undone) just before an undo/redo's edit_finished
    paint_class_changed = Signal(int)
    radius_changed = Signal(int)
    message = Signal(str)
    activity = Signal(str)            # what a tool is computing, for the status bar
    bound = Signal()                  # another image (or none) is being edited now

    MAX_RADIUS = 200

    def __init__(self, history, class_list, parent: QObject | None = None):
        """``history``: the per-image history store (its group's active stack is the open image's);
        ``class_list``: a callable giving the current class list (or None), for the paint class's range."""
        super().__init__(parent)
        self.history, self._class_list = history, class_list
        self.state = None       # the open image's ImageState (bind)
        self.paint_class = 1
        self.radius = 4
        self._stroke = None     # (editable, segments, kind, class_id, last point)
        self.last_box = None    # (x0, y0, x1, y1) of the last finished edit: where the CRF re-solves locally

    # ----- per-image stacks -------------------------------------------------------------------------
    def bind(self, state) -> None:
        """The open image changed: edit ``state`` from now on, on its stack (cleared if its label map is a new
        object)."""
        self._stroke = None
        self.state = state
        self.history.activate(None if state is None else str(state.path), None if state is None else state.edits)
        self.bound.emit()

    @property
    def group(self):
        return self.history.group

    def stack(self) -> QUndoStack | None:
        return self.group.activeStack()

    # ----- state ------------------------------------------------------------------------------------
    def history_holding(self, class_id: int) -> list[str]:
        """Images (paths) whose undo history would paint ``class_id`` back (see forget_class)."""
        return self.history.holding(class_id)

    def forget_class(self, class_id: int) -> None:
        """``class_id`` is being deleted: the undo records that would paint it back go (an undo or redo would bring
        back pixels of a class the folder no longer has, which Save then refuses), with those behind them."""
        self.history.forget_class(class_id)
        if self.paint_class == class_id:
            self.set_paint_class(0)

    def set_paint_class(self, class_id: int) -> bool:
        n = self._n_classes()
        if class_id != VOID and (class_id < 0 or (n is not None and class_id >= n)):
            self.message.emit(f"There is no class {class_id}" + (f" (the model has {n})" if n else ""))
            return False
        if class_id != self.paint_class:
            self.paint_class = class_id
            self.paint_class_changed.emit(class_id)
        return True

    def set_radius(self, radius: int) -> None:
        radius = min(max(int(radius), 0), self.MAX_RADIUS)
        if radius != self.radius:
            self.radius = radius
            self.radius_changed.emit(radius)

    def grow(self, sign: int) -> None:
        """[ and ]: about 20 % per step, at least one pixel."""
        self.set_radius(self.radius + sign * max(1, round(self.radius * 0.2)))

    # ----- operations (points are image positions, floats allowed) ---------------------------------
    def begin_stroke(self, point, erase: bool = False, void: bool = False) -> bool:
        """A brush stroke of the paint class; ``erase``: the eraser (the pixels go back to what is under the hand
        edit, unlocked: the model's labels, or a saved file's); ``void``: paint void, locked (a region nothing
        learns from and no result relabels)."""
        editable = self._editable()
        if editable is None:
            return False
        kind = "eraser" if erase else "void" if void else "brush"
        cls = VOID if erase or void else self.paint_class
        self._stroke = (editable, [], kind, cls, _px(point))
        self._segment([_px(point)])
        return True

    def stroke_to(self, point) -> None:
        if self._stroke is None or self._stroke[4] is None:   # None: a region stroke, not a brush
            return
        p = _px(point)
        if p != self._stroke[4]:
            self._segment([self._stroke[4], p])

    def end_stroke(self) -> None:
        if self._stroke is None:
            return
        editable, segments, kind, _, _ = self._stroke
        self._stroke = None
        self._record(editable, editable.combine(segments, kind), emit_region=False)

    def begin_region_stroke(self, kind: str) -> bool:
        """Start a stroke made of whole regions (superpixels): each ``stroke_region`` paints one, ``end_stroke``
        records them all as one undo step."""
        editable = self._editable()
        if editable is None:
            return False
        self._stroke = (editable, [], kind, self.paint_class, None)
        return True

    def stroke_region(self, mask) -> None:
        """Paint the paint class over the (H, W) bool ``mask`` as part of the current region stroke."""
        if self._stroke is None:
            return
        editable, segments, kind, cls, _ = self._stroke
        edit = editable.paint_mask(mask, cls, kind=kind)
        segments.append(edit)
        if not edit.is_empty:
            self.state.note_hand_edit()
            self.region_changed.emit(edit.box)

    @property
    def stroking(self) -> bool:
        return self._stroke is not None

    def fill(self, point) -> None:
        editable = self._editable()
        if editable is not None and self._inside(point):
            self._record(editable, editable.flood_fill(_px(point), self.paint_class))

    def polygon(self, points) -> None:
        editable = self._editable()
        pts = [_px(p) for p in points]
        if editable is not None and len(set(pts)) >= 3:
            self._record(editable, editable.fill_polygon(pts, self.paint_class))

    def pick(self, point) -> int | None:
        """Eyedropper: the class under ``point`` becomes the paint class (void picks the eraser value)."""
        st = self.state
        if st is None or st.labels is None or not self._inside(point):
            return None
        cls = st.edits.pick(_px(point))
        self.set_paint_class(cls)
        return cls

    def clear_locks(self) -> None:
        st = self.state
        if st is not None and st.edits is not None:
            self._record(st.edits, st.edits.clear_locks())

    def push_edit(self, edit: RegionEdit, bases: tuple[str, str] | None = None) -> None:
        """Record an edit made elsewhere (set labels, use model result) on the current image;
        ``bases`` (before, after) when it switched where the labels come from (ImageState.base)."""
        st = self.state
        if st is not None and st.edits is not None:
            self._record(st.edits, edit, hand=edit.kind != "use model result", bases=bases)

    # ----- internals --------------------------------------------------------------------------------
    def replayed(self, editable, edit: RegionEdit, base: str | None = None, undone: bool = True) -> None:
        """Undo/redo moved pixels back or forth."""
        st = self.state
        if st is None or st.edits is not editable:
            return
        st.note_hand_edit()
        if base:
            st.base = base
        self.last_box = edit.box
        self.region_changed.emit(edit.box)
        self.replaying.emit(edit, undone)   # the adapted head follows (gui/session/adaptation.py)
        self.edit_finished.emit(edit.kind)

    def last_edit(self) -> RegionEdit | None:
        """The edit of the command on top of the active stack (the one just done), or None."""
        stack = self.stack()
        if stack is None or stack.index() == 0:
            return None
        cmd = stack.command(stack.index() - 1)
        return getattr(cmd, "edit", None)

    def _n_classes(self) -> int | None:
        cl = self._class_list()
        return len(cl) if cl is not None else None

    def _editable(self):
        st = self.state
        if st is None:
            self.message.emit("No image to edit yet.")
            return None
        if self.paint_class != VOID and self._n_classes() is not None and self.paint_class >= self._n_classes():
            self.paint_class = 1 if self._n_classes() > 1 else 0
            self.paint_class_changed.emit(self.paint_class)
        return st.ensure_edits(self._n_classes())

    def _inside(self, point) -> bool:
        st = self.state
        x, y = _px(point)
        return st is not None and 0 <= x < st.shape[1] and 0 <= y < st.shape[0]

    def _segment(self, pts) -> None:
        editable, segments, kind, cls, _ = self._stroke
        if kind == "eraser":
            edit = editable.unlock(pts, self.radius, self.state.erased_labels)
        else:
            edit = editable.brush(pts, self.radius, cls)
        segments.append(edit)
        self._stroke = (editable, segments, kind, cls, pts[-1])
        if not edit.is_empty:
            self.state.note_hand_edit()
            self.region_changed.emit(edit.box)

    def _record(self, editable, edit: RegionEdit, emit_region: bool = True, hand: bool = True,
                bases: tuple[str, str] | None = None) -> None:
        if edit.is_empty:
            return
        st = self.state
        if hand and st is not None and st.edits is editable:
            st.note_hand_edit()
        if self.stack() is None:
            self.bind(st)
        self.history.track(str(st.path), editable)
        self.stack().push(RegionCommand(self, editable, edit, bases))
        self.history.trim_open()
        if emit_region:
            self.region_changed.emit(edit.box)
        self.last_box = edit.box
        self.edit_finished.emit(edit.kind)
