"""Read any common image file as RGB uint8, the one format the rest of the engine accepts."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ImageReadError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def is_image_file(path: Path) -> bool:
    """True for files the folder view should list."""
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    """Scale 16-bit / float data to 0-255 by its type's range (not by the image's own max, so tones stay honest)."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.uint16:
        return (arr >> 8).astype(np.uint8)
    if np.issubdtype(arr.dtype, np.integer):
        hi = 65535 if arr.max(initial=0) > 255 else 255
        return np.clip(arr.astype(np.float64) * (255.0 / hi), 0, 255).astype(np.uint8)
    arr = np.nan_to_num(arr.astype(np.float64))
    hi = 1.0 if arr.max(initial=0) <= 1.0 else 255.0
    return np.clip(arr * (255.0 / hi) + 0.5, 0, 255).astype(np.uint8)


WHITE = (255, 255, 255)


def _flatten_alpha(rgba: np.ndarray, background=WHITE) -> np.ndarray:
    """Composite transparent pixels onto ``background`` (RGB). The app passes the model's mean colour
    (engine.predict.alpha_background): the network then sees zero input there, not a bright white area it would
    call some class; plain reads default to white, what viewers show."""
    if rgba.shape[2] == 3:
        return rgba
    rgb = rgba[..., :3].astype(np.float32)
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    bg = np.asarray(background, np.float32).reshape(1, 1, 3)
    return np.clip(rgb * alpha + bg * (1.0 - alpha) + 0.5, 0, 255).astype(np.uint8)


def _from_pillow(img: Image.Image) -> np.ndarray:
    """(H, W, 3) RGB, or (H, W, 4) RGBA when the file has transparency."""
    img = ImageOps.exif_transpose(img)
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        gray = _to_uint8(np.asarray(img))
        return np.repeat(gray[..., None], 3, axis=2)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        return np.asarray(img.convert("RGBA"))
    return np.asarray(img.convert("RGB"))


def _from_opencv(path: Path) -> np.ndarray:
    """Fallback for files Pillow cannot decode (e.g. 16-bit colour TIFF); RGB, or RGBA with transparency."""
    data = np.fromfile(str(path), dtype=np.uint8)
    try:
        arr = cv2.imdecode(data, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR) if data.size else None
    except cv2.error:
        arr = None
    if arr is None:
        raise ImageReadError(f"{path}: not a readable image (unknown format or corrupt data)")
    arr = _to_uint8(arr)
    if arr.ndim == 2:
        return np.repeat(arr[..., None], 3, axis=2)
    if arr.shape[2] == 4:
        return cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA)
    return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)


def read_image(path: str | Path, background=WHITE, with_alpha: bool = False):
    """Return the image as (H,W,3) uint8 RGB, upright per EXIF, transparent pixels composited onto ``background``
    (RGB); with ``with_alpha`` the pair (rgb, alpha), alpha (H,W) uint8 or None for an opaque file.
    Raises ImageReadError with the file name."""
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"{path}: no such file")
    try:
        with Image.open(path) as img:
            img.load()
            rgb = _from_pillow(img)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        try:
            rgb = _from_opencv(path)
        except ImageReadError:
            raise ImageReadError(f"{path}: not a readable image ({exc})") from exc
    if rgb.ndim != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ImageReadError(f"{path}: image has no pixels")
    alpha = np.ascontiguousarray(rgb[..., 3]) if rgb.shape[2] == 4 else None
    rgb = np.ascontiguousarray(_flatten_alpha(rgb, background))
    return (rgb, alpha) if with_alpha else rgb
