"""Read any common or scientific image file as RGB uint8, the one format the rest of the engine accepts.

``read_image`` is the one function every image goes through (the window, its prefetcher, ``predict``,
``prelabel``, training and CRF tuning on saved labels): 8-bit files keep their colours; 16-bit, 32-bit, float and
multi-band samples become RGB with a band choice and a scaling (engine.io.scaling.ImageScaling: the folder's, from
its labels/project.json; percentile 2-98 when none is given).

Every decode is preceded by a look at the header: an image whose declared width x height is over the pixel cap
(engine.limits) is refused before any pixel is decoded, by whichever decoder would have read it (tifffile for TIFFs
with 16-bit, float or many bands, which also checks pages, bands, bytes and truncation: engine.io.tiff; Pillow for
PNG/JPEG/8-bit TIFF/BMP/WebP; OpenCV for 16-bit colour PNGs and for files Pillow identifies but cannot decode).
"""
from __future__ import annotations

import re
import struct
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ImageReadError
from ..limits import describe_pixels, max_pixels
from .checks import _over_cap, check_pixels, check_regular_file, too_many_pixels  # noqa: F401 - re-exported
from .orientation import orient
from .scaling import ImageScaling, ImageSettingsError, alpha_to_uint8, to_rgb8
from .tiff import CodecMissing, is_tiff, read_tiff

# Our cap replaces Pillow's guard (which warns above ~89 MP and errors above ~179 MP whatever the cap is):
# Pillow then only errors beyond twice our default, and its warning, which we act on ourselves, stays quiet.
Image.MAX_IMAGE_PIXELS = 2 * max_pixels()
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def is_image_file(path: Path) -> bool:
    """True for files the folder view should list: a broken link too (dangling, or a loop), which says why when
    opened rather than vanishing from the list (a walk: a folder of 12 photos listed 11, unexplained)."""
    listed = path.is_file() or (path.is_symlink() and not path.is_dir())
    return listed and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


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


class BandChoiceError(ImageReadError):
    """The folder's band choice asks for a band this image does not have."""


def _scaled(path, data: np.ndarray, scaling: ImageScaling | None) -> np.ndarray:
    """The folder's band choice and scaling, with a band the image lacks reported as this file's problem."""
    try:
        return to_rgb8(data, scaling)
    except ImageSettingsError as exc:
        raise BandChoiceError(f"{path}: {exc}") from None


def _with_alpha(rgb: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    return rgb if alpha is None else np.concatenate([rgb, alpha[..., None]], axis=2)


def _from_pillow(path, img: Image.Image, scaling: ImageScaling | None) -> np.ndarray:
    """(H, W, 3) RGB, or (H, W, 4) RGBA when the file has transparency."""
    img = ImageOps.exif_transpose(img)
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):      # one band of 16/32-bit or float samples
        return _scaled(path, np.asarray(img), scaling)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        return np.asarray(img.convert("RGBA"))
    return np.asarray(img.convert("RGB"))


def _png_16bit_colour(path: Path) -> bool:
    """A PNG with 16-bit colour (or grey + alpha) samples: Pillow would cut them to 8 bits, OpenCV keeps them."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(26)
    except OSError:
        return False
    return (len(head) == 26 and head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR" and head[24] == 16
            and head[25] in (2, 4, 6))


def open_checked(path: Path, cap: int | None = None) -> Image.Image:
    """Pillow's lazy open (header only) with the size checked against the cap; nothing is decoded yet.
    Raises ImageReadError for an image over the cap; Pillow's own errors pass through for the caller."""
    cap = max_pixels() if cap is None else cap
    if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < cap:
        Image.MAX_IMAGE_PIXELS = cap  # a raised cap: Pillow must not refuse what we allow
    try:
        img = Image.open(path)
    except Image.DecompressionBombError as exc:  # beyond Pillow's own (larger) limit: still ours to explain
        found = re.search(r"\((\d+) pixels\)", str(exc))
        pixels = describe_pixels(int(found.group(1))) if found else "too many pixels"
        raise _over_cap(path, f"has {pixels}", cap) from None
    try:
        check_pixels(path, img.size, cap)
    except ImageReadError:
        img.close()
        raise
    return img


def _from_opencv(path: Path, size: tuple[int, int], cap: int, scaling: ImageScaling | None,
                 orientation: int = 1) -> np.ndarray:
    """Files Pillow identifies (so their size is known and checked) but cannot decode, or not in full (16-bit
    colour PNG/TIFF); RGB, or RGBA with transparency."""
    check_pixels(path, size, cap)
    data = np.fromfile(str(path), dtype=np.uint8)
    try:
        arr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None   # all bits, all channels
    except cv2.error:
        arr = None
    if arr is None:
        raise ImageReadError(f"{path}: not a readable image (unknown format or corrupt data)")
    if arr.shape[0] * arr.shape[1] > cap:  # OpenCV read another page than the header Pillow saw
        raise too_many_pixels(path, arr.shape[1], arr.shape[0], cap)
    arr = orient(arr, orientation)
    alpha = None
    if arr.ndim == 3 and arr.shape[2] in (2, 4):    # grey + alpha, BGRA
        alpha, arr = alpha_to_uint8(arr[..., -1]), arr[..., :-1]
    if arr.ndim == 3 and arr.shape[2] == 3:
        arr = arr[..., ::-1]                      # BGR -> RGB (OpenCV keeps other band counts in file order)
    return _with_alpha(_scaled(path, arr, scaling), alpha)


_PILLOW_ERRORS = (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, TypeError, KeyError,
                  IndexError, ZeroDivisionError, struct.error)  # what Pillow's plugins raise on bad bytes


def read_image(path: str | Path, background=WHITE, with_alpha: bool = False, max_pixels_: int | None = None,
               scaling: ImageScaling | None = None):
    """Return the image as (H,W,3) uint8 RGB, upright per EXIF, transparent pixels composited onto ``background``
    (RGB); with ``with_alpha`` the pair (rgb, alpha), alpha (H,W) uint8 or None for an opaque file.
    Raises ImageReadError with the file name.

    scaling: the band choice and scaling for samples that are not 8-bit or not grey/RGB (engine.io.scaling; None:
    the default, first three bands or grey, percentile 2-98); 8-bit grey, RGB and palette files ignore it.
    max_pixels_ overrides the cap of engine.limits for this call. Whatever the file holds, the result is an
    array or an ImageReadError: never a decode of more pixels than the cap, never another exception type.
    """
    path = Path(path)
    cap = max_pixels() if max_pixels_ is None else int(max_pixels_)
    check_regular_file(path)
    rgb, codec = None, None
    if is_tiff(path):
        try:
            raw = read_tiff(path, cap)           # None: a plain 8-bit TIFF, Pillow's to read
        except CodecMissing as exc:
            raw, codec = None, exc               # Pillow may still decode it (one band, LZW)
        if raw is not None:
            rgb = _with_alpha(_scaled(path, raw.data, scaling), raw.alpha)
    if rgb is None:
        rgb = _read_common(path, cap, scaling, codec)
    if rgb.ndim != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ImageReadError(f"{path}: image has no pixels")
    alpha = np.ascontiguousarray(rgb[..., 3]) if rgb.shape[2] == 4 else None
    rgb = np.ascontiguousarray(_flatten_alpha(rgb, background))
    return (rgb, alpha) if with_alpha else rgb


def probe_image(path: str | Path) -> str | None:
    """Why ``path`` cannot be read as an image, from its header alone (read_image's checks before any decode), or
    None when it may be: so a folder's list can mark what will not open before anyone opens it. A TIFF is left to
    the read (its checks walk the whole page chain), as is damage past the header."""
    path = Path(path)
    try:
        check_regular_file(path)
        if is_tiff(path):
            return None
        open_checked(path).close()
    except ImageReadError as exc:
        return str(exc)
    except _PILLOW_ERRORS as exc:
        return str(_unknown_header(path, exc))
    return None


def _unknown_header(path: Path, exc: BaseException) -> ImageReadError:
    """Not even a header Pillow knows (read_image and probe_image say it alike)."""
    return ImageReadError(f"{path}: not a readable image (unknown format or corrupt header: {_short(exc, path)})")


def _read_common(path: Path, cap: int, scaling: ImageScaling | None, codec: CodecMissing | None) -> np.ndarray:
    """PNG, JPEG, 8-bit TIFF, BMP, WebP: Pillow, else OpenCV; (H,W,3) or (H,W,4)."""
    try:
        img = open_checked(path, cap)
    except ImageReadError:
        raise
    except _PILLOW_ERRORS as exc:  # not even a header Pillow knows: nothing to check a decode against
        raise codec or _unknown_header(path, exc) from exc
    size = img.size
    try:
        with img:
            if _png_16bit_colour(path):
                orientation = int(img.getexif().get(0x0112, 1) or 1)
                return _from_opencv(path, size, cap, scaling, orientation)
            img.load()
            return _from_pillow(path, img, scaling)
    except MemoryError:
        raise ImageReadError(f"{path}: not enough memory to decode this {size[0]}x{size[1]} image") from None
    except ImageReadError:
        raise
    except _PILLOW_ERRORS as exc:
        try:
            return _from_opencv(path, size, cap, scaling)
        except ImageReadError as cv_exc:
            if "over the limit" in str(cv_exc) or isinstance(cv_exc, BandChoiceError):
                raise
            raise codec or ImageReadError(f"{path}: not a readable image ({_short(exc, path)})") from exc


def _short(exc: BaseException, path: Path | None = None) -> str:
    """The first line of a decoder's message, without the file's path (the message starts with it already), and
    a cut-off file said in words (Pillow: 'image file is truncated (30 bytes not processed)')."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if path is not None:
        text = text.replace(f" '{path}'", "").replace(f" {path}", "").replace(str(path), path.name)
    if "truncated" in text.lower():
        text = f"the file is cut short: {text}; a partial download or copy?"
    return text[:200] or type(exc).__name__
