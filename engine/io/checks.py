"""Checks made before any pixel is decoded, shared by every image reader (engine.io.images, engine.io.tiff,
engine.io.labels): only regular files are read, and a declared width x height must be within the pixel cap."""
from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from ..errors import ImageReadError
from ..limits import MAX_PIXELS_ENV, describe_pixels, max_pixels


def _over_cap(path, what: str, cap: int) -> ImageReadError:
    return ImageReadError(
        f"{path}: the image {what}, over the limit of {describe_pixels(cap)}; it was not decoded. Scale it down "
        f"or tile it, or raise the limit with --max-pixels or the {MAX_PIXELS_ENV} environment variable (see "
        f"docs/user/limits.md)")


def too_many_pixels(path, width: int, height: int, cap: int) -> ImageReadError:
    """The message for an image over the cap: what it is, what the limit is, how to change it."""
    return _over_cap(path, f"is {width}x{height} pixels ({describe_pixels(width * height)})", cap)


def check_pixels(path, size: tuple[int, int], cap: int | None = None) -> None:
    """Refuse a declared (width, height) over the cap, or with no pixels at all."""
    cap = max_pixels() if cap is None else cap
    width, height = (int(v) for v in size)
    if width <= 0 or height <= 0:
        raise ImageReadError(f"{path}: image has no pixels ({width}x{height})")
    if width * height > cap:
        raise too_many_pixels(path, width, height, cap)


def check_regular_file(path: Path, what: str = "image") -> None:
    """Only regular files are read: a FIFO would block, a device (a link to /dev/zero) would never end."""
    try:
        st = path.stat()
    except FileNotFoundError:
        if path.is_symlink():   # listed so that it does not vanish from the folder unexplained
            raise ImageReadError(f"{path}: a link to {os.readlink(path)}, which does not exist") from None
        raise ImageReadError(f"{path}: no such file") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ImageReadError(f"{path}: a link that leads back to itself (a loop of links), not an {what} file; "
                                 f"point it at the {what} or remove it") from None
        raise ImageReadError(f"{path}: cannot read the {what} ({exc.strerror or exc})") from exc
    if stat.S_ISDIR(st.st_mode):
        raise ImageReadError(f"{path}: is a folder, not an {what} file")
    if not stat.S_ISREG(st.st_mode):
        raise ImageReadError(f"{path}: is not a regular file (a pipe, device or socket); it was not read")
    if st.st_size == 0:
        raise ImageReadError(f"{path}: the file is empty (0 bytes)")
