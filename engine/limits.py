"""Resource limits for input that may be hostile or broken, in one place.

Why: a 1 MB file can ask for gigabytes (a PNG whose header says 30000x30000, a checkpoint whose spec asks for
3 million classes). Every reader checks what a file *declares* against these limits before it allocates
anything, so the answer is a clear message instead of a MemoryError or a frozen machine.

The pixel cap is the one a user may need to change (huge scans or orthophotos): set DEEPLAB_MAX_PIXELS in the
environment, or pass --max-pixels to `main.py` / `main.py predict` (both call set_max_pixels).
"""
from __future__ import annotations

import math
import os
import re
import sys

from .errors import EngineError

DEFAULT_MAX_PIXELS = 100_000_000          # about 100 MP: a 10000x10000 image (300 MB as RGB uint8)
MAX_PIXELS_ENV = "DEEPLAB_MAX_PIXELS"
MAX_CHECKPOINT_BYTES = 2 << 30            # 2 GiB; DeepLab v2 ResNet-101 files are about 180 MB
MAX_ZIP_EXPANSION = 4                     # a .pt's members may hold at most 4x the file's size, plus 1 MiB
MAX_LOCK_BYTES = 64 << 10                 # a folder lock file is a few hundred bytes
MAX_TIFF_PAGES = 1024                     # pages (IFDs) of one TIFF; counted before any page is decoded
MAX_BANDS = 256                           # bands of one image (hyperspectral cubes have about 200)
DECODE_BYTES_PER_PIXEL = 24               # a TIFF may decode to this many bytes per pixel of the cap (3 float64
#                                           bands): 2.4 GB at the default cap, more bands of a smaller image

_max_pixels: int | None = None            # set_max_pixels() wins over the environment


def parse_pixels(text: str | int | float) -> int:
    """'100M', '2.5e8', '50000000', 250_000_000 -> pixels; EngineError if it is not a positive count."""
    if isinstance(text, bool):
        raise EngineError(f"a pixel limit must be a number of pixels, got {text!r}")
    raw = str(text).strip().replace("_", "")
    m = re.fullmatch(r"(?i)([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*(mp|m|k|g)?", raw)
    if not m:
        raise EngineError(f"a pixel limit must be a number like 100M or 250000000, got {text!r}")
    scale = {None: 1, "k": 1e3, "m": 1e6, "mp": 1e6, "g": 1e9}[(m.group(2) or "").lower() or None]
    value = float(m.group(1)) * scale
    if not math.isfinite(value) or value < 1 or value > 1e12:
        raise EngineError(f"a pixel limit must be between 1 and 1e12 pixels, got {text!r}")
    return int(value)


def max_pixels() -> int:
    """The largest image (width x height) any reader decodes."""
    if _max_pixels is not None:
        return _max_pixels
    env = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if env:
        try:
            return parse_pixels(env)
        except EngineError:
            pass  # a bad variable must not stop the app; the default applies
    return DEFAULT_MAX_PIXELS


def set_max_pixels(value: str | int | None) -> None:
    """Change the cap for this process (None: back to the environment / default)."""
    global _max_pixels
    _max_pixels = None if value is None else parse_pixels(value)
    if "cv2" not in sys.modules:  # OpenCV reads its limit when it loads (see engine/__init__.py)
        os.environ["OPENCV_IO_MAX_IMAGE_PIXELS"] = str(max_pixels())


def max_decode_bytes() -> int:
    """The most bytes one image's samples may take when decoded (all its bands, in the file's own type)."""
    return max_pixels() * DECODE_BYTES_PER_PIXEL


def describe_pixels(n: int) -> str:
    """100000000 -> '100 MP' (one place for how limits are shown)."""
    return f"{n / 1e6:.3g} MP" if n >= 1_000_000 else f"{n} pixels"

# Imports of other tools' annotations (engine.io.imports): what one annotation file, one shape and one zip may hold.
MAX_IMPORT_FILE_BYTES = 1 << 30           # one JSON / txt / PNG: 1 GiB (COCO train2017's instances file is 0.45 GB)
MAX_IMPORT_POINTS = 1_000_000             # vertices of one polygon
MAX_IMPORT_CLASSES = 10_000               # class names one source may use (a folder holds at most 255)
MAX_ZIP_MEMBERS = 200_000                 # entries of one CVAT export zip
MAX_ZIP_TOTAL_BYTES = 8 << 30             # what the members of one zip may expand to, together
