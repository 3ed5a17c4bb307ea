"""Paint void teaches the model nothing (docs/user/correcting.md): a void stroke over unlocked pixels leaves the head
as it is. A walk's void stroke, far from a partly erased paper stroke, refitted the head on the same locks and
turned every belt pixel of the image to paper (2,818 -> 69,489 px); undoing it gave the 2,818 back."""
import numpy as np

from engine.labels import VOID
from gui.dialogs import prompts
from tests.support.gui_fixtures import fast_window, wait_ready  # noqa: F401
from tests.support.own_class_sites import CARDBOARD, paint, site_with_cardboard, stroke_across


def test_a_void_stroke_over_unlocked_pixels_leaves_the_head_and_the_labels_elsewhere(qtbot, fast_window, tmp_path,
                                                                                        monkeypatch):
    window = fast_window
    monkeypatch.setattr(prompts, "ask_unsaved", lambda *a: prompts.DISCARD)
    scenes, _ = site_with_cardboard(qtbot, window, tmp_path, 1)
    paint(window, stroke_across(scenes[0].labels, CARDBOARD))
    st = wait_ready(qtbot, window)
    head, before = window.ctl.adapt.head, np.asarray(st.labels).copy()
    assert not head.is_original
    belt = np.argwhere((scenes[0].labels == 0) & ~np.asarray(st.locked))
    y, x = belt[len(belt) // 3]
    fits = []
    window.ctl.adapt.lane.finished.connect(lambda key, _r: fits.append(key.kind))
    ed = window.ctl.editor
    ed.set_radius(2)
    ed.begin_stroke((int(x) - 3, int(y)), void=True)
    ed.stroke_to((int(x) + 3, int(y)))
    ed.end_stroke()
    st = wait_ready(qtbot, window)
    assert window.ctl.adapt.head is head and "adapt" not in fits        # nothing learnt, nothing refitted
    labels = np.asarray(st.labels)
    voided = labels == VOID
    assert voided.any()
    far = np.ones_like(voided)
    far[max(0, y - 12):y + 13, max(0, x - 16):x + 17] = False
    assert (labels[far] != before[far]).sum() == 0                      # the rest of the image is as it was
    window.editing.undo.trigger()
    st = wait_ready(qtbot, window)
    assert window.ctl.adapt.head is head and not (np.asarray(st.labels) == VOID).any()
