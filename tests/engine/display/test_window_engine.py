"""The Qt-free pieces behind issue 15: pixel readout, colour maps, RGBA compositing, error status, the status rule
after undo, SLIC superpixels and their cache, mask painting, and the Qt system-library check."""
import sys

import numpy as np
import pytest
from PIL import Image

from engine.annotate import superpixels
from engine.annotate.edits import EditableLabels
from engine.annotate.state import ImageState
from engine.display import colormaps
from engine.display.readout import read_pixel
from engine.folder.dataset import Dataset, Status
from engine.io.images import read_image
from engine.labels import VOID
from engine.models.registry import DEFAULT_MEAN_BGR
from engine.predict import alpha_background, transparent_mask
from gui.boot import qt_libs


# ----- readout -----------------------------------------------------------------------------------------
def test_pixel_readout_gives_label_top_two_and_uncertainty():
    probs = np.zeros((3, 2, 2), np.float32)
    probs[:, 1, 0] = [0.2, 0.5, 0.3]
    labels = np.array([[0, 0], [1, VOID]], np.uint8)
    unc = np.array([[0, 0], [0.8, 0.1]], np.float32)
    r = read_pixel(0, 1, labels, probs, unc)
    assert (r.x, r.y, r.label) == (0, 1, 1)
    assert r.top[0][0] == 1 and r.top[0][1] == pytest.approx(0.5) and r.top[1][0] == 2
    assert r.uncertainty == pytest.approx(0.8)
    text = r.text(("bg", "car", "tree"))
    assert text == "x 0  y 1 · car · car 0.50, tree 0.30 · unsure 0.80"
    assert read_pixel(1, 1, labels).text(("bg",)) == "x 1  y 1 · void"
    assert read_pixel(5, 0, labels) is None and read_pixel(0, 0) is None


# ----- colour maps -------------------------------------------------------------------------------------
def test_colour_maps_rise_in_lightness_and_auto_picks_the_most_distinct():
    for name in ("viridis", "magma", "cividis"):
        lab = colormaps._lab(colormaps.lut(name))
        assert np.all(np.diff(lab[::16, 0]) > 0), name          # perceptual: brighter means more
    palette = [(230, 200, 60), (230, 60, 160)]
    best = colormaps.most_distinct(palette)
    assert all(colormaps.distance_to_palette(best, palette) >= colormaps.distance_to_palette(n, palette)
               for n in colormaps.COLORMAPS)
    assert colormaps.resolve("auto", palette) == best and colormaps.resolve("nope", palette) == colormaps.DEFAULT
    with pytest.raises(KeyError, match="viridis"):
        colormaps.lut("rainbow")


# ----- RGBA --------------------------------------------------------------------------------------------
def test_rgba_is_composited_onto_the_given_background(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., :3] = 200
    rgba[0, 0, 3] = 255
    rgba[0, 1, 3] = 128
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    mean = alpha_background()
    assert mean == tuple(int(round(c)) for c in DEFAULT_MEAN_BGR[::-1])
    img = read_image(tmp_path / "a.png", background=mean)
    assert tuple(img[0, 0]) == (200, 200, 200) and tuple(img[3, 3]) == mean
    assert abs(int(img[0, 1, 0]) - round(200 * 128 / 255 + mean[0] * 127 / 255)) <= 1
    assert tuple(read_image(tmp_path / "a.png")[3, 3]) == (255, 255, 255)   # plain reads: white, as viewers
    rgb, alpha = read_image(tmp_path / "a.png", background=mean, with_alpha=True)
    assert np.array_equal(rgb, img) and alpha[0, 0] == 255 and alpha[3, 3] == 0
    clear = transparent_mask(alpha)
    assert clear.sum() == 14 and not clear[0, 1]                 # half-transparent pixels keep their label
    Image.fromarray(rgba[..., :3]).save(tmp_path / "b.png")
    assert read_image(tmp_path / "b.png", with_alpha=True)[1] is None and transparent_mask(None) is None
    st = ImageState(index=0, path=None, image=img, void_mask=clear)
    probs = np.zeros((2, 4, 4), np.float32)
    probs[1] = 1
    st.set_prediction(probs)
    assert (st.labels[clear] == VOID).all() and (st.labels[~clear] == 1).all() and st.status == Status.PREDICTED
    st.set_crf(probs, np.ones((4, 4), np.uint8), None)
    assert (st.crf_labels[clear] == VOID).all()


# ----- dataset error status and the edited rule --------------------------------------------------------
def test_unreadable_images_get_an_error_status_that_clears(tmp_path):
    for n in ("a.png", "b.png"):
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / n)
    ds = Dataset(tmp_path)
    ds.mark_unreadable(1, "b.png: truncated")
    assert ds.status(1) == Status.ERROR and ds[1].error == "b.png: truncated"
    assert ds.next_unsaved(0) == 0 and ds.next_unsaved(0, [0, 1]) == 0   # skipped: nothing to save
    ds.set_status(1, Status.PREDICTED)
    assert ds[1].error == ""


def test_status_follows_the_labels_not_a_flag():
    st = ImageState(index=0, path=None, image=np.zeros((8, 8, 3), np.uint8))
    assert st.status == Status.NEW
    probs = np.zeros((2, 8, 8), np.float32)
    probs[0] = 1
    st.set_prediction(probs)
    assert st.status == Status.PREDICTED
    edit = st.edits.brush([(2, 2)], 1, 1)
    st.note_hand_edit()
    assert st.status == Status.EDITED
    st.edits.undo(edit)
    st.note_hand_edit()
    assert st.status == Status.PREDICTED and not st.dirty
    st.edits.brush([(2, 2)], 1, 1)
    st.mark_saved()
    assert st.status == Status.SAVED
    blank = ImageState(index=0, path=None, image=np.zeros((8, 8, 3), np.uint8))
    e = blank.ensure_edits(2).brush([(1, 1)], 0, 1)
    assert blank.status == Status.EDITED
    blank.edits.undo(e)
    assert blank.status == Status.NEW                          # painted from scratch and undone: nothing there


# ----- superpixels -------------------------------------------------------------------------------------
def _two_tone(h=60, w=80):
    img = np.zeros((h, w, 3), np.uint8)
    img[:, : w // 2] = (200, 30, 30)
    img[:, w // 2:] = (30, 30, 200)
    return img


def test_slic_segments_have_about_the_asked_size_and_follow_edges():
    img = _two_tone()
    small, large = superpixels.compute(img, 10), superpixels.compute(img, 30)
    assert small.dtype == np.int32 and small.shape == img.shape[:2]
    assert small.max() + 1 > large.max() + 1 >= 2
    for seg in np.unique(small):                               # no superpixel straddles the colour edge
        cols = np.nonzero(small == seg)[1]
        assert cols.max() < 40 or cols.min() >= 40
    region = superpixels.region_of(small, [(5, 5), (5, 6), (200, 5)])
    assert region[5, 5] and region.sum() == (small == small[5, 5]).sum()
    edges = superpixels.boundaries(small)
    assert edges.dtype == bool and edges.any() and not edges.all()


def test_superpixel_cache_is_per_image_and_size_and_bounded():
    calls = []

    def fake(image, size):
        calls.append(size)
        return np.full(image.shape[:2], size, np.int32)
    cache = superpixels.SuperpixelCache(max_bytes=3 * 60 * 80 * 4)
    img = _two_tone()
    for size in (10, 10, 20):
        cache.get_or_compute("a", img, size, fake)
    assert calls == [10, 20]
    for key in ("b", "c", "d"):
        cache.get_or_compute(key, img, 10, fake)
    assert len(cache) == 3 and cache.get("a", 10) is None and cache.get("d", 10) is not None


def test_paint_mask_is_one_edit_that_undoes():
    ed = EditableLabels(np.zeros((10, 10), np.uint8), n_classes=3)
    mask = np.zeros((10, 10), bool)
    mask[2:4, 3:8] = True
    edit = ed.paint_mask(mask, 2, kind="superpixel")
    assert (ed.labels[mask] == 2).all() and ed.locked[mask].all() and not ed.locked[~mask].any()
    assert edit.box == (3, 2, 8, 4) and edit.kind == "superpixel"
    ed.undo(edit)
    assert not ed.labels.any() and not ed.has_locks
    with pytest.raises(ValueError):
        ed.paint_mask(np.zeros((3, 3), bool), 1)


# ----- Qt system libraries -----------------------------------------------------------------------------
LDD = """/x/libqxcb.so:
\tlibQt6XcbQpa.so.6 => /x/libQt6XcbQpa.so.6 (0x1)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxkbcommon-x11.so.0 => not found
/x/libQt6XcbQpa.so.6:
\tlibxcb-icccm.so.4 => not found
"""


def test_missing_qt_libraries_map_to_one_apt_command():
    missing = qt_libs.missing_libraries(LDD)
    assert missing == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxkbcommon-x11.so.0"]
    packages = [qt_libs.package_for(s) for s in missing]
    assert packages == ["libxcb-icccm4", "libxcb-keysyms1", "libxkbcommon-x11-0"]
    assert qt_libs.package_for("libxcb-cursor.so.0") == "libxcb-cursor0"
    assert qt_libs.package_for("libX11-xcb.so.1") == "libx11-xcb1"
    assert qt_libs.package_for("libglib-2.0.so.0") == "libglib2.0-0"
    assert qt_libs.install_command(packages, as_root=False) == \
        "sudo apt-get install -y libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0"


def test_check_prints_the_command_for_what_ldd_misses(monkeypatch, capsys, tmp_path):
    plugin = tmp_path / "plugins" / "platforms" / "libqxcb.so"
    plugin.parent.mkdir(parents=True)
    plugin.write_bytes(b"")
    monkeypatch.setattr(qt_libs, "qt_dir", lambda: tmp_path)
    monkeypatch.setattr(qt_libs.shutil, "which", lambda name: "/usr/bin/" + name)
    monkeypatch.setattr(qt_libs.subprocess, "run", lambda *a, **k: type("R", (), {"stdout": LDD})())
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("XDG_SESSION_TYPE", raising=False)
    assert qt_libs.check() == 1
    err = capsys.readouterr().err
    assert "apt-get install -y libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0" in err
    monkeypatch.setattr(qt_libs.subprocess, "run", lambda *a, **k: type("R", (), {"stdout": "ok\n"})())
    assert qt_libs.check(quiet=True) == 0
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")        # xcb is not used: nothing to check
    assert qt_libs.check() == 0


def test_the_fast_check_agrees_with_ldd_on_this_machine():
    """gui.app tries dlopen first (no subprocess); it must say 'loads' exactly when ldd finds every library."""
    qt = qt_libs.qt_dir()
    ldd = qt_libs.shutil.which("ldd")
    if not sys.platform.startswith("linux") or qt is None or ldd is None:
        pytest.skip("Linux with PySide6 and ldd only")
    binaries = qt_libs.xcb_binaries(qt)
    assert binaries, "the xcb plugin is not where the check looks"
    out = qt_libs.subprocess.run([ldd, *map(str, binaries)], capture_output=True, text=True).stdout
    assert qt_libs.loads(binaries) == (not qt_libs.missing_libraries(out))
