"""The window frame: column widths, the restored geometry kept on a screen, panels that close and come back with
a saved layout, the theme, the start-up splash and trace, and a quit that does not wait for uncancellable work."""
import os
import subprocess
import sys
import threading
import time

from PySide6.QtCore import QRect, QSettings, Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication, QDockWidget

from gui.app import start
from gui.boot import splash as startup
from gui.window import layout
from tests.support.gui_fixtures import close_window, env, open_window, wait_ready, window  # noqa: F401 (fixtures)
from tests.support.paths import ROOT


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
