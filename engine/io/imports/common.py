"""What every importer returns, and the checks every importer makes before it trusts a file.

An importer reads another tool's annotations into a `Source`: the class names the source uses and one
`SourceItem` per annotated image. An item does not hold pixels: `render(height, width)` paints its label map on
demand, so a folder of 10 000 annotations costs memory for one image at a time. Rendered maps hold source class
indices (into `Source.names`), `UNLABELLED` where nothing was drawn and `IGNORE` where the source says "void"
(labelme's `__ignore__`); engine.folder.imports turns them into the folder's class ids.
"""
from __future__ import annotations

import io
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from ... import limits
from ...errors import EngineError, ImageReadError
from ..checks import check_pixels

UNLABELLED = -1   # no shape covers the pixel: void, or the class the user picks for it
IGNORE = -2       # the source marks the pixel void on purpose (labelme "__ignore__")
IGNORE_NAMES = ("__ignore__",)


class ImportSourceError(EngineError):
    """Annotations that cannot be imported: the message names the file and what is wrong."""


@dataclass
class SourceItem:
    """One annotated image. ``image``: how the source names it (a file name or a relative path);
    ``size``: the (height, width) the annotation was drawn on, or None when its coordinates are relative (YOLO);
    ``render(h, w)`` -> (h, w) int32 source class indices / UNLABELLED / IGNORE, ImportSourceError if broken;
    an item without a declared size (a mask file) may return its own size, which the caller then checks."""

    image: str
    where: str                                   # the file (and entry) it came from, for messages
    size: tuple[int, int] | None
    render: Callable[[int, int], np.ndarray]
    aliases: tuple[str, ...] = ()                # other names the image may have (the annotation file's stem)


@dataclass
class Source:
    """Everything one importer read: class names (index = source class index), items, and per-file problems."""

    format: str
    path: Path
    names: list[str]
    items: list[SourceItem]
    problems: list[str] = field(default_factory=list)   # files or entries skipped, with why
    unlabelled: str | None = None   # the class the source gives pixels no shape covers (labelme2voc: _background_)
    unused: frozenset[str] = frozenset()   # names the source declares but no annotation uses
    failed: list[str] = field(default_factory=list)   # files or images that could not be read at all (in problems)

    def __post_init__(self):
        if len(self.names) > limits.MAX_IMPORT_CLASSES:
            raise ImportSourceError(f"{self.path}: {len(self.names)} class names; at most {limits.MAX_IMPORT_CLASSES} "
                                    "are read (a folder holds at most 255 classes)")


def canvas(height: int, width: int) -> np.ndarray:
    return np.full((height, width), UNLABELLED, np.int32)


def read_capped(path: Path, what: str, cap: int | None = None) -> bytes:
    """A regular file's bytes, refused above ``cap`` (default engine.limits.MAX_IMPORT_FILE_BYTES) before it is
    read."""
    cap = limits.MAX_IMPORT_FILE_BYTES if cap is None else cap
    try:
        if not path.is_file():
            raise ImportSourceError(f"{path}: not a regular file ({what} expected)")
        size = path.stat().st_size
        if size > cap:
            raise ImportSourceError(f"{path}: {size / 1e6:.0f} MB is more than the {cap / 1e6:.0f} MB a {what} "
                                    "may have here; split it into smaller files")
        with open(path, "rb") as fh:
            data = fh.read(cap + 1)
    except OSError as exc:
        raise ImportSourceError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    if len(data) > cap:
        raise ImportSourceError(f"{path}: larger than {cap / 1e6:.0f} MB; not read")
    return data


def load_json(data: bytes, where: str):
    try:
        return json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ImportSourceError(f"{where}: not valid JSON ({str(exc)[:200]})") from exc


def check_size(where: str, height, width) -> tuple[int, int]:
    """A declared (height, width): positive integers within the pixel cap (engine.limits)."""
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (height, width)):
        raise ImportSourceError(f"{where}: image height and width must be integers, got {height!r} x {width!r}")
    try:
        check_pixels(where, (width, height))
    except ImageReadError as exc:
        raise ImportSourceError(str(exc)) from exc
    return int(height), int(width)


def check_points(where: str, points, height: int, width: int, flat: bool = False) -> np.ndarray:
    """(K,2) float64 from [[x, y], ...] (or [x0, y0, x1, ...] with ``flat``): finite numbers no farther than one
    image size outside the image (absurd coordinates would overflow the rasterisers), at most MAX_IMPORT_POINTS."""
    if not isinstance(points, (list, tuple)) or not points:
        raise ImportSourceError(f"{where}: points must be a non-empty list")
    if len(points) > limits.MAX_IMPORT_POINTS * (2 if flat else 1):
        raise ImportSourceError(f"{where}: more than {limits.MAX_IMPORT_POINTS} points in one shape")
    try:
        if flat:
            if len(points) % 2:
                raise ImportSourceError(f"{where}: an odd number of coordinates ({len(points)})")
            arr = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        else:
            if not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in points):
                raise ImportSourceError(f"{where}: points must be [x, y] pairs")
            arr = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ImportSourceError(f"{where}: points must be numbers ({exc})") from exc
    if any(isinstance(v, bool) for p in points for v in (p if isinstance(p, (list, tuple)) else [p])):
        raise ImportSourceError(f"{where}: points must be numbers, not true/false")
    if not np.isfinite(arr).all():
        raise ImportSourceError(f"{where}: points must be finite numbers")
    lo = -np.array([width, height], np.float64)
    hi = 2 * np.array([width, height], np.float64)
    if (arr < lo).any() or (arr > hi).any():
        bad = arr[((arr < lo) | (arr > hi)).any(axis=1)][0]
        raise ImportSourceError(f"{where}: point ({bad[0]:.6g}, {bad[1]:.6g}) lies far outside the {width}x{height} "
                                "image; the annotation is not for this image or is damaged")
    return arr


def decode_png(data: bytes, where: str) -> Image.Image:
    """A PNG (or any Pillow image) from bytes, its declared size checked against the pixel cap before decoding."""
    try:
        img = Image.open(io.BytesIO(data))
        check_size(where, img.size[1], img.size[0])
        img.load()
        return img
    except ImportSourceError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImportSourceError(f"{where}: image over the pixel limit ({exc})") from exc
    except (OSError, ValueError, SyntaxError, EOFError, TypeError, KeyError, IndexError, struct.error,
            ZeroDivisionError, MemoryError) as exc:
        raise ImportSourceError(f"{where}: not a readable image ({str(exc)[:200]})") from exc


def is_ignore(name: str) -> bool:
    return name.strip().casefold() in IGNORE_NAMES


def name_index(names: list[str], name: str) -> int:
    """The index of ``name`` in ``names``, appended if new (source class lists grow as files are read)."""
    try:
        return names.index(name)
    except ValueError:
        names.append(name)
        return len(names) - 1


__all__ = ["UNLABELLED", "IGNORE", "ImportSourceError", "SourceItem", "Source", "canvas", "read_capped", "load_json",
           "check_size", "check_points", "decode_png", "is_ignore", "name_index"]
