"""How a scientific image becomes the RGB uint8 the app shows and the network sees: which bands, which scaling.

Microscopy and remote-sensing files hold 16-bit, 32-bit or float samples in one to hundreds of bands; the app, its
CRF and its models work on RGB uint8. ``ImageScaling`` is a folder's choice (stored in labels/project.json by
engine.project), and the one conversion below is used for the window, ``predict``, ``prelabel`` and training alike:

- **bands**: one band (shown grey) or three (red, green, blue), numbered from 1 as GDAL and QGIS number them;
  None = the file's RGB when it has three or more bands (the first three), else its first band as grey.
- **mode**: ``percentile`` (the default: each band from its 2nd to its 98th percentile, measured on a strided
  subsample of at most SAMPLE_PIXELS pixels, so a 100 MP image costs milliseconds), ``minmax`` (each band's own
  finite minimum and maximum) or ``fixed`` (one range in the file's units for every band and every image, so a
  value is the same grey in all of them).
- **no-data**: NaN and +-inf never move a limit, and a pixel holding one in any chosen band is black.
- 8-bit data is used as it is (the scaling is for 16-bit, 32-bit and float samples): photos keep their colours.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import EngineError
from ..limits import MAX_BANDS

MODES = ("percentile", "minmax", "fixed")
SAMPLE_PIXELS = 1 << 20        # pixels per band the percentiles are measured on (a strided subsample)
_CHUNK = 1 << 22               # pixels per block when a band is converted: temporaries stay ~16 MB


class ImageSettingsError(EngineError):
    """A band or scaling choice that cannot be used (bad values, or a band the image does not have)."""


@dataclass(frozen=True)
class ImageScaling:
    """Which bands and which scaling turn an image's samples into RGB uint8 (see the module docstring)."""
    mode: str = "percentile"
    percentiles: tuple[float, float] = (2.0, 98.0)   # mode percentile: low and high, 0-100
    range: tuple[float, float] | None = None          # mode fixed: the values shown black and white
    bands: tuple[int, ...] | None = None              # 1 or 3 band numbers from 1; None: RGB / first three / grey

    def __post_init__(self):
        if self.mode not in MODES:
            raise ImageSettingsError(f"unknown scaling {self.mode!r}; use one of {', '.join(MODES)}")
        lo, hi = _pair(self.percentiles, "percentiles")
        if not 0 <= lo < hi <= 100:
            raise ImageSettingsError(f"percentiles must be 0 <= low < high <= 100, got {lo:g}-{hi:g}")
        object.__setattr__(self, "percentiles", (lo, hi))
        if self.range is not None:
            lo, hi = _pair(self.range, "range")
            if not lo < hi:
                raise ImageSettingsError(f"a fixed range needs low < high, got {lo:g}-{hi:g}")
            object.__setattr__(self, "range", (lo, hi))
        elif self.mode == "fixed":
            raise ImageSettingsError("the fixed scaling needs a range (low, high) in the file's units")
        if self.bands is not None:
            bands = tuple(self.bands)
            if len(bands) not in (1, 3) or not all(isinstance(b, (int, np.integer)) and not isinstance(b, bool)
                                                   and 1 <= b <= MAX_BANDS for b in bands):
                raise ImageSettingsError(f"bands must be one band (grey) or three (red, green, blue), each "
                                         f"1-{MAX_BANDS}, got {list(bands)}")
            object.__setattr__(self, "bands", tuple(int(b) for b in bands))

    def describe(self) -> str:
        """'bands 4, 3, 2; percentile 2-98' (the status bar and the dialog show it)."""
        bands = "bands: automatic" if self.bands is None else \
            f"band{'s' if len(self.bands) > 1 else ''} {', '.join(map(str, self.bands))}"
        if self.mode == "percentile":
            how = f"percentile {self.percentiles[0]:g}-{self.percentiles[1]:g}"
        elif self.mode == "minmax":
            how = "min-max"
        else:
            how = f"fixed {self.range[0]:g} to {self.range[1]:g}"
        return f"{bands}; {how}"


def _pair(value, what: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ImageSettingsError(f"{what} must be two numbers (low, high), got {value!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ImageSettingsError(f"{what} must be finite numbers, got {lo}, {hi}")
    return lo, hi


DEFAULT_SCALING = ImageScaling()


def band_indices(n_bands: int, scaling: ImageScaling) -> tuple[int, ...]:
    """0-based indices of the bands shown: 3 (RGB) or 1 (grey). ImageSettingsError for a band the image lacks."""
    if scaling.bands is None:
        return (0, 1, 2) if n_bands >= 3 else (0,)
    missing = [b for b in scaling.bands if b > n_bands]
    if missing:
        raise ImageSettingsError(f"band {missing[0]} is chosen (by the folder's Bands and scaling, or --bands) but "
                                 f"the image has {n_bands} band{'s' if n_bands != 1 else ''} (1-{n_bands})")
    return tuple(b - 1 for b in scaling.bands)


def _subsample(band: np.ndarray) -> np.ndarray:
    """A strided view of at most about SAMPLE_PIXELS pixels, spread over the whole band."""
    step = max(1, math.ceil(math.sqrt(band.size / SAMPLE_PIXELS)))
    return band[::step, ::step]


def _finite(values: np.ndarray) -> np.ndarray:
    values = values.ravel()
    return values[np.isfinite(values)] if values.dtype.kind == "f" else values


def _row_blocks(band: np.ndarray):
    rows = max(1, _CHUNK // max(1, band.shape[1]))
    for y in range(0, band.shape[0], rows):
        yield y, band[y:y + rows]


def band_limits(band: np.ndarray, scaling: ImageScaling) -> tuple[float, float]:
    """(low, high) of one (H,W) band: the values drawn black and white. A band with no finite value, or one
    value only, gets a range that draws it black."""
    if scaling.mode == "fixed":
        return scaling.range
    if scaling.mode == "percentile":
        values = _finite(_subsample(band))
        if values.size == 0:
            return 0.0, 1.0
        lo, hi = (float(v) for v in np.percentile(values, scaling.percentiles))
    else:
        lo, hi = math.inf, -math.inf
        for _, block in _row_blocks(band):       # the whole band, a block at a time (no full-size temporaries)
            values = _finite(block)
            if values.size:
                lo, hi = min(lo, float(values.min())), max(hi, float(values.max()))
        if lo > hi:
            return 0.0, 1.0
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def _scale_into(band: np.ndarray, lo: float, hi: float, out: np.ndarray, nodata: np.ndarray | None) -> None:
    """out[:] = band mapped lo..hi -> 0..255 (rounded, clipped); out (H,W) uint8, block by block."""
    wide = band.dtype == np.float64 or max(abs(lo), abs(hi)) > 1e30     # beyond float32's reach
    kind = np.float64 if wide else np.float32
    low, gain = kind(lo), kind(255.0 / (hi - lo))
    for y, block in _row_blocks(band):
        rows = slice(y, y + block.shape[0])
        with np.errstate(over="ignore", invalid="ignore"):         # non-finite samples are no-data, set below
            vals = np.subtract(block, low, dtype=kind)                # a new array: the samples stay untouched
            vals *= gain                                              # (v - lo) first: exact for nearby values
            vals += kind(0.5)
            np.clip(vals, 0, 255, out=vals)
        if nodata is not None:
            finite = np.isfinite(block)
            if not finite.all():
                bad = ~finite
                vals[bad] = 0
                nodata[rows] |= bad
        out[rows] = vals          # the cast to uint8 truncates: with the +0.5 above, rounding


def alpha_to_uint8(alpha: np.ndarray) -> np.ndarray:
    """Transparency samples of any type as 0-255 (integers by their type's range, floats 0-1)."""
    if alpha.dtype == np.uint8:
        return np.ascontiguousarray(alpha)
    if alpha.dtype.kind == "b":          # a 1-bit alpha: transparent or opaque
        return np.where(alpha, 255, 0).astype(np.uint8)
    if alpha.dtype.kind == "f":
        return (np.clip(np.nan_to_num(alpha), 0, 1) * 255 + 0.5).astype(np.uint8)
    if alpha.dtype.kind not in "iu":
        raise ImageSettingsError(f"transparency samples of type {alpha.dtype} are not supported")
    top = float(np.iinfo(alpha.dtype).max)
    return (np.clip(alpha.astype(np.float64), 0, top) * (255.0 / top) + 0.5).astype(np.uint8)


def to_rgb8(data: np.ndarray, scaling: ImageScaling | None = None) -> np.ndarray:
    """(H,W) or (H,W,bands) samples of any numeric type -> (H,W,3) uint8 RGB with ``scaling`` (None: the default).
    uint8 samples keep their values (band choice only); bool samples are 0 and 255."""
    scaling = DEFAULT_SCALING if scaling is None else scaling
    data = data[..., None] if data.ndim == 2 else data
    if data.ndim != 3 or data.shape[2] < 1:
        raise ImageSettingsError(f"an image needs (H, W) or (H, W, bands) samples, got shape {data.shape}")
    idx = band_indices(data.shape[2], scaling)
    h, w = data.shape[:2]
    if data.dtype == np.bool_:
        data = data.view(np.uint8) * np.uint8(255)
    if data.dtype == np.uint8:
        chosen = data[..., list(idx)]
        return np.ascontiguousarray(np.repeat(chosen, 3, axis=2) if len(idx) == 1 else chosen)
    if data.dtype.kind not in "uif":
        raise ImageSettingsError(f"samples of type {data.dtype} cannot be shown (integers or floats only)")
    out = np.empty((h, w, 3), np.uint8)
    nodata = np.zeros((h, w), bool) if data.dtype.kind == "f" else None
    for k, b in enumerate(idx):
        band = data[..., b]
        lo, hi = band_limits(band, scaling)
        _scale_into(band, lo, hi, out[..., k], nodata)
    if len(idx) == 1:
        out[..., 1] = out[..., 0]
        out[..., 2] = out[..., 0]
    if nodata is not None and nodata.any():
        out[nodata] = 0                       # no-data in any chosen band: the whole pixel is black
    return out
