"""Undo and redo on a saved image one comes back to: its labels are the file's, refined after the stroke, and its
strokes' records are kept. Undo takes back what the stroke taught; redo gives back exactly what was saved."""
import numpy as np
import pytest

from engine.io.labels import read_label_png
from gui.dialogs import prompts
from tests.support.gui_fixtures import fast_window, wait_image, wait_ready  # noqa: F401
from tests.support.own_class_sites import CARDBOARD, paint, site_with_cardboard, stroke_across


@pytest.fixture
def window(fast_window):
    return fast_window


def _away_and_back(qtbot, window):
    """To the second image and back to the first (a saved image one comes back to)."""
    for i in (1, 0):
        assert window.go_to(i)
        wait_image(qtbot, window, i)
        wait_ready(qtbot, window)
    return window.ctl.state


def test_undo_of_a_saved_stroke_after_visiting_another_image_takes_back_what_it_taught(qtbot, window, tmp_path,
                                                                                       monkeypatch):
    """A walk: add cardboard, paint it on img1, save, go to img2 and back, Undo: the head still held the stroke
    (cardboard 'learnt (1)' with 0 strokes), since the image's locks on its return were not known to be the ones
    the head was fitted to, and the refit kept what the head img1 came back with had learnt."""
    monkeypatch.setattr(prompts, "ask_unsaved", lambda *a: prompts.DISCARD)
    scenes, _ = site_with_cardboard(qtbot, window, tmp_path, 2)
    adapt = window.ctl.adapt
    before = adapt.head
    paint(window, stroke_across(scenes[0].labels, CARDBOARD))
    wait_ready(qtbot, window)
    assert adapt.taught(CARDBOARD) == (1, 1) and adapt.head is not before
    assert window.save()
    _away_and_back(qtbot, window)
    assert window.editing.undo.isEnabled()
    window.editing.undo.trigger()
    wait_ready(qtbot, window)
    assert adapt.head is before and adapt.taught(CARDBOARD) == (0, 0)
    assert window.class_panel.origin(CARDBOARD) == "new"


def test_redo_on_a_saved_image_one_came_back_to_gives_back_the_saved_labels(qtbot, window, tmp_path, monkeypatch):
    """A walk: stroke, save, another image and back, Ctrl+Z, Ctrl+Shift+Z: 36-48 px stayed off the saved file and
    the image stayed edited. The redo wrote the stroke's own record (the labels its box had while it was painted),
    not what the CRF and the learning had made of them, which the file holds."""
    monkeypatch.setattr(prompts, "ask_unsaved", lambda *a: prompts.DISCARD)
    scenes, folder = site_with_cardboard(qtbot, window, tmp_path, 2)
    paint(window, stroke_across(scenes[0].labels, CARDBOARD))
    st = wait_ready(qtbot, window)
    assert window.save()
    saved = read_label_png(folder / "labels" / "img1.png")
    assert np.array_equal(st.labels, saved)
    st = _away_and_back(qtbot, window)
    locked = st.locked.copy()
    window.editing.undo.trigger()
    st = wait_ready(qtbot, window)
    assert not st.locked.any() and not np.array_equal(st.labels, saved) and st.dirty
    window.editing.redo.trigger()
    st = wait_ready(qtbot, window)
    assert np.array_equal(st.locked, locked)
    assert int((st.labels != saved).sum()) == 0 and not st.dirty
    assert window.file_list.status_text(0) != "edited"


def test_erasing_a_stroke_on_a_saved_image_gives_back_the_files_labels(qtbot, window, tmp_path, monkeypatch):
    """A walk: on a saved image one came back to, a brush stroke then the eraser over all of it took the spread and
    the teaching back, but the erased pixels kept the stroke's class (the model's labels at that moment, before the
    learning was taken back): 327 px that neither the file nor the model had, and Ctrl+S wrote them."""
    monkeypatch.setattr(prompts, "ask_unsaved", lambda *a: prompts.DISCARD)
    scenes, folder = site_with_cardboard(qtbot, window, tmp_path, 2)
    assert window.save()
    saved = read_label_png(folder / "labels" / "img1.png")
    _away_and_back(qtbot, window)
    stroke = stroke_across(scenes[0].labels, CARDBOARD)
    paint(window, stroke)
    st = wait_ready(qtbot, window)
    assert (np.asarray(st.labels) != saved).any()
    (x0, y), (x1, _) = stroke.points[0], stroke.points[-1]
    ed = window.ctl.editor
    ed.set_radius(stroke.radius + 3)
    ed.begin_stroke((x0 - 4, y), erase=True)                          # the eraser over the whole stroke
    ed.stroke_to((x1 + 4, y))
    ed.end_stroke()
    st = wait_ready(qtbot, window)
    assert not np.asarray(st.locked).any()
    np.testing.assert_array_equal(np.asarray(st.labels), saved)        # the file's labels, everywhere
