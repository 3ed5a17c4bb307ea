"""Label values that are not classes of the folder (nor void): found, described, shown and resolved.

A label PNG written with a longer class list, or by another tool, can hold values >= the number of
classes. They are never dropped or re-saved silently: the user is told which image and which values,
the window draws them with a pattern no class uses, and saving them needs a decision (make them void,
or keep them as they are, or add classes for them).
"""
from __future__ import annotations

import numpy as np

# UNKNOWN_COLOURS: orange and black checks, no class colour and not the lock hatching
from ..labels import UNKNOWN_COLOURS, VOID, label_counts
from .errors import UnknownLabelValues

_CHECK = 4                                     # px per check


def _lut(n_classes: int) -> np.ndarray:
    lut = np.ones(256, bool)
    lut[:max(0, min(int(n_classes), 256))] = False
    lut[VOID] = False
    return lut


def unknown_mask(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """(H,W) bool: pixels whose value is neither a class id (< n_classes) nor void."""
    return _lut(n_classes)[np.asarray(labels, dtype=np.uint8)]


def unknown_values(labels: np.ndarray, n_classes: int) -> tuple[tuple[int, ...], int]:
    """(the values that are not classes, how many pixels carry them)."""
    counts = label_counts(labels)
    bad = np.flatnonzero(_lut(n_classes) & (counts > 0))
    return tuple(int(v) for v in bad), int(counts[bad].sum())


def describe_unknown(where: str, values, pixels: int, n_classes: int) -> str:
    shown = ", ".join(str(v) for v in values[:10]) + (" …" if len(values) > 10 else "")
    return (f"{where}: {pixels} pixel{'s' if pixels != 1 else ''} with label value{'s' if len(values) > 1 else ''} "
            f"{shown}, not {'classes' if len(values) > 1 else 'a class'} of this folder "
            f"(0-{n_classes - 1}; 255 = void)")


def check_known(labels: np.ndarray, n_classes: int, where: str) -> None:
    """UnknownLabelValues (with the values) if ``labels`` holds values that are not classes nor void."""
    values, pixels = unknown_values(labels, n_classes)
    if values:
        raise UnknownLabelValues(describe_unknown(where, values, pixels, n_classes)
                                 + ". Make them void, keep them on purpose, or add classes for them", values, pixels)


def void_unknown(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """A copy of ``labels`` with the unknown values made void (255)."""
    out = np.array(labels, dtype=np.uint8, copy=True)
    out[unknown_mask(out, n_classes)] = VOID
    return out


def unknown_rgba(mask: np.ndarray, x0: int = 0, y0: int = 0) -> np.ndarray:
    """(H,W,4) uint8 checks over the unknown pixels of ``mask`` (transparent elsewhere); (x0, y0) is the
    patch's origin in the image, so a redrawn patch lines up with the checks around it."""
    h, w = mask.shape
    yy = (np.arange(y0, y0 + h) // _CHECK)[:, None]
    xx = (np.arange(x0, x0 + w) // _CHECK)[None, :]
    odd = ((yy + xx) & 1).astype(bool)
    out = np.zeros((h, w, 4), np.uint8)
    a, b = UNKNOWN_COLOURS
    out[..., :3] = np.where(odd[..., None], np.asarray(b, np.uint8), np.asarray(a, np.uint8))
    out[..., 3] = np.where(mask, 255, 0)
    return out
