"""What the canvas and the class panel show: the uncertainty overlay in a map unlike the class colours, with a
legend; hard pixels when zoomed in; transparent pixels as void; the selected class's swatch; the heat map on
double-click; the zoom and pixel readouts under the cursor."""

import numpy as np
from PIL import Image
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QColor, QImage, QMouseEvent
from PySide6.QtWidgets import QApplication

from engine.display import colormaps
from engine.display.colormaps import distance_to_palette
from engine.labels import VOID
from engine.predict import alpha_background
from gui.app import start
from tests.support.gui_fixtures import env, wait_ready, window  # noqa: F401 (fixtures)
from tests.support.gui_helpers import brush_stroke

RED = 1


def test_uncertainty_overlay_uses_a_map_unlike_the_class_colours_with_a_legend(qtbot, window, env):
    folder, model = env
    start(window, folder, model)
    st = wait_ready(qtbot, window)
    palette = window.ctl.classes.class_list.palette_array()
    window.toolbar.uncertainty.setChecked(True)
    assert window.legend.isVisible() and window.legend.choice() == colormaps.AUTO
    chosen = window.presenter.uncertainty_cmap()
    assert chosen == colormaps.most_distinct(palette)
    assert distance_to_palette(chosen, palette) == max(distance_to_palette(n, palette) for n in colormaps.COLORMAPS)
    img = window.canvas.overlay("uncertainty").pixmap().toImage()
    unc = st.crf_unc
    y, x = np.unravel_index(int(np.argmax(unc)), unc.shape)
    want = colormaps.apply(np.array([[unc[y, x]]]), chosen)[0, 0]
    got = img.pixelColor(int(x), int(y))
    assert abs(got.red() - int(want[0])) <= 2 and abs(got.green() - int(want[1])) <= 2
    window.legend.box.setCurrentIndex(window.legend.box.findData("viridis"))
    window.legend.box.activated.emit(window.legend.box.currentIndex())
    assert window.presenter.uncertainty_cmap() == "viridis"
    assert window.settings.value("view/uncertainty_cmap") == "viridis"
    window.toolbar.uncertainty.setChecked(False)
    assert not window.legend.isVisible()


def test_auto_colour_map_avoids_a_magenta_class():
    magenta_palette = [(40, 40, 40), (230, 60, 160)]             # the demo's "plastic bag"
    chosen = colormaps.most_distinct(magenta_palette)
    assert distance_to_palette(chosen, magenta_palette) > distance_to_palette("magma", [(255, 0, 255)]) / 4
    assert distance_to_palette(chosen, magenta_palette) >= max(
        distance_to_palette(n, magenta_palette) for n in colormaps.COLORMAPS)


def test_a_tiny_image_zoomed_in_is_drawn_as_hard_pixels(qtbot, window):
    checker = np.zeros((4, 4, 3), np.uint8)
    checker[::2, ::2] = checker[1::2, 1::2] = 255
    window.canvas.set_image(checker)
    window.canvas.set_zoom(40.0)
    window.canvas.centerOn(2, 2)
    QApplication.processEvents()
    grab = window.canvas.viewport().grab().toImage()
    centre = window.canvas.mapFromScene(QPointF(2.0, 2.0))
    values = {grab.pixelColor(centre.x() + dx, centre.y() + dy).red() for dx in range(-60, 60, 3)
              for dy in range(-60, 60, 7)}
    assert values <= {0, 255}                                  # no blended greys between pixels
    assert window.canvas._image_item.transformationMode() == Qt.TransformationMode.FastTransformation
    window.canvas.set_zoom(0.5)
    assert window.canvas._image_item.transformationMode() == Qt.TransformationMode.SmoothTransformation


def test_transparent_pixels_are_void_and_the_rest_sits_on_the_models_mean(qtbot, window, env, monkeypatch):
    folder, model = env
    rgba = np.zeros((96, 128, 4), np.uint8)
    rgba[..., :3] = (210, 50, 40)
    rgba[20:60, 30:90, 3] = 255                                # an opaque cut-out on a transparent sheet
    rgba[60:70, 30:90, 3] = 128                                # a soft edge
    Image.fromarray(rgba, "RGBA").save(folder / "img1.png")
    window.editing.auto_refine.setChecked(False)
    start(window, folder, model)
    st = wait_ready(qtbot, window)
    mean = alpha_background(window.ctl.loader.loaded.spec)
    assert tuple(st.image[0, 0]) == mean and tuple(st.image[40, 60]) == (210, 50, 40) and mean != (255, 255, 255)
    clear = rgba[..., 3] == 0
    assert (st.labels[clear] == VOID).all() and (st.labels[~clear] != VOID).all()
    assert (st.labels[20:60, 30:90] == RED).all()
    assert window.file_list.status_text(0) == "predicted"      # void by rule, not an edit
    brush_stroke(window, (5, 5), (17, 5))                                       # the annotator may still label it
    assert st.labels[5, 8] == RED and st.locked[5, 8]
    assert window.save()
    from engine.io.labels import read_label_png
    saved = read_label_png(folder / "labels" / "img1.png")
    assert saved[90, 120] == VOID and saved[40, 60] == RED


def test_selected_class_row_keeps_its_colour_swatch(qtbot, window, env):
    folder, model = env
    start(window, folder, model)
    wait_ready(qtbot, window)
    panel = window.class_panel
    panel.select(1)
    QApplication.processEvents()
    item = panel.tree.topLevelItem(1)
    rect = panel.tree.visualItemRect(item)
    grab = panel.tree.viewport().grab().toImage()
    want = QColor(*window.ctl.classes.class_list.palette[1])
    found = any(grab.pixelColor(x, rect.center().y()) == want for x in range(rect.left(), rect.left() + 60))
    assert found, "the selected row's swatch is not drawn in the class colour"


def _double_click(tree, item):
    vp = tree.viewport()
    p = QPointF(tree.visualItemRect(item).center())
    g = QPointF(vp.mapToGlobal(p.toPoint()))
    for kind in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonRelease, QEvent.Type.MouseButtonDblClick,
                 QEvent.Type.MouseButtonRelease):   # what a real double click delivers
        held = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease else Qt.MouseButton.LeftButton
        QApplication.sendEvent(vp, QMouseEvent(kind, p, g, Qt.MouseButton.LeftButton, held,
                                               Qt.KeyboardModifier.NoModifier))


def test_double_click_shows_the_heat_map_without_changing_the_paint_class(qtbot, window, env):
    folder, model = env
    start(window, folder, model)
    wait_ready(qtbot, window)
    window.ctl.editor.set_paint_class(1)
    _double_click(window.class_panel.tree, window.class_panel.tree.topLevelItem(2))
    assert window.class_panel.selected() == 2 and window.presenter.opts.heat_class == 2
    assert window.ctl.editor.paint_class == 1 and window.class_panel.paint_class() == 1


def test_readouts_zoom_and_the_pixel_under_the_cursor(qtbot, window, env):
    folder, model = env
    start(window, folder, model)
    st = wait_ready(qtbot, window)
    window.canvas.set_zoom(2.0)
    assert window.readout.zoom.text() == "Zoom 200 %"
    x, y = 40, 30
    window.canvas.cursor_moved.emit(x, y)
    text = window.readout.pixel.text()
    probs = st.crf_probs[:, y, x]
    first, second = np.argsort(-probs)[:2]
    names = window.ctl.classes.class_list.names
    assert st.labels[y, x] == first and text.startswith(f"{x}, {y}  {names[first]}")
    assert f"{names[first]} {probs[first] * 100:.0f}%, {names[second]} {probs[second] * 100:.0f}%" in text
    assert f"unsure {st.crf_unc[y, x]:.2f}" in text
    window.canvas.cursor_moved.emit(-1, -1)
    assert window.readout.pixel.text() == ""


def test_the_heat_map_stays_on_its_class_when_the_class_is_renamed_and_goes_when_it_is_deleted(qtbot, window, env):
    """A walk saw renaming a class turn its heat map off (adding one did, before)."""
    folder, model = env
    start(window, folder, model)
    wait_ready(qtbot, window)
    _double_click(window.class_panel.tree, window.class_panel.tree.topLevelItem(2))
    assert window.class_panel.selected() == 2
    classes = window.ctl.classes.project.classes
    assert window.ctl.classes.edit_classes(classes.rename(2, "pond"))
    assert window.class_panel.selected() == 2 and window.presenter.opts.heat_class == 2
    assert window.ctl.classes.edit_classes(window.ctl.classes.project.classes.rename(1, "red pond"))
    assert window.class_panel.selected() == 2   # another class renamed: the same
    window.class_panel.set_classes(["a", "b"], [(0, 0, 0), (1, 1, 1)])   # (the list shrank past it)
    assert window.class_panel.selected() == -1


def test_a_large_images_probability_layers_are_coloured_off_the_gui_thread_newest_first(qtbot, window, env,
                                                                                         monkeypatch):
    """A big-photo walk: on a 24 MP photo the uncertainty froze the window 1.2 s and a heat map 1.4-2.5 s, with no
    word of it. Above ASYNC_PIXELS (lowered here to this small image) the layers are coloured in a worker: the
    window says what it draws, a newer request drops an older one's result, and the layer shows when ready."""
    import threading

    from engine.display import overlays as display_overlays
    from gui.canvas import overlays

    folder, model = env
    start(window, folder, model)
    st = wait_ready(qtbot, window)
    monkeypatch.setattr(overlays, "ASYNC_PIXELS", 0)
    gate, real = threading.Event(), display_overlays.class_heat_rgba

    def slow(plane, colour):
        gate.wait(10)
        return real(plane, colour)
    monkeypatch.setattr(overlays, "class_heat_rgba", slow)
    names = window.ctl.classes.class_list.names
    window.presenter.opts.heat_class = 1
    window.presenter.render_heat()                                  # returns at once: coloured in the worker
    assert window.presenter.drawing and window.status.activity.text() == f"Drawing the heat map of {names[1]}…"
    window.presenter.opts.heat_class = 2
    window.presenter.render_heat()                                  # the newer request wins
    gate.set()
    qtbot.waitUntil(lambda: not window.presenter.drawing, timeout=10000)
    img = window.canvas.overlay("heat").pixmap().toImage().convertToFormat(QImage.Format.Format_RGBA8888)
    alpha = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.width(), 4)[..., 3].astype(int)
    palette = window.ctl.classes.class_list.palette_array()
    off = [np.abs(alpha - real(st.crf_probs[c], palette[c])[..., 3]).mean() for c in (1, 2)]
    assert off[1] < 2 < off[0], off                                 # class 2's map, not class 1's
    assert window.status.activity.text() == f"Ready: {st.path.name}"
    # its legend row too, once the layer shows (a walk's 6 MP heat map had none until it was picked again)
    assert window.overlay_legend.texts().get("heat") == f"p({names[2]}) after CRF 0 → 1"   # (it is crf_probs)
