"""Workflow (offscreen): the next images are predicted in the background so moving on is instant,
the list sorts by mean uncertainty and navigation follows it, next-unsaved skips saved images, and
File > Export writes COCO (pycocotools) and labelme files of the saved labels."""
import json
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest
from pycocotools.coco import COCO
from PySide6.QtCore import Qt

from engine.checkpoints import load_checkpoint
from engine.io.images import read_image
from engine.io.labels import read_label_png
from engine.labels import VOID
from engine.predict import Predictor
from engine.uncertainty import mean_uncertainty
from gui.app import start
from gui.dialogs import prompts
from gui.session.keys import CrfKey
from tests.support.gui_fixtures import wait_image, wait_ready, window  # noqa: F401 (fixtures)
from tests.support.gui_helpers import make_colour_model, make_folder
from tests.support.labelme_port import labelme2voc_png


@pytest.fixture
def env(tmp_path):
    return make_folder(tmp_path / "images", n=4), make_colour_model(tmp_path / "colour.pt")


def _cached(w, index):
    return w.ctl.prefetch.take(index) is not None


def test_prefetched_prediction_shows_at_once_and_moving_supersedes_it(qtbot, window, env):
    folder, model = env
    start(window, folder, model)
    wait_ready(qtbot, window)
    qtbot.waitUntil(lambda: _cached(window, 1) and _cached(window, 2), timeout=15000)
    assert not _cached(window, 3)                      # only the next two
    assert window.file_list.item_for(2).text(2) != "" and window.file_list.item_for(3).text(2) == ""

    predicted = []
    window.ctl.lanes["predict"].busy_changed.connect(lambda busy: busy and predicted.append(1))
    shown = []
    window.ctl.image_opened.connect(lambda: shown.append(window.ctl.state.probs is not None))
    window.go(+1)
    st = wait_image(qtbot, window, 1)
    assert shown == [False] and st.probs is not None   # the prediction came with the image, no wait
    assert not predicted                               # and the network did not run again
    want = Predictor(load_checkpoint(model), "cpu").predict(read_image(folder / "img2.png"))
    np.testing.assert_allclose(st.probs, want, atol=1e-5)
    wait_ready(qtbot, window)
    assert window.ctl.ordering.scores[1] == pytest.approx(mean_uncertainty(want), abs=1e-6)

    qtbot.waitUntil(lambda: window.ctl.prefetch.lane.busy or window.ctl.prefetch._timer.isActive()
                    or _cached(window, 3), timeout=5000)
    window.go(-1)                                      # moving on cancels the background plan
    assert not window.ctl.prefetch.lane.busy and not window.ctl.prefetch._timer.isActive()
    wait_ready(qtbot, window)


def test_sort_by_uncertainty_next_unsaved_and_export(qtbot, window, env, tmp_path, monkeypatch):
    folder, model = env
    start(window, folder, model)
    wait_ready(qtbot, window)
    qtbot.waitUntil(lambda: _cached(window, 2), timeout=15000)
    scores = dict(window.ctl.ordering.scores)
    assert set(scores) == {0, 1, 2}
    window.sort_uncertain_action.trigger()
    order = window.ctl.ordering.order
    assert order[:3] == sorted(scores, key=scores.get, reverse=True) and order[3] == 3   # unknown last
    assert window.file_list.order() == order
    assert window.file_list.currentItem().text(0) == "img1.png"   # the open image stays selected

    pos = order.index(0)
    if pos + 1 < len(order):                           # D follows the sorted list
        window.go(+1)
        wait_image(qtbot, window, order[pos + 1])
    window.sort_name_action.trigger()
    assert window.ctl.ordering.order == [0, 1, 2, 3] and window.file_list.order() == [0, 1, 2, 3]

    window.go_to(0)
    st = wait_ready(qtbot, window)
    assert window.save()
    window.go_to(2)
    st = wait_ready(qtbot, window)
    window.ctl.editor.set_paint_class(2)
    window.ctl.editor.begin_stroke((3, 3), void=True)  # some void, to see it exported as __ignore__
    window.ctl.editor.end_stroke()
    assert window.save()
    saved = {i: read_label_png(folder / "labels" / f"img{i + 1}.png") for i in (0, 2)}
    assert (saved[2] == VOID).any()
    window.activateWindow()
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_N)        # next unsaved, wrapping past saved img1
    assert wait_image(qtbot, window, 3)
    window.go_to(0)
    wait_image(qtbot, window, 0)
    assert window.next_unsaved_action.shortcuts()[0].toString() == "Shift+D"
    assert window.go_next_unsaved() and window.ctl.index == 1

    done = []
    window.export_menu.finished.connect(done.append)
    coco_path = tmp_path / "out" / "coco.json"
    assert window.export_menu.export("coco", coco_path)
    qtbot.waitUntil(lambda: len(done) == 1, timeout=10000)
    coco = COCO(str(coco_path))
    files = {img["id"]: img["file_name"] for img in coco.loadImgs(coco.getImgIds())}
    assert sorted(files.values()) == ["img1.png", "img3.png"]
    for ann in coco.loadAnns(coco.getAnnIds()):
        labels = saved[0] if files[ann["image_id"]] == "img1.png" else saved[2]
        assert np.array_equal(coco.annToMask(ann).astype(bool), labels == ann["category_id"] - 1)

    prompted, out = [], tmp_path / "labelme"
    monkeypatch.setattr(prompts, "ask_folder", lambda parent, title, default: prompted.append(default) or str(out))
    window.export_menu.labelme_action.trigger()
    qtbot.waitUntil(lambda: len(done) == 2, timeout=10000)
    assert prompted and "2 images" in done[1]
    labels_txt = (out / "labels.txt").read_text()
    for i in (0, 2):
        data = json.loads((out / f"img{i + 1}.json").read_text())
        assert (out / data["imagePath"]).resolve() == (folder / f"img{i + 1}.png").resolve()
        assert np.array_equal(labelme2voc_png(out / f"img{i + 1}.json", labels_txt), saved[i])

    assert window.export_menu.export("voc", tmp_path / "voc")
    qtbot.waitUntil(lambda: len(done) == 3, timeout=10000)
    assert "train 1, val 1" in done[2]
    for i in (0, 2):
        assert np.array_equal(read_label_png(tmp_path / "voc" / "SegmentationClass" / f"img{i + 1}.png"), saved[i])


def test_moving_to_the_image_being_prefetched_waits_for_it_instead_of_predicting_again(qtbot, window, env,
                                                                                       monkeypatch):
    folder, model = env
    start(window, folder, model)
    wait_ready(qtbot, window)
    real, gate, calls = window.ctl.classes.predictor.predict, threading.Event(), []

    def gated(image, should_cancel=None, on_progress=None):
        calls.append(1)
        gate.wait(10)
        return real(image, should_cancel=should_cancel)
    monkeypatch.setattr(window.ctl.classes.predictor, "predict", gated)
    qtbot.waitUntil(lambda: window.ctl.prefetch.inflight == 1 and len(calls) == 1, timeout=5000)
    predicted = []
    window.ctl.lanes["predict"].busy_changed.connect(lambda busy: busy and predicted.append(1))
    window.go(+1)
    st = wait_image(qtbot, window, 1)
    assert st.probs is None and window.ctl.prefetch.inflight == 1
    assert window.status.activity.text() == "Predicting img2.png (begun ahead)…"   # what the wait is for
    gate.set()
    st = wait_ready(qtbot, window)
    assert not predicted and len(calls) >= 1 and st.probs is not None
    want = Predictor(load_checkpoint(model), "cpu").predict(read_image(folder / "img2.png"))
    np.testing.assert_allclose(st.probs, want, atol=1e-5)


def _hold_open_image(w, gate):
    """Work of the open image in its CRF lane that runs until ``gate`` is set (a 'settle' job: no result to show)."""
    key = CrfKey("settle", w.ctl.state.token, 0, None, "", 0)
    w.ctl.lanes["crf"].submit(key, lambda cancel, report: gate.wait(20))


def test_prefetch_does_not_start_while_the_open_image_works(qtbot, window, env, monkeypatch):  # noqa: F811
    folder, model = env
    start(window, folder, model)
    wait_ready(qtbot, window)
    pf, calls, gate, ticks = window.ctl.prefetch, [], threading.Event(), []
    pf.clear()
    real = window.ctl.classes.predictor.predict
    monkeypatch.setattr(window.ctl.classes.predictor, "predict",
                        lambda image, should_cancel=None, on_progress=None, **kw: calls.append(1) or real(image, **kw))
    pf._timer.timeout.connect(lambda: ticks.append(1))
    _hold_open_image(window, gate)                     # e.g. a stroke's window, the idle exact run
    pf.schedule(0)
    qtbot.waitUntil(lambda: len(ticks) >= 3, timeout=10000)   # it looked, three times, and waited each time
    assert not calls and pf.inflight is None and not pf.lane.busy
    gate.set()                                         # the open image is done: prefetch goes on
    qtbot.waitUntil(lambda: _cached(window, 1), timeout=15000)
    assert calls


def test_a_running_prefetch_pauses_before_the_network_while_the_open_image_works(qtbot, window, env,  # noqa: F811
                                                                                 monkeypatch):
    """The prefetch job is reading its image when a stroke's work starts on the open image: it waits before the
    network runs (outside the model lock, which the open image may need) and goes on when the open image is done."""
    import gui.session.prefetch as prefetch_module
    folder, model = env
    start(window, folder, model)
    wait_ready(qtbot, window)
    pf, calls, waited = window.ctl.prefetch, [], threading.Event()
    reading, read_gate, hold = threading.Event(), threading.Event(), threading.Event()
    pf.clear()
    dataset, real_read = window.ctl.dataset, window.ctl.dataset.read_image

    def read_image(*args, **kw):
        reading.set()
        read_gate.wait(20)
        return real_read(*args, **kw)
    monkeypatch.setattr(dataset, "read_image", read_image)
    real = window.ctl.classes.predictor.predict
    monkeypatch.setattr(window.ctl.classes.predictor, "predict",
                        lambda image, should_cancel=None, on_progress=None, **kw: calls.append(1) or real(image, **kw))
    monkeypatch.setattr(prefetch_module, "time", SimpleNamespace(sleep=lambda s: (waited.set(), time.sleep(s))))
    pf.schedule(0)
    qtbot.waitUntil(reading.is_set, timeout=10000)   # the prefetch job runs: the open image starts work
    _hold_open_image(window, hold)
    read_gate.set()
    qtbot.waitUntil(waited.is_set, timeout=10000)    # the job waits, the network has not run
    assert not calls and pf.inflight == 1 and not window.ctl.loader.lock.locked()
    hold.set()
    qtbot.waitUntil(lambda: _cached(window, 1), timeout=15000)
    assert calls


def test_a_running_prefetch_crf_does_not_wait_for_a_dialogs_search(qtbot, tmp_path, env, monkeypatch):  # noqa: F811
    """A walk's CRF > Tune on saved labels… hung for good: its search waited for the iteration history of the same
    image that a prefetched CRF held, and that CRF, between iterations, waited for the window to be idle, the
    search's own lane included. A prefetch job already running waits only for the open image's work."""
    import gui.session.prefetch as prefetch_module
    from tests.support.gui_fixtures import close_window, open_window

    folder, model = env
    w = open_window(tmp_path, backend="fast")
    search = SimpleNamespace(busy=False, wait=lambda msecs: True, cancel=lambda: None)   # a dialog's lane
    passed = threading.Event()

    class Searched(prefetch_module.InteractiveCRF):
        def exact(self, probs, params, should_cancel=None, **kw):
            search.busy = True                 # the dialog's search starts while this CRF runs
            should_cancel()                    # between two iterations
            passed.set()
            return super().exact(probs, params, should_cancel=should_cancel, **kw)
    try:
        start(w, folder, model)
        wait_ready(qtbot, w)
        w.ctl.prefetch.clear()
        monkeypatch.setattr(prefetch_module, "InteractiveCRF", Searched)
        w.ctl.lanes["tune-crf"] = search
        w.ctl.prefetch.schedule(0)
        qtbot.waitUntil(passed.is_set, timeout=20000)
        assert w.ctl.busy and not w.ctl.image_busy
    finally:
        search.busy = False
        close_window(w, monkeypatch)
