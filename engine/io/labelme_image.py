"""The picture a labelme JSON carries when labelme cannot open the image file itself.

labelme 6.3 opens an image with PIL and keeps only the modes it can show ("1", "L", "P", "RGB", "RGBA", "LA",
"PA"; labelme/_label_file.py, `_imread`); anything else (a CMYK JPEG, a 16-bit grey PNG) makes it refuse the
whole JSON, and labelme2voc stops with it. This app reads those files fine, so for them the export embeds the
picture the app labelled (engine.io.images.read_image: RGB uint8, EXIF-rotated) as an 8-bit RGB PNG in
``imageData``, which labelme, labelme2voc and X-AnyLabeling all decode.
"""
from __future__ import annotations

import base64
import io
from pathlib import Path

from PIL import Image

from ..errors import LabelIOError
from .images import read_image

__all__ = ["LABELME_MODES", "labelme_opens", "embedded_image_data"]

LABELME_MODES = frozenset({"1", "L", "P", "RGB", "RGBA", "LA", "PA"})


def labelme_opens(path: str | Path) -> bool:
    """True if labelme can open the image file itself (PIL reads it, in a mode labelme shows)."""
    try:
        with Image.open(path) as img:
            return img.mode in LABELME_MODES
    except (OSError, ValueError, Image.DecompressionBombError):
        return False


def embedded_image_data(path: str | Path, shape: tuple[int, int], scaling=None) -> str:
    """The image as labelme's imageData: base64 of an 8-bit RGB PNG of what the app shows. ``shape`` (H, W)
    is the label map's; a different picture size is refused (the labels would not fit it)."""
    rgb = read_image(path, scaling=scaling)   # the folder's bands and scaling, as the app shows it
    if rgb.shape[:2] != tuple(shape):
        raise LabelIOError(f"{path}: image is {rgb.shape[1]}x{rgb.shape[0]} but its labels are "
                           f"{shape[1]}x{shape[0]}")
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")
