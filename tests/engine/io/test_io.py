"""Image reading edge cases and label PNG round trips (engine only, no display)."""
import errno

import numpy as np
import pytest
from PIL import Image

from engine.errors import ImageReadError, LabelIOError
from engine.io import atomic
from engine.io.images import read_image
from engine.io.scaling import ImageScaling
from engine.io.labels import read_label_palette, read_label_png, write_class_names, write_label_png
from engine.labels import VOID, ClassList, coco_stuff_classes, load_class_list, voc_classes, voc_palette


def test_rgb_png_round_trip(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (17, 23, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    out = read_image(tmp_path / "a.png")
    assert out.dtype == np.uint8 and out.shape == (17, 23, 3)
    assert np.array_equal(out, rgb)


def test_exif_orientation_is_applied(tmp_path):
    rgb = np.zeros((10, 30, 3), np.uint8)
    rgb[:, :5] = 255  # white band on the left
    img = Image.fromarray(rgb)
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 CW to display
    img.save(tmp_path / "r.jpg", exif=exif.tobytes(), quality=100)
    out = read_image(tmp_path / "r.jpg")
    assert out.shape == (30, 10, 3)  # upright: width and height swapped
    assert out[:5].mean() > 200 and out[-5:].mean() < 50  # the band is now on top


def test_grayscale_and_16bit(tmp_path):
    gray = np.arange(0, 200, dtype=np.uint8).reshape(10, 20)
    Image.fromarray(gray, mode="L").save(tmp_path / "g.png")
    out = read_image(tmp_path / "g.png")
    assert out.shape == (10, 20, 3) and np.array_equal(out[..., 0], gray) and np.array_equal(out[..., 2], gray)
    deep = (np.arange(200, dtype=np.uint16).reshape(10, 20) * 300).astype(np.uint16)
    Image.fromarray(deep).save(tmp_path / "d.png")
    out16 = read_image(tmp_path / "d.png")   # the default scaling: each band's 2nd-98th percentile to 0-255
    assert out16.dtype == np.uint8 and out16.shape == (10, 20, 3)
    lo, hi = np.percentile(deep, [2, 98])
    assert np.array_equal(out16[..., 1], np.clip((deep - lo) * (255 / (hi - lo)) + 0.5, 0, 255).astype(np.uint8))
    whole = read_image(tmp_path / "d.png", scaling=ImageScaling("fixed", range=(0, 65535)))  # the type's range
    assert np.abs(whole[..., 1].astype(int) - (deep >> 8)).max() <= 1


def test_16bit_colour_via_opencv(tmp_path):
    import cv2

    bgr16 = np.zeros((8, 9, 3), np.uint16)
    bgr16[..., 2] = 65535  # red channel in BGR order
    cv2.imwrite(str(tmp_path / "c16.tif"), bgr16)
    out = read_image(tmp_path / "c16.tif")
    assert out.shape == (8, 9, 3) and out[..., 0].min() == 255 and out[..., 2].max() == 0


def test_rgba_is_flattened_on_white(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:2, :, 3] = 255  # top half opaque red, bottom fully transparent
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "t.png")
    out = read_image(tmp_path / "t.png")
    assert tuple(out[0, 0]) == (255, 0, 0) and tuple(out[3, 3]) == (255, 255, 255)


@pytest.mark.parametrize("content", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40])
def test_broken_files_give_clear_errors(tmp_path, content):
    bad = tmp_path / "broken.png"
    bad.write_bytes(content)
    with pytest.raises(ImageReadError, match="broken.png"):
        read_image(bad)
    with pytest.raises(ImageReadError, match="no such file"):
        read_image(tmp_path / "missing.jpg")


def test_truncated_jpeg_gives_clear_error(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "full.jpg")
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 3])
    with pytest.raises(ImageReadError, match="cut.jpg") as err:
        read_image(tmp_path / "cut.jpg")
    # a walk read 'image file is truncated (30 bytes not processed)' for a photo cut at half its size
    assert "cut short" in str(err.value) or "corrupt data" in str(err.value)


def test_an_empty_file_says_so_and_a_message_names_the_path_once(tmp_path):
    """A walk read 'unknown format or corrupt header: cannot identify image file '<full path>'' for a 0-byte JPEG:
    the path twice and no word of the file being empty."""
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageReadError, match=r"empty.jpg: the file is empty \(0 bytes\)"):
        read_image(tmp_path / "empty.jpg")
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    with pytest.raises(ImageReadError) as err:
        read_image(tmp_path / "junk.png")
    assert str(err.value).count(str(tmp_path)) == 1, str(err.value)


def test_label_png_round_trip_keeps_indices_and_palette(tmp_path):
    classes = ClassList(("bg", "paper", "plastic"), ((10, 20, 30), (200, 0, 0), (0, 0, 200)))
    labels = np.random.default_rng(2).integers(0, 3, (31, 47), dtype=np.uint8)
    labels[:3, :3] = VOID
    path = tmp_path / "labels" / "x.png"
    write_label_png(path, labels, classes)
    with Image.open(path) as img:
        assert img.mode == "P"
    assert np.array_equal(read_label_png(path), labels)
    pal = read_label_palette(path)
    assert tuple(pal[1]) == (200, 0, 0) and tuple(pal[0]) == (10, 20, 30)
    assert tuple(pal[255]) == tuple(voc_palette(256)[255])  # VOC void colour
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]  # temp file renamed away


def test_a_label_png_of_another_kind_says_what_it_is_and_what_to_do(tmp_path):
    """A walk's 16-bit label PNG was refused with 'got mode I;16' and no advice."""
    path = tmp_path / "deep.png"
    Image.fromarray(np.arange(12, dtype=np.uint16).reshape(3, 4) * 1000).save(path)
    with pytest.raises(LabelIOError) as err:
        read_label_png(path)
    text = str(err.value)
    assert "16-bit grey" in text and "Convert it to 8-bit grey" in text and "Import labels" in text
    rgb = tmp_path / "rgb.png"
    Image.fromarray(np.zeros((3, 4, 3), np.uint8)).save(rgb)
    with pytest.raises(LabelIOError, match=r"colour \(RGB\)"):
        read_label_png(rgb)


def test_label_write_rejects_wrong_dtype(tmp_path):
    with pytest.raises(LabelIOError, match="uint8"):
        write_label_png(tmp_path / "x.png", np.zeros((4, 4), np.int32), voc_classes())


def test_full_disk_keeps_old_file_and_explains(tmp_path, monkeypatch):
    classes = voc_classes()
    path = tmp_path / "keep.png"
    old = np.ones((5, 5), np.uint8)
    write_label_png(path, old, classes)

    def fail_fsync(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", fail_fsync)
    with pytest.raises(LabelIOError, match="disk is full"):
        write_label_png(path, np.zeros((5, 5), np.uint8), classes)
    monkeypatch.undo()
    assert np.array_equal(read_label_png(path), old)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.png"]


def test_class_lists(tmp_path):
    assert len(voc_classes()) == 21 and voc_classes().names[15] == "person"
    coco = coco_stuff_classes()
    assert len(coco) == 182 and coco.names[0] == "person" and coco.names[181] == "wood"
    f = tmp_path / "c.txt"
    f.write_text("# my classes\nbelt 50 50 50\nbottle 0 128 255\n")
    custom = load_class_list(f)
    assert custom.names == ("belt", "bottle") and custom.palette[1] == (0, 128, 255)
    write_class_names(tmp_path / "class_names.txt", custom)
    assert load_class_list(tmp_path / "class_names.txt").names == ("belt", "bottle")


def test_saved_files_get_normal_permissions(tmp_path):
    import os

    write_label_png(tmp_path / "p.png", np.zeros((3, 3), np.uint8), voc_classes())
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "p.png").stat().st_mode & 0o777 == 0o666 & ~umask


def test_probe_image_reads_headers_only_and_says_what_read_image_would(tmp_path, monkeypatch):
    import cv2

    from engine.io.images import probe_image
    from engine.limits import MAX_PIXELS_ENV
    cv2.imwrite(str(tmp_path / "ok.png"), np.zeros((20, 30, 3), np.uint8))
    (tmp_path / "text.png").write_text("not an image")
    (tmp_path / "empty.jpg").write_bytes(b"")
    assert probe_image(tmp_path / "ok.png") is None
    assert "not a readable image" in probe_image(tmp_path / "text.png")
    assert "empty" in probe_image(tmp_path / "empty.jpg")
    monkeypatch.setenv(MAX_PIXELS_ENV, "500")
    assert "over the limit" in probe_image(tmp_path / "ok.png")
