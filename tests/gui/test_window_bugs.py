"""Issue 15's window bugs, each reproduced in the real window (offscreen): status after undo and discard,
unreadable files and long messages, uncertainty colours, nearest-neighbour zoom, RGBA compositing, and the
small defects (quit prompt, swatch, double-click, model menu, columns, geometry, default preset)."""
import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QEvent, QPointF, QRect, QSettings, Qt, QTimer
from PySide6.QtGui import QColor, QMouseEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from engine.display import colormaps
from engine.display.colormaps import distance_to_palette
from engine.paths import DEMO_V1
from engine.labels import VOID
from engine.predict import alpha_background
from gui.dialogs import prompts
from gui.app import start
from tests.support.gui_fixtures import close_window, env, open_window, wait_image, wait_ready, window  # noqa: F401
from tests.support.gui_helpers import make_colour_model

RED = 1


def _paint(window, x0, y0, cls=RED):
    ed = window.ctl.editor
    ed.set_paint_class(cls)
    ed.set_radius(3)
    ed.begin_stroke((x0, y0))
    ed.stroke_to((x0 + 12, y0))
    ed.end_stroke()


# ----- bug 2: status after undo / discard --------------------------------------------------------------
def test_undoing_every_stroke_makes_the_image_predicted_again(qtbot, window, env, monkeypatch):
    folder, model = env
    window.editing.auto_refine.setChecked(False)
    start(window, folder, model)
    st = wait_ready(qtbot, window)
    _paint(window, 5, 5)
    _paint(window, 5, 60)
    assert window.file_list.status_text(0) == "edited" and st.dirty
    stack = window.ctl.editor.stack()
    stack.undo()
    stack.undo()
    assert not st.edits.has_locks
    assert window.file_list.status_text(0) == "predicted" and not st.dirty
    asked = []
    monkeypatch.setattr(prompts, "ask_unsaved", lambda *a: asked.append(a) or prompts.CANCEL)
    assert window.go(+1) and not asked                       # nothing to lose: D does not ask
    assert not window.isWindowModified()


def test_discard_restores_the_list_status_of_the_image_left(qtbot, window, env, monkeypatch):
    folder, model = env
    window.editing.auto_refine.setChecked(False)
    start(window, folder, model)
    wait_ready(qtbot, window)
    assert window.save()                                     # image 1 saved ...
    _paint(window, 5, 5)                                     # ... then edited
    assert window.file_list.status_text(0) == "edited"
    monkeypatch.setattr(prompts, "ask_unsaved", lambda *a: prompts.DISCARD)
    assert window.go(+1)
    assert window.file_list.status_text(0) == "saved" and window.ctl.dataset.status(0).value == "saved"
    wait_ready(qtbot, window)
    _paint(window, 5, 5)                                     # image 2: never saved
    assert window.go(+1)
    assert window.file_list.status_text(1) == "predicted"
    assert window.ctl.dataset.unsaved() == []


# ----- bug 3: unreadable files, long messages ----------------------------------------------------------
def test_unreadable_files_show_an_error_state_with_the_reason(qtbot, window, env):
    folder, model = env
    (folder / "img2.png").write_bytes((folder / "img2.png").read_bytes()[:300])   # truncated PNG
    (folder / "notes.jpg").write_text("this is a text file, not a JPEG")
    window.ctl.prefetch.enabled = False
    start(window, folder, model)
    wait_ready(qtbot, window)
    order = [window.ctl.dataset[i].path.name for i in range(len(window.ctl.dataset))]
    for name in ("img2.png", "notes.jpg"):
        i = order.index(name)
        window.go_to(i)
        qtbot.waitUntil(lambda: window.file_list.status_text(i) == "error", timeout=10000)
        item = window.file_list.item_for(i)
        assert name in item.toolTip(1) and "readable" in item.toolTip(1)    # the reason on hover
        assert item.foreground(1).color() == QColor(210, 50, 50)
    window.go_to(order.index("img1.png"))
    wait_ready(qtbot, window)
    assert window.ctl.dataset.next_unsaved(0) == order.index("img3.png")   # unreadable files are skipped


def test_prefetch_marks_an_unreadable_file_before_it_is_opened(qtbot, window, env):
    folder, model = env
    (folder / "img2.png").write_text("not an image")
    start(window, folder, model)
    wait_ready(qtbot, window)
    qtbot.waitUntil(lambda: window.file_list.status_text(1) == "error", timeout=15000)
    assert window.ctl.index == 0


def test_a_long_message_is_elided_and_never_widens_the_window(qtbot, window):
    width = window.width()
    message = "Could not read /some/very/long/path/" + "deeper/" * 200 + "image.png: truncated"
    window.show_error(message)
    qtbot.wait(50)
    QApplication.processEvents()
    assert window.width() == width and window.minimumSizeHint().width() < 1000
    label = window.status.activity
    assert label.toolTip() == message
    assert label.shown_text().endswith("…") and len(label.shown_text()) < len(message)


# ----- bug 4: uncertainty colours ----------------------------------------------------------------------
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


# ----- bug 5: nearest-neighbour past 100 % ------------------------------------------------------------
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


# ----- bug 6: RGBA images ------------------------------------------------------------------------------
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
    _paint(window, 5, 5)                                       # the annotator may still label it
    assert st.labels[5, 8] == RED and st.locked[5, 8]
    assert window.save()
    from engine.io.labels import read_label_png
    saved = read_label_png(folder / "labels" / "img1.png")
    assert saved[90, 120] == VOID and saved[40, 60] == RED


# ----- bug 8: small defects ----------------------------------------------------------------------------
def _answer_modal(qtbot, keys, seen):
    def poke():
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, poke)
            return
        seen.append(box.informativeText())
        box.activateWindow()                                   # mnemonics need the dialog to be active
        qtbot.waitUntil(lambda: QApplication.activeWindow() is box, timeout=3000)
        qtbot.keyClick(box, *keys)
        QTimer.singleShot(3000, box, lambda: box.done(0))      # never hang the suite (cancelled if box is gone)
    QTimer.singleShot(20, poke)


def test_quit_prompt_says_quitting_and_alt_d_discards(qtbot, window, env):
    folder, model = env
    start(window, folder, model)
    wait_ready(qtbot, window)
    _paint(window, 5, 5)
    seen = []
    _answer_modal(qtbot, (Qt.Key.Key_D, Qt.KeyboardModifier.AltModifier), seen)
    assert window.close()                                      # Alt+D = Discard: the window closes
    assert seen and "quitting" in seen[0] and "moving on" not in seen[0]


def test_moving_on_prompt_still_says_moving_on(qtbot, window, env):
    folder, model = env
    start(window, folder, model)
    wait_ready(qtbot, window)
    _paint(window, 5, 5)
    seen = []
    _answer_modal(qtbot, (Qt.Key.Key_Escape,), seen)
    assert not window.go(+1) and "moving on" in seen[0]       # Esc = Cancel: stays


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


def test_model_menu_marks_the_loaded_model(qtbot, window, env):
    folder, model = env
    start(window, folder, model)
    wait_ready(qtbot, window)
    act = window.model_menu.loaded_action()
    assert act is not None and act.isChecked() and "colour-test" in act.text()
    assert sum(a.isChecked() for a in window.model_menu.model_group.actions()) == 1
    window.load_model(DEMO_V1)
    qtbot.waitUntil(lambda: window.ctl.loader.loaded is not None and window.ctl.loader.loaded.path == DEMO_V1, timeout=20000)
    act = window.model_menu.loaded_action()
    assert act.isChecked() and act.toolTip() == str(DEMO_V1.resolve())
    assert sum(a.isChecked() for a in window.model_menu.model_group.actions()) == 1
    assert window.crf_panel.preset_name() == "demo_v1"          # its tuned preset, not the generic DeepLab v1


def test_unsure_column_fits_at_the_default_size_and_keeps_its_width(qtbot, tmp_path, env, monkeypatch):
    folder, model = env
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    from gui.main_window import MainWindow
    w = MainWindow(settings)
    w.resize(1280, 800)                                         # the window's default size
    w.show()
    try:
        fl = w.file_list
        header = fl.header()
        widths = header.sectionSize(1), header.sectionSize(2)
        start(w, folder, model)
        wait_ready(qtbot, w)
        fl.set_score(0, 0.123456)
        for status in ("predicted", "edited", "error", "saved", "new"):
            fl.set_status(0, status)
            QApplication.processEvents()
            assert fl.sizeHintForColumn(1) <= header.sectionSize(1), status   # the text is not elided
        assert (header.sectionSize(1), header.sectionSize(2)) == widths
        assert header.sectionViewportPosition(2) + header.sectionSize(2) <= fl.viewport().width()
        assert fl.sizeHintForColumn(2) <= header.sectionSize(2)
    finally:
        close_window(w, monkeypatch)


def test_restored_geometry_is_clamped_to_the_screen(qtbot, tmp_path, monkeypatch):
    w = open_window(tmp_path)
    w.setGeometry(QRect(1000, 700, 1000, 600))               # partly off a small screen
    QApplication.processEvents()
    close_window(w, monkeypatch)
    w2 = open_window(tmp_path)
    try:
        qtbot.waitUntil(lambda: w2.screen().availableGeometry().contains(w2.frameGeometry()), timeout=3000)
    finally:
        close_window(w2, monkeypatch)


def test_a_model_without_a_tuned_preset_keeps_its_published_one(qtbot, tmp_path):
    from engine.checkpoints import load_checkpoint
    from engine.crf.params import all_presets, preset_for_model
    model = make_colour_model(tmp_path / "colour.pt")
    spec = load_checkpoint(model).spec
    presets = all_presets()
    assert preset_for_model(spec, model, presets) == "deeplab-v1"
    assert preset_for_model(spec, DEMO_V1, presets) == "demo_v1"
    assert preset_for_model(spec, tmp_path / "demo_v2.pt", presets) == "demo_v2"


@pytest.fixture(autouse=True)
def _no_leftover_modal():
    yield
    box = QApplication.activeModalWidget()
    if box is not None:
        box.close()
