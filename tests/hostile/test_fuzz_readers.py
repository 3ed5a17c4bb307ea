"""Fuzzing the readers of untrusted files: the image reader and the recovery-journal reader.

Each example is a small generated file: a valid one, one whose header fields are changed (sizes, types), one
with flipped or cut bytes, or random bytes. A reader may only return a well-formed result or raise its own
error type (ImageReadError / LabelIOError); never any other exception, never more pixels than the cap, and the
whole run stays within a memory budget. The pixel cap is lowered to 1 MP so that a missed check shows as a
wrong answer (a decoded 2000x2000 image) rather than as gigabytes.
"""
from __future__ import annotations

import io
import json
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from engine import limits
from engine.errors import ImageReadError, LabelIOError
from engine.folder.journal import RecoveryJournal
from engine.folder.journal_entry import FORMAT
from engine.io.images import read_image
from tests.support.fuzz_helpers import FUZZ, peak_memory_below

CAP = 1_000_000


@pytest.fixture
def small_cap():
    limits.set_max_pixels(CAP)
    yield CAP
    limits.set_max_pixels(None)


# ---------------------------------------------------------------- images
_FORMATS = ("PNG", "JPEG", "TIFF", "BMP", "GIF", "WEBP")
_MODES = ("RGB", "L", "RGBA", "P", "I;16", "1", "LA", "F")


def _encode(arr_seed: int, h: int, w: int, fmt: str, mode: str) -> bytes:
    rgb = np.random.default_rng(arr_seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    img = Image.fromarray(rgb)
    if mode in ("I;16", "F"):
        img = img.convert("L").convert("I;16" if mode == "I;16" else "F")
    elif mode != "RGB":
        img = img.convert(mode)
    buf = io.BytesIO()
    try:
        img.save(buf, format=fmt)
    except (OSError, ValueError, KeyError):  # a mode the format cannot hold: plain RGB then
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format=fmt)
    return buf.getvalue()


def _patch_png_size(data: bytes, w: int, h: int, fix_crc: bool) -> bytes:
    if not data.startswith(b"\x89PNG") or len(data) < 33:
        return data
    ihdr = bytearray(data[12:29])
    ihdr[4:12] = struct.pack(">II", w, h)
    crc = struct.pack(">I", zlib.crc32(bytes(ihdr)) & 0xFFFFFFFF) if fix_crc else data[29:33]
    return data[:12] + bytes(ihdr) + crc + data[33:]


def _patch_jpeg_size(data: bytes, w: int, h: int) -> bytes:
    out = bytearray(data)
    i = 2
    while i + 9 < len(out) and out[i] == 0xFF:
        marker, length = out[i + 1], struct.unpack(">H", out[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            out[i + 5:i + 9] = struct.pack(">HH", h, w)
            break
        i += 2 + length
    return bytes(out)


@st.composite
def image_files(draw) -> bytes:
    fmt = draw(st.sampled_from(_FORMATS))
    data = _encode(draw(st.integers(0, 3)), draw(st.integers(1, 24)), draw(st.integers(1, 24)), fmt,
                   draw(st.sampled_from(_MODES)))
    kind = draw(st.sampled_from(["valid", "size", "size", "flip", "cut", "random"]))
    size = st.integers(0, 70000) | st.sampled_from([0, 1, 999, 1001, 2000, 30000, 65535, 2 ** 31 - 1, 2 ** 32 - 1])
    if kind == "size":
        w, h = draw(size), draw(size)
        if fmt == "PNG":
            data = _patch_png_size(data, w, h, draw(st.booleans()))
        elif fmt == "JPEG":
            data = _patch_jpeg_size(data, w & 0xFFFF, h & 0xFFFF)
        else:  # other formats: overwrite a few header bytes with the size
            at = draw(st.integers(0, max(0, min(len(data), 64) - 8)))
            data = data[:at] + struct.pack("<II", w, h) + data[at + 8:]
    elif kind == "flip":
        out = bytearray(data)
        for _ in range(draw(st.integers(1, 8))):
            out[draw(st.integers(0, len(out) - 1))] = draw(st.integers(0, 255))
        data = bytes(out)
    elif kind == "cut":
        data = data[:draw(st.integers(0, len(data)))]
    elif kind == "random":
        data = data[:draw(st.integers(0, 16))] + draw(st.binary(max_size=256))
    return data


@FUZZ
@given(data=image_files())
def _check_image(tmp, data):
    path = tmp / "fuzz.img"
    path.write_bytes(data)
    try:
        rgb = read_image(path)
    except ImageReadError as exc:
        assert str(path) in str(exc)
        return
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
    assert 0 < rgb.shape[0] * rgb.shape[1] <= CAP


def test_fuzz_image_reader(tmp_path, small_cap):
    with peak_memory_below(400):
        _check_image(tmp_path)


# ---------------------------------------------------------------- journal
_HOSTILE = ["yesterday", 5, [1, 2], [3, 4, 1], [-1, 4], [10 ** 6, 10 ** 6], [2 ** 62, 4], float("nan"),
            float("inf"), -1.0, None, True, {}, "", "x" * 5000, [[1]], {"base": 3}, {"base": "disk"}, 10 ** 30]


@st.composite
def journal_files(draw):
    """(file bytes, n_classes the app would pass): a valid entry, one with a hostile header field or array,
    or one with flipped or cut bytes."""
    h, w = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    header = {"format": FORMAT, "image_id": "img.png", "saved_at": 1.7e9, "shape": [h, w],
              "edited_pixels": 3, "meta": {"base": "model"}}
    field = draw(st.sampled_from([None, None] + sorted(header)))
    if field is not None:
        header[field] = draw(st.sampled_from(_HOSTILE) | st.integers() | st.text(max_size=4))
        if draw(st.integers(0, 3)) == 0:
            del header[field]
    shape = draw(st.sampled_from([(h, w)] * 6 + [(w, h), (h * w,), (h, w, 1), ()]))
    dtype = draw(st.sampled_from([np.uint8] * 6 + [np.int64, np.float32, np.bool_]))
    labels = np.asarray(np.random.default_rng(h * w).integers(0, draw(st.sampled_from([3, 256])), shape), dtype)
    locked = np.packbits(np.ones(max(1, h * w - draw(st.sampled_from([0, 0, 0, 9]))), bool))
    arrays = {"labels": labels, "locked": locked, "header": np.array(json.dumps(header, allow_nan=True))}
    extra = draw(st.sampled_from([None] * 8 + ["drop", "add"]))
    if extra == "drop":
        del arrays[draw(st.sampled_from(sorted(arrays)))]
    elif extra == "add":
        arrays["extra"] = np.zeros(3)
    buf = io.BytesIO()
    (np.savez_compressed if draw(st.booleans()) else np.savez)(buf, **arrays)
    data = buf.getvalue()
    kind = draw(st.sampled_from(["as is"] * 5 + ["flip", "cut", "random", "empty"]))
    if kind == "flip":
        out = bytearray(data)
        for at in draw(st.lists(st.integers(0, len(out) - 1), min_size=1, max_size=6)):
            out[at] ^= 1 << (at % 8)
        data = bytes(out)
    elif kind == "cut":
        data = data[:draw(st.integers(0, len(data)))]
    elif kind == "random":
        data = draw(st.binary(max_size=300))
    elif kind == "empty":
        data = b""
    return data, draw(st.sampled_from([None, 3, 255]))


@FUZZ
@given(case=journal_files())
def _check_journal(tmp, case):
    data, n_classes = case
    folder = tmp / "journal"
    journal = RecoveryJournal(folder)
    folder.mkdir(exist_ok=True)
    for old in folder.glob("*.npz"):
        old.unlink()
    journal.path_for("img.png").write_bytes(data)
    entries = journal.pending()                   # never raises: damaged files are moved aside
    assert len(entries) + len(journal.damaged) == 1
    if not entries:
        assert not journal.path_for("img.png").exists()
        return
    entry = entries[0]
    try:
        rec = journal.restore(entry.image_id, expected_shape=entry.shape, n_classes=n_classes)
    except LabelIOError:
        return
    assert rec.labels.dtype == np.uint8 and rec.labels.shape == entry.shape == rec.locked.shape
    assert rec.locked.dtype == bool
    if n_classes is not None:
        assert np.all((rec.labels < n_classes) | (rec.labels == 255))


def test_fuzz_journal_reader(tmp_path, small_cap, monkeypatch):
    monkeypatch.setattr("os.fsync", lambda fd: None)  # durability is tested elsewhere; here only the reading
    with peak_memory_below(300):
        _check_journal(tmp_path)
