"""Issue 15's features in the real window (offscreen): keyboard-shortcut help generated from the actions, About,
recent folders, drag and drop, the image filter, the status-bar readouts, the dirty marker and resuming a folder,
the superpixel tool, panels and their saved layout, the theme, and the start-up splash and trace."""
import os
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QAction, QDragEnterEvent, QDropEvent, QKeySequence, QPalette
from PySide6.QtWidgets import QApplication, QDockWidget

from engine.annotate import superpixels
from gui.window import layout
from gui.boot import splash as startup
from gui.app import start
from gui.menus.help import about_text, action_name, shortcut_rows
from tests.support.gui_fixtures import close_window, env, open_window, wait_image, wait_ready, window  # noqa: F401

from tests.support.paths import ROOT


def _all_shortcut_actions(w):
    return [a for a in w.findChildren(QAction) if any(not k.isEmpty() for k in a.shortcuts()) and a.text()]


def test_f1_lists_every_shortcut_from_the_actions(qtbot, window):
    rows = shortcut_rows(window)
    listed = {(r[1], r[2]) for r in rows}
    for act in _all_shortcut_actions(window):
        keys = ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in act.shortcuts() if not k.isEmpty())
        assert (action_name(act), keys) in listed, act.text()
    new = QAction("Frobnicate the labels", window)               # generated: a new action shows up by itself
    new.setShortcut(QKeySequence("Ctrl+Alt+F"))
    window.addAction(new)
    window.help_menu.shortcuts_action.trigger()                  # F1
    dialog = window.help_menu.dialog
    assert dialog.isVisible()
    assert ("Other keys", "Frobnicate the labels", "Ctrl+Alt+F") in dialog.rows()
    assert any(r[1] == "Superpixel fill" and r[2] == "S" for r in dialog.rows())
    assert any(r[2].startswith("Mouse wheel") for r in dialog.rows())   # gestures the tools read themselves
    assert ("Edit", "Undo", "Ctrl+Z") in dialog.rows()
    dialog.filter.setText("undo")
    assert dialog.rows() and all("undo" in " ".join(r).lower() for r in dialog.rows())
    assert window.help_menu.shortcuts_action.shortcut().toString() == "F1"
    dialog.close()


def test_about_names_versions_device_and_model(qtbot, window, env):
    folder, model = env
    start(window, folder, model)
    wait_ready(qtbot, window)
    text = about_text(window)
    for needle in ("torch", "numpy", "PySide6", "Qt 6", "Python 3", "Device:", "CPU", "colour-test",
                   "deeplab_v1_largefov", "3 classes", str(model)):
        assert needle in text, needle


def test_recent_folders_most_recent_first_missing_disabled(qtbot, window, env, tmp_path):
    folder, model = env
    other = tmp_path / "other"
    other.mkdir()
    (tmp_path / "gone").mkdir()
    for f in (tmp_path / "gone", other, folder):
        window.open_folder(f)
    shutil.rmtree(tmp_path / "gone")   # opening it left labels/.lock (the folder lock) inside
    window.recent.rebuild()
    entries = [a for a in window.recent.menu.actions() if a.data()]
    assert [a.data() for a in entries] == [str(folder.resolve()), str(other.resolve()), str((tmp_path / "gone"))]
    assert entries[0].isEnabled() and not entries[2].isEnabled() and "(missing)" in entries[2].text()
    entries[1].trigger()
    assert window.ctl.dataset.folder == other.resolve() or window.ctl.dataset.folder == other
    assert window.recent.folders()[0] == str(other.resolve())
    window.recent.clear()
    assert window.recent.folders() == []


def _drop(window, widget, paths):
    """Deliver a drag-enter and a drop to ``widget`` as Qt would: through the event filter on it (QApplication
    refuses drop events that no real drag started, so they are handed to the filter directly)."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    enter = QDragEnterEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    assert window.drop.eventFilter(widget, enter) and enter.isAccepted()
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    assert window.drop.eventFilter(widget, event)
    return event


def test_dropping_a_folder_or_an_image_opens_it(qtbot, window, env, tmp_path):
    folder, model = env
    for w in (window, window.canvas.viewport(), window.file_list.viewport()):
        assert w.acceptDrops()
    _drop(window, window.canvas.viewport(), [folder])
    assert window.ctl.dataset is not None and window.ctl.dataset.folder == folder
    _drop(window, window, [folder / "img3.png"])
    assert window.ctl.index == 2
    (tmp_path / "notes.txt").write_text("x")
    _drop(window, window.file_list.viewport(), [tmp_path / "notes.txt"])
    assert "notes.txt" in window.last_error and window.ctl.dataset.folder == folder


def test_filter_narrows_the_list_and_navigation(qtbot, window, env, tmp_path):
    folder, model = env
    (folder / "broken.png").write_text("not an image")
    window.ctl.prefetch.enabled = False
    start(window, folder, model)                                # opens broken.png, the first name
    panel, fl = window.images_panel, window.file_list
    qtbot.waitUntil(lambda: fl.status_text(0) == "error", timeout=10000)
    names = [window.ctl.dataset[i].path.name for i in range(len(window.ctl.dataset))]
    assert names[0] == "broken.png"
    panel.filter.setText("img")
    assert [names[i] for i in fl.shown(window.ctl.ordering.order)] == ["img1.png", "img2.png", "img3.png"]
    panel.filter.setText("img?.png -")           # every word must match
    assert fl.shown(window.ctl.ordering.order) == []
    panel.filter.setText("*[13].png")              # globs
    shown = fl.shown(window.ctl.ordering.order)
    assert [names[i] for i in shown] == ["img1.png", "img3.png"]
    assert window.go(+1) and window.ctl.index == names.index("img1.png")   # from a hidden row: the next shown
    wait_ready(qtbot, window)
    assert window.go(+1) and window.ctl.index == names.index("img3.png")   # img2 is filtered out
    assert not window.go(+1) and window.ctl.index == names.index("img3.png")   # clamped at the last row shown
    panel.filter.setText("error")
    assert [names[i] for i in fl.shown(window.ctl.ordering.order)] == ["broken.png"]
    panel.filter.setText("")
    assert len(fl.shown(window.ctl.ordering.order)) == 4
    window.filter_action.trigger()                               # Ctrl+F
    assert window.filter_action.shortcut().matches(QKeySequence("Ctrl+F")) == QKeySequence.SequenceMatch.ExactMatch
    assert QApplication.focusWidget() is panel.filter or not window.isActiveWindow()


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
    assert text.startswith(f"x {x}  y {y} · {names[st.labels[y, x]]}")
    assert f"{names[first]} {probs[first]:.2f}, {names[second]} {probs[second]:.2f}" in text
    assert f"unsure {st.crf_unc[y, x]:.2f}" in text
    window.canvas.cursor_moved.emit(-1, -1)
    assert window.readout.pixel.text() == ""


def test_title_marks_unsaved_work_and_a_folder_resumes_at_its_last_image(qtbot, tmp_path, env, monkeypatch):
    folder, model = env
    w = open_window(tmp_path)
    try:
        start(w, folder, model)
        wait_ready(qtbot, w)
        assert "img1.png" in w.windowTitle() and "[*]" in w.windowTitle() and not w.isWindowModified()
        w.ctl.edits.set_labels(np.full_like(w.ctl.state.labels, 2))
        assert w.isWindowModified()
        assert w.save() and not w.isWindowModified()
        w.go_to(2)
        wait_image(qtbot, w, 2)
    finally:
        close_window(w, monkeypatch)
    w2 = open_window(tmp_path)
    try:
        start(w2, folder, model)
        assert w2.ctl.index == 2 and wait_image(qtbot, w2, 2).path.name == "img3.png"
    finally:
        close_window(w2, monkeypatch)


def test_superpixel_tool_fills_whole_superpixels_as_one_undo_step(qtbot, window, env, monkeypatch):
    folder, model = env
    threads = []
    real = superpixels.compute

    def spy(image, size, *a, **k):
        threads.append(threading.current_thread())
        return real(image, size, *a, **k)
    monkeypatch.setattr(superpixels, "compute", spy)
    window.editing.auto_refine.setChecked(False)
    start(window, folder, model)
    st = wait_ready(qtbot, window)
    window.ctl.editor.set_paint_class(2)
    window.editing.set_tool("superpixel")
    tool = window.canvas.tool
    assert tool.name == "superpixel" and window.editing.tool_actions["superpixel"].shortcut().toString() == "S"
    tool.size_box.setValue(12)
    qtbot.waitUntil(lambda: tool.ready, timeout=15000)
    assert threads and all(t is not threading.main_thread() for t in threads)   # never on the GUI thread
    assert window.canvas.overlay_visible("superpixels")
    seg = tool.segments
    vp = window.canvas.viewport()
    to_view = lambda x, y: window.canvas.mapFromScene(QPointF(x + 0.5, y + 0.5))  # noqa: E731
    before = st.labels.copy()
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, to_view(10, 10))
    qtbot.mouseMove(vp, to_view(60, 10))
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, to_view(60, 10))
    touched = superpixels.region_of(seg, [(10, 10), (60, 10)])
    assert (st.labels[touched] == 2).all() and st.locked[touched].all()
    assert (st.labels[~touched] == before[~touched]).all() and not st.locked[~touched].any()
    assert window.ctl.editor.stack().count() == 1
    window.ctl.editor.stack().undo()
    assert np.array_equal(st.labels, before) and not st.edits.has_locks
    n = len(threads)
    tool.size_box.setValue(20)
    tool.size_box.setValue(12)                                   # back to a cached size: no new SLIC run
    qtbot.waitUntil(lambda: tool.ready, timeout=15000)
    assert len(threads) <= n + 1


def test_a_click_before_the_superpixels_are_ready_is_applied_when_they_are(qtbot, window, env):
    folder, model = env
    window.editing.auto_refine.setChecked(False)
    start(window, folder, model)
    st = wait_ready(qtbot, window)
    window.ctl.editor.set_paint_class(1)
    window.editing.set_tool("superpixel")
    tool = window.canvas.tool
    tool.segments, tool._for = None, None                        # as if SLIC were still running
    tool.on_press(window.canvas, QPointF(5, 5), None)
    assert tool._pending is not None
    tool.request()
    qtbot.waitUntil(lambda: tool.ready and tool._pending is None, timeout=15000)
    assert st.labels[5, 5] == 1 and st.locked[5, 5] and window.ctl.editor.stack().count() == 1


def test_panels_close_and_come_back_and_the_layout_is_saved(qtbot, tmp_path, monkeypatch):
    w = open_window(tmp_path)
    try:
        docks = {d.windowTitle(): d for d in w.findChildren(QDockWidget)}
        assert all(d.features() & QDockWidget.DockWidgetFeature.DockWidgetClosable for d in docks.values())
        panels = {a.text(): a for a in w.layout_state.panels.actions() if a.text()}
        assert {"Images", "Classes", "CRF", "View toolbar", "Tools toolbar"} <= set(panels)
        docks["CRF"].close()
        assert not panels["CRF"].isChecked()
    finally:
        close_window(w, monkeypatch)
    w2 = open_window(tmp_path)
    try:
        crf = next(d for d in w2.findChildren(QDockWidget) if d.windowTitle() == "CRF")
        assert crf.isHidden()                                     # the saved layout came back
        w2.layout_state.reset_action.trigger()
        assert crf.isVisible()
    finally:
        close_window(w2, monkeypatch)


def test_theme_dark_light_and_following_the_system(qtbot, window, monkeypatch):
    app = QApplication.instance()
    try:
        window.layout_state.set_theme("dark")
        assert app.palette().color(QPalette.ColorRole.Window).lightness() < 80
        assert window.settings.value("view/theme") == "dark"
        window.layout_state.set_theme("light")
        assert app.palette().color(QPalette.ColorRole.Window).lightness() > 180
        monkeypatch.setattr(layout, "system_is_dark", lambda app=None: True)
        window.layout_state.set_theme("system")
        assert window.layout_state.dark and app.palette().color(QPalette.ColorRole.Window).lightness() < 80
        monkeypatch.setattr(layout, "system_is_dark", lambda app=None: False)
        window.layout_state._on_scheme_changed(Qt.ColorScheme.Light)   # the desktop switched back
        assert not window.layout_state.dark
        assert app.palette().color(QPalette.ColorRole.Window).lightness() > 180
    finally:
        layout.apply_theme("light")


def test_splash_steps_and_the_startup_trace(qtbot, tmp_path, monkeypatch):
    trace = tmp_path / "trace.txt"
    monkeypatch.setenv(startup.TRACE_ENV, str(trace))
    monkeypatch.setattr(startup, "_seen", set())
    splash = startup.Splash()
    splash.show()
    startup.mark("splash")
    (tmp_path / "slow_module_for_test.py").write_text("import time\ntime.sleep(0.3)\nVALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    startup.import_with_progress(splash, [("Loading a slow module…", "slow_module_for_test")])
    import slow_module_for_test
    assert slow_module_for_test.VALUE == 42
    assert splash.text.startswith("Loading a slow module…") and 0 < splash.fraction < 0.9
    grab = splash.grab().toImage()
    assert grab.pixelColor(30, splash.H - 55).blue() > 150     # the progress bar is drawn
    startup.mark("splash")                                      # once per name
    marks = startup.read_trace(trace)
    assert list(marks) == ["splash", "imported:slow_module_for_test"]
    splash.finish(None)
    assert not splash.isVisible()


def test_the_splash_can_show_before_pytorch_is_imported():
    """Bug 7: gui.app (where main() shows the splash) must not pull in torch or the window's modules itself."""
    code = ("import sys; import gui.app; "
            "print(sorted(m for m in ('torch', 'gui.main_window', 'numba', 'skimage') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_quitting_the_app_does_not_wait_for_an_uncancellable_job(qtbot, window):
    """Bug 7: a job that ignores its cancel flag (a kernel load, a forward pass) must not hold up the quit."""
    lane = window.ctl.lanes["crf"]
    release = threading.Event()
    lane.submit(("blocking",), lambda cancel, report: release.wait(10))
    qtbot.waitUntil(lambda: lane._pool.activeThreadCount() == 1, timeout=5000)
    window.ctl.wait_on_shutdown = False                           # as gui.app sets it: the process exits next
    t0 = time.monotonic()
    window.ctl.shutdown()
    took = time.monotonic() - t0
    release.set()
    lane.wait(5000)
    assert took < 3.0      # not the 5 s join (and 10 s job) of a shutdown that waits
