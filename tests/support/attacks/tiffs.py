"""Hand-built TIFF files whose header says what an attacker wants (dimensions, sample type, pages, strips), with
little or no pixel data behind it, written by the TIFF 6.0 layout (little-endian, one strip per page)."""
from __future__ import annotations

import struct

_SHORT, _LONG = 3, 4


def _ifd(width: int, height: int, bits: int, sample_format: int, strip_offset: int, strip_bytes: int,
         next_ifd: int) -> bytes:
    tags = [(256, _LONG, width), (257, _LONG, height), (258, _SHORT, bits), (259, _SHORT, 1), (262, _SHORT, 1),
            (273, _LONG, strip_offset), (277, _SHORT, 1), (278, _LONG, height),
            (279, _LONG, min(strip_bytes, 0xFFFFFFFF)), (339, _SHORT, sample_format)]
    out = struct.pack("<H", len(tags))
    for tag, typ, value in tags:
        out += struct.pack("<HHI", tag, typ, 1) + (struct.pack("<HH", value, 0) if typ == _SHORT
                                                    else struct.pack("<I", value))
    return out + struct.pack("<I", next_ifd)


IFD_BYTES = 2 + 10 * 12 + 4


def tiff(width: int, height: int, bits: int = 64, sample_format: int = 3, pages: int = 1,
         data: bytes = b"") -> bytes:
    """A TIFF of ``pages`` pages, each claiming width x height samples of ``bits`` bits (sample_format 1 unsigned,
    2 signed, 3 float); every page's one strip points at ``data`` (which may be far shorter than claimed)."""
    data_at = 8 + pages * IFD_BYTES
    claimed = width * height * bits // 8
    out = b"II*\x00" + struct.pack("<I", 8)
    for k in range(pages):
        nxt = 8 + (k + 1) * IFD_BYTES if k + 1 < pages else 0
        out += _ifd(width, height, bits, sample_format, data_at, claimed, nxt)
    return out + data
