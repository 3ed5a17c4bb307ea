"""The status bar keeps room for what a labeller reads (issue 26, item 9): at 1280 px the cursor readout shows the
two likeliest classes and the uncertainty uncut; a save message names the file first and keeps the full path in
its tooltip."""
import numpy as np
import pytest
from PySide6.QtWidgets import QApplication

from gui.app import start
from tests.support.gui_fixtures import env, fast_window, wait_ready, window  # noqa: F401 (fixtures)
from tests.support.gui_helpers import brush_stroke


def test_at_1280_px_the_readout_shows_both_classes_and_the_uncertainty_uncut(qtbot, window, env):
    folder, model = env
    window.resize(1280, 720)
    start(window, folder, model)
    wait_ready(qtbot, window)
    brush_stroke(window, (20, 20), (60, 40), class_id=1)      # the learning status, the tool text: all there
    st = wait_ready(qtbot, window)
    window.status.set_activity("Predicting img1.png…")
    QApplication.processEvents()
    unc = st.crf_unc
    y, x = np.unravel_index(int(np.argmax(unc)), unc.shape)    # a pixel between two classes
    window.canvas.cursor_moved.emit(int(x), int(y))
    QApplication.processEvents()
    label = window.readout.pixel
    assert "%," in label.text() and "unsure" in label.text()
    assert label.shown_text() == label.text(), label.shown_text()
    assert window.width() == 1280                              # the room came from the activity message
    right = label.geometry().right()
    for other in (window.status.labels_kind, window.status.tool, window.status.position, window.status.device):
        assert right < other.geometry().left()                 # drawn beside them, not over them
    assert window.status.activity.geometry().right() < label.geometry().left()


def test_a_save_message_names_the_file_first_and_keeps_the_full_path_in_its_tooltip(qtbot, window, tmp_path):
    from tests.support.gui_helpers import make_colour_model, make_folder
    deep = tmp_path / ("a-rather-long-folder-name-" * 4) / "site" / "images"
    folder, model = make_folder(deep), make_colour_model(tmp_path / "colour.pt")
    window.resize(1280, 720)
    start(window, folder, model)
    wait_ready(qtbot, window)
    window.canvas.cursor_moved.emit(10, 10)
    assert window.save()
    QApplication.processEvents()
    activity = window.status.activity
    assert activity.shown_text().startswith("Saved labels/img1.png")   # the name survives; the folder is cut
    assert str(folder) in activity.toolTip()


def test_long_class_names_get_the_room_the_readout_needs(qtbot, window, tmp_path):
    """A walk found '167, 121  Orange Ball 100%, belt 0…' at 1280 px: long class names, the adapted-model note and
    the tool text took the room. Idle, the Cancel button is hidden, and the readout asks for what its texts need
    (the activity message gives way, elided, its full text in the tooltip)."""
    from tests.support.gui_helpers import make_colour_model, make_folder
    folder = make_folder(tmp_path / "images")
    model = make_colour_model(tmp_path / "long.pt", names=("conveyor belt surface", "orange ball (damaged)",
                                                           "green plastic bottle"))
    window.resize(1280, 720)
    start(window, folder, model)
    wait_ready(qtbot, window)
    brush_stroke(window, (20, 20), (60, 40), class_id=1)
    st = wait_ready(qtbot, window)
    assert not window.status.cancel.isVisible()
    probs = np.asarray(st.crf_probs, np.float32)
    top2 = np.argsort(probs, axis=0)[-2:]                       # the two likeliest classes of each pixel
    ball = (top2 == 1).any(axis=0)
    unc = np.where(ball, st.crf_unc, -1.0)                      # two long names (the ball's one of them) and the
    y, x = np.unravel_index(int(np.argmax(unc)), unc.shape)    # uncertainty: the most unsure of those pixels
    window.canvas.cursor_moved.emit(int(x), int(y))
    for _ in range(3):
        QApplication.processEvents()
    label = window.readout.pixel
    assert "orange ball (damaged)" in label.text() and "unsure" in label.text(), label.text()
    assert label.shown_text() == label.text(), label.shown_text()
    assert window.width() == 1280
    right = label.geometry().right()
    for other in (window.status.labels_kind, window.status.tool, window.status.position, window.status.device):
        assert right < other.geometry().left()
    window.resize(900, 720)                                     # and the window can still be made narrower
    QApplication.processEvents()
    assert window.width() == 900


def test_while_work_runs_its_message_shares_the_bar_with_the_readout(qtbot, window, env):
    """At 1280 px a running CRF's message was cut to 'Refining with CRF (fas…' beside Cancel and the progress bar;
    busy, the message and the readout give way alike, and once idle the readout has its room back."""
    folder, model = env
    window.resize(1280, 720)
    start(window, folder, model)
    st = wait_ready(qtbot, window)
    unc = st.crf_unc
    y, x = np.unravel_index(int(np.argmax(unc)), unc.shape)
    window.canvas.cursor_moved.emit(int(x), int(y))
    QApplication.processEvents()
    status, label = window.status, window.readout.pixel
    full = label.text()
    status.set_busy(True)
    status.set_activity("Refining with CRF (fast)… iteration 3 of 10 (exact labels follow)")
    for _ in range(3):
        QApplication.processEvents()
    assert "iteration 3 of 10" in status.activity.shown_text(), status.activity.shown_text()
    assert label.shown_text().startswith(full.split("%")[0]), label.shown_text()   # x, y and the first class
    assert window.width() == 1280
    assert status.activity.geometry().right() < status.progress.geometry().left()
    status.set_busy(False)
    status.set_activity("Ready")
    for _ in range(3):
        QApplication.processEvents()
    assert label.shown_text() == full


def test_an_error_stays_readable_before_later_messages_replace_it(qtbot, monkeypatch):
    """A walk: 'labels/belt_01.png: 2800 pixels with label values 7, 9, …' was replaced by the model's and the
    CRF's progress within half a second. Plain messages now wait for the error's hold; the latest one follows."""
    from gui.panels import status_bar as sb

    monkeypatch.setattr(sb, "ERROR_HOLD_S", 0.3)
    bar = sb.StatusBar()
    qtbot.addWidget(bar)
    bar.set_activity("labels/x.png: values 7, 9 are not classes", error=True)
    bar.set_activity("Predicting x.png…")
    bar.set_activity("Ready: x.png")
    assert bar.activity.text() == "⚠ labels/x.png: values 7, 9 are not classes"
    qtbot.waitUntil(lambda: bar.activity.text() == "Ready: x.png", timeout=2000)
    bar.set_activity("second problem", error=True)              # an error never waits
    bar.set_activity("third problem", error=True)
    assert bar.activity.text() == "⚠ third problem"


def test_with_the_cursor_off_the_image_a_message_gets_the_readouts_room(qtbot, window, env):
    """A walk at 1400 px read only 'Renamed…' of 'Renamed class 8 …; saved in …': the readout kept the room its
    last text needed while the user was in the Classes panel. Off the image the readout gives it back; back on the
    image it shows uncut again."""
    folder, model = env
    window.resize(1280, 720)
    start(window, folder, model)
    wait_ready(qtbot, window)
    brush_stroke(window, (20, 20), (60, 40), class_id=1)
    st = wait_ready(qtbot, window)
    unc = st.crf_unc
    y, x = np.unravel_index(int(np.argmax(unc)), unc.shape)
    window.canvas.cursor_moved.emit(int(x), int(y))             # the readout takes its room
    QApplication.processEvents()
    message = "Renamed class 1 'a' to 'a much longer name'; saved in " + str(folder.parent / "labels" / "project.json")
    window.status.set_activity(message)
    for _ in range(3):
        QApplication.processEvents()
    squeezed = len(window.status.activity.shown_text())
    window.canvas.cursor_moved.emit(-1, -1)                     # to the Classes panel
    for _ in range(3):
        QApplication.processEvents()
    roomy = window.status.activity.shown_text()
    assert len(roomy) > squeezed + 20 and roomy.startswith("Renamed class 1 'a' to 'a much longer name'"), roomy
    window.canvas.cursor_moved.emit(int(x), int(y))
    for _ in range(3):
        QApplication.processEvents()
    label = window.readout.pixel
    assert label.shown_text() == label.text() and "unsure" in label.text()


def test_an_empty_readout_takes_no_room_from_a_running_steps_message(qtbot, window, env):
    """A big-photo walk at 1280 px, the learning label at 'model adapted on 1 stroke / 1 image': the message of
    the running exact run read 'Refining wit…' while the empty readout beside it held 180 px (30 characters)."""
    folder, model = env
    window.resize(1280, 720)
    start(window, folder, model)
    wait_ready(qtbot, window)
    brush_stroke(window, (20, 20), (60, 40), class_id=1)        # the learning status takes its room too
    wait_ready(qtbot, window)
    window.canvas.cursor_moved.emit(-1, -1)                     # no cursor on the image: nothing to read out
    status = window.status
    status.set_busy(True)
    message = "Refining with CRF (fast)… iteration 3 of 10 (exact labels follow)"
    status.set_activity(message)
    for _ in range(3):
        QApplication.processEvents()
    assert window.readout.pixel.text() == "" and window.readout.pixel.width() < 20
    assert status.activity.shown_text() == message, status.activity.shown_text()
    status.set_busy(False)


def test_an_image_that_cannot_be_read_clears_the_last_images_readout(qtbot, window, tmp_path):
    """The same walk pressed D from a photo to a 0-byte file: the canvas was empty, the readout still read
    '1980, 863  paper 99%, plastic bottle 0%  unsure 0.01'."""
    from tests.support.gui_helpers import make_colour_model, make_folder
    folder, model = make_folder(tmp_path / "images", n=1), make_colour_model(tmp_path / "colour.pt")
    (folder / "img9.png").write_bytes(b"")
    start(window, folder, model)
    wait_ready(qtbot, window)
    window.canvas.cursor_moved.emit(10, 10)
    assert "%" in window.readout.pixel.text()
    qtbot.waitUntil(lambda: window.ctl.dataset[1].status.value == "error", timeout=10000)   # marked on opening
    window.ctl.open_index(1)
    qtbot.waitUntil(lambda: not window.ctl.busy and "img9.png" in window.last_error, timeout=10000)
    QApplication.processEvents()
    assert window.readout.pixel.text() == ""


def test_a_step_handing_over_to_the_next_never_says_ready_between_them(qtbot, window, env, monkeypatch):
    """A big-photo walk read 'Ready' for 1-7 s between 'Predicting: done' and the CRF's first iteration, with the
    bar and Cancel still showing, and the elapsed time started again: the prediction's lane went idle before its
    result handed over to the CRF's."""
    folder, model = env
    shown = []
    real = window.status.set_activity
    monkeypatch.setattr(window.status, "set_activity",
                        lambda text, *a, **k: shown.append(text) or real(text, *a, **k))
    start(window, folder, model)
    wait_ready(qtbot, window)
    for _ in range(3):
        QApplication.processEvents()
    ready = [i for i, t in enumerate(shown) if t == "Ready"]
    later = [i for i, t in enumerate(shown) if t.startswith(("Refining", "Predicting"))]
    assert not any(r < w for r in ready for w in later), shown


def test_the_idle_images_features_show_beside_ready_without_a_busy_bar(qtbot, window, env, monkeypatch):
    """A walk: after the exact labels, 'Ready: belt_01.jpg' stood beside a moving bar and Cancel for 1.6 s while
    the adapt lane read the image's features (and, on reopening, the saved images). That preparation now says so
    beside Ready, with no bar and no Cancel, and the message goes back to Ready when it is done."""
    import threading

    from engine.predict import Predictor

    gate, started = threading.Event(), threading.Event()
    real = Predictor.extract_features

    def slow(self, image, should_cancel=None):
        started.set()
        gate.wait(20)
        return real(self, image, should_cancel=should_cancel)

    monkeypatch.setattr(Predictor, "extract_features", slow)
    folder, model = env
    window.editing.auto_refine.setChecked(True)
    start(window, folder, model)
    qtbot.waitUntil(started.is_set, timeout=20000)
    status = window.status
    try:
        qtbot.waitUntil(lambda: window.ctl.preparing != "" and
                        status.activity.text().endswith("reading this image's features for learning…"),
                        timeout=20000)
        assert status.activity.text().startswith("Ready") and not status.cancel.isVisible()
        assert not status.progress.isVisible()
    finally:
        gate.set()
    qtbot.waitUntil(lambda: not window.ctl.busy, timeout=20000)
    qtbot.waitUntil(lambda: "features" not in status.activity.text(), timeout=5000)
    assert status.activity.text().startswith("Ready")



def test_in_a_narrow_window_the_bars_facts_give_way_to_a_running_steps_message(qtbot, window):
    """A walk at 1110 px: the labels kind, tool, device and learning facts kept 700 px whole and the running step's
    message got 12 px, shown as '…' through the whole open. Each fact now gives way too (elided, the full text on
    hover)."""
    window.resize(1110, 720)
    status = window.status
    status.set_labels_kind("from the labels file")
    status.set_tool("Brush · r 18 · class 5 cardboard")
    status.set_device("CPU (2 threads)")
    window.learn.status_label.setText("model adapted on 5 strokes / 3 images")
    status.set_busy(True)
    message = "Refining with CRF: preview 1/4 resolution…"
    try:
        status.set_activity(message)
        for _ in range(3):
            QApplication.processEvents()
        shown = status.activity.shown_text()
        assert len(shown) >= 25 and message.startswith(shown.rstrip("…")), shown
        facts = (status.labels_kind, status.tool, status.device, window.learn.status_label)
        assert any(f.shown_text() != f.text() for f in facts)            # they gave way
        assert all(len(f.shown_text()) >= 4 for f in facts)               # each still says something
        assert status.labels_kind.toolTip().startswith("Labels: from the labels file")
    finally:
        status.set_busy(False)


@pytest.mark.parametrize("kind", ["exact", "local", "preview 1/2 resolution"])
def test_on_a_small_screen_the_bar_still_says_which_labels_are_shown(qtbot, window, kind):
    """A walk at 1024x600: 'Labels: exact' was cut to 'Lab…', though the bar is where you read which labels you
    see. Short of room it shows the kind itself, whole; the other facts give way."""
    window.resize(1024, 600)
    status = window.status
    status.set_labels_kind(kind)
    status.set_tool("Brush · r 18 · class 5 cardboard")
    status.set_device("CPU (2 threads)")
    window.learn.status_label.setText("model adapted on 5 strokes / 3 images")
    status.set_activity("Ready: belt_01.png")
    for _ in range(3):
        QApplication.processEvents()
    assert kind in status.labels_kind.shown_text()


def test_new_crf_settings_are_not_called_exact_until_their_answer_is_in(qtbot, fast_window, env):
    """A walk moved a slider on a 1.2 MP image: 'Labels: exact' for 0.5 s over labels 5,846 px from the new
    settings' result. Until the new settings' first answer, the bar says the labels are from before them."""
    folder, model = env
    start(fast_window, folder, model)
    wait_ready(qtbot, fast_window)
    status, panel = fast_window.status, fast_window.crf_panel
    assert status.labels_kind.text() == "Labels: exact"
    panel.set_params(panel.params().replace(bi_w=panel.params().bi_w + 2), emit=True)
    panel.flush()
    assert status.labels_kind.text() == "Labels: exact, before the new settings"
    wait_ready(qtbot, fast_window)
    qtbot.waitUntil(lambda: status.labels_kind.text() == "Labels: exact", timeout=10000)
