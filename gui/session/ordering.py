"""The folder's display and navigation order, and each image's score (the mean uncertainty of its prediction).

Widget-free: the file list shows ``order`` and the scores; Navigate > Sort by uncertainty puts the images the model
is least sure of first, so the annotator corrects where it helps most. Scores come from predictions, prefetches
and pre-labelling runs (labels/prelabel.csv).
"""
from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from engine.uncertainty import order_by_uncertainty


class Ordering(QObject):
    score_changed = Signal(int, float)  # dataset index, mean uncertainty of its prediction
    order_changed = Signal()            # the display/navigation order changed

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.order: list[int] = []           # dataset indices in display/navigation order
        self.scores: dict[int, float] = {}   # mean uncertainty of each image predicted so far
        self.count: int | None = None        # images in the open folder (None: no folder)
        self.by_uncertainty = False          # the order last chosen, kept for the next folder (the window's prefs)

    def reset(self, count: int) -> None:
        """A new folder of ``count`` images: folder order, no scores."""
        self.count, self.order, self.scores = count, list(range(count)), {}

    def forget_scores(self) -> None:
        """Another model: the scores were the old model's."""
        self.scores = {}

    def set_score(self, index: int, score: float) -> None:
        self.scores[index] = score
        self.score_changed.emit(index, score)

    def sort_by_uncertainty(self) -> None:
        """Most uncertain first (mean uncertainty of the predictions made so far); unknown ones last."""
        self.by_uncertainty = True
        if self.count is not None:
            self.order = order_by_uncertainty({i: self.scores.get(i) for i in range(self.count)})
            self.order_changed.emit()

    def sort_by_name(self) -> None:
        self.by_uncertainty = False
        if self.count is not None:
            self.order = list(range(self.count))
            self.order_changed.emit()

    def position_text(self, index: int) -> str:
        """'image 5/100' for dataset index ``index``: its place in the order shown (a walk sorted by uncertainty read
        'image 902/2000' for the list's 15th row), which the status bar says."""
        if not self.count:
            return "no images"
        place = self.order.index(index) if index in self.order else index
        return f"image {place + 1}/{self.count}" + (" (most unsure first)" if self.by_uncertainty else "")

    def scores_read(self) -> None:
        """A folder opened and its report's scores are in: sorted by uncertainty again if that was the order last
        chosen (a walk reopened a pre-labelled folder under review and found it in name order)."""
        if self.by_uncertainty:
            self.sort_by_uncertainty()
