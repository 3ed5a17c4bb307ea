"""The superpixel tool: a stroke fills whole superpixels as one undo step, and a click made before the
segmentation is ready is applied when it is."""
import threading

import numpy as np
from PySide6.QtCore import QPointF, Qt

from engine.annotate import superpixels
from gui.app import start
from tests.support.gui_fixtures import env, wait_ready, window  # noqa: F401 (fixtures)


def test_superpixel_tool_fills_whole_superpixels_as_one_undo_step(qtbot, window, env, monkeypatch):
    folder, model = env
    threads = []
    real = superpixels.compute

    def spy(image, size, *a, **k):
        threads.append(threading.current_thread())
        return real(image, size, *a, **k)
    monkeypatch.setattr(superpixels, "compute", spy)
    window.editing.auto_refine.setChecked(False)
    start(window, folder, model)
    st = wait_ready(qtbot, window)
    window.ctl.editor.set_paint_class(2)
    window.editing.set_tool("superpixel")
    tool = window.canvas.tool
    assert tool.name == "superpixel" and window.editing.tool_actions["superpixel"].shortcut().toString() == "S"
    tool.size_box.setValue(12)
    qtbot.waitUntil(lambda: tool.ready, timeout=15000)
    assert threads and all(t is not threading.main_thread() for t in threads)   # never on the GUI thread
    assert window.canvas.overlay_visible("superpixels")
    seg = tool.segments
    vp = window.canvas.viewport()
    to_view = lambda x, y: window.canvas.mapFromScene(QPointF(x + 0.5, y + 0.5))  # noqa: E731
    before = st.labels.copy()
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, to_view(10, 10))
    qtbot.mouseMove(vp, to_view(60, 10))
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, to_view(60, 10))
    touched = superpixels.region_of(seg, [(10, 10), (60, 10)])
    assert (st.labels[touched] == 2).all() and st.locked[touched].all()
    assert (st.labels[~touched] == before[~touched]).all() and not st.locked[~touched].any()
    assert window.ctl.editor.stack().count() == 1
    window.ctl.editor.stack().undo()
    assert np.array_equal(st.labels, before) and not st.edits.has_locks
    n = len(threads)
    tool.size_box.setValue(20)
    tool.size_box.setValue(12)                                   # back to a cached size: no new SLIC run
    qtbot.waitUntil(lambda: tool.ready, timeout=15000)
    assert len(threads) <= n + 1


def test_a_click_before_the_superpixels_are_ready_is_applied_when_they_are(qtbot, window, env):
    folder, model = env
    window.editing.auto_refine.setChecked(False)
    start(window, folder, model)
    st = wait_ready(qtbot, window)
    window.ctl.editor.set_paint_class(1)
    window.editing.set_tool("superpixel")
    tool = window.canvas.tool
    tool.segments, tool._for = None, None                        # as if SLIC were still running
    tool.on_press(window.canvas, QPointF(5, 5), None)
    assert tool._pending is not None
    tool.request()
    qtbot.waitUntil(lambda: tool.ready and tool._pending is None, timeout=15000)
    assert st.labels[5, 5] == 1 and st.locked[5, 5] and window.ctl.editor.stack().count() == 1
