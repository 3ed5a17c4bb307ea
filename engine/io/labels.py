"""Label PNGs in the VOC convention: indexed 'P' mode, palette = class colours, 255 = void."""
from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import ImageReadError, LabelIOError
from ..labels import ClassList
from .atomic import write_bytes_atomic, write_text_atomic
from .images import check_regular_file, open_checked

__all__ = ["CLASS_NAMES_FILE", "encode_label_png", "write_label_png", "read_label_png", "read_label_palette", "write_class_names",
           "encode_class_names", "write_text_atomic", "write_bytes_atomic"]

# The class names beside the label PNGs in a labels folder (VOC tooling and labelme2voc read it). Defined here, with
# the label files, so the folder (engine.folder), its settings (engine.project) and the exports share one name.
CLASS_NAMES_FILE = "class_names.txt"


def encode_label_png(labels: np.ndarray, class_list: ClassList) -> bytes:
    """PNG bytes of an (H,W) uint8 label map with the class palette."""
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.dtype != np.uint8:
        raise LabelIOError(f"label map must be (H,W) uint8, got {labels.shape} {labels.dtype}")
    img = Image.frombytes("P", (labels.shape[1], labels.shape[0]), np.ascontiguousarray(labels).tobytes())
    img.putpalette(class_list.full_palette())
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def write_label_png(path: str | Path, labels: np.ndarray, class_list: ClassList) -> None:
    """Atomically write the label PNG; raises LabelIOError (disk full, read-only) and leaves any old file intact."""
    write_bytes_atomic(path, encode_label_png(labels, class_list))


def _open_label(path: Path) -> Image.Image:
    """Decode a label PNG, its size checked against the pixel cap first (a label file can be a bomb too)."""
    try:
        check_regular_file(path, "label PNG")
        img = open_checked(path)
        img.load()
        return img
    except ImageReadError as exc:
        raise LabelIOError(str(exc)) from exc
    except (OSError, ValueError, SyntaxError, EOFError, TypeError, KeyError, IndexError, struct.error) as exc:
        raise LabelIOError(f"{path}: not a readable label PNG ({exc})") from exc


def read_label_png(path: str | Path) -> np.ndarray:
    """(H,W) uint8 indices of a 'P' or 'L' label PNG (palette ignored; indices are the labels)."""
    path = Path(path)
    img = _open_label(path)
    if img.mode not in ("P", "L"):
        kind = {"I;16": "16-bit grey", "I": "32-bit grey", "I;16B": "16-bit grey", "RGB": "colour (RGB)",
                "RGBA": "colour with alpha (RGBA)", "LA": "grey with alpha", "1": "black and white (1 bit)",
                "F": "floating-point"}.get(img.mode, img.mode)
        raise LabelIOError(f"{path}: a label PNG holds one 8-bit class id per pixel, indexed (P) or grey (L); this "
                           f"one is {kind} (mode {img.mode}). Convert it to 8-bit grey with ids 0-254 (255 = void), "
                           "or import colour masks with File > Import labels (CVAT masks, VOC)")
    return np.array(img, dtype=np.uint8)


def read_label_palette(path: str | Path) -> np.ndarray:
    """(256,3) uint8 palette of an indexed label PNG."""
    img = _open_label(Path(path))
    pal = img.getpalette() or []
    pal = (pal + [0] * 768)[:768]
    return np.asarray(pal, dtype=np.uint8).reshape(256, 3)


def encode_class_names(class_list: ClassList) -> bytes:
    """The bytes of class_names.txt: 'index name' per line, so the PNG indices can be read back."""
    lines = [f"{i} {name}" for i, name in enumerate(class_list.names)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def write_class_names(path: str | Path, class_list: ClassList) -> None:
    """class_names.txt beside the labels, atomically."""
    write_bytes_atomic(path, encode_class_names(class_list))
