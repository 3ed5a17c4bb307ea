"""Image bombs that cost milliseconds to build: a valid PNG whose pixels are gigabytes of zeros, and a small
real JPEG whose header claims another size. Why not files in the repo: a real 30000x30000 bomb is ~1-3 MB."""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

_CHUNK = 1 << 20  # bytes of zeros per full-flush deflate block


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def zero_deflate(n: int) -> bytes:
    """A zlib stream of n zero bytes, built from one compressed block repeated: each full flush resets the
    dictionary, so every whole 1 MiB block compresses to the same bytes. Adler-32 of zeros is (n % 65521) << 16 | 1."""
    comp = zlib.compressobj(9)
    head = comp.compress(b"\0" * _CHUNK) + comp.flush(zlib.Z_FULL_FLUSH)
    block = comp.compress(b"\0" * _CHUNK) + comp.flush(zlib.Z_FULL_FLUSH)
    whole, rest = divmod(n, _CHUNK)
    tail_comp = zlib.compressobj(9, wbits=-15)  # raw deflate for the last partial block and the final bit
    tail = tail_comp.compress(b"\0" * rest) + tail_comp.flush()
    body = head + block * (whole - 1) if whole else b"\x78\xda"
    adler = ((n % 65521) << 16) | 1
    return body + tail + struct.pack(">I", adler)


def png_bomb(width: int, height: int, colour: bool = True) -> bytes:
    """A well-formed 8-bit PNG (RGB or grey) of width x height zero pixels, every scanline with filter 0."""
    channels = 3 if colour else 1
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2 if colour else 0, 0, 0, 0)
    raw = (1 + width * channels) * height
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zero_deflate(raw))
            + _png_chunk(b"IEND", b""))


def jpeg_with_size(width: int, height: int, side: int = 64, quality: int = 90) -> bytes:
    """A real side x side JPEG (noise, so it is not tiny) whose SOF header is rewritten to width x height."""
    rgb = np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    data = bytearray(buf.getvalue())
    i = 2
    while i < len(data) - 9:
        if data[i] != 0xFF:
            raise ValueError("unexpected JPEG layout")
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            data[i + 5:i + 9] = struct.pack(">HH", height, width)
            return bytes(data)
        i += 2 + length
    raise ValueError("no SOF marker")


def tiff_with_size(width: int, height: int) -> bytes:
    """A small 16-bit RGB TIFF whose ImageWidth/ImageLength tags claim width x height."""
    import cv2

    ok, enc = cv2.imencode(".tif", np.zeros((8, 8, 3), np.uint16))
    data = bytearray(enc.tobytes())
    little = data[:2] == b"II"
    fmt = "<" if little else ">"
    ifd = struct.unpack(fmt + "I", data[4:8])[0]
    (count,) = struct.unpack(fmt + "H", data[ifd:ifd + 2])
    for k in range(count):
        at = ifd + 2 + 12 * k
        tag, typ = struct.unpack(fmt + "HH", data[at:at + 4])
        if tag in (256, 257):
            value = width if tag == 256 else height
            if typ == 3:
                data[at + 8:at + 12] = struct.pack(fmt + "HH", value, 0)
            else:
                data[at + 8:at + 12] = struct.pack(fmt + "I", value)
    return bytes(data)
