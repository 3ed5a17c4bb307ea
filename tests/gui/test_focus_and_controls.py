"""Focus and controls (issue 26, item 10, and the earlier walk), in the real window: Enter in the Size box or the
image filter hands the keys back to the canvas; log-scale CRF sliders; a brush outline that stays visible when
zoomed out; the Tune dialog and the CRF panel use the same names; Start is the pre-label dialog's default; a long
job shows its time; no key named "Redo" in the shortcuts list; a read-only window with Autosave can quit."""
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from gui.app import start
from gui.dialogs import prompts
from gui.menus.help import shortcut_rows
from gui.panels.crf import FIELDS
from gui.tools.painting import MIN_OUTLINE_PX
from tests.support.gui_fixtures import close_window, env, open_window, wait_ready, window  # noqa: F401
from tests.support.gui_helpers import brush_stroke, focus_on


def test_enter_in_the_size_box_or_the_filter_returns_the_keys_to_the_canvas(qtbot, window, env):
    folder, model = env
    start(window, folder, model)
    wait_ready(qtbot, window)
    box = window.editing.size_box
    focus_on(qtbot, window, box)
    box.lineEdit().selectAll()
    qtbot.keyClicks(box, "7")
    qtbot.keyClick(box, Qt.Key.Key_Return)
    qtbot.waitUntil(window.canvas.hasFocus, timeout=5000)
    assert window.ctl.editor.radius == 7                        # the box took its value first
    qtbot.keyClick(QApplication.focusWidget(), "0")              # the next key is a shortcut again
    assert window.ctl.editor.paint_class == 0 and window.ctl.editor.radius == 7 and box.value() == 7

    window.focus_filter()
    qtbot.waitUntil(window.images_panel.filter.hasFocus, timeout=5000)
    qtbot.keyClicks(window.images_panel.filter, "img2")
    qtbot.keyClick(window.images_panel.filter, Qt.Key.Key_Return)
    qtbot.waitUntil(window.canvas.hasFocus, timeout=5000)
    assert window.images_panel.filter.text() == "img2"           # the filter stays applied


def test_esc_in_the_size_box_or_the_filter_returns_the_keys_to_the_canvas_and_cancels_nothing(qtbot, window, env,
                                                                                             monkeypatch):
    """A walk: the window's Esc (Cancel running work) took the key first, so the box kept the focus and the next
    keys were typed into it (the filter became 'belt3g', the size 72)."""
    folder, model = env
    start(window, folder, model)
    wait_ready(qtbot, window)
    cancelled = []
    monkeypatch.setattr(window.ctl, "cancel", lambda: cancelled.append(1))
    for box, typed in ((window.editing.size_box, "7"), (window.images_panel.filter, "img")):
        focus_on(qtbot, window, box)
        qtbot.keyClicks(box, typed)
        qtbot.keyClick(box, Qt.Key.Key_Escape)
        qtbot.waitUntil(window.canvas.hasFocus, timeout=5000)
        qtbot.keyClick(QApplication.focusWidget(), "2")               # a shortcut again, not typed into the box
        assert window.ctl.editor.paint_class == 2
        window.ctl.editor.set_paint_class(0)
    assert window.images_panel.filter.text() == "img" and not cancelled


def test_widths_move_on_a_log_scale_so_a_short_drag_stays_near(qtbot, window):
    rows = window.crf_panel.rows
    assert {n for n, r in rows.items() if r.log} == {"pos_xy_std", "bi_xy_std", "bi_rgb_std"}
    row = rows["bi_xy_std"]
    row.set_value(80.0)
    assert row.slider.value() == row.to_slider(80.0) and row.value() == 80.0
    per_px = row.slider.maximum() / max(row.slider.width(), 1)    # the slider's steps per screen pixel
    row.slider.setValue(row.slider.value() - round(45 * per_px))  # a 45 px drag to the left
    assert 20 < row.value() < 80 and window.crf_panel.params().bi_xy_std == row.value()
    mid = row.from_slider(row.slider.maximum() // 2)
    assert mid == pytest.approx((1 * 200) ** 0.5, rel=0.01)       # the middle is the geometric mean
    assert not rows["bi_w"].log and rows["bi_w"].from_slider(4) == 2.0   # weights start at 0: linear


def test_the_brush_outline_stays_visible_when_zoomed_out(qtbot, window, env):
    folder, model = env
    start(window, folder, model)
    wait_ready(qtbot, window)
    window.editing.set_tool("brush")
    brush = window.canvas.tool
    window.ctl.editor.set_radius(5)
    window.canvas.set_zoom(0.15)
    brush.move(window.canvas, window.canvas.mapToScene(10, 10), None)
    assert brush.outline_screen_radius() >= MIN_OUTLINE_PX
    assert brush.outline.pen().style() == Qt.PenStyle.DashLine    # dashed: drawn bigger than the footprint
    window.canvas.set_zoom(4.0)
    assert brush.outline_screen_radius() == pytest.approx(5.5 * 4.0)   # true size again, solid
    assert brush.outline.pen().style() == Qt.PenStyle.SolidLine


def test_the_tune_dialog_names_the_values_as_the_crf_panel_does(qtbot, window, env):
    folder, model = env
    start(window, folder, model)
    wait_ready(qtbot, window)
    window.learn.tune_action.trigger()
    table = window.learn.tune_dialog.table
    heads = [table.verticalHeaderItem(r).text() for r in range(len(FIELDS))]
    assert heads == [f.label for f in FIELDS] and "Smoothness weight" in heads and "pos_w" not in heads
    window.learn.tune_dialog.close()


def test_start_is_the_prelabel_dialogs_default_button(qtbot, window, env):
    folder, model = env
    start(window, folder, model)
    wait_ready(qtbot, window)
    window.prelabel.open_dialog()
    assert window.prelabel.start_button.isDefault() and not window.prelabel.close_button.isDefault()
    window.prelabel.hide()


def test_a_long_job_shows_the_time_it_has_taken(qtbot, window):
    import threading
    import time
    qtbot.waitUntil(lambda: window.ctl.crf.warm and not window.ctl.busy, timeout=60000)   # the kernels' warm-up
    status = window.status

    shown = threading.Event()

    def slow(cancel, report):         # a CRF as long as a 12 MP one, in the lane: it runs until the time has shown
        time.sleep(1.6)               # (a loaded machine must not end it before the status bar's first tick)
        shown.wait(10)
    window.ctl.lanes["crf"].submit(("slow",), slow)
    qtbot.waitUntil(status.elapsed.isVisible, timeout=3000)
    shown.set()
    assert status.elapsed.text() == "0:01" and status.progress.isVisible()
    qtbot.waitUntil(lambda: not window.ctl.busy, timeout=5000)
    # (the window settles one event-loop turn after the lanes, so a job handing over to the next keeps the time)
    qtbot.waitUntil(lambda: not status.elapsed.isVisible(), timeout=1000)
    assert status.elapsed_s() == 0.0


def test_the_shortcuts_list_names_no_key_called_redo(window):
    keys = [k.strip() for _where, _what, ks in shortcut_rows(window) for k in ks.split(",")]
    assert "Ctrl+Shift+Z" in keys and "Redo" not in keys and "Undo" not in keys


def test_a_read_only_window_with_autosave_can_quit(qtbot, tmp_path, env, monkeypatch):
    folder, model = env
    w = open_window(tmp_path)
    w.ctl.guard.force_read_only = True
    w.autosave_action.setChecked(True)
    start(w, folder, model)
    wait_ready(qtbot, w)
    brush_stroke(w, (20, 20), (60, 40), class_id=1)
    assert w.ctl.state.dirty
    asked = []
    monkeypatch.setattr(prompts, "ask_unsaved", lambda *a: asked.append(a) or prompts.DISCARD)
    assert w.close()                                             # asked (it cannot save here), then closed
    assert asked and not w.isVisible()
    close_window(w, monkeypatch)
