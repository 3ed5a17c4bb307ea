"""TIFF attacks (issue 25): headers that claim 100000x100000 float64, 10000 pages, a stack of 80 GB, hundreds of
bands, strips that run past the end of the file. Each is refused from tifffile's view of the header, before any
pixel data is allocated, with a message that names the file and says what is over which limit; mutated
multi-band float TIFFs give an image or an ImageReadError, never another exception."""
from __future__ import annotations

import struct
import time

import numpy as np
import pytest
import tifffile
from hypothesis import given
from hypothesis import strategies as st

from engine import limits
from engine.cli.predict import main as predict_main
from engine.errors import ImageReadError
from engine.io.images import read_image
from tests.support.attacks.tiffs import tiff
from tests.support.fuzz_helpers import FUZZ, peak_memory_below


def _truncated(tmp_path) -> bytes:
    """A genuine float32 TIFF (pixel data after the header) cut in the middle of its strips."""
    tifffile.imwrite(tmp_path / "whole.tif", np.random.default_rng(0).random((200, 300)).astype(np.float32),
                     rowsperstrip=20)
    data = (tmp_path / "whole.tif").read_bytes()
    return data[:len(data) // 2]


@pytest.mark.parametrize("name, make, message", [
    ("huge_float64.tif", lambda _: tiff(100000, 100000, 64, 3), r"100000x100000 pixels .* over the limit of 100 MP"),
    ("pages_10000.tif", lambda _: tiff(4, 4, 32, 3, pages=10000, data=bytes(64)), "more than 1024 pages"),
    ("stack_80GB.tif", lambda _: tiff(10000, 10000, 64, 3, pages=100), r"100 bands of float64 would take 80 GB"),
    ("bands_300.tif", lambda _: tiff(8, 8, 16, 1, pages=300, data=bytes(128)), "300 bands .* over the limit of 256"),
    ("cut_strips.tif", _truncated, "truncated or damaged"),
    ("strip_past_end.tif", lambda _: tiff(512, 512, 32, 3, data=bytes(100)), "truncated or damaged"),
])
def test_tiff_attacks_are_refused_from_the_header(tmp_path, name, make, message):
    path = tmp_path / name
    path.write_bytes(make(tmp_path))
    start = time.perf_counter()
    with peak_memory_below(150), pytest.raises(ImageReadError, match=message) as err:
        read_image(path)
    assert str(path) in str(err.value) and "not decoded" in str(err.value)
    assert time.perf_counter() - start < 5


def test_the_decode_budget_grows_with_the_pixel_cap(tmp_path):
    path = tmp_path / "stack.tif"
    path.write_bytes(tiff(1000, 1000, 64, 3, pages=20))            # 160 MB of float64 declared
    limits.set_max_pixels("5M")                                    # budget 120 MB: refused
    try:
        with pytest.raises(ImageReadError, match="would take 0.16 GB decoded, over the limit of 0.12 GB"):
            read_image(path)
    finally:
        limits.set_max_pixels(None)                                # budget 2.4 GB: read (then found truncated)
    with pytest.raises(ImageReadError, match="truncated"):
        read_image(path)


def test_predict_cli_answers_a_tiff_bomb_in_one_line(tmp_path, capsys):
    (tmp_path / "bomb.tif").write_bytes(tiff(100000, 100000, 64, 3))
    code = predict_main([str(tmp_path / "bomb.tif"), "--out", str(tmp_path / "labels" / "bomb.png")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and "over the limit" in err
    assert not (tmp_path / "labels" / "bomb.png").exists()


# ---------------------------------------------------------------- fuzzing
def _valid(layout: int) -> bytes:
    import io

    rng = np.random.default_rng(layout)
    data = rng.normal(0, 1, (3, 12, 10)).astype(np.float32)
    data[0, 0, 0] = np.nan
    buf = io.BytesIO()
    if layout == 0:
        tifffile.imwrite(buf, data, photometric="minisblack")                     # one page per band
    elif layout == 1:
        tifffile.imwrite(buf, data, photometric="minisblack", planarconfig="separate")
    else:
        tifffile.imwrite(buf, (np.nan_to_num(np.moveaxis(data, 0, -1)) * 1000).astype(np.int16), photometric="rgb")
    return buf.getvalue()


@st.composite
def tiff_files(draw):
    data = bytearray(_valid(draw(st.integers(0, 2))))
    kind = draw(st.sampled_from(["flip", "cut", "field"]))
    if kind == "flip":
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    elif kind == "cut":
        data = data[:draw(st.integers(0, len(data)))]
    else:                                     # a 32-bit header value (a size, count or offset) set to anything
        at = draw(st.integers(8, max(8, min(len(data), 400) - 4)))
        data[at:at + 4] = struct.pack("<I", draw(st.sampled_from([0, 1, 255, 65535, 2 ** 31 - 1, 2 ** 32 - 1])))
    return bytes(data)


@FUZZ
@given(data=tiff_files())
def _check(tmp, data):
    path = tmp / "fuzz.tif"
    path.write_bytes(data)
    try:
        rgb = read_image(path)
    except ImageReadError as exc:
        assert str(path) in str(exc)
        return
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
    assert 0 < rgb.shape[0] * rgb.shape[1] <= 1_000_000


def test_fuzz_multiband_float_tiffs(tmp_path):
    limits.set_max_pixels(1_000_000)
    try:
        with peak_memory_below(400):
            _check(tmp_path)
    finally:
        limits.set_max_pixels(None)
