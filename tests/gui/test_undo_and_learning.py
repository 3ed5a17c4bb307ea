"""Undo and redo give back exactly what the window showed, labels and head together, however quickly they come and
whatever the learning is doing (walk 62: each of these left thousands of pixels otherwise)."""
import shutil
import threading

import numpy as np
import pytest

from engine.paths import SAMPLES_DIR
from tests.support.gui_fixtures import close_window, open_window, wait_ready
from tests.support.gui_helpers import brush_stroke
from tests.support.learn_fixtures import gate_learning, opened
from tests.support.own_class_sites import add_classes

PAPER, BOTTLE, BAG = 1, 2, 3


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    w = open_window(tmp_path, backend="fast")
    yield w
    close_window(w, monkeypatch)


def belt_site(tmp_path):
    folder = tmp_path / "site"
    folder.mkdir()
    shutil.copy(SAMPLES_DIR / "belt_01.png", folder / "belt_01.png")
    return folder


def settled(qtbot, w):
    wait_ready(qtbot, w)
    qtbot.waitUntil(lambda: not w.ctl.adapt.learning, timeout=30000)
    return wait_ready(qtbot, w)


def two_strokes(qtbot, w):
    """A paper stroke and a bag stroke on belt_01, each learnt before the next."""
    brush_stroke(w, (40, 40), (200, 40), PAPER, 4)
    settled(qtbot, w)
    brush_stroke(w, (60, 120), (160, 120), BAG, 5)
    return settled(qtbot, w)


def test_undoing_a_new_class_stroke_leaves_the_class_nowhere(qtbot, window, tmp_path):
    """Strokes, then a class added and painted, then Ctrl+Z: 35 % of the image was the new class, painted nowhere.
    The head before that stroke was fitted before the class existed; its new row sat at a floor under the network's
    own logits, above the known rows the strokes had pushed down. The floor is under the adapted rows now."""
    opened(qtbot, window, belt_site(tmp_path))
    st = two_strokes(qtbot, window)
    add_classes(window, "cardboard")
    new = len(window.ctl.classes.project.classes) - 1
    st = settled(qtbot, window)
    labels, probs = st.labels.copy(), st.probs.copy()
    brush_stroke(window, (30, 90), (120, 90), new, 4)
    st = settled(qtbot, window)
    assert (st.labels == new).any()
    window.ctl.editor.stack().undo()
    st = settled(qtbot, window)
    assert not (st.labels == new).any()
    assert float(st.probs[new].max()) < 1e-3                 # an untaught class is improbable everywhere
    np.testing.assert_array_equal(st.labels, labels)
    np.testing.assert_allclose(st.probs[:new], probs[:new], atol=1e-3)


def test_an_undo_while_the_stroke_is_learnt_gives_back_the_state_before_it(qtbot, window, tmp_path, monkeypatch):
    """Ctrl+Z while 'Learning from the correction…' ran: the locks came back, but the head was fitted again to them
    (from a warm start) and 7,853 labels and probabilities up to 0.9 differed from before the stroke."""
    opened(qtbot, window, belt_site(tmp_path))
    st = two_strokes(qtbot, window)
    labels, probs, head = st.labels.copy(), st.probs.copy(), window.ctl.adapt.head
    gate, events = threading.Event(), []
    gate_learning(monkeypatch, gate, events)
    brush_stroke(window, (250, 200), (300, 200), BOTTLE, 4)
    qtbot.waitUntil(lambda: events == ["learn"], timeout=20000)   # its learning runs now
    window.ctl.editor.stack().undo()
    gate.set()
    st = settled(qtbot, window)
    assert window.ctl.adapt.head is head and events == ["learn"]   # nothing was fitted again
    np.testing.assert_array_equal(st.labels, labels)
    np.testing.assert_allclose(st.probs, probs, atol=1e-6)


def test_two_quick_redos_restore_the_heads_in_turn(qtbot, window, tmp_path):
    """Undo twice, then redo twice 30 ms apart: the second redo refitted from the head before both strokes (the
    first's restore never ran), and 37k of 77k labels came out otherwise. Each redo now sets its head at once."""
    opened(qtbot, window, belt_site(tmp_path))
    st = two_strokes(qtbot, window)
    labels, probs, head = st.labels.copy(), st.probs.copy(), window.ctl.adapt.head
    stack = window.ctl.editor.stack()
    stack.undo()
    stack.undo()
    settled(qtbot, window)
    stack.redo()
    qtbot.wait(30)
    stack.redo()
    st = settled(qtbot, window)
    assert window.ctl.adapt.head is head
    np.testing.assert_array_equal(st.labels, labels)
    np.testing.assert_allclose(st.probs, probs, atol=1e-6)


def test_switching_models_and_back_does_not_teach_the_open_image_again(qtbot, window, tmp_path):
    """A walk saved a stroke, switched to demo v2 and back to v1 with that image open: 'model adapted on 9 strokes'
    instead of 8, and images nobody touched predicted otherwise (up to 0.59). The image's locks, which the folder's
    head file had learnt, were taught again. The head file this session wrote comes back with what each image
    taught."""
    from engine.paths import DEMO_V1, DEMO_V2

    def switch(path):
        window.load_model(path)
        qtbot.waitUntil(lambda: window.ctl.loader.loaded is not None and window.ctl.loader.loaded.path == path,
                        timeout=30000)
        return settled(qtbot, window)

    opened(qtbot, window, belt_site(tmp_path))
    st = two_strokes(qtbot, window)
    assert window.ctl.save()
    head, labels = window.ctl.adapt.head, st.labels.copy()
    assert head.strokes == 2
    switch(DEMO_V2)
    st = switch(DEMO_V1)
    qtbot.waitUntil(lambda: not window.ctl.adapt.lane.busy, timeout=30000)
    st = settled(qtbot, window)
    back = window.ctl.adapt.head
    assert back.strokes == 2 and window.learn.status_label.text() == "model adapted on 2 strokes / 1 image"
    for a, b in zip(back.tensors, head.tensors):
        assert np.array_equal(np.asarray(a), np.asarray(b))          # nothing was fitted again
    np.testing.assert_array_equal(st.labels, labels)


def test_undo_and_redo_on_a_revisited_image_count_and_keep_what_the_other_image_taught(qtbot, window, tmp_path,
                                                                                      monkeypatch):
    """A walk: two strokes on image 1, saved; one on image 2; back on image 1, undo both: '1 stroke / 2 images'
    (1 / 1 taught); redo one: '2 strokes / 1 image', and the redo gave back the head of before image 2 was taught
    (its record's other side, older than that learning)."""
    from gui.dialogs import prompts
    monkeypatch.setattr(prompts, "ask_unsaved", lambda *a: prompts.SAVE)
    folder = belt_site(tmp_path)
    shutil.copy(SAMPLES_DIR / "belt_02.png", folder / "belt_02.png")
    opened(qtbot, window, folder)
    two_strokes(qtbot, window)
    assert window.ctl.save()
    assert window.go_to(1)
    settled(qtbot, window)
    brush_stroke(window, (40, 60), (200, 60), 4, 4)
    settled(qtbot, window)
    assert window.go_to(0)
    settled(qtbot, window)
    status = window.learn.status_label.text
    assert status() == "model adapted on 3 strokes / 2 images"
    stack = window.ctl.editor.stack()
    stack.undo()
    settled(qtbot, window)
    stack.undo()
    settled(qtbot, window)
    assert status() == "model adapted on 1 stroke / 1 image"
    assert window.ctl.adapt.head.images == {"belt_02.png"}
    stack.redo()
    settled(qtbot, window)
    assert status() == "model adapted on 2 strokes / 2 images"
    assert window.ctl.adapt.head.images == {"belt_01.png", "belt_02.png"}
