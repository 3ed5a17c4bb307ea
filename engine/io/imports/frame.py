"""Which pixel grid an imported annotation was drawn on, and how to bring it onto the image the app shows.

The app shows every image upright per its EXIF orientation (engine.io.images), and so do labelme (it applies the
orientation when it loads an image), OpenCV's imread (Ultralytics) and CVAT. An annotation whose declared size is
the upright size is therefore taken as drawn on the upright image. An annotation whose declared size is the size
of the pixels as stored (before the orientation), and which differs from the upright size (a 90 degree
rotation), was drawn by a tool that ignored the orientation: its label map is rotated like the image. Any other
size does not fit the image and is refused for that image. (With orientations that only flip or turn by 180
degrees the two sizes are equal, so the upright reading is the one taken.)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile

from ...errors import ImageReadError
from ..checks import check_pixels, check_regular_file
from ..images import open_checked
from ..orientation import orient
from ..tiff import is_tiff

_ORIENTATION_TAG = 0x0112   # EXIF and TIFF Orientation (274)
_TURNS = (5, 6, 7, 8)       # orientations that swap width and height


@dataclass(frozen=True)
class Frame:
    """An image's upright (height, width), as the app shows it, and its stored size and EXIF orientation."""

    height: int
    width: int
    stored: tuple[int, int]
    orientation: int = 1

    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width

    def fit(self, size: tuple[int, int] | None, where: str) -> tuple[tuple[int, int], bool]:
        """(the size to render at, whether the rendered map must be turned upright). ValueError if ``size`` is
        neither the upright nor the stored size."""
        if size is None or tuple(size) == self.shape:
            return self.shape, False
        if tuple(size) == self.stored and self.orientation in _TURNS:
            return self.stored, True
        raise ValueError(f"{where}: drawn on a {size[1]}x{size[0]} image, but the image is {self.width}x"
                         f"{self.height}; it belongs to another image or another version of it")

    def upright(self, labels: np.ndarray) -> np.ndarray:
        """A label map drawn on the stored pixels, turned like the image (engine.io.orientation, as every reader
        turns the pixels)."""
        return np.ascontiguousarray(orient(labels, self.orientation))


def _frame(height: int, width: int, orientation: int) -> Frame:
    orientation = orientation if 1 <= orientation <= 8 else 1
    if orientation in _TURNS:
        return Frame(width, height, (height, width), orientation)
    return Frame(height, width, (height, width), orientation)


def _tiff_frame(path: Path) -> Frame:
    """A TIFF's first series' size (as stored) and orientation, from its header."""
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            axes, shape = series.axes, tuple(int(v) for v in series.shape)
            height, width = shape[axes.index("Y")], shape[axes.index("X")]
            page = series.pages[0] if series.pages else tif.pages[0]
            tag = getattr(page, "keyframe", page).tags.get(274)
            orientation = int(tag.value) if tag is not None else 1
    except Exception as exc:  # noqa: BLE001 - tifffile raises many types on damaged bytes
        raise ImageReadError(f"{path}: not a readable TIFF ({str(exc)[:200]})") from exc
    check_pixels(path, (width, height))
    return _frame(height, width, orientation)


def image_frame(path: str | Path) -> Frame:
    """The frame of an image file, read from its header only (the pixel cap applies). ImageReadError if the
    file is not an image."""
    path = Path(path)
    check_regular_file(path)
    if is_tiff(path):   # from tifffile: Pillow 13 gives a TIFF's size already turned, its Orientation still set
        return _tiff_frame(path)   # (a walk: an Orientation-6 TIFF's imports were written 300x400, not 400x300)
    try:
        img = open_checked(path)
    except ImageReadError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, TypeError, KeyError, IndexError) as exc:
        if is_tiff(path):
            return _tiff_frame(path)
        raise ImageReadError(f"{path}: not a readable image ({str(exc)[:200]})") from exc
    with img:
        width, height = img.size
        try:
            orientation = int(img.getexif().get(_ORIENTATION_TAG, 1) or 1)
        except (OSError, ValueError, TypeError, SyntaxError):
            orientation = 1
    return _frame(height, width, orientation)
