"""The GUI thread keeps breathing while the model predicts and the CRF refines, for each CRF backend: the network
and the CRF never run on the GUI thread, and its 5 ms heartbeat keeps ticking meanwhile. How late the heartbeat gets
is a speed figure, so it is measured by bench/gui_latency.py, not asserted here (a loaded CI machine would flake)."""
import threading

import pytest
from PySide6.QtCore import QSettings

from engine.crf import DEFAULT_BACKEND
from engine.crf.runner import CRFRunner
from engine.predict import Predictor
from gui.app import start
from gui.dialogs import prompts
from gui.main_window import MainWindow
from tests.support.gui_helpers import make_colour_model, make_folder
from tests.support.heartbeat import Heartbeat
from tests.support.reference_crf import REFERENCE


def _record_threads(monkeypatch, cls, name, calls):
    original = getattr(cls, name)

    def wrapper(*args, **kwargs):
        calls.append(threading.current_thread() is threading.main_thread())
        return original(*args, **kwargs)
    monkeypatch.setattr(cls, name, wrapper)


def _ready(w):
    st = w.ctl.state
    return bool(st is not None and st.crf_labels is not None and st.crf_params == w.crf_panel.params()
                and not w.ctl.busy)


@pytest.mark.parametrize("backend", [REFERENCE if b == "reference" else b
                                     for b in sorted({"reference", DEFAULT_BACKEND})])
def test_gui_thread_never_stalls_while_predicting_and_refining(qtbot, tmp_path, monkeypatch, backend):
    folder = make_folder(tmp_path / "images", n=2, h=300, w=400)
    model = make_colour_model(tmp_path / "colour.pt")
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    settings.setValue("crf/backend", backend)
    on_gui_thread = {"predict": [], "crf": []}
    _record_threads(monkeypatch, Predictor, "predict", on_gui_thread["predict"])
    _record_threads(monkeypatch, CRFRunner, "run", on_gui_thread["crf"])
    w = MainWindow(settings)
    w.resize(1000, 700)
    w.show()
    # Start-up (kernel loading, see AnnotatorController._warm_up) is not what this test measures.
    qtbot.waitUntil(lambda: w.ctl.crf.warm and not w.ctl.busy, timeout=60000)
    beat = Heartbeat(5)
    beat.start()
    try:
        start(w, folder, model)
        qtbot.waitUntil(lambda: _ready(w), timeout=60000)
        assert w.ctl.crf.backend_name == backend
        row = w.crf_panel.rows["bi_rgb_std"]
        for step in (10, 25):                      # two slider moves: two debounced CRF runs
            row.slider.setValue(row.slider.value() + step)
            qtbot.waitUntil(lambda: _ready(w), timeout=60000)
        w.go(+1)                                   # a new image: predict + CRF again
        qtbot.waitUntil(lambda: _ready(w) and w.ctl.state.index == 1, timeout=60000)
    finally:
        beat.stop()
        monkeypatch.setattr(prompts, "ask_unsaved", lambda *a: prompts.DISCARD)
        w.close()
        w.deleteLater()
    print(f"\n[{backend}] heartbeat ticks={len(beat.gaps_ms)} worst stall={beat.worst_stall_ms:.1f} ms "
          f"p99={beat.percentile_ms(99):.1f} ms")
    assert len(beat.gaps_ms) > 20                       # the GUI event loop ran while the work went on
    assert len(on_gui_thread["predict"]) >= 2 and len(on_gui_thread["crf"]) >= 4
    assert not any(on_gui_thread["predict"]) and not any(on_gui_thread["crf"])
