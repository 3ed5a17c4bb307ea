"""The window on large images, driven as a user would (thresholds lowered so the small test images count as large):
downscaled previews while a slider moves, never saved; local windows after strokes, the exact result when idle;
Esc keeps the panel and the labels in step; prefetched images open with their final labels."""
import threading

import numpy as np
import pytest

from engine.crf import CRFParams
from engine.crf.interactive import downscale, refiner
from engine.io.labels import read_label_png
from engine.io.provenance import read_provenance
from gui.app import start
from tests.support.gui_expected import expected
from tests.support.gui_fixtures import close_window, env, open_window, wait_image, wait_ready  # noqa: F401 (fixtures)
from tests.support.learn_fixtures import gate_learning

SMALL = CRFParams(pos_w=3, pos_xy_std=2, bi_w=5, bi_xy_std=6, bi_rgb_std=8, iterations=5)  # kernels << image


@pytest.fixture
def large(monkeypatch):
    """96x128 test images count as large: previews at 1/2 resolution, local windows, compact results."""
    monkeypatch.setattr(downscale, "PREVIEW_PIXELS", 3000)
    monkeypatch.setattr(refiner, "LOCAL_MIN_PIXELS", 1000)
    monkeypatch.setattr(refiner, "COMPACT_PIXELS", 1000)
    monkeypatch.setattr(refiner, "IDLE_MS", 300)


def _slow_exact(monkeypatch, gate: threading.Event):
    """Exact runs wait for `gate` (checked with the cancel flag), so a test can act while one is pending."""
    real = refiner.InteractiveCRF.exact

    def exact(self, probs, params, locks=None, should_cancel=None, on_iteration=None):
        while not gate.wait(0.01):
            if should_cancel is not None and should_cancel():
                from engine.errors import Cancelled
                raise Cancelled("test")
        return real(self, probs, params, locks, should_cancel, on_iteration)
    monkeypatch.setattr(refiner.InteractiveCRF, "exact", exact)


def _open(qtbot, tmp_path, env, params=SMALL):  # noqa: F811
    folder, model = env
    w = open_window(tmp_path, backend="fast")
    start(w, folder, model)
    wait_ready(qtbot, w)
    w.crf_panel.set_params(params, emit=True)   # in the open folder: CRF values are the folder's (issue 26)
    w.crf_panel.flush()
    return w, wait_ready(qtbot, w), folder, model


def test_slider_previews_are_labelled_and_a_save_writes_the_exact_result(qtbot, tmp_path, env, large, monkeypatch):  # noqa: F811
    w, st, folder, model = _open(qtbot, tmp_path, env)
    try:
        assert w.ctl.crf.shown_kind() == "exact" and w.status.labels_kind.text() == "Labels: exact"
        gate = threading.Event()
        _slow_exact(monkeypatch, gate)
        row = w.crf_panel.rows["bi_rgb_std"]
        kinds = []
        w.ctl.preview_changed.connect(lambda: kinds.append(w.ctl.crf.shown_kind()))
        for step in (4, 8, 12):                 # a drag: the panel emits at every step, not after a pause
            row.slider.setValue(row.slider.value() + step)
            qtbot.wait(5)
        qtbot.waitUntil(lambda: w.ctl.state.crf_preview is not None and not w.ctl.lanes["preview"].busy,
                        timeout=10000)
        assert kinds and all(k == "preview 1/2 resolution" for k in kinds)
        assert w.status.labels_kind.text() == "Labels: preview 1/2 resolution"
        params = w.crf_panel.params()
        preview = w.ctl.state.crf_preview.copy()
        _, exact = expected(model, folder / "img1.png", params, "fast")
        assert not np.array_equal(preview, exact)  # (else this test could not tell them apart)
        gate.set()
        assert w.save()                          # waits for the exact result: a preview is never saved
        saved = read_label_png(folder / "labels" / "img1.png")
        np.testing.assert_array_equal(saved, exact)
        assert read_provenance(folder / "labels" / "img1.png").crf_params == params.to_dict()
        assert w.ctl.crf.shown_kind() == "exact" and w.ctl.state.crf_preview is None
    finally:
        close_window(w, monkeypatch)


def _paint_stroke(w):
    """A short brush stroke of class 2 across the lower left of the test image."""
    ed = w.ctl.editor
    ed.set_paint_class(2)
    ed.set_radius(3)
    ed.begin_stroke((20, 70))
    ed.stroke_to((35, 72))
    ed.end_stroke()


def test_a_stroke_is_refined_locally_then_exactly_when_idle(qtbot, tmp_path, env, large, monkeypatch):  # noqa: F811
    w, st, folder, model = _open(qtbot, tmp_path, env)
    try:
        assert w.ctl.crf.interactive().solution is not None  # the exact run kept what windows start from
        w.ctl.adapt.set_enabled(False)  # the CRF's own windows: an adapted head would widen the region (below)
        before = st.labels.copy()
        windows = []
        w.ctl.window_refined.connect(windows.append)
        _paint_stroke(w)
        qtbot.waitUntil(lambda: bool(windows), timeout=10000)
        assert w.ctl.crf.shown_kind() == "local" and w.status.labels_kind.text() == "Labels: local"
        (x0, y0, x1, y1), = windows[0]
        assert x1 - x0 < st.shape[1] and y1 - y0 < st.shape[0]  # a window, not the image
        outside = np.ones(st.shape, bool)
        outside[y0:y1, x0:x1] = False
        np.testing.assert_array_equal(st.labels[outside], before[outside])  # the rest is untouched
        assert (st.labels[st.locked] == 2).all()
        qtbot.waitUntil(lambda: w.ctl.crf.shown_kind() == "exact" and not w.ctl.busy, timeout=10000)  # idle: exact
        session = FastBackendSession(st.image)
        want = session.run(st.probs, SMALL, locks=st.lock_constraints()).labels
        np.testing.assert_array_equal(st.labels, want)
        assert w.ctl.crf.labels_exact()
    finally:
        close_window(w, monkeypatch)


def test_with_adaptation_a_large_image_shows_the_strokes_window_before_the_head_learns(qtbot, tmp_path, env,  # noqa: F811
                                                                                      large, monkeypatch):
    """Adaptation on (the default): the stroke's own window (current probabilities, the new locks) is asked for at
    once and shown while the head's learning step has not even started; the learning starts after it, the idle
    exact run waits for it, and the adapted head's probabilities follow; once idle the labels are the exact CRF of
    those probabilities with the locks."""
    w, st, _, _ = _open(qtbot, tmp_path, env)
    try:
        adapt, crf = w.ctl.adapt, w.ctl.crf
        qtbot.waitUntil(lambda: adapt._features is not None and not w.ctl.busy, timeout=10000)
        probs0 = st.probs
        asked, events, gate = [], [], threading.Event()
        gate_learning(monkeypatch, gate, events)
        w.ctl.window_refined.connect(lambda boxes: events.append("window"))
        real = crf.request_crf

        def request_crf(region=None, probs_changed=False):
            asked.append((region, probs_changed, adapt.head.is_original))
            return real(region=region, probs_changed=probs_changed)
        monkeypatch.setattr(crf, "request_crf", request_crf)
        _paint_stroke(w)
        box = w.ctl.editor.last_box
        assert asked == [([box], False, True)]           # at once: the stroke's box, the network's own head
        assert "learn" not in events and adapt.learning   # the learning step waits for the stroke's answer
        qtbot.waitUntil(lambda: "learn" in events, timeout=10000)
        assert events[0] == "window"                     # the window was shown first, the learning started after
        assert crf.shown_kind() == "local" and (st.labels[st.locked] == 2).all()
        assert adapt.head.is_original and st.probs is probs0     # (the learning is held by the gate)
        crf.idle_exact()                                 # the user pauses while the head learns:
        assert w.ctl.lanes["crf"].current_key is None or w.ctl.lanes["crf"].current_key.kind != "crf"
        gate.set()                                       # the exact run waits for the learning step's result
        qtbot.waitUntil(lambda: not adapt.head.is_original and st.probs is not probs0, timeout=15000)
        assert any(changed for _, changed, _ in asked[1:])  # then the adapted head's new probabilities
        qtbot.waitUntil(lambda: w.ctl.crf.shown_kind() == "exact" and not w.ctl.busy, timeout=15000)
        want = FastBackendSession(st.image).run(st.probs, SMALL, locks=st.lock_constraints()).labels
        np.testing.assert_array_equal(st.labels, want)
        assert (st.labels[st.locked] == 2).all() and w.ctl.crf.labels_exact()
    finally:
        close_window(w, monkeypatch)


def test_a_stroke_does_not_wait_for_the_exact_run_in_flight(qtbot, tmp_path, env, large, monkeypatch):  # noqa: F811
    """The idle exact run is running (held here until the test lets it go): a new stroke's window is shown while
    that run still has not finished; the exact run comes again once the user pauses."""
    w, st, _, _ = _open(qtbot, tmp_path, env)
    try:
        w.ctl.adapt.set_enabled(False)
        windows, gate = [], threading.Event()
        w.ctl.window_refined.connect(windows.append)
        _slow_exact(monkeypatch, gate)
        _paint_stroke(w)
        qtbot.waitUntil(lambda: len(windows) == 1, timeout=10000)
        lane = w.ctl.lanes["crf"]
        qtbot.waitUntil(lambda: lane.current_key is not None and lane.current_key.kind == "crf", timeout=10000)
        ed = w.ctl.editor                                # the exact run is in flight (held): a second stroke
        ed.set_paint_class(1)
        ed.begin_stroke((90, 20))
        ed.stroke_to((100, 24))
        ed.end_stroke()
        qtbot.waitUntil(lambda: len(windows) == 2, timeout=10000)
        assert not gate.is_set() and w.ctl.crf.shown_kind() == "local"
        assert (st.labels[st.locked & (st.edits.labels == 1)] == 1).all()
        gate.set()
        qtbot.waitUntil(lambda: w.ctl.crf.shown_kind() == "exact" and not w.ctl.busy, timeout=15000)
        want = FastBackendSession(st.image).run(st.probs, SMALL, locks=st.lock_constraints()).labels
        np.testing.assert_array_equal(st.labels, want)
    finally:
        close_window(w, monkeypatch)


def test_with_learning_on_a_stroke_during_the_exact_run_after_a_learnt_one_gets_its_window(qtbot, tmp_path, env,  # noqa: F811
                                                                                           large, monkeypatch):
    """A big-photo walk, learning on (the default): after a stroke's learning re-solved its window with the head's
    new probabilities, a second stroke during the exact run that followed got a 1/7-resolution preview of the whole
    image, not its window (with learning off it got its window in 0.29 s). Its window now starts from that
    solution, and the exact labels follow as before."""
    from engine.crf.fast import window as win
    # on these small images the head's change spans most of the image: let it stay a window all the same
    monkeypatch.setattr(refiner, "CHANGED_MAX_SHARE", 1.0)
    monkeypatch.setattr(win.refine_around, "__defaults__", (None, None, win.MARGIN_SIGMAS, 1.0, None))
    w, st, _, _ = _open(qtbot, tmp_path, env)
    try:
        adapt, crf, lane = w.ctl.adapt, w.ctl.crf, w.ctl.lanes["crf"]
        qtbot.waitUntil(lambda: adapt._features is not None and not w.ctl.busy, timeout=10000)
        windows, kinds, gate = [], [], threading.Event()
        w.ctl.window_refined.connect(windows.append)
        w.ctl.preview_changed.connect(lambda: kinds.append(crf.shown_kind()))
        _slow_exact(monkeypatch, gate)
        probs0 = st.probs
        _paint_stroke(w)
        qtbot.waitUntil(lambda: st.probs is not probs0 and len(windows) >= 2, timeout=15000)   # learnt, re-solved
        qtbot.waitUntil(lambda: lane.current_key is not None and lane.current_key.kind == "crf", timeout=10000)
        shown, kinds[:] = len(windows), []
        ed = w.ctl.editor                                 # the exact run is in flight (held): a second stroke
        ed.set_paint_class(1)
        ed.begin_stroke((90, 20))
        ed.stroke_to((100, 24))
        ed.end_stroke()
        qtbot.waitUntil(lambda: len(windows) > shown, timeout=10000)
        assert not gate.is_set() and crf.shown_kind() == "local" and "preview" not in " ".join(kinds), kinds
        assert (st.labels[st.locked & (st.edits.labels == 1)] == 1).all()
        gate.set()
        qtbot.waitUntil(lambda: crf.shown_kind() == "exact" and not w.ctl.busy and not adapt.learning,
                        timeout=20000)
        want = FastBackendSession(st.image).run(st.probs, SMALL, locks=st.lock_constraints()).labels
        np.testing.assert_array_equal(st.labels, want)
    finally:
        close_window(w, monkeypatch)


def FastBackendSession(image):
    from engine.crf.fast import FastBackend
    return FastBackend(device="cpu").session(image)


def test_esc_during_a_rerun_puts_the_panel_back_to_the_labels_shown(qtbot, tmp_path, env, monkeypatch):  # noqa: F811
    """Issue 15, bug 1: pos_w 8 -> 3, Esc: panel, labels and provenance all say 8."""
    w, st, folder, model = _open(qtbot, tmp_path, env, SMALL.replace(pos_w=8))
    try:
        shown = st.labels.copy()
        gate = threading.Event()
        _slow_exact(monkeypatch, gate)
        row = w.crf_panel.rows["pos_w"]
        row.spin.setValue(3.0)
        qtbot.waitUntil(lambda: w.ctl.crf.params.pos_w == 3 and w.ctl.lanes["crf"].busy, timeout=5000)
        w.cancel_action.trigger()                # Esc
        assert w.crf_panel.params().pos_w == 8 and w.ctl.crf.params.pos_w == 8
        assert w.ctl.state.crf_params == w.ctl.crf.params and w.ctl.crf.shown_kind() == "exact"
        np.testing.assert_array_equal(w.presenter.labels(), shown)
        assert "back to those of the labels shown" in w.status.activity.text()
        gate.set()
        qtbot.wait(100)
        assert not w.ctl.busy and w.crf_panel.params().pos_w == 8  # nothing restarted behind the panel's back
        assert w.save()
        assert read_provenance(folder / "labels" / "img1.png").crf_params["pos_w"] == 8
        np.testing.assert_array_equal(read_label_png(folder / "labels" / "img1.png"), shown)
    finally:
        close_window(w, monkeypatch)


def test_moving_on_shows_the_prefetched_final_labels_at_once(qtbot, tmp_path, env, large, monkeypatch):  # noqa: F811
    w, st, folder, model = _open(qtbot, tmp_path, env)
    try:
        pf = w.ctl.prefetch
        qtbot.waitUntil(lambda: pf._key(1) in pf.crf and not pf.lane.busy, timeout=20000)
        requested = []
        monkeypatch.setattr(type(w.ctl.crf), "request_crf", lambda self, region=None: requested.append(region))
        w.go(+1)
        st = wait_image(qtbot, w, 1)
        qtbot.waitUntil(lambda: w.ctl.state.crf_labels is not None, timeout=5000)
        assert not requested                     # no CRF to wait for: it ran ahead
        assert w.ctl.crf.shown_kind() == "exact"
        _, want = expected(model, folder / "img2.png", SMALL, "fast")
        np.testing.assert_array_equal(w.ctl.state.labels, want)
        assert w.ctl.crf.interactive().solution is not None  # strokes here refine locally at once
    finally:
        close_window(w, monkeypatch)


def test_the_exact_run_shows_its_progress_in_the_status_bar(qtbot, tmp_path, env, monkeypatch):  # noqa: F811
    """'Refining with CRF (fast)…' is followed by the iteration it is at, from the start (0/5: the lattice is built
    before the first iteration) to the end, with the bar's total."""
    w, _, _, _ = _open(qtbot, tmp_path, env)
    try:
        seen, shown = [], []
        w.ctl.progress.connect(lambda done, total, text: seen.append((done, total, text)))
        w.ctl.progress.connect(lambda *_: shown.append((w.status.activity.text(), w.status.progress.maximum())))
        w.crf_panel.set_params(SMALL.replace(bi_w=6), emit=True)   # other weights: every iteration runs again
        w.crf_panel.flush()
        wait_ready(qtbot, w)
        n = SMALL.iterations
        texts = [(d, t, s) for d, t, s in seen if s.startswith("Refining with CRF (fast)…")]
        assert texts[0] == (0, n, f"Refining with CRF (fast)… 0/{n}") and texts[-1] == (n, n, f"Refining with CRF "
                                                                                        f"(fast)… {n}/{n}")
        assert [d for d, _, _ in texts] == list(range(n + 1))
        assert (f"Refining with CRF (fast)… 2/{n}", n) in shown      # what the status bar showed
    finally:
        close_window(w, monkeypatch)


def test_a_quick_second_stroke_refines_the_first_ones_window_too(qtbot, tmp_path, env, large, monkeypatch):  # noqa: F811
    """The first stroke's window is still being solved (held here) when the second stroke comes: the second request
    cancels it, and its window covers both strokes, so neither waits for the exact run to be refined."""
    w, st, _, _ = _open(qtbot, tmp_path, env)
    try:
        w.ctl.adapt.set_enabled(False)
        real, calls = refiner.InteractiveCRF.local, []

        def local(self, probs, params, region, locks=None, should_cancel=None):
            calls.append(refiner.dirty_box(region))
            while len(calls) == 1:                      # the first stroke's window: until it is cancelled
                if should_cancel is not None and should_cancel():
                    from engine.errors import Cancelled
                    raise Cancelled("test")
                threading.Event().wait(0.01)
            return real(self, probs, params, region, locks, should_cancel)
        monkeypatch.setattr(refiner.InteractiveCRF, "local", local)
        windows = []
        w.ctl.window_refined.connect(windows.append)
        _paint_stroke(w)
        first = w.ctl.editor.last_box
        qtbot.waitUntil(lambda: len(calls) == 1, timeout=10000)
        ed = w.ctl.editor
        ed.set_paint_class(1)
        ed.begin_stroke((60, 40))
        ed.stroke_to((66, 44))
        ed.end_stroke()
        second = w.ctl.editor.last_box
        qtbot.waitUntil(lambda: bool(windows), timeout=10000)
        x0, y0, x1, y1 = windows[0][0]
        for bx0, by0, bx1, by1 in (first, second):       # the window shown holds both strokes
            assert x0 <= bx0 and y0 <= by0 and bx1 <= x1 and by1 <= y1
        assert calls[1] == refiner.dirty_box([first, second])
    finally:
        close_window(w, monkeypatch)


def test_a_class_added_on_a_large_image_keeps_the_result_compact_and_shows_it(qtbot, tmp_path, env, large,  # noqa: F811
                                                                             monkeypatch):
    """A compact CRF result (a plane per label group) through a class edit: the new class reads 0 everywhere,
    shares a plane, its heat map and the readout work, and a stroke of it shows in the next exact result."""
    from engine.crf.compact import CompactProbs
    from gui.dialogs import classes as class_dialogs
    w, st, folder, model = _open(qtbot, tmp_path, env)
    try:
        assert isinstance(st.crf_probs, CompactProbs) and st.crf_probs.shape[0] == 3
        monkeypatch.setattr(class_dialogs, "ask_class_name", lambda *a: "scratch")
        assert w.class_editor.add()
        st = w.ctl.state
        assert isinstance(st.crf_probs, CompactProbs) and st.crf_probs.shape == (4,) + st.shape
        assert not st.crf_probs[3].any() and st.crf_probs.n_planes <= 4
        w.class_panel.select(3)                                       # its heat map: p = 0 everywhere
        assert w.canvas.overlay_visible("heat")
        w.canvas.cursor_moved.emit(20, 10)
        assert "%" in w.readout.pixel.text()
        w.ctl.editor.set_paint_class(3)
        w.ctl.editor.begin_stroke((60, 50))
        w.ctl.editor.stroke_to((75, 52))
        w.ctl.editor.end_stroke()
        qtbot.waitUntil(lambda: w.ctl.crf.shown_kind() == "exact" and not w.ctl.busy
                        and (w.ctl.state.crf_labels == 3).any(), timeout=30000)
        st = w.ctl.state
        assert isinstance(st.crf_probs, CompactProbs) and st.crf_probs.shape[0] == 4
        painted = np.asarray(st.locked, bool)
        assert painted.any() and (st.crf_labels[painted] == 3).all()
        assert (st.crf_probs[3][painted] == 1.0).all()             # the locked class, one-hot where it was painted
        assert not np.asarray(st.crf_probs)[:3][:, painted].any()
    finally:
        close_window(w, monkeypatch)


def test_a_preview_after_a_strokes_window_keeps_the_window_sharp(qtbot, tmp_path, env, large, monkeypatch):  # noqa: F811
    """A walk: after a stroke's learning the whole image was previewed at 1/4 resolution and the stroke's sharp
    window gave way to it for 5 s, until the exact run. A preview now shows the windows refined since the last
    exact run in their boxes, and its own labels elsewhere; the exact run replaces both."""
    w, st, _, _ = _open(qtbot, tmp_path, env)
    try:
        crf = w.ctl.crf
        gate = threading.Event()
        _slow_exact(monkeypatch, gate)
        boxes = []
        w.ctl.window_refined.connect(boxes.extend)
        _paint_stroke(w)
        qtbot.waitUntil(lambda: crf.shown_kind() == "local", timeout=10000)
        (x0, y0, x1, y1), = boxes
        window_labels = st.labels.copy()
        previews = []
        real = refiner.InteractiveCRF.preview
        monkeypatch.setattr(refiner.InteractiveCRF, "preview",
                            lambda self, *a, **k: previews.append(real(self, *a, **k)) or previews[-1])
        crf.request_crf(region=None, probs_changed=True)          # new probabilities everywhere, as after learning
        qtbot.waitUntil(lambda: bool(previews) and st.crf_preview is not None and not w.ctl.lanes["preview"].busy,
                        timeout=10000)
        shown, coarse = st.crf_preview, previews[-1].labels
        np.testing.assert_array_equal(shown[y0:y1, x0:x1], window_labels[y0:y1, x0:x1])
        assert not np.array_equal(coarse[y0:y1, x0:x1], window_labels[y0:y1, x0:x1])   # (else nothing is tested)
        outside = np.ones(shown.shape, bool)
        outside[y0:y1, x0:x1] = False
        np.testing.assert_array_equal(shown[outside], coarse[outside])
        gate.set()
        qtbot.waitUntil(lambda: crf.shown_kind() == "exact" and not w.ctl.busy, timeout=15000)
        assert st.crf_preview is None
    finally:
        gate.set()
        close_window(w, monkeypatch)
