"""Hand corrections on a label map: brush, paint void, eraser (unlock), flood fill, polygon fill, pick, and locked
pixels.

Every change returns a RegionEdit holding only the changed bounding box (before and after patches of labels and
locks), so undo costs memory proportional to the edit, not to the image; the GUI wraps each in a QUndoCommand.
Painted pixels become *locked*: the CRF treats them as hard constraints and a new prediction does not replace them.
Points are (x, y) in image pixel coordinates; labels are (H,W) uint8 with 255 = void; locks are (H,W) bool.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import cv2
import numpy as np

from engine.boxes import mask_box
from engine.labels import VOID

__all__ = ["RegionEdit", "EditableLabels"]


@dataclass(frozen=True, eq=False)
class RegionEdit:
    """What one operation changed: patches of the box at (x0, y0); empty (0x0) when nothing changed."""

    x0: int
    y0: int
    before_labels: np.ndarray
    after_labels: np.ndarray
    before_locked: np.ndarray
    after_locked: np.ndarray
    kind: str = ""

    @property
    def box(self) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1), x1/y1 exclusive."""
        h, w = self.after_labels.shape
        return self.x0, self.y0, self.x0 + w, self.y0 + h

    @property
    def is_empty(self) -> bool:
        return self.after_labels.size == 0

    @property
    def changed_pixels(self) -> int:
        """Pixels whose label or lock differs between before and after."""
        diff = (self.before_labels != self.after_labels) | (self.before_locked != self.after_locked)
        return int(diff.sum())

    @property
    def teaches(self) -> bool:
        """Whether the locked class pixels (what the locks teach the model) differ between before and after: paint
        void over unlocked pixels teaches nothing, and refitting for it moved a walk's head (2,818 -> 69,489 px)."""
        before = self.before_locked & (self.before_labels != VOID)
        after = self.after_locked & (self.after_labels != VOID)
        return bool(np.any(before != after) or np.any(before & (self.before_labels != self.after_labels)))

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.before_labels, self.after_labels, self.before_locked, self.after_locked))

    def stands_in(self, labels: np.ndarray, locked: np.ndarray, n_classes: int | None = None) -> bool:
        """True while a class this edit locked still stands somewhere in (labels, locked): the pixels it newly
        locked or relabelled keep its label and lock (void, and ids >= n_classes, teach nothing and do not count).
        So a stroke painted over or unlocked by the eraser is no longer in effect."""
        if self.is_empty:
            return False
        x0, y0, x1, y1 = self.box
        painted = self.after_locked & ~(self.before_locked & (self.before_labels == self.after_labels))
        painted &= self.after_labels != VOID
        if n_classes is not None:
            painted &= self.after_labels < n_classes
        if not painted.any():
            return False
        now_l, now_k = labels[y0:y1, x0:x1], locked[y0:y1, x0:x1]
        return bool(np.any(painted & now_k & (now_l == self.after_labels)))


def _as_points(points: Iterable[Sequence[float]]) -> np.ndarray:
    pts = np.asarray(list(points), dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) == 0:
        raise ValueError(f"points must be a non-empty sequence of (x, y), got shape {pts.shape}")
    if not np.all(np.isfinite(pts)):
        raise ValueError("points must be finite numbers")
    return np.rint(pts).astype(np.int64)


class EditableLabels:
    """The label map being corrected plus the mask of hand-edited (locked) pixels; changes only via RegionEdits."""

    def __init__(self, labels: np.ndarray, locked: np.ndarray | None = None, n_classes: int | None = None):
        """labels (H,W) uint8 (copied); locked (H,W) bool or None (nothing locked); n_classes bounds class ids."""
        labels = np.asarray(labels)
        if labels.ndim != 2 or labels.dtype != np.uint8:
            raise ValueError(f"labels must be (H,W) uint8, got {labels.shape} {labels.dtype}")
        if locked is None:
            locked = np.zeros(labels.shape, dtype=bool)
        locked = np.asarray(locked)
        if locked.shape != labels.shape:
            raise ValueError(f"locked mask shape {locked.shape} differs from labels {labels.shape}")
        self._labels = np.array(labels, dtype=np.uint8, copy=True)
        self._locked = np.array(locked, dtype=bool, copy=True)
        self.n_classes = n_classes
        self.revision = 0  # bumps on every change; compare with a saved value to know if edits are unsaved

    @classmethod
    def blank(cls, height: int, width: int, n_classes: int | None = None) -> "EditableLabels":
        """All void, nothing locked: the state before any prediction arrives."""
        return cls(np.full((height, width), VOID, dtype=np.uint8), None, n_classes)

    # -- read access (views are read-only so nobody bypasses the edit records) --
    @property
    def labels(self) -> np.ndarray:
        view = self._labels.view()
        view.flags.writeable = False
        return view

    @property
    def locked(self) -> np.ndarray:
        view = self._locked.view()
        view.flags.writeable = False
        return view

    @property
    def shape(self) -> tuple[int, int]:
        return self._labels.shape

    @property
    def has_locks(self) -> bool:
        return bool(self._locked.any())

    def snapshot(self) -> tuple[np.ndarray, np.ndarray]:
        """Copies of (labels, locked), e.g. for the recovery journal or a save."""
        return self._labels.copy(), self._locked.copy()

    def pick(self, point: Sequence[float]) -> int:
        """Class id under (x, y); the eyedropper. Raises ValueError outside the image."""
        (x, y), = _as_points([point])
        h, w = self.shape
        if not (0 <= x < w and 0 <= y < h):
            raise ValueError(f"point ({x}, {y}) is outside the {w}x{h} image")
        return int(self._labels[y, x])

    # -- operations --
    def brush(self, points: Iterable[Sequence[float]], radius: int, class_id: int, lock: bool = True) -> RegionEdit:
        """Paint a round brush of `radius` pixels along the polyline; radius 0 paints the 1-pixel path."""
        self._check_class(class_id)
        kind = "void" if class_id == VOID else "brush"
        footprint = self._footprint(points, radius)
        if footprint is None:
            return self._empty(kind)
        box, mask = footprint
        return self._paint(box, mask, class_id, lock, kind)

    def unlock(self, points: Iterable[Sequence[float]], radius: int, model: np.ndarray | None) -> RegionEdit:
        """The eraser: the pixels under the round brush go back to unlabelled by hand, i.e. unlocked and showing
        ``model`` (the model's current labels, (H,W) uint8; None before any result: void), as in labelme and CVAT."""
        footprint = self._footprint(points, radius)
        if footprint is None:
            return self._empty("eraser")
        (x0, y0, x1, y1), mask = footprint
        new_l = self._labels[y0:y1, x0:x1].copy()
        if model is None:
            new_l[mask] = VOID
        elif model.shape != self.shape:
            raise ValueError(f"model labels {model.shape} do not fit the {self.shape} label map")
        else:
            new_l[mask] = model[y0:y1, x0:x1][mask]
        new_k = self._locked[y0:y1, x0:x1] & ~mask
        return self._commit((x0, y0, x1, y1), new_l, new_k, "eraser")

    def _footprint(self, points, radius: int):
        """((x0, y0, x1, y1), (h, w) bool mask) of a round brush along the polyline, or None outside the image."""
        radius = int(radius)
        if radius < 0:
            raise ValueError(f"brush radius must be >= 0, got {radius}")
        pts = _as_points(points)
        h, w = self.shape
        x0 = max(int(pts[:, 0].min()) - radius, 0)
        y0 = max(int(pts[:, 1].min()) - radius, 0)
        x1 = min(int(pts[:, 0].max()) + radius + 1, w)
        y1 = min(int(pts[:, 1].max()) + radius + 1, h)
        if x0 >= x1 or y0 >= y1:
            return None
        # draw the 1-px path with a margin so off-box points still rasterise correctly, then dilate by the disc
        m = radius
        mask = np.zeros((y1 - y0 + 2 * m, x1 - x0 + 2 * m), dtype=np.uint8)
        local = (pts - [x0 - m, y0 - m]).astype(np.int32)
        if len(local) == 1:
            mask_pt = tuple(int(v) for v in local[0])
            cv2.circle(mask, mask_pt, 0, 1, -1)
        else:
            cv2.polylines(mask, [local.reshape(-1, 1, 2)], False, 1, thickness=1, lineType=cv2.LINE_8)
        if radius > 0:
            disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
            mask = cv2.dilate(mask, disc)
        return (x0, y0, x1, y1), mask[m: m + (y1 - y0), m: m + (x1 - x0)].astype(bool)

    def erase(self, points: Iterable[Sequence[float]], radius: int) -> RegionEdit:
        """Paint void (255) and lock it, so the CRF and new predictions leave it void: the window's *Paint void*
        tool (its Eraser is ``unlock``)."""
        return self.brush(points, radius, VOID, lock=True)

    def flood_fill(self, point: Sequence[float], class_id: int, lock: bool = True) -> RegionEdit:
        """Give the 4-connected region of pixels with the same label as (x, y) the class `class_id`."""
        self._check_class(class_id)
        (x, y), = _as_points([point])
        h, w = self.shape
        if not (0 <= x < w and 0 <= y < h):
            raise ValueError(f"point ({x}, {y}) is outside the {w}x{h} image")
        ff_mask = np.zeros((h + 2, w + 2), dtype=np.uint8)  # MASK_ONLY: the label map itself is not touched
        flags = 4 | cv2.FLOODFILL_MASK_ONLY | cv2.FLOODFILL_FIXED_RANGE | (1 << 8)
        _, _, _, (rx, ry, rw, rh) = cv2.floodFill(self._labels, ff_mask, (int(x), int(y)), 0, 0, 0, flags)
        mask = ff_mask[1 + ry: 1 + ry + rh, 1 + rx: 1 + rx + rw].astype(bool)
        return self._paint((rx, ry, rx + rw, ry + rh), mask, class_id, lock, "fill")

    def fill_polygon(self, points: Iterable[Sequence[float]], class_id: int, lock: bool = True) -> RegionEdit:
        """Fill the closed polygon (or lasso path) with `class_id`, edges included."""
        self._check_class(class_id)
        pts = _as_points(points)
        if len(pts) < 3:
            raise ValueError(f"a polygon needs at least 3 points, got {len(pts)}")
        h, w = self.shape
        x0, y0 = max(int(pts[:, 0].min()), 0), max(int(pts[:, 1].min()), 0)
        x1, y1 = min(int(pts[:, 0].max()) + 1, w), min(int(pts[:, 1].max()) + 1, h)
        if x0 >= x1 or y0 >= y1:
            return self._empty("polygon")
        mask = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
        cv2.fillPoly(mask, [(pts - [x0, y0]).astype(np.int32).reshape(-1, 1, 2)], 1, lineType=cv2.LINE_8)
        return self._paint((x0, y0, x1, y1), mask.astype(bool), class_id, lock, "polygon")

    def paint_mask(self, mask: np.ndarray, class_id: int, lock: bool = True, kind: str = "mask") -> RegionEdit:
        """Give every pixel of the (H,W) bool ``mask`` the class ``class_id`` (e.g. the superpixels a click chose)."""
        self._check_class(class_id)
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != self.shape:
            raise ValueError(f"mask must be {self.shape}, got {mask.shape}")
        box = mask_box(mask)
        if box is None:
            return self._empty(kind)
        x0, y0, x1, y1 = box
        return self._paint(box, mask[y0:y1, x0:x1], class_id, lock, kind)

    def merge_prediction(self, new_labels: np.ndarray) -> RegionEdit:
        """Take a new prediction or CRF result everywhere except on locked pixels, which keep the annotator's value."""
        new_labels = np.asarray(new_labels)
        if new_labels.shape != self.shape or new_labels.dtype != np.uint8:
            raise ValueError(f"prediction must be {self.shape} uint8, got {new_labels.shape} {new_labels.dtype}")
        merged = np.where(self._locked, self._labels, new_labels)
        return self._commit((0, 0) + self.shape[::-1], merged, self._locked, "prediction")

    def replace_all(self, new_labels: np.ndarray, lock_changed: bool = True, keep_locks: bool = True,
                    kind: str = "replace") -> RegionEdit:
        """Put a whole new label map in place (a map set by hand, "use the model result", a correction's spread).

        lock_changed locks the pixels whose label changes (the annotator's word on them); keep_locks False unlocks
        every other pixel, so the map follows the model again.
        """
        new_labels = np.asarray(new_labels)
        if new_labels.shape != self.shape or new_labels.dtype != np.uint8:
            raise ValueError(f"label map must be {self.shape} uint8, got {new_labels.shape} {new_labels.dtype}")
        locked = self._locked if keep_locks else np.zeros_like(self._locked)
        if lock_changed:
            locked = locked | (new_labels != self._labels)
        return self._commit((0, 0) + self.shape[::-1], new_labels, locked, kind)

    def replace_box(self, box, new_labels: np.ndarray, kind: str = "replace") -> RegionEdit:
        """New labels for the box (x0, y0, x1, y1) only, locks unchanged (a correction's spread: a window of a
        large image, without diffing the rest)."""
        x0, y0, x1, y1 = box
        new_labels = np.asarray(new_labels)
        if new_labels.shape != (y1 - y0, x1 - x0) or new_labels.dtype != np.uint8:
            raise ValueError(f"labels {new_labels.shape} {new_labels.dtype} do not fit the box {box}")
        return self._commit(box, new_labels, self._locked[y0:y1, x0:x1], kind)

    def clear_locks(self) -> RegionEdit:
        """Unlock every pixel (labels stay); the next CRF run or prediction may change them again."""
        return self._commit((0, 0) + self.shape[::-1], self._labels, np.zeros_like(self._locked), "clear locks")

    # -- undo / redo --
    def undo(self, edit: RegionEdit) -> None:
        """Put back the `before` patches of an edit (the last applied one, in stack order)."""
        self._write(edit.x0, edit.y0, edit.before_labels, edit.before_locked)

    def redo(self, edit: RegionEdit) -> None:
        """Re-apply the `after` patches of an edit."""
        self._write(edit.x0, edit.y0, edit.after_labels, edit.after_locked)

    def patch(self, box) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the labels and locks in the box (x0, y0, x1, y1): what an undo replaces, for its redo."""
        x0, y0, x1, y1 = box
        return self._labels[y0:y1, x0:x1].copy(), self._locked[y0:y1, x0:x1].copy()

    def put(self, x0: int, y0: int, labels: np.ndarray, locked: np.ndarray) -> None:
        """Write back a patch taken with ``patch`` (a redo of an undo)."""
        self._write(x0, y0, labels, locked)

    def combine(self, edits: Sequence[RegionEdit], kind: str | None = None) -> RegionEdit:
        """One record for several edits just applied in order (e.g. the segments of one mouse stroke)."""
        edits = [e for e in edits if not e.is_empty]
        if not edits:
            return self._empty(kind or "")
        x0 = min(e.box[0] for e in edits)
        y0 = min(e.box[1] for e in edits)
        x1 = max(e.box[2] for e in edits)
        y1 = max(e.box[3] for e in edits)
        after_l = self._labels[y0:y1, x0:x1].copy()
        after_k = self._locked[y0:y1, x0:x1].copy()
        before_l, before_k = after_l.copy(), after_k.copy()
        for e in reversed(edits):
            ex0, ey0, ex1, ey1 = e.box
            before_l[ey0 - y0: ey1 - y0, ex0 - x0: ex1 - x0] = e.before_labels
            before_k[ey0 - y0: ey1 - y0, ex0 - x0: ex1 - x0] = e.before_locked
        return self._record(x0, y0, before_l, after_l, before_k, after_k, kind or edits[0].kind)

    # -- internals --
    def _check_class(self, class_id: int) -> None:
        if int(class_id) != class_id or not 0 <= int(class_id) <= VOID:
            raise ValueError(f"class id must be an integer in 0..255, got {class_id!r}")
        if class_id != VOID and self.n_classes is not None and class_id >= self.n_classes:
            raise ValueError(f"class id {class_id} is out of range for {self.n_classes} classes")

    def _empty(self, kind: str) -> RegionEdit:
        e_l = np.zeros((0, 0), dtype=np.uint8)
        e_k = np.zeros((0, 0), dtype=bool)
        return RegionEdit(0, 0, e_l, e_l, e_k, e_k, kind)

    def _paint(self, box, mask: np.ndarray, class_id: int, lock: bool, kind: str) -> RegionEdit:
        x0, y0, x1, y1 = box
        new_l = self._labels[y0:y1, x0:x1].copy()
        new_l[mask] = class_id
        new_k = self._locked[y0:y1, x0:x1].copy()
        if lock:
            new_k |= mask
        return self._commit(box, new_l, new_k, kind)

    def _commit(self, box, new_labels: np.ndarray, new_locked: np.ndarray, kind: str) -> RegionEdit:
        """Diff the box against the current state, store the tight changed box, apply it."""
        x0, y0, x1, y1 = box
        old_l = self._labels[y0:y1, x0:x1]
        old_k = self._locked[y0:y1, x0:x1]
        tight = mask_box((old_l != new_labels) | (old_k != new_locked))
        if tight is None:
            return self._empty(kind)
        tx0, ty0, tx1, ty1 = tight
        sl = np.s_[ty0:ty1, tx0:tx1]
        edit = self._record(x0 + tx0, y0 + ty0, old_l[sl].copy(), np.array(new_labels[sl], dtype=np.uint8),
                            old_k[sl].copy(), np.array(new_locked[sl], dtype=bool), kind)
        self.redo(edit)
        return edit

    @staticmethod
    def _record(x0, y0, before_l, after_l, before_k, after_k, kind) -> RegionEdit:
        for a in (before_l, after_l, before_k, after_k):
            a.flags.writeable = False
        return RegionEdit(int(x0), int(y0), before_l, after_l, before_k, after_k, kind)

    def _write(self, x0: int, y0: int, labels: np.ndarray, locked: np.ndarray) -> None:
        if labels.size == 0:
            return
        h, w = labels.shape
        if x0 < 0 or y0 < 0 or y0 + h > self.shape[0] or x0 + w > self.shape[1]:
            raise ValueError(f"edit box at ({x0}, {y0}) size {w}x{h} does not fit the {self.shape} label map")
        self._labels[y0:y0 + h, x0:x0 + w] = labels
        self._locked[y0:y0 + h, x0:x0 + w] = locked
        self.revision += 1
