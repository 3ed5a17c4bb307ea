"""The GUI slice end to end (offscreen): open -> predict -> CRF -> change a slider -> save, stale
results dropped, unsaved work never silently dropped, overlays and canvas behave."""
import threading

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QKeySequence, QWheelEvent

from engine.io.labels import read_label_png
from gui.app import start
from gui.canvas.canvas import CanvasTool
from gui.dialogs import prompts
from tests.support.gui_expected import expected
from tests.support.gui_fixtures import env, wait_image, wait_ready, window  # noqa: F401 (fixtures)
from tests.support.gui_helpers import CLASS_NAMES


def test_open_predict_change_slider_save(qtbot, window, env):
    folder, model = env
    start(window, folder, model)
    st = wait_ready(qtbot, window)
    assert st.index == 0 and window.status.position.text() == "image 1/3"
    assert window.status.device.text().startswith("Device: CPU")
    assert window.file_list.status_text(0) == "predicted"
    probs, before = expected(model, folder / "img1.png", window.ctl.crf.params, window.ctl.crf.backend_name)
    np.testing.assert_allclose(st.probs, probs, atol=1e-5)
    np.testing.assert_array_equal(st.labels, before)

    row = window.crf_panel.rows["bi_rgb_std"]
    row.slider.setValue(row.to_slider(20.0))              # colour tolerance 5 -> 20, as a drag would (log scale)
    assert window.crf_panel.preset_name() == "custom"
    new = window.crf_panel.params()
    assert new.bi_rgb_std == pytest.approx(20.0)
    st = wait_ready(qtbot, window)
    assert st.crf_params == new
    _, after = expected(model, folder / "img1.png", new, window.ctl.crf.backend_name)
    assert (after != before).mean() > 0.001                # the slider really changes the result
    np.testing.assert_array_equal(st.labels, after)

    assert window.save_action.shortcut() == QKeySequence(QKeySequence.StandardKey.Save)
    window.save_action.trigger()
    saved = read_label_png(folder / "labels" / "img1.png")
    np.testing.assert_array_equal(saved, after)
    names = (folder / "labels" / "class_names.txt").read_text().splitlines()
    assert [n.split(" ", 1)[1] for n in names] == list(CLASS_NAMES)
    assert window.file_list.status_text(0) == "saved" and "Saved" in window.status.activity.text()

    window.crf_panel.reset()                               # back to the preset: labels change, unsaved
    st = wait_ready(qtbot, window)
    assert window.crf_panel.preset_name() == "deeplab-v1"
    np.testing.assert_array_equal(st.labels, before)
    assert window.file_list.status_text(0) == "edited"


def test_stale_prediction_is_dropped(qtbot, window, env, monkeypatch):
    folder, model = env
    start(window, folder, model)
    wait_ready(qtbot, window)
    predictor = window.ctl.classes.predictor
    real = predictor.predict
    gate, calls = threading.Event(), []

    def gated(image, should_cancel=None, on_progress=None):
        calls.append(1)
        if len(calls) == 1:
            gate.wait(10)       # finishes late and ignores cancel: its result must be thrown away
        return real(image)
    monkeypatch.setattr(predictor, "predict", gated)
    dropped = []
    window.ctl.lanes["predict"].dropped.connect(lambda k: dropped.append(k))
    window.go(+1)
    qtbot.waitUntil(lambda: len(calls) == 1, timeout=5000)
    stale_token = window.ctl.state.token
    window.go(+1)
    gate.set()
    st = wait_ready(qtbot, window)
    assert st.index == 2 and window.status.position.text() == "image 3/3"
    assert [k for k in dropped if k[1] == stale_token], "the superseded prediction was not dropped"
    probs, _ = expected(model, folder / "img3.png", window.ctl.crf.params, window.ctl.crf.backend_name)
    np.testing.assert_allclose(st.probs, probs, atol=1e-5)


def test_newer_crf_settings_supersede_older(qtbot, window, env):
    folder, model = env
    start(window, folder, model)
    wait_ready(qtbot, window)
    a = window.ctl.crf.params.replace(bi_w=10.0)
    b = window.ctl.crf.params.replace(bi_rgb_std=25.0, iterations=3)
    window.crf_panel.set_params(a, emit=True)
    window.crf_panel.flush()
    window.crf_panel.set_params(b, emit=True)
    window.crf_panel.flush()
    st = wait_ready(qtbot, window)
    assert st.crf_params == b
    _, want = expected(model, folder / "img1.png", b, window.ctl.crf.backend_name)
    np.testing.assert_array_equal(st.labels, want)


def test_unsaved_edits_are_never_silently_dropped(qtbot, window, env, monkeypatch):
    folder, model = env
    start(window, folder, model)
    st = wait_ready(qtbot, window)
    hand = st.labels.copy()
    hand[:10, :10] = 2
    window.ctl.edits.set_labels(hand)
    assert window.file_list.status_text(0) == "edited"
    answers = []
    monkeypatch.setattr(prompts, "ask_unsaved", lambda parent, what: answers.pop(0))

    answers.append(prompts.CANCEL)
    assert not window.go(+1) and window.ctl.index == 0 and window.ctl.state.index == 0
    assert not (folder / "labels" / "img1.png").exists()

    answers.append(prompts.SAVE)
    assert window.go(+1) and window.ctl.index == 1
    np.testing.assert_array_equal(read_label_png(folder / "labels" / "img1.png"), hand)
    assert window.file_list.status_text(0) == "saved"

    wait_ready(qtbot, window)
    window.ctl.edits.set_labels(np.zeros_like(window.ctl.state.labels))
    window.autosave_action.setChecked(True)           # autosave: no question, file written
    assert window.go(-1)
    assert (read_label_png(folder / "labels" / "img2.png") == 0).all()
    np.testing.assert_array_equal(wait_image(qtbot, window, 0).labels, hand)  # reopened from disk

    window.autosave_action.setChecked(False)
    window.ctl.edits.set_labels(np.ones_like(hand))
    answers.append(prompts.CANCEL)
    assert not window.close() and window.isVisible()  # closing asks too
    answers.append(prompts.DISCARD)
    assert window.close()
    np.testing.assert_array_equal(read_label_png(folder / "labels" / "img1.png"), hand)


def test_overlays_and_class_panel(qtbot, window, env):
    folder, model = env
    start(window, folder, model)
    st = wait_ready(qtbot, window)
    canvas, tb = window.canvas, window.toolbar
    assert canvas.overlay_visible("labels") and not canvas.overlay_visible("heat")
    shares = [window.class_panel.tree.topLevelItem(i).text(1) for i in range(3)]
    want = np.bincount(st.labels.ravel(), minlength=3) / st.labels.size
    assert shares == [f"{100 * s:.1f} %" for s in want]

    window.class_panel.select(1)
    assert canvas.overlay_visible("heat")
    heat = canvas.overlay("heat").pixmap().toImage()
    y, x = np.unravel_index(np.argmax(st.crf_probs[1]), st.labels.shape)
    assert heat.pixelColor(int(x), int(y)).red() == 255      # vivid class colour where p is high
    window.class_panel.select(-1)
    assert not canvas.overlay_visible("heat")

    window.class_panel.set_visible(0, False)
    img = canvas.overlay("labels").pixmap().toImage()
    ys, xs = np.nonzero(st.labels == 0)
    assert img.pixelColor(int(xs[0]), int(ys[0])).alpha() == 0   # hidden class: transparent

    tb.uncertainty.setChecked(True)
    tb.changed.setChecked(True)
    assert canvas.overlay_visible("uncertainty") and canvas.overlay_visible("changed")
    changed = canvas.overlay("changed").pixmap().toImage()
    ys, xs = np.nonzero(st.changed_by_crf())
    assert len(ys) and changed.pixelColor(int(xs[0]), int(ys[0])).alpha() > 0
    tb.before.setChecked(True)
    np.testing.assert_array_equal(window.presenter.labels(), st.raw_labels)
    tb.before.setChecked(False)
    np.testing.assert_array_equal(window.presenter.labels(), st.labels)
    tb.opacity.setValue(80)
    assert canvas.overlay("labels").opacity() == pytest.approx(0.8)
    tb.labels.setChecked(False)
    assert not canvas.overlay_visible("labels")
    window.grab().save(str(folder.parent / "shot.png"))


def test_canvas_zoom_pan_and_tool_hook(qtbot, window, env):
    folder, model = env
    start(window, folder, model)
    wait_ready(qtbot, window)
    canvas = window.canvas
    window.toolbar.actual.trigger()
    assert canvas.zoom() == pytest.approx(1.0)
    centre = canvas.viewport().rect().center()
    wheel = QWheelEvent(QPointF(centre), QPointF(canvas.viewport().mapToGlobal(centre)), QPoint(0, 0),
                        QPoint(0, 240), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    canvas.wheelEvent(wheel)
    assert canvas.zoom() == pytest.approx(canvas.WHEEL_STEP ** 240)
    window.toolbar.fit.trigger()
    h, w = canvas.image_size
    vp = canvas.viewport().rect()
    assert canvas.zoom() == pytest.approx(min(vp.width() / w, vp.height() / h), rel=0.05)

    class Probe(CanvasTool):
        def __init__(self):
            self.seen = []

        def press(self, canvas, pos, event):
            self.seen.append((int(pos.x()), int(pos.y())))
            return True
    probe = Probe()
    canvas.set_tool(probe)
    target = canvas.mapFromScene(QPointF(30.5, 40.5))
    qtbot.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, pos=target)
    assert probe.seen and abs(probe.seen[0][0] - 30) <= 1 and abs(probe.seen[0][1] - 40) <= 1


def test_missing_model_is_reported_and_images_still_open(qtbot, window, env, tmp_path):
    folder, _ = env
    start(window, folder, tmp_path / "nope.pt")
    assert "Model file not found" in window.last_error
    wait_image(qtbot, window, 0)
    assert window.canvas.has_image()
    assert "Model file not found" in window.status.activity.text()      # the error stays readable, then:
    qtbot.waitUntil(lambda: "No model loaded" in window.status.activity.text(), timeout=15000)
    window.load_model(folder / "img1.png")                  # not a checkpoint: a clear error, no crash
    qtbot.waitUntil(lambda: "img1.png" in window.last_error, timeout=10000)
    assert window.ctl.classes.predictor is None
