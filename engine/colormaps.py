"""Perceptual colour maps for scalar overlays (uncertainty), and the choice of one that class colours do not mimic.

The maps are OpenCV's (viridis, magma, ... the matplotlib maps: lightness rises monotonically, so a brighter colour
always means a larger value, also in grey and for colour-blind viewers). A single tint such as magenta reads as a
class when a class is magenta (the demo's "plastic bag"); ``most_distinct`` picks the map whose upper half, the part
that shows on an unsure pixel, lies farthest from every class colour in CIE Lab.
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

COLORMAPS = {
    "viridis": cv2.COLORMAP_VIRIDIS,
    "cividis": cv2.COLORMAP_CIVIDIS,
    "magma": cv2.COLORMAP_MAGMA,
    "inferno": cv2.COLORMAP_INFERNO,
    "plasma": cv2.COLORMAP_PLASMA,
    "turbo": cv2.COLORMAP_TURBO,
}
AUTO = "auto"            # the map most distinct from the current class colours
DEFAULT = "viridis"


@lru_cache(maxsize=None)
def _lut(name: str) -> np.ndarray:
    ramp = np.arange(256, dtype=np.uint8).reshape(256, 1)
    rgb = cv2.cvtColor(cv2.applyColorMap(ramp, COLORMAPS[name]), cv2.COLOR_BGR2RGB).reshape(256, 3)
    rgb.flags.writeable = False
    return rgb


def lut(name: str) -> np.ndarray:
    """(256, 3) uint8 RGB: the colour of value i / 255. KeyError names the known maps."""
    if name not in COLORMAPS:
        raise KeyError(f"unknown colour map {name!r}; known: {', '.join(COLORMAPS)}")
    return _lut(name)


def apply(values: np.ndarray, name: str, lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
    """(H, W) floats in [lo, hi] -> (H, W, 3) uint8 RGB through map ``name`` (values outside are clipped)."""
    span = max(hi - lo, 1e-12)
    idx = np.clip((np.asarray(values, np.float32) - lo) * (255.0 / span) + 0.5, 0, 255).astype(np.uint8)
    return lut(name)[idx]


def _lab(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb, np.float32).reshape(-1, 1, 3) / 255.0
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab).reshape(-1, 3)


def distance_to_palette(name: str, palette) -> float:
    """Smallest CIE Lab distance (Delta E 1976) between the map's colours for values 0.5-1 and any class colour."""
    pal = np.asarray(palette, np.uint8).reshape(-1, 3)
    if len(pal) == 0:
        return float("inf")
    upper = _lab(lut(name)[128::8])
    d = np.linalg.norm(upper[:, None, :] - _lab(pal)[None, :, :], axis=2)
    return float(d.min())


def most_distinct(palette, candidates=None) -> str:
    """The colour map (among ``candidates``, default all) least like any class colour of ``palette``."""
    names = list(candidates or COLORMAPS)
    return max(names, key=lambda n: distance_to_palette(n, palette))


def resolve(name: str, palette) -> str:
    """A concrete map name: ``AUTO`` becomes the most distinct map for ``palette``; unknown names the default."""
    if name == AUTO:
        return most_distinct(palette) if palette is not None else DEFAULT
    return name if name in COLORMAPS else DEFAULT
