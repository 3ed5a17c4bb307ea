"""TIFF files with samples Pillow cannot give us (16-bit colour, 32-bit, float, signed, 2 or more than 4 bands),
read with tifffile, after every check that can be made on the header alone.

Before a byte of pixel data is decoded: at most MAX_TIFF_PAGES pages (counted without reading them), one 2-D image
with at most one band axis (samples, planar planes or one band per page), width x height within the pixel cap,
at most MAX_BANDS bands, all bands together within max_decode_bytes(), and every strip or tile inside the file
(a truncated file is refused, not read as zeros). Plain 8-bit grey, RGB(A), palette and CMYK TIFFs are left to
Pillow (``read_tiff`` returns None), so they keep the colour handling every other format has.

The result is the file's own samples, (H,W,bands) in its own type, upright per its Orientation tag; the caller
turns them into RGB uint8 with the folder's band choice and scaling (engine.io.scaling).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile

from ..errors import ImageReadError
from ..limits import MAX_BANDS, MAX_TIFF_PAGES, max_decode_bytes
from .checks import check_pixels
from .orientation import orient
from .scaling import alpha_to_uint8

# tifffile logs its own complaints about a damaged file; the ImageReadError raised here says it once, for the user
logging.getLogger("tifffile").setLevel(logging.CRITICAL)

MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")   # classic TIFF and BigTIFF, both byte orders
_PILLOW_PHOTOMETRIC = {0, 1, 2, 3, 5, 6}   # miniswhite, minisblack, RGB, palette, CMYK, YCbCr
_ALPHA = {1, 2}                            # ExtraSamples: associated or unassociated alpha


class CodecMissing(ImageReadError):
    """The file is compressed with a codec tifffile needs the optional imagecodecs package for."""


@dataclass(frozen=True)
class RawImage:
    """A TIFF's samples: data (H,W,bands) in the file's type; alpha (H,W) uint8 or None."""
    data: np.ndarray
    alpha: np.ndarray | None = None


def is_tiff(path: Path) -> bool:
    """True when the file starts like a TIFF, whatever its name."""
    try:
        with open(path, "rb") as fh:
            return fh.read(4) in MAGIC
    except OSError:
        return False


def _too_many_pages(tif: tifffile.TiffFile) -> bool:
    """More than MAX_TIFF_PAGES pages? Only the chain of page offsets up to the limit is followed."""
    pages = tif.pages
    pages.cache = False
    try:
        pages.get(MAX_TIFF_PAGES)          # reads the offsets of the first MAX_TIFF_PAGES + 1 pages at most
    except IndexError:
        return False
    return True


@dataclass(frozen=True)
class _Layout:
    shape: tuple[int, ...]
    axes: str
    y: int
    x: int
    bands: int
    photometric: int
    extrasamples: tuple[int, ...]
    orientation: int


def _layout(path: Path, tif: tifffile.TiffFile, cap: int) -> _Layout | None:
    """What the first series holds, every limit checked; None for several 8-bit pages (a multi-page scan), which
    Pillow reads as before: its first page."""
    if _too_many_pages(tif):
        raise ImageReadError(f"{path}: the TIFF has more than {MAX_TIFF_PAGES} pages; this app labels one 2-D "
                             "image per file (save the page you want as its own file). It was not decoded")
    series = tif.series[0]
    shape, axes = tuple(int(v) for v in series.shape), series.axes
    if "Y" not in axes or "X" not in axes:
        raise ImageReadError(f"{path}: not a 2-D image (TIFF axes {axes}, shape {shape})")
    y, x = axes.index("Y"), axes.index("X")
    check_pixels(path, (shape[x], shape[y]), cap)
    stacks = [(a, n) for i, (a, n) in enumerate(zip(axes, shape)) if i not in (y, x) and n > 1]
    if len(stacks) > 1:
        if series.dtype in (np.uint8, np.bool_):
            return None
        raise ImageReadError(f"{path}: the TIFF is a stack (axes {axes}, shape {shape}); this app labels one 2-D "
                             "image with one band axis per file. Save one plane as its own file")
    bands = stacks[0][1] if stacks else 1
    if bands > MAX_BANDS:
        raise ImageReadError(f"{path}: {bands} bands (or pages) along axis {stacks[0][0]}, over the limit of "
                             f"{MAX_BANDS}; it was not decoded")
    size = shape[y] * shape[x] * bands * series.dtype.itemsize
    if size > max_decode_bytes():
        raise ImageReadError(f"{path}: its {bands} band{'s' if bands > 1 else ''} of {series.dtype} would take "
                             f"{size / 1e9:.3g} GB decoded, over the limit of {max_decode_bytes() / 1e9:.3g} GB "
                             "(it grows with the pixel cap: --max-pixels or DEEPLAB_MAX_PIXELS, see "
                             "docs/user/limits.md); it was not decoded")
    _check_inside(path, series)
    page = series.pages[0] if series.pages else tif.pages[0]
    keyframe = getattr(page, "keyframe", page)
    orientation = keyframe.tags.get(274)
    return _Layout(shape, axes, y, x, bands, int(keyframe.photometric), tuple(keyframe.extrasamples or ()),
                   int(orientation.value) if orientation is not None else 1)


def _check_inside(path: Path, series) -> None:
    """Every strip or tile of the series lies inside the file: a cut-off file is refused before decoding."""
    size = os.path.getsize(path)
    for page in series.pages:
        if page is None:
            continue
        for offset, count in zip(page.dataoffsets, page.databytecounts):
            if count and offset + count > size:
                raise ImageReadError(f"{path}: the TIFF is truncated or damaged (its pixel data runs to byte "
                                     f"{offset + count}, the file has {size}); it was not decoded")


def _plain(layout: _Layout, dtype: np.dtype) -> bool:
    """An 8-bit grey, RGB(A), palette or CMYK image: Pillow's to read, as every other 8-bit format. Not, and read
    here instead: grey or RGB turned by an Orientation tag (Pillow 13 turns a TIFF as it loads it and scrambled a
    walk's 300x400 grey scan), and RGB with a fourth band that is not alpha (near infrared, as aerial imagery
    ships): Pillow read it as RGBA and the folder's band choice (4,3,2) was ignored."""
    if dtype not in (np.uint8, np.bool_) or layout.photometric not in _PILLOW_PHOTOMETRIC:
        return False
    if layout.orientation not in (0, 1) and layout.photometric in (1, 2):
        return False
    alpha = bool(layout.extrasamples) and layout.extrasamples[-1] in _ALPHA
    if layout.photometric == 2 and layout.bands == 4 and not alpha:
        return False
    return layout.bands == 1 or (layout.photometric not in (0, 1) and layout.bands in (3, 4) and "S" in layout.axes)


def read_tiff(path: Path, cap: int) -> RawImage | None:
    """The TIFF's samples as a RawImage, or None for a plain 8-bit TIFF Pillow reads. ImageReadError for a file
    over a limit, a stack, a damaged file; CodecMissing when its compression needs imagecodecs."""
    try:
        with tifffile.TiffFile(path) as tif:
            layout = _layout(path, tif, cap)
            series = tif.series[0]
            if layout is None or _plain(layout, series.dtype):
                return None
            try:
                data = series.asarray()
            except ValueError as exc:
                if "imagecodecs" in str(exc):
                    raise CodecMissing(f"{path}: the TIFF is compressed in a way that needs the imagecodecs "
                                       f"package (pip install imagecodecs): {exc}") from None
                raise
    except ImageReadError:
        raise
    except MemoryError:
        raise ImageReadError(f"{path}: not enough memory to decode this TIFF") from None
    except Exception as exc:  # noqa: BLE001 - tifffile raises many types on damaged bytes; all mean "unreadable"
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ImageReadError(f"{path}: not a readable TIFF ({text or type(exc).__name__})") from exc
    if data.shape != layout.shape:
        raise ImageReadError(f"{path}: the TIFF decoded to shape {data.shape}, not the {layout.shape} it declares")
    data = np.moveaxis(data, (layout.y, layout.x), (0, 1))
    data = data.reshape(data.shape[0], data.shape[1], -1)
    alpha = None
    if layout.extrasamples and layout.extrasamples[-1] in _ALPHA and data.shape[2] in (2, 4):
        alpha, data = alpha_to_uint8(data[..., -1]), data[..., :-1]
    data = orient(data, layout.orientation)
    alpha = None if alpha is None else np.ascontiguousarray(orient(alpha, layout.orientation))
    return RawImage(data, alpha)


def tiff_bands(path: Path) -> tuple[int, str] | None:
    """(bands, sample type) from the header alone, for the Bands and scaling dialog; None if unknown."""
    try:
        with tifffile.TiffFile(path) as tif:
            if _too_many_pages(tif):
                return None
            series = tif.series[0]
            axes, shape = series.axes, series.shape
            bands = int(np.prod([n for a, n in zip(axes, shape) if a not in "YX"], dtype=np.int64))
            return bands, str(series.dtype)
    except Exception:  # noqa: BLE001 - only a hint for the dialog
        return None
