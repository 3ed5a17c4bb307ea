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
    network: tuple[float, ...] = ()                        # the network's own odds of ``top``'s classes, where
    #                                                          it hesitates (shown in brackets)

    def text(self, names) -> str:
        """'12, 40  bottle 81%, bag 12%  unsure 0.31': position, the two likeliest classes in whole percent (the
        first is the label shown; a label that differs, e.g. painted by hand, comes first as 'bag: ...'), and the
        uncertainty; short enough for a status bar at 1280 px. Unknown parts are left out."""
        def name(c: int) -> str:
            if c == VOID:
                return "void"
            return names[c] if 0 <= c < len(names) else f"class {c}"
        parts = [f"{self.x}, {self.y}"]
        own = [f" ({q * 100:.0f}%)" for q in self.network] if len(self.network) == len(self.top) else [""] * 2
        odds = ", ".join(f"{name(c)} {p * 100:.0f}%{o}" for (c, p), o in zip(self.top, own))
        if self.label is not None and (not self.top or self.label != self.top[0][0]):
            parts.append(f"{name(self.label)}: {odds}" if odds else name(self.label))
        elif odds:
            parts.append(odds)
        if self.uncertainty is not None:
            parts.append(f"unsure {self.uncertainty:.2f}")
        return "  ".join(parts)


NETWORK_DOUBT = 0.2   # the network's own odds are shown where it gives its runner-up at least this ...
CRF_SURE = 0.05       # ... and the CRF's runner-up is below this: the CRF hides a doubt the network has
FAINT = 0.005         # a CRF runner-up below this is a tie at 0 %: the network's runner-up names it instead


def _top(column: np.ndarray) -> tuple[tuple[int, float], ...]:
    best = np.argsort(-column, kind="stable")[:2]
    return tuple((int(c), float(column[c])) for c in best)


def read_pixel(x: int, y: int, labels: np.ndarray | None = None, probs: np.ndarray | None = None,
               unc: np.ndarray | None = None, network: np.ndarray | None = None) -> PixelReadout | None:
    """The readout at pixel (x, y); None outside the image. labels (H, W) uint8, probs (C, H, W), unc (H, W).

    ``network`` (C, H, W): the network's own probabilities when ``probs`` are the CRF's. The CRF's mean field is
    sure of nearly every pixel (a walk over 4 MP photos: 98 % of pixels above 0.99 after the CRF, 76 % before), so
    a class the network hesitates over (a cardboard panel: paper 62 %, cardboard 36 %) read 'paper 100%, belt 0%'.
    Where the network gives its runner-up NETWORK_DOUBT or more and the CRF's is under CRF_SURE, the network's own
    odds of the two classes shown follow each in brackets ('paper 100% (62%), cardboard 0% (36%)'), and a CRF
    runner-up tied at 0 % is the network's runner-up, not the first class id."""
    shape = next((a.shape[-2:] for a in (labels, unc, probs) if a is not None), None)
    if shape is None or not (0 <= y < shape[0] and 0 <= x < shape[1]):
        return None
    label = int(labels[y, x]) if labels is not None else None
    top: tuple[tuple[int, float], ...] = ()
    own: tuple[tuple[int, float], ...] = ()
    net = None   # the network's column at (x, y), when it is not what ``probs`` already show
    if network is not None and network.shape[-2:] == shape and len(network) and network is not probs:
        net = np.asarray(network[:, y, x], dtype=np.float64)
        own = _top(net)
    if probs is not None and probs.shape[-2:] == shape and len(probs):
        column = np.asarray(probs[:, y, x], dtype=np.float64)
        top = _top(column)
        if len(top) == 2 and top[1][1] < FAINT and own:
            runner = next((c for c, _ in own if c != top[0][0]), None)
            if runner is not None and runner < len(column):
                top = (top[0], (runner, float(column[runner])))
    u = float(unc[y, x]) if unc is not None and unc.shape == shape else None
    network_part = ()
    if len(own) == 2 and own[1][1] >= NETWORK_DOUBT and len(top) == 2 and top[1][1] < CRF_SURE:
        network_part = tuple(float(net[c]) if c < len(net) else 0.0 for c, _ in top)
    return PixelReadout(int(x), int(y), label, top, u, network_part)
