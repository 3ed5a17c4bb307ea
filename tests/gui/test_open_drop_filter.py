"""Getting to an image: dropping a folder or an image on the window, the image filter (and navigation within it),
the title's unsaved-work marker and reopening a folder at its last image."""
import numpy as np
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import QApplication

from gui.app import start
from tests.support.gui_fixtures import close_window, env, open_window, wait_image, wait_ready, window  # noqa: F401 (fixtures)


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


def test_a_named_image_that_cannot_be_read_says_why_and_stays(qtbot, window, env, tmp_path):
    """A walk opened a folder at a named file (as a drop or `main.py FILE` does) that turned out unreadable: the
    window moved on to another image. It stays on the named one, with its reason."""
    folder, model = env
    (folder / "img2.png").write_text("not an image")
    window.ctl.prefetch.enabled = False
    start(window, folder / "img2.png", model)
    qtbot.waitUntil(lambda: not window.ctl.busy and "img2.png" in (window.last_error or ""), timeout=10000)
    qtbot.wait(300)
    assert window.ctl.index == 1 and window.ctl.state is None


def test_filter_narrows_the_list_and_navigation(qtbot, window, env, tmp_path):
    folder, model = env
    (folder / "broken.png").write_text("not an image")
    window.ctl.prefetch.enabled = False
    start(window, folder, model)                                # tries broken.png, the first name...
    panel, fl = window.images_panel, window.file_list
    qtbot.waitUntil(lambda: fl.status_text(0) == "error", timeout=10000)
    names = [window.ctl.dataset[i].path.name for i in range(len(window.ctl.dataset))]
    assert names[0] == "broken.png"
    qtbot.waitUntil(lambda: window.ctl.state is not None and window.ctl.index == 1, timeout=10000)  # ...goes on
    assert window.go_to(0) and window.ctl.index == 0            # picked by hand, a refused image stays selected
    qtbot.waitUntil(lambda: not window.ctl.busy and "broken.png" in window.last_error, timeout=10000)
    assert window.ctl.state is None and window.ctl.index == 0
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
    said = []
    real = window.status.set_activity
    window.status.set_activity = lambda text, error=False: said.append(text) or real(text, error)
    assert not window.go(+1) and window.ctl.index == names.index("img3.png")   # clamped at the last row shown
    assert said[-1] == "No image the filter shows after this one in the list"   # (a walk's D did nothing, unsaid)
    del window.status.set_activity
    panel.filter.setText("error")
    assert [names[i] for i in fl.shown(window.ctl.ordering.order)] == ["broken.png"]
    panel.filter.setText("")
    assert len(fl.shown(window.ctl.ordering.order)) == 4
    window.filter_action.trigger()                               # Ctrl+F
    assert window.filter_action.shortcut().matches(QKeySequence("Ctrl+F")) == QKeySequence.SequenceMatch.ExactMatch
    assert QApplication.focusWidget() is panel.filter or not window.isActiveWindow()


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


def test_files_that_cannot_be_images_are_marked_error_as_the_folder_opens(qtbot, window, env):
    """A walk filtered a fresh folder by `error` and got nothing: its two non-images read 'new' until opened."""
    folder, model = env
    (folder / "notes.png").write_text("not an image")
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "img9.png").symlink_to("moved_away.png")
    window.ctl.prefetch.enabled = False
    start(window, folder, model)
    wait_ready(qtbot, window)
    names = [window.ctl.dataset[i].path.name for i in range(len(window.ctl.dataset))]
    fl = window.file_list
    bad = {"notes.png", "empty.jpg", "img9.png"}
    qtbot.waitUntil(lambda: all(fl.status_text(names.index(n)) == "error" for n in bad), timeout=10000)
    assert all(fl.status_text(i) != "error" for i, n in enumerate(names) if n not in bad)
    assert "empty" in window.ctl.dataset[names.index("empty.jpg")].error
    window.images_panel.filter.setText("error")
    assert sorted(names[i] for i in fl.shown(window.ctl.ordering.order)) == sorted(bad)


def test_a_slow_opening_veils_the_last_image_until_the_next_is_shown(qtbot, window, env, monkeypatch):
    """A fast walk: after D the canvas and its labels still showed the last image for 0.4 s or more while the list
    named the next one. A veil says which image is opening; a quick opening shows none."""
    import threading

    import gui.session.controller as controller
    folder, model = env
    window.ctl.prefetch.enabled = False
    start(window, folder, model)
    wait_ready(qtbot, window)
    veil = window.opening_veil
    gate, real = threading.Event(), controller.read_for_opening
    monkeypatch.setattr(controller, "read_for_opening", lambda *a, **k: gate.wait(10) and real(*a, **k))
    assert window.go(+1)
    qtbot.wait(50)
    assert not veil.isVisible()                                   # not for a quick opening
    qtbot.waitUntil(veil.isVisible, timeout=3000)
    assert veil.text() == f"Opening {window.ctl.dataset[1].path.name}…"
    gate.set()
    qtbot.waitUntil(lambda: window.ctl.state is not None and window.ctl.state.index == 1, timeout=10000)
    assert not veil.isVisible()
