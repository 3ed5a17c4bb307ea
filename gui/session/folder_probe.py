"""A folder's files that cannot be images, marked *error* in its list as soon as it opens (their headers read on a
lane of their own), not only once each is opened: the list's `error` filter finds them at once (a walk filtered
a fresh folder by `error` and got nothing, though two of its files were not images).

A service of the session (gui.session.controller): handed the open dataset's getter, it answers with
``unreadable(index, reason)`` for the dataset it was asked about, while that dataset is still the open one.
"""
from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from engine.io.images import probe_image
from gui.session.lanes import Lane


class FolderProbe(QObject):
    unreadable = Signal(int, str)

    def __init__(self, dataset_fn, parent: QObject | None = None):
        super().__init__(parent)
        self._dataset = dataset_fn
        self.lane = Lane("probe", self)
        self.lane.finished.connect(self._on_done)

    def start(self) -> None:
        """The open folder changed: read its files' headers (a folder opened before is no longer asked about)."""
        dataset = self._dataset()
        if dataset is None:
            self.lane.cancel()
            return
        paths = [e.path for e in dataset.entries]

        def job(cancel, report):
            found = []
            for i, path in enumerate(paths):
                if cancel():
                    break
                reason = probe_image(path)
                if reason is not None:
                    found.append((i, reason))
            return found
        self.lane.submit(("probe", id(dataset)), job)

    def _on_done(self, key, found) -> None:
        dataset = self._dataset()
        if dataset is None or key[1] != id(dataset):   # another folder opened meanwhile
            return
        for i, reason in found:
            self.unreadable.emit(i, reason)
