"""Image > Bands and scaling… in the real window (issue 25): a folder of float32 TIFFs opens with the default
(first three bands, percentile 2-98, NaN black); choosing other bands writes labels/project.json, reads the open
image again off the GUI thread with its hand edits and view kept, predicts it again, and the next image is read
the same way. The dialog itself returns what its widgets show and keeps a bad range open with a message."""
import json

import numpy as np
import tifffile

from engine.io.images import read_image
from engine.io.scaling import ImageScaling
from gui.app import start
from gui.dialogs.image_scaling import ImageScalingDialog
from tests.support.gui_fixtures import wait_image, wait_ready, window  # noqa: F401 (fixture)
from tests.support.gui_helpers import make_colour_model

H, W = 48, 64


def _folder(tmp_path):
    """Two float32 scenes of three bands: band 1 bright on the left, band 2 on the right; a no-data corner."""
    folder = tmp_path / "scenes"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for k in range(2):
        bands = np.full((3, H, W), 0.05, np.float32) + rng.normal(0, 0.01, (3, H, W)).astype(np.float32)
        bands[0, :, : W // 2] += 0.7 + 0.1 * k
        bands[1, :, W // 2:] += 0.7
        bands[:, :4, :4] = np.nan
        tifffile.imwrite(folder / f"field_{k}.tif", bands, photometric="minisblack")
    return folder, make_colour_model(tmp_path / "colour.pt")


def test_folder_of_float_tiffs_and_a_new_band_choice(qtbot, window, tmp_path):
    folder, model = _folder(tmp_path)
    start(window, folder, model)
    st = wait_ready(qtbot, window)
    first = folder / "field_0.tif"
    np.testing.assert_array_equal(st.image, read_image(first))              # the default scaling
    assert (st.image[:4, :4] == 0).all()                                     # no-data is black
    left, right = st.labels[H // 2, W // 4], st.labels[H // 2, 3 * W // 4]
    assert left != right
    window.learn.adapt_action.setChecked(False)    # the head would learn the stroke; here only pixels are compared
    window.ctl.editor.set_paint_class(0)                                     # a hand edit: locked background
    window.ctl.editor.polygon([(40, 20), (50, 20), (50, 30), (40, 30)])
    st = wait_ready(qtbot, window)
    assert st.locked[25, 45] and st.labels[25, 45] == 0
    token, transform = st.token, window.canvas.transform()

    asked = []
    choice = ImageScaling(bands=(2, 1, 3))
    window.image_scaling.ask = lambda current, about: asked.append((current, about)) or choice
    assert window.image_scaling.action in window.menus["&Image"].actions()
    window.image_scaling.action.trigger()
    assert asked == [(ImageScaling(), "field_0.tif: 3 bands of float32")]
    qtbot.waitUntil(lambda: window.ctl.state is not None and window.ctl.state.token != token, timeout=10000)
    st = wait_ready(qtbot, window)
    assert st is window.ctl.state and st.index == 0
    np.testing.assert_array_equal(st.image, read_image(first, scaling=choice))
    assert st.labels[H // 2, W // 4] == right and st.labels[H // 2, 3 * W // 4] == left   # bands swapped
    assert st.locked[25, 45] and st.labels[25, 45] == 0                      # the hand edit stayed
    assert window.canvas.transform() == transform                            # and so did the view
    stored = json.loads((folder / "labels" / "project.json").read_text())
    assert stored["image"] == {"bands": [2, 1, 3], "scaling": "percentile", "percentiles": [2, 98]}
    assert window.ctl.dataset.image_settings == choice

    window.ctl.editor.clear_locks()                                          # Ctrl+R keeps locked pixels:
    window.ctl.edits.use_model_result()                                      # unlocked, nothing unsaved: move on
    window.go(+1)
    st = wait_image(qtbot, window, 1)
    np.testing.assert_array_equal(st.image, read_image(folder / "field_1.tif", scaling=choice))


def test_the_dialog_returns_what_it_shows(qtbot, window):
    dialog = ImageScalingDialog(window, ImageScaling(), "x.tif: 5 bands of uint16")
    qtbot.addWidget(dialog)
    dialog.band_mode.setCurrentIndex(2)                 # one band as grey
    dialog.red.setValue(4)
    dialog.mode.setCurrentIndex(2)                      # fixed
    dialog.r_low.setValue(100)
    dialog.r_high.setValue(4000)
    dialog.accept()
    assert dialog.scaling == ImageScaling("fixed", range=(100, 4000), bands=(4,))

    again = ImageScalingDialog(window, dialog.scaling)
    qtbot.addWidget(again)
    assert again.band_mode.currentData() == "grey" and again.red.value() == 4 and again.mode.currentData() == "fixed"
    again.r_high.setValue(100)                          # low == high: refused, the dialog stays open
    again.accept()
    assert again.scaling is None and "low < high" in again.problem.text()


def test_a_band_the_image_lacks_keeps_the_image_shown(qtbot, window, tmp_path):
    folder, model = _folder(tmp_path)
    start(window, folder, model)
    st = wait_ready(qtbot, window)
    image, token = st.image.copy(), st.token
    window.image_scaling.ask = lambda current, about: ImageScaling(bands=(7,))
    window.image_scaling.action.trigger()
    qtbot.waitUntil(lambda: "band 7 is chosen" in (window.last_error or ""), timeout=10000)
    assert "has 3 bands" in window.last_error and "field_0.tif" in window.last_error
    assert window.ctl.state is st and st.token == token and np.array_equal(st.image, image)   # nothing lost
    window.image_scaling.ask = lambda current, about: ImageScaling()        # back to the default: read again
    window.image_scaling.action.trigger()
    qtbot.waitUntil(lambda: window.ctl.state.token != token, timeout=10000)
    np.testing.assert_array_equal(wait_ready(qtbot, window).image, image)
