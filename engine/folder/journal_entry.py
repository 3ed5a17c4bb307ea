"""Reading one recovery-journal file without trusting it: every field and array is checked before use.

Why: the journal is read at start-up, before the user can do anything. A 0-byte file, a header with
`saved_at: "yesterday"` or `shape: 5`, a zip member that inflates to gigabytes, or labels naming class 200 of a
3-class model must not stop the folder from opening; each is reported as a DamagedEntry (which the journal then
moves aside) with a reason a person can read.
"""
from __future__ import annotations

import io
import json
import math
import os
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path

import numpy as np

from engine.errors import LabelIOError
from engine.labels import VOID
from engine.limits import max_pixels

FORMAT = "deeplab-annotator-recovery/1"
MEMBERS = {"labels.npy", "locked.npy", "header.npy"}
MAX_HEADER_BYTES = 1 << 20
_NPY_OVERHEAD = 1024  # .npy magic and header dict
# what zipfile and numpy's .npy reader raise on bad bytes (NotImplementedError: unknown compression method,
# RuntimeError: an encrypted member)
READ_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile, KeyError, TypeError,
               IndexError, OverflowError, SyntaxError, NotImplementedError, RuntimeError, zlib.error, struct.error)


class DamagedEntry(LabelIOError):
    """A journal file that cannot be trusted; `reason` says why, in words."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"recovery file {path} is damaged: {reason}")
        self.path, self.reason = path, reason


@dataclass(frozen=True)
class Header:
    """The checked header of an entry."""
    image_id: str
    saved_at: float
    shape: tuple[int, int]
    edited_pixels: int
    meta: dict


def _read_file(path: Path, limit: int) -> bytes:
    """Bytes of a regular file of at most `limit` bytes (a FIFO or a link to a device is never read)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise DamagedEntry(path, f"cannot be opened ({exc.strerror or exc})") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise DamagedEntry(path, "it is not a regular file")
        if st.st_size == 0:
            raise DamagedEntry(path, "it is empty (0 bytes)")
        if st.st_size > limit:
            raise DamagedEntry(path, f"it is {st.st_size:,} bytes, more than an entry for the largest allowed "
                                     f"image can be")
        with os.fdopen(os.dup(fd), "rb") as fh:
            return fh.read(limit + 1)
    except OSError as exc:
        raise DamagedEntry(path, f"cannot be read ({exc.strerror or exc})") from exc
    finally:
        os.close(fd)


def _is_int(v) -> bool:
    return isinstance(v, Integral) and not isinstance(v, bool)


def check_header(path: Path, header) -> Header:
    """Every field of a header, by type and range; DamagedEntry names the first one that is wrong."""
    if not isinstance(header, dict):
        raise DamagedEntry(path, f"its header is a {type(header).__name__}, not a record")
    if header.get("format") != FORMAT:
        raise DamagedEntry(path, f"its header is not a {FORMAT} header")
    image_id = header.get("image_id")
    if not isinstance(image_id, str) or not image_id or len(image_id) > 4096:
        raise DamagedEntry(path, "its image_id is not a file name")
    saved_at = header.get("saved_at")
    if isinstance(saved_at, bool) or not isinstance(saved_at, Real) or not math.isfinite(saved_at) \
            or saved_at < 0:
        raise DamagedEntry(path, f"saved_at must be a time in seconds, got {saved_at!r:.40}")
    shape = header.get("shape")
    if not isinstance(shape, list) or len(shape) != 2 or not all(_is_int(v) and v > 0 for v in shape):
        raise DamagedEntry(path, f"shape must be [height, width], got {shape!r:.40}")
    if shape[0] * shape[1] > max_pixels():
        raise DamagedEntry(path, f"shape {shape} is over the pixel limit")
    edited = header.get("edited_pixels", 0)
    if not _is_int(edited) or not 0 <= edited <= shape[0] * shape[1]:
        raise DamagedEntry(path, f"edited_pixels must be 0..{shape[0] * shape[1]}, got {edited!r:.40}")
    meta = header.get("meta", {})
    if not isinstance(meta, dict):
        raise DamagedEntry(path, f"meta must be a record, got {type(meta).__name__}")
    if not isinstance(meta.get("base", ""), str):
        raise DamagedEntry(path, "meta.base must be a string")
    return Header(image_id, float(saved_at), (int(shape[0]), int(shape[1])), int(edited), meta)


def _member(zf: zipfile.ZipFile, path: Path, name: str, limit: int, dtype, shape=None) -> np.ndarray:
    """One .npy member, its declared size bounded before it is inflated and its header checked before its data."""
    info = zf.getinfo(name)
    if info.file_size > limit:
        raise DamagedEntry(path, f"{name} would inflate to {info.file_size:,} bytes, more than it can hold")
    try:
        with zf.open(info) as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                found_shape, fortran, found_dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                found_shape, fortran, found_dtype = np.lib.format.read_array_header_2_0(fh)
            if found_dtype != np.dtype(dtype) or (shape is not None and tuple(found_shape) != tuple(shape)):
                raise DamagedEntry(path, f"{name} is {found_dtype} {tuple(found_shape)}, expected {np.dtype(dtype)}"
                                         + (f" {tuple(shape)}" if shape is not None else ""))
            count = math.prod(found_shape)
            raw = fh.read(count * np.dtype(dtype).itemsize + 1)
    except DamagedEntry:
        raise
    except READ_ERRORS as exc:
        raise DamagedEntry(path, f"{name} cannot be read ({exc})") from exc
    if len(raw) != count * np.dtype(dtype).itemsize:
        raise DamagedEntry(path, f"{name} holds {len(raw)} bytes, expected {count * np.dtype(dtype).itemsize}")
    arr = np.frombuffer(raw, dtype=dtype).reshape(found_shape, order="F" if fortran else "C")
    return np.ascontiguousarray(arr)


def read_entry(path: Path, arrays: bool, expected_shape=None, n_classes: int | None = None):
    """(Header, labels (H,W) uint8 or None, locked (H,W) bool or None) of one journal file.

    arrays=False reads the header only. With n_classes, every label must be a class index or void (255).
    Raises DamagedEntry for anything else, with the reason."""
    path = Path(path)
    cap = max_pixels()
    data = _read_file(path, limit=2 * cap + 3 * _NPY_OVERHEAD + MAX_HEADER_BYTES)
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        names = set(zf.namelist())
    except READ_ERRORS as exc:
        raise DamagedEntry(path, f"it is not a complete npz archive ({exc})") from exc
    with zf:
        if names != MEMBERS:
            raise DamagedEntry(path, f"it holds {sorted(names)[:5]}, expected {sorted(MEMBERS)}")
        text = _member(zf, path, "header.npy", MAX_HEADER_BYTES, _header_dtype(zf, path))
        try:
            header = check_header(path, json.loads(str(text.reshape(()))))
        except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
            raise DamagedEntry(path, f"its header is not JSON ({exc})") from exc
        if not arrays:
            return header, None, None
        h, w = header.shape
        labels = _member(zf, path, "labels.npy", h * w + _NPY_OVERHEAD, np.uint8, (h, w))
        packed = _member(zf, path, "locked.npy", (h * w + 7) // 8 + _NPY_OVERHEAD, np.uint8, ((h * w + 7) // 8,))
    if expected_shape is not None and tuple(expected_shape) != (h, w):
        raise LabelIOError(f"recovery file {path} is for a {w}x{h} image, but {header.image_id!r} is now "
                           f"{expected_shape[1]}x{expected_shape[0]}; it was changed on disk")
    if n_classes is not None:
        bad = np.unique(labels[(labels != VOID) & (labels >= n_classes)])
        if bad.size:
            raise DamagedEntry(path, f"it holds label value(s) {bad[:8].tolist()}, but the model has only "
                                     f"{n_classes} classes (0..{n_classes - 1}, 255 = void)")
    locked = np.unpackbits(packed, count=h * w).astype(bool).reshape(h, w)
    return header, labels, locked


def _header_dtype(zf: zipfile.ZipFile, path: Path):
    """The header is a 0-d unicode array; its exact width is whatever json.dumps produced."""
    try:
        with zf.open("header.npy") as fh:
            version = np.lib.format.read_magic(fh)
            reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = reader(fh)
    except READ_ERRORS as exc:
        raise DamagedEntry(path, f"header.npy cannot be read ({exc})") from exc
    if dtype.kind != "U" or shape != () or dtype.itemsize > MAX_HEADER_BYTES:
        raise DamagedEntry(path, f"header.npy is {dtype} {shape}, expected a JSON string")
    return dtype
