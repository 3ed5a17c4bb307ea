"""While a slider change is still iterating, the window shows the fast CRF's labels improving, then the result."""
import numpy as np

from engine.crf.fast import FastBackend
from gui.app import start
from tests.support.gui_expected import expected
from tests.support.gui_fixtures import close_window, env, open_window, wait_ready  # noqa: F401 (fixtures)


def test_slider_change_shows_iteration_previews_then_the_result(qtbot, tmp_path, env, monkeypatch):  # noqa: F811
    folder, model = env
    w = open_window(tmp_path, backend="fast")
    try:
        start(w, folder, model)
        wait_ready(qtbot, w)
        shown = []
        w.ctl.preview_changed.connect(lambda: shown.append(w.presenter.labels().copy()))

        row = w.crf_panel.rows["bi_w"]
        row.slider.setValue(row.slider.value() + 40)
        new = w.crf_panel.params()
        st = wait_ready(qtbot, w)

        assert shown, "no preview reached the window while the CRF iterated"
        probs, final = expected(model, folder / "img1.png", new, "fast")
        first = FastBackend().session(st.image).run(probs, new.replace(iterations=1)).labels
        np.testing.assert_array_equal(shown[0], first)       # the first preview is exactly iteration 1
        assert st.crf_preview is None                         # the result replaced it
        np.testing.assert_array_equal(w.presenter.labels(), final)
        np.testing.assert_array_equal(st.labels, final)

        st.set_crf_preview(first)                             # a run that will not finish ...
        np.testing.assert_array_equal(w.presenter.labels(), first)
        w.ctl.cancel()                                        # ... is cancelled: its preview goes
        assert st.crf_preview is None
        np.testing.assert_array_equal(w.presenter.labels(), final)
        st.set_crf_preview(first)
        st.note_hand_edit()                                   # an edit makes any preview stale
        assert st.crf_preview is None
    finally:
        close_window(w, monkeypatch)


def test_gpu_out_of_memory_is_reported_and_the_crf_finishes_on_the_cpu(qtbot, tmp_path, env, monkeypatch):  # noqa: F811
    import torch

    from engine.crf.fast import FastBackend as Backend
    from engine.crf.fast import torch_engine
    from engine.crf.fast.cpu_engine import CpuEngine
    from engine.crf.fast.session import FastSession

    def gpu_like_session(self, image_rgb):  # the torch engine, as on a GPU, with the CPU engine to fall back on
        factory = Backend(device="cpu", engine="torch")._factory()
        return FastSession(image_rgb, factory, "torch:cuda", fallback=(CpuEngine, "numba:cpu", lambda: None))

    def out_of_memory(*args):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(Backend, "session", gpu_like_session)
    monkeypatch.setattr(torch_engine, "filter_q", out_of_memory)
    folder, model = env
    w = open_window(tmp_path, backend="fast")
    try:
        start(w, folder, model)
        st = wait_ready(qtbot, w)
        qtbot.waitUntil(lambda: "ran out of memory" in w.status.activity.text(), timeout=5000)
        assert "runs on the CPU" in w.status.activity.text()
        _, final = expected(model, folder / "img1.png", w.crf_panel.params(), "fast")
        np.testing.assert_array_equal(st.labels, final)  # the result is the CPU engine's, shown as usual
    finally:
        close_window(w, monkeypatch)
