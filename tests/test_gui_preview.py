"""While a slider change is still iterating, the window shows the fast CRF's labels improving, then the result."""
import numpy as np

from engine.crf.fast import FastBackend
from gui.app import start
from tests.gui_fixtures import close_window, env, open_window, wait_ready  # noqa: F401 (fixtures)
from tests.test_gui_flow import expected


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
