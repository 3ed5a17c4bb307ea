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
from PIL import Image

from ...errors import ImageReadError
from ..images import check_regular_file, open_checked

_ORIENTATION_TAG = 0x0112
# EXIF orientation -> the Pillow transpose that makes the stored pixels upright (as ImageOps.exif_transpose does)
_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
              5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
              8: Image.Transpose.ROTATE_90}


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
        if tuple(size) == self.stored and self.orientation in _TRANSPOSE:
            return self.stored, True
        raise ValueError(f"{where}: drawn on a {size[1]}x{size[0]} image, but the image is {self.width}x"
                         f"{self.height}; it belongs to another image or another version of it")

    def upright(self, labels: np.ndarray) -> np.ndarray:
        """A label map drawn on the stored pixels, turned like the image (uint8, nearest: values are kept)."""
        method = _TRANSPOSE.get(self.orientation)
        if method is None:
            return labels
        return np.array(Image.fromarray(np.ascontiguousarray(labels, dtype=np.uint8), mode="L").transpose(method))


def image_frame(path: str | Path) -> Frame:
    """The frame of an image file, read from its header only (the pixel cap applies). ImageReadError if the
    file is not an image."""
    path = Path(path)
    check_regular_file(path)
    try:
        img = open_checked(path)
    except ImageReadError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, TypeError, KeyError, IndexError) as exc:
        raise ImageReadError(f"{path}: not a readable image ({str(exc)[:200]})") from exc
    with img:
        width, height = img.size
        try:
            orientation = int(img.getexif().get(_ORIENTATION_TAG, 1) or 1)
        except (OSError, ValueError, TypeError, SyntaxError):
            orientation = 1
    if orientation in (5, 6, 7, 8):
        return Frame(width, height, (height, width), orientation)
    return Frame(height, width, (height, width), orientation if orientation in _TRANSPOSE else 1)
