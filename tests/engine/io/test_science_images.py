"""Scientific images (issue 25): float, 16-bit, signed and multi-band TIFFs read with tifffile, 16-bit colour PNGs,
and the band choice and scaling that turn their samples into RGB uint8 (engine.io.scaling). Expected pixels are
computed here from the definition (percentiles, min-max, fixed range, per band, no-data black), never copied."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image

from engine.errors import ImageReadError
from engine.folder.dataset import Dataset
from engine.io import scaling as sc
from engine.io.images import read_image
from engine.io.scaling import ImageScaling, ImageSettingsError, band_limits, to_rgb8
from engine.labels import ClassList

H, W = 24, 36


def _stretch(band: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """The published definition: lo -> 0, hi -> 255, linear, rounded, clipped."""
    out = np.clip((band.astype(np.float64) - lo) * (255.0 / (hi - lo)) + 0.5, 0, 255)
    return np.where(np.isfinite(out), out, 0).astype(np.uint8)


def _percentile(band: np.ndarray, p=(2, 98)) -> np.ndarray:
    finite = band[np.isfinite(band)] if band.dtype.kind == "f" else band.ravel()
    lo, hi = np.percentile(finite, p)
    return _stretch(band, lo, hi)


@pytest.fixture
def bands5():
    """Five bands of different ranges, as a multispectral sensor gives them."""
    rng = np.random.default_rng(5)
    return np.stack([rng.normal(100 * (k + 1), 10 * (k + 1), (H, W)) for k in range(5)], axis=-1).astype(np.float32)


def test_float32_tiff_is_read_with_the_percentile_stretch(tmp_path):
    data = np.random.default_rng(0).normal(0.3, 0.1, (H, W)).astype(np.float32)
    tifffile.imwrite(tmp_path / "f.tif", data)
    out = read_image(tmp_path / "f.tif")
    assert out.shape == (H, W, 3) and out.dtype == np.uint8
    assert np.array_equal(out[..., 0], _percentile(data)) and np.array_equal(out[..., 2], out[..., 0])  # grey


def test_float64_with_nan_and_inf_is_black_there_and_limits_ignore_them(tmp_path):
    data = np.random.default_rng(1).uniform(-5, 5, (H, W))
    data[0, :5] = np.nan
    data[3, 3], data[4, 4] = np.inf, -np.inf
    tifffile.imwrite(tmp_path / "d.tif", data)
    out = read_image(tmp_path / "d.tif")
    bad = ~np.isfinite(data)
    assert (out[bad] == 0).all()
    good = _percentile(data)
    assert np.array_equal(out[..., 0][~bad], good[~bad])
    minmax = read_image(tmp_path / "d.tif", scaling=ImageScaling("minmax"))
    finite = data[~bad]
    assert np.array_equal(minmax[..., 0][~bad], _stretch(data, finite.min(), finite.max())[~bad])
    assert (minmax[bad] == 0).all()


def test_uint16_grey_tiff(tmp_path):
    data = (np.random.default_rng(2).random((H, W)) * 4000 + 1000).astype(np.uint16)   # a 12-bit camera
    tifffile.imwrite(tmp_path / "g.tif", data)
    assert np.array_equal(read_image(tmp_path / "g.tif")[..., 1], _percentile(data))
    fixed = read_image(tmp_path / "g.tif", scaling=ImageScaling("fixed", range=(0, 4095)))
    assert np.array_equal(fixed[..., 0], _stretch(data, 0, 4095))
    assert (fixed[data > 4095] == 255).all()


def test_uint16_rgb_tiff_is_stretched_per_band(tmp_path):
    rng = np.random.default_rng(3)
    rgb = np.stack([rng.integers(0, 1000, (H, W)), rng.integers(20000, 60000, (H, W)),
                    rng.integers(500, 700, (H, W))], axis=-1).astype(np.uint16)
    tifffile.imwrite(tmp_path / "c.tif", rgb, photometric="rgb")
    out = read_image(tmp_path / "c.tif")
    for k in range(3):
        assert np.array_equal(out[..., k], _percentile(rgb[..., k]))


@pytest.mark.parametrize("layout", ["contig", "pages", "planar"])
def test_five_bands_in_every_layout_read_the_same(tmp_path, bands5, layout):
    path = tmp_path / f"{layout}.tif"
    if layout == "contig":                       # (H, W, 5), samples interleaved
        tifffile.imwrite(path, bands5, photometric="minisblack", planarconfig="contig")
    elif layout == "pages":                      # (5, H, W), one page per band
        tifffile.imwrite(path, np.moveaxis(bands5, -1, 0))
    else:                                        # (5, H, W), one page, planar configuration 2
        tifffile.imwrite(path, np.moveaxis(bands5, -1, 0), photometric="minisblack", planarconfig="separate")
    out = read_image(path)                                          # default: the first three bands
    for k in range(3):
        assert np.array_equal(out[..., k], _percentile(bands5[..., k]))
    false_colour = read_image(path, scaling=ImageScaling(bands=(5, 4, 2)))
    for k, b in enumerate((5, 4, 2)):
        assert np.array_equal(false_colour[..., k], _percentile(bands5[..., b - 1]))
    grey = read_image(path, scaling=ImageScaling(bands=(4,)))
    assert np.array_equal(grey[..., 0], _percentile(bands5[..., 3])) and np.array_equal(grey[..., 1], grey[..., 0])


def test_a_band_the_image_lacks_is_this_files_problem(tmp_path, bands5):
    tifffile.imwrite(tmp_path / "five.tif", bands5, photometric="minisblack", planarconfig="contig")
    with pytest.raises(ImageReadError, match=r"five.tif: band 7 is chosen .* has 5 bands"):
        read_image(tmp_path / "five.tif", scaling=ImageScaling(bands=(7, 2, 1)))


def test_int16_signed(tmp_path):
    data = np.random.default_rng(4).integers(-3000, 2000, (H, W)).astype(np.int16)   # e.g. a DEM below sea level
    tifffile.imwrite(tmp_path / "s.tif", data)
    assert np.array_equal(read_image(tmp_path / "s.tif")[..., 0], _percentile(data))
    fixed = read_image(tmp_path / "s.tif", scaling=ImageScaling("fixed", range=(-1000, 1000)))
    assert (fixed[data <= -1000] == 0).all() and (fixed[data >= 1000] == 255).all()
    assert np.array_equal(fixed[..., 0], _stretch(data, -1000, 1000))


def test_orientation_tag_turns_the_samples_upright(tmp_path):
    data = np.zeros((10, 30), np.float32)
    data[:, :5] = 1.0                                           # a bright stripe on the left
    tifffile.imwrite(tmp_path / "o.tif", data, extratags=[(274, "H", 1, 6, True)])   # rotate 90 CW to display
    out = read_image(tmp_path / "o.tif", scaling=ImageScaling("fixed", range=(0, 1)))
    assert out.shape == (30, 10, 3)
    assert (out[:5] == 255).all() and (out[5:] == 0).all()     # the stripe is now on top


def test_16bit_colour_png_goes_through_the_same_scaling(tmp_path):
    rng = np.random.default_rng(6)
    rgb = np.stack([rng.integers(0, 9000, (H, W)) for _ in range(3)], axis=-1).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "c.png"), rgb[..., ::-1])       # OpenCV writes BGR
    out = read_image(tmp_path / "c.png")
    for k in range(3):
        assert np.array_equal(out[..., k], _percentile(rgb[..., k]))
    rgba = np.dstack([rgb, np.full((H, W), 65535, np.uint16)])
    rgba[:4, :, 3] = 0
    cv2.imwrite(str(tmp_path / "a.png"), rgba[..., [2, 1, 0, 3]])
    image, alpha = read_image(tmp_path / "a.png", with_alpha=True, background=(0, 0, 0))
    assert (alpha[:4] == 0).all() and (alpha[4:] == 255).all() and (image[:4] == 0).all()


def test_8bit_files_keep_their_values_whatever_the_scaling(tmp_path):
    rgb = np.random.default_rng(7).integers(0, 256, (H, W, 3), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "p.tif", rgb, photometric="rgb")
    Image.fromarray(rgb).save(tmp_path / "p.png")
    for name in ("p.tif", "p.png"):
        assert np.array_equal(read_image(tmp_path / name, scaling=ImageScaling("minmax")), rgb)


def test_lzw_float_tiff_without_imagecodecs_is_read_by_pillow(tmp_path):
    data = np.random.default_rng(8).random((H, W)).astype(np.float32)
    Image.fromarray(data).save(tmp_path / "lzw.tif", compression="tiff_lzw")
    assert np.array_equal(read_image(tmp_path / "lzw.tif")[..., 0], _percentile(data))


def test_percentiles_come_from_a_bounded_subsample(monkeypatch):
    """A large band is measured on a strided subsample of at most about SAMPLE_PIXELS pixels, and on a smooth
    band the limits are those of the whole band."""
    monkeypatch.setattr(sc, "SAMPLE_PIXELS", 10_000)
    band = np.add.outer(np.arange(1000.0), np.arange(1200.0)).astype(np.float32)   # 1.2 MP ramp
    seen = []
    real = np.percentile
    monkeypatch.setattr(sc.np, "percentile", lambda values, q: seen.append(values.size) or real(values, q))
    lo, hi = band_limits(band, ImageScaling())
    assert seen and seen[0] <= 10_000 * 1.3
    want = real(band, (2, 98))
    assert abs(lo - want[0]) < 15 and abs(hi - want[1]) < 15     # the ramp's values span 0-2198


def test_constant_and_empty_bands_do_not_divide_by_zero():
    assert (to_rgb8(np.full((4, 4), 7.0, np.float32)) == 0).all()
    assert (to_rgb8(np.full((4, 4), np.nan, np.float32)) == 0).all()


@pytest.mark.parametrize("kwargs, message", [
    ({"mode": "gamma"}, "unknown scaling"),
    ({"percentiles": (98, 2)}, "low < high"),
    ({"percentiles": (-1, 50)}, "0 <= low"),
    ({"mode": "fixed"}, "needs a range"),
    ({"mode": "fixed", "range": (5, 5)}, "low < high"),
    ({"range": (0, float("nan"))}, "finite"),
    ({"bands": (1, 2)}, "one band .* or three"),
    ({"bands": (0, 1, 2)}, "1-256"),
])
def test_bad_settings_are_refused_with_a_message(kwargs, message):
    with pytest.raises(ImageSettingsError, match=message):
        ImageScaling(**kwargs)


def test_saved_labels_keep_the_source_geometry(tmp_path, bands5):
    """A (5, H, W) stack is labelled as an H x W image: the label PNG has the image's height and width."""
    tifffile.imwrite(tmp_path / "stack.tif", np.moveaxis(bands5, -1, 0))
    ds = Dataset(tmp_path)
    image = ds.read_image(0)
    assert image.shape == (H, W, 3)
    labels = np.zeros((H, W), np.uint8)
    labels[:, W // 2:] = 1
    ds.save(0, labels, ClassList(("background", "field"), ((0, 0, 0), (0, 200, 0))))
    assert np.array_equal(Dataset(tmp_path).load_labels(0), labels)


def test_stacks_are_refused_but_an_8bit_multipage_scan_reads_its_first_page(tmp_path):
    tifffile.imwrite(tmp_path / "tzyx.tif", np.zeros((2, 3, H, W), np.float32), photometric="minisblack")
    with pytest.raises(ImageReadError, match=r"tzyx.tif: the TIFF is a stack \(axes"):
        read_image(tmp_path / "tzyx.tif")
    pages = np.random.default_rng(9).integers(0, 256, (2, H, W, 3), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "scan.tif", pages, photometric="rgb")
    assert np.array_equal(read_image(tmp_path / "scan.tif"), pages[0])


def test_a_one_bit_alpha_channel_reads_as_transparent_or_opaque(tmp_path):
    """Found by the reader fuzz test: a 1x1 two-sample 1-bit TIFF whose second sample is alpha (ExtraSamples 2)."""
    from engine.io.images import read_image
    data = (b"II*\x00\x08\x00\x00\x00\x0b\x00\x00\x01\x04\x00\x01\x00\x00\x00\x01\x00\x00\x00\x01\x01\x04\x00\x01"
            b"\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x08\x00\x08\x00\x03\x01\x03\x00\x01\x00"
            b"\x00\x00\x01\x00\x00\x00\x06\x01\x03\x00\x01\x00\x00\x00\x01\x00\x00\x00\x11\x01\x04\x00\x01\x00\x00"
            b"\x00\x92\x00\x00\x00\x15\x01\x03\x00\x01\x00\x00\x00\x02\x00\x00\x00\x16\x01\x04\x00\x01\x00\x00\x00"
            b"\x01\x00\x00\x00\x17\x01\x04\x00\x01\x00\x00\x00\x02\x00\x00\x00\x1c\x01\x03\x00\x01\x00\x00\x00\x01"
            b"\x00\x00\x00R\x01\x03\x00\x01\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x7f\xff")
    path = tmp_path / "one_bit_alpha.tif"
    path.write_bytes(data)
    image, alpha = read_image(path, with_alpha=True)
    assert image.shape == (1, 1, 3) and alpha.dtype == np.uint8 and alpha[0, 0] in (0, 255)


@pytest.mark.parametrize("code, turn", [(6, lambda a: np.rot90(a, -1)), (8, lambda a: np.rot90(a, 1)),
                                        (3, lambda a: a[::-1, ::-1])])
def test_8bit_tiffs_with_an_orientation_tag_are_read_upright(tmp_path, code, turn):
    """A walk: an 8-bit grey TIFF with Orientation 6 came out scrambled (Pillow 13 turns a TIFF as it loads it);
    the import frame had its size turned twice. Both now come from the stored pixels and the tag."""
    from engine.io.imports.frame import image_frame
    grey = (np.arange(30 * 40) % 251).astype(np.uint8).reshape(30, 40)
    rgb = np.stack([grey, 255 - grey, grey // 2], -1)
    tifffile.imwrite(tmp_path / "g.tif", grey, photometric="minisblack", extratags=[(274, "H", 1, code, True)])
    tifffile.imwrite(tmp_path / "c.tif", rgb, photometric="rgb", extratags=[(274, "H", 1, code, True)])
    np.testing.assert_array_equal(read_image(tmp_path / "g.tif")[..., 0], turn(grey))
    np.testing.assert_array_equal(read_image(tmp_path / "c.tif"), turn(rgb))
    assert image_frame(tmp_path / "g.tif").shape == turn(grey).shape


def test_an_8bit_rgb_tiff_with_a_fourth_band_takes_the_band_choice(tmp_path):
    """A walk: an RGB + near-infrared 8-bit TIFF (as aerial imagery ships) was read as RGBA by Pillow and the
    folder's bands 4,3,2 changed nothing. An alpha fourth band stays alpha."""
    bands = np.random.default_rng(0).integers(0, 255, (20, 30, 4)).astype(np.uint8)
    tifffile.imwrite(tmp_path / "rgbn.tif", bands, photometric="rgb", extrasamples=[0])
    np.testing.assert_array_equal(read_image(tmp_path / "rgbn.tif", scaling=ImageScaling(bands=(4, 3, 2))),
                                  bands[..., [3, 2, 1]])
    np.testing.assert_array_equal(read_image(tmp_path / "rgbn.tif"), bands[..., :3])      # the default: 1,2,3
    tifffile.imwrite(tmp_path / "rgba.tif", bands, photometric="rgb", extrasamples=[2])
    rgb, alpha = read_image(tmp_path / "rgba.tif", with_alpha=True)
    np.testing.assert_array_equal(alpha, bands[..., 3])
