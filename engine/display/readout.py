"""What the status bar says about the pixel under the cursor: position, label, the two likeliest classes, uncertainty.

Reads single pixels of the arrays the window shows (a few dozen floats per mouse move), so it is cheap enough for
every mouse move; Qt-free so the numbers are testable without a window.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.labels import VOID


@dataclass(frozen=True)
class PixelReadout:
    x: int
    y: int
    label: int | None = None                               # class id shown there (VOID = void), None = no labels
    top: tuple[tuple[int, float], ...] = ()                # up to two (class id, probability), likeliest first
    uncertainty: float | None = None                       # 1 - (p1 - p2) of the probabilities shown

    def text(self, names) -> str:
        """'12, 40  bottle 81%, bag 12%  unsure 0.31': position, the two likeliest classes in whole percent (the
        first is the label shown; a label that differs, e.g. painted by hand, comes first as 'bag: ...'), and the
        uncertainty; short enough for a status bar at 1280 px. Unknown parts are left out."""
        def name(c: int) -> str:
            if c == VOID:
                return "void"
            return names[c] if 0 <= c < len(names) else f"class {c}"
        parts = [f"{self.x}, {self.y}"]
        odds = ", ".join(f"{name(c)} {p * 100:.0f}%" for c, p in self.top)
        if self.label is not None and (not self.top or self.label != self.top[0][0]):
            parts.append(f"{name(self.label)}: {odds}" if odds else name(self.label))
        elif odds:
            parts.append(odds)
        if self.uncertainty is not None:
            parts.append(f"unsure {self.uncertainty:.2f}")
        return "  ".join(parts)


def read_pixel(x: int, y: int, labels: np.ndarray | None = None, probs: np.ndarray | None = None,
               unc: np.ndarray | None = None) -> PixelReadout | None:
    """The readout at pixel (x, y); None outside the image. labels (H, W) uint8, probs (C, H, W), unc (H, W)."""
    shape = next((a.shape[-2:] for a in (labels, unc, probs) if a is not None), None)
    if shape is None or not (0 <= y < shape[0] and 0 <= x < shape[1]):
        return None
    label = int(labels[y, x]) if labels is not None else None
    top: tuple[tuple[int, float], ...] = ()
    if probs is not None and probs.shape[-2:] == shape and len(probs):
        column = np.asarray(probs[:, y, x], dtype=np.float64)
        best = np.argsort(-column, kind="stable")[:2]
        top = tuple((int(c), float(column[c])) for c in best)
    u = float(unc[y, x]) if unc is not None and unc.shape == shape else None
    return PixelReadout(int(x), int(y), label, top, u)
