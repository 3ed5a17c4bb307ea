"""The image list's status follows the labels (undo every stroke, discard, unreadable files, found by the
prefetcher too), and a long message never widens the window; each in the real window (offscreen)."""
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication

from gui.app import start
from gui.dialogs import prompts
from tests.support.gui_fixtures import env, wait_ready, window  # noqa: F401 (fixtures)
from tests.support.gui_helpers import brush_stroke


def test_undoing_every_stroke_makes_the_image_predicted_again(qtbot, window, env, monkeypatch):
    folder, model = env
    window.editing.auto_refine.setChecked(False)
    start(window, folder, model)
    st = wait_ready(qtbot, window)
    brush_stroke(window, (5, 5), (17, 5))
    brush_stroke(window, (5, 60), (17, 60))
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
    brush_stroke(window, (5, 5), (17, 5))                                     # ... then edited
    assert window.file_list.status_text(0) == "edited"
    monkeypatch.setattr(prompts, "ask_unsaved", lambda *a: prompts.DISCARD)
    assert window.go(+1)
    assert window.file_list.status_text(0) == "saved" and window.ctl.dataset.status(0).value == "saved"
    wait_ready(qtbot, window)
    brush_stroke(window, (5, 5), (17, 5))                                     # image 2: never saved
    assert window.go(+1)
    assert window.file_list.status_text(1) == "predicted"
    assert window.ctl.dataset.unsaved() == []


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


def test_a_narrow_panorama_says_the_network_saw_it_too_small(qtbot, window, tmp_path):
    """A walk found a 12000x1000 panorama labelled with blobs and no word why: scaled to a long side of 513 the
    network saw it 43 px high. Such an image now keeps 256 px across, at most 8 x 513 along; one that still ends up
    too narrow (6000x100: 4104x68) says so in the Ready message, and what to do."""
    import numpy as np
    from PIL import Image

    from tests.support.gui_helpers import make_colour_model, make_image
    folder = tmp_path / "images"
    folder.mkdir()
    strip = np.concatenate([make_image(s, 100, 200) for s in range(30)], axis=1)   # 6000 x 100
    Image.fromarray(strip).save(folder / "pano.png")
    start(window, folder, make_colour_model(tmp_path / "colour.pt"))
    wait_ready(qtbot, window)
    qtbot.waitUntil(lambda: window.status.activity.text().startswith("Ready"), timeout=10000)
    text = window.status.activity.text()
    assert "6000x100" in text and "4104x68" in text and "too narrow" in text and "--tile" in text, text
