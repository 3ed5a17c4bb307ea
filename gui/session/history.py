"""The one per-image history store: each image's label map (EditableLabels, with its locks) and its undo stack.

One QUndoStack per image, in the QUndoGroup the editor is handed, so Ctrl+Z always undoes the open image's last
stroke. The open image's entry is always kept. When the user leaves an image, its entry stays only if its labels
are on disk (saved or pre-labelled): coming back to it brings back the locks and the undo history, as long as the
file still holds the same labels. Unsaved work is the recovery journal's (gui.session.recovery), not this store's.
The store has one real cap, by count and by bytes (label map, locks and every undo record), oldest first; before
it, a cap of 16 bounded one dict while the editor kept a stack for every image visited. The open image's own undo
records have a cap of their own, by bytes (OPEN_UNDO_BYTES), oldest first: a walk filled a 6 MP image 40 times and
held 1 GB of records (26 MB each).
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
from PySide6.QtGui import QUndoGroup, QUndoStack

MAX_IMAGES = 16                  # images whose history is kept besides the open one
MAX_BYTES = 512 * 1024 * 1024    # label maps, locks and undo records together (a 12 MP map is 24 MB)
OPEN_UNDO_BYTES = 256 * 1024 * 1024   # the open image's undo records (a whole-image fill at 6 MP: 26 MB)


def _edit_bytes(edit) -> int:
    return sum(v.nbytes for v in vars(edit).values() if isinstance(v, np.ndarray))


def _holds(edit, class_id: int) -> bool:
    return edit is not None and bool((edit.before_labels == class_id).any() or (edit.after_labels == class_id).any())


def entry_bytes(editable, stack: QUndoStack) -> int:
    """What one entry holds: the label map and locks, and the before/after patches of every undo record."""
    total = 0 if editable is None else editable.labels.nbytes + editable.locked.nbytes
    for i in range(stack.count()):
        edit = getattr(stack.command(i), "edit", None)
        if edit is not None:
            total += _edit_bytes(edit)
    return total


class ImageHistory:
    """Image key (its path) -> (EditableLabels, QUndoStack), least recently left first."""

    def __init__(self, group: QUndoGroup, max_images: int = MAX_IMAGES, max_bytes: int = MAX_BYTES):
        self.group, self.max_images, self.max_bytes = group, max_images, max_bytes
        self._entries: OrderedDict[str, tuple[object, QUndoStack]] = OrderedDict()
        self._open: str | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def activate(self, key: str | None, editable) -> QUndoStack | None:
        """``key`` is the open image now (None: no image): its stack becomes the active one, cleared if its label
        map is another object than the one the stack's commands were made on."""
        self._open = key
        if key is None:
            self.group.setActiveStack(None)
            return None
        owner, stack = self._entries.get(key, (None, None))
        if stack is None:
            stack = QUndoStack(self.group)
            self.group.addStack(stack)
        elif owner is not editable:
            stack.clear()
        self._entries[key] = (editable, stack)
        self.group.setActiveStack(stack)
        self._enforce_caps()   # here, not on leaving: the image being opened may be the one left longest ago
        return stack

    def track(self, key: str, editable) -> None:
        """The open image's label map is now ``editable`` (created by its first edit)."""
        if key in self._entries:
            self._entries[key] = (editable, self._entries[key][1])

    def leave(self, key: str, keep: bool) -> None:
        """The user leaves image ``key``: its history stays if ``keep`` (labels on disk); the caps apply when the
        next image is opened."""
        if self._open == key:
            self._open = None
        if not keep:
            self._drop(key)
            return
        if key in self._entries:
            self._entries.move_to_end(key)

    def kept_labels(self, key: str):
        """The EditableLabels kept for ``key`` (to compare with the file before taking them back), or None."""
        return self._entries.get(key, (None, None))[0]

    def clear(self) -> None:
        """A new folder: every entry goes."""
        self.group.setActiveStack(None)
        self._open = None
        for key in list(self._entries):
            self._drop(key)

    def holding(self, class_id: int) -> list[str]:
        """Keys of the images whose undo records hold ``class_id`` (an undo or redo there would paint it)."""
        return [key for key, (_, stack) in self._entries.items()
                if any(_holds(getattr(stack.command(i), "edit", None), class_id) for i in range(stack.count()))]

    def forget_class(self, class_id: int) -> None:
        """``class_id`` is being deleted: drop every undo record that would paint it back, and those an undo could
        only reach through one (the records before it); the others stay (a walk's delete of a class painted and
        undone took the image's unrelated strokes' undo with it). Each stack keeps the applied records after its
        last one that holds the class, and loses its redo records where one of them holds it."""
        for key in self.holding(class_id):
            editable, stack = self._entries[key]
            n, index = stack.count(), stack.index()
            holders = [i for i in range(n) if _holds(getattr(stack.command(i), "edit", None), class_id)]
            first = max([i + 1 for i in holders if i < index], default=0)
            self._rebuild(key, [stack.command(i).copy() for i in range(first, index)])

    def _rebuild(self, key: str, kept: list) -> None:
        """Image ``key``'s stack replaced by one holding ``kept`` (copies of applied records, oldest first): a
        QUndoStack cannot drop records from its start or its middle."""
        editable, stack = self._entries[key]
        fresh = QUndoStack(self.group)
        self.group.addStack(fresh)
        for command in kept:
            fresh.push(command)
        self._entries[key] = (editable, fresh)
        if self.group.activeStack() is stack:
            self.group.setActiveStack(fresh)
        self.group.removeStack(stack)
        stack.deleteLater()

    def total_bytes(self) -> int:
        return sum(entry_bytes(e, s) for e, s in self._entries.values())

    def trim_open(self) -> int:
        """After a push: keep the open image's newest undo records within OPEN_UNDO_BYTES (the last one always).
        QUndoStack cannot drop its oldest commands once it holds any, so the stack is rebuilt from copies of the
        kept ones (``command.copy()``, already applied), in the same group. Returns how many were dropped."""
        key = self._open
        if key is None or key not in self._entries:
            return 0
        editable, stack = self._entries[key]
        n = stack.count()
        if n < 2 or stack.index() != n:
            return 0
        edits = [getattr(stack.command(i), "edit", None) for i in range(n)]
        sizes = [0 if e is None else _edit_bytes(e) for e in edits]
        if sum(sizes) <= OPEN_UNDO_BYTES:
            return 0
        first, total = n - 1, sizes[-1]
        while first > 0 and total + sizes[first - 1] <= OPEN_UNDO_BYTES:
            first -= 1
            total += sizes[first]
        self._rebuild(key, [stack.command(i).copy() for i in range(first, n)])
        return first

    def _enforce_caps(self) -> None:
        closed = [k for k in self._entries if k != self._open]
        sizes = {k: entry_bytes(*self._entries[k]) for k in closed}
        total = sum(sizes.values())
        while closed and (len(closed) > self.max_images or total > self.max_bytes):
            oldest = closed.pop(0)
            total -= sizes[oldest]
            self._drop(oldest)

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            stack = entry[1]
            self.group.removeStack(stack)
            stack.deleteLater()
