"""Perceptual colour maps for scalar overlays (uncertainty), and the choice of one that class colours do not mimic.

The maps are OpenCV's (viridis, magma, ... the matplotlib maps: lightness rises monotonically, so a brighter colour
always means a larger value, also in grey and for colour-blind viewers). A single tint such as magenta reads as a
class when a class is magenta (the demo's "plastic bag"); ``most_distinct`` picks the map whose upper half, the part
that shows on an unsure pixel, lies farthest from every class colour in CIE Lab.
"""
from __future__ import annotations

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


def _build(code: int) -> np.ndarray:
    ramp = np.arange(256, dtype=np.uint8).reshape(256, 1)
    rgb = np.ascontiguousarray(cv2.applyColorMap(ramp, code).reshape(256, 3)[:, ::-1])   # BGR -> RGB
    rgb.flags.writeable = False
    return rgb


# Built once at import (a worker thread at start-up), so drawing an overlay never calls OpenCV on the GUI thread.
_LUTS = {name: _build(code) for name, code in COLORMAPS.items()}


def lut(name: str) -> np.ndarray:
    """(256, 3) uint8 RGB: the colour of value i / 255. KeyError names the known maps."""
    if name not in _LUTS:
        raise KeyError(f"unknown colour map {name!r}; known: {', '.join(COLORMAPS)}")
    return _LUTS[name]


def apply(values: np.ndarray, name: str, lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
    """(H, W) floats in [lo, hi] -> (H, W, 3) uint8 RGB through map ``name`` (values outside are clipped)."""
    span = max(hi - lo, 1e-12)
    idx = np.clip((np.asarray(values, np.float32) - lo) * (255.0 / span) + 0.5, 0, 255).astype(np.uint8)
    return lut(name)[idx]


_RGB_TO_XYZ = np.array([[0.412453, 0.357580, 0.180423],    # sRGB primaries, D65 white (the matrix OpenCV uses)
                        [0.212671, 0.715160, 0.072169],
                        [0.019334, 0.119193, 0.950227]])
_WHITE = np.array([0.950456, 1.0, 1.088754])


def _lab(rgb) -> np.ndarray:
    """(N, 3) sRGB uint8 -> (N, 3) CIE L*a*b*. A few colours, converted in numpy: cv2.cvtColor's first call on the
    GUI thread took up to 0.5 s while the CRF ran (OpenCV starting its thread pool), a stall the window felt."""
    c = np.asarray(rgb, np.float64).reshape(-1, 3) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _RGB_TO_XYZ.T / _WHITE
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16.0 / 116.0)
    return np.stack([116.0 * f[:, 1] - 16.0, 500.0 * (f[:, 0] - f[:, 1]), 200.0 * (f[:, 1] - f[:, 2])], axis=1)


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
