"""Learning that never surprises (issue 26, items 2 and 3), in the real window (offscreen):
- a stroke on a saved (or pre-labelled) image teaches the head and spreads near itself, while the saved labels
  farther away stay as saved; undo restores the file's labels and the head exactly;
- Use model result (Ctrl+R) takes the model's result but keeps the locked pixels (polygons, strokes);
- the status counts the strokes in effect: revisiting and saving an image adds none, an undone stroke counts no
  more;
- the Eraser returns pixels to the model's labels, unlocked (and takes back what the stroke taught); Paint void
  (V) locks void and teaches nothing; both are in the shortcut list."""
import numpy as np
import pytest

from engine.annotate.spread import reach_for
from engine.checkpoints import load_checkpoint
from engine.crf.base import labels_from_probs
from engine.demo.annotator import largest_wrong_region, next_stroke
from engine.io.images import read_image
from engine.labels import VOID
from engine.paths import DEMO_V1
from engine.predict import Predictor
from gui.dialogs import prompts
from tests.support.gui_fixtures import close_window, open_window, wait_image, wait_ready
from tests.support.learn_fixtures import opened, paint_stroke, shifted_scene, write_folder

FLIPS = 2       # shifted scene 2: the pale belt is called "plastic bag" with p ~ 0.9 (see test_learn)


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    w = open_window(tmp_path, backend="fast")
    yield w
    close_window(w, monkeypatch)


def network_labels(folder, n):
    """What the demo network alone says on each image: the labels a pre-labelling run would have saved."""
    predictor = Predictor(load_checkpoint(DEMO_V1), "cpu")
    return [labels_from_probs(predictor.predict(read_image(folder / f"img{i + 1}.png"))) for i in range(n)]


def saved_folder(tmp_path, n=1, prelabelled=False):
    """Scenes whose labels file holds the network's own (wrong) result: saved by hand, or written by a pre-labelling
    run (``main.py prelabel``, the CRF off so the file is the network's result as it is)."""
    folder = write_folder(tmp_path / "site", n, start=FLIPS)
    if prelabelled:
        from engine.batch.cli import main as prelabel
        assert prelabel([str(folder), "--model", str(DEMO_V1), "--crf", "none", "--device", "cpu",
                         "--sequential"]) == 0
        return folder
    return write_folder(folder, n, saved=n, start=FLIPS, labels=network_labels(folder, n))


def status(window) -> str:
    return window.learn.status_label.text()


def near(mask, reach):
    """Pixels within ``reach`` (a square window, as the spread uses) of ``mask``."""
    import cv2
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * reach + 1, 2 * reach + 1))
    return cv2.dilate(mask.astype(np.uint8), k).astype(bool)


@pytest.mark.parametrize("prelabelled", [False, True], ids=["saved", "pre-labelled"])
def test_a_stroke_on_a_saved_image_teaches_and_spreads_near_itself_and_undo_restores_it(qtbot, window, tmp_path,
                                                                                         prelabelled):
    folder = saved_folder(tmp_path, prelabelled=prelabelled)
    shown = "pre-labelled" if prelabelled else "saved"
    st = opened(qtbot, window, folder)
    saved, gt = st.labels.copy(), shifted_scene(FLIPS).labels
    region, cls = largest_wrong_region(saved, gt)
    assert window.file_list.status_text(0) == shown and region.mean() > 0.3   # the file keeps the wrong region
    assert not st.follows_model and window.ctl.adapt.head.is_original

    paint_stroke(window, next_stroke(saved, gt))
    locked = st.locked.copy()
    st = wait_ready(qtbot, window)
    assert not window.ctl.adapt.head.is_original and status(window) == "model adapted on 1 stroke / 1 image"
    assert np.all(st.labels[locked] == cls)
    reach = reach_for(*st.shape)
    around = near(locked, reach)
    assert (st.labels[region & around & ~locked] == cls).mean() > 0.8   # the similar region near it followed
    np.testing.assert_array_equal(st.labels[~around], saved[~around])    # saved labels farther away stay
    assert (~around & region).sum() > 1000                               # (there is a far part of the region)
    assert window.file_list.status_text(0) == "edited"

    window.ctl.editor.stack().undo()
    st = wait_ready(qtbot, window)
    np.testing.assert_array_equal(st.labels, saved)                      # exactly the file again
    assert not st.locked.any() and window.ctl.adapt.head.is_original and status(window) == "model not adapted"
    assert window.file_list.status_text(0) == shown


def test_use_model_result_keeps_the_hand_edits(qtbot, window, tmp_path):
    folder = saved_folder(tmp_path)
    window.learn.adapt_action.setChecked(False)    # the model's result alone: the polygon teaches nothing here
    st = opened(qtbot, window, folder)
    saved = st.labels.copy()
    window.ctl.editor.set_paint_class(2)
    window.ctl.editor.polygon([(10, 10), (40, 10), (40, 30), (10, 30)])
    st = wait_ready(qtbot, window)
    locked, painted = st.locked.copy(), st.labels.copy()
    assert locked.sum() > 500 and np.all(painted[locked] == 2)

    window.use_model_action.trigger()
    st = wait_ready(qtbot, window)
    np.testing.assert_array_equal(st.locked, locked)                     # the polygon stays, locked
    assert np.all(st.labels[locked] == 2)
    np.testing.assert_array_equal(st.labels[~locked], st.crf_labels[~locked])   # the rest is the model's
    assert st.follows_model and not np.array_equal(st.labels, painted)

    window.ctl.editor.stack().undo()
    st = wait_ready(qtbot, window)
    np.testing.assert_array_equal(st.labels, painted)
    np.testing.assert_array_equal(st.locked, locked)
    window.ctl.editor.stack().undo()
    st = wait_ready(qtbot, window)
    np.testing.assert_array_equal(st.labels, saved)


def test_the_count_is_the_strokes_in_effect_across_saves_and_revisits(qtbot, window, tmp_path, monkeypatch):
    """Two strokes on img1, Save, one on img2, Save, back to img1 (its locks and undo history come back), Save
    again: still 3 strokes (the revisit used to re-teach and count a 4th). Undo on img1: 2."""
    monkeypatch.setattr(prompts, "ask_unsaved", lambda *a: prompts.DISCARD)
    folder = write_folder(tmp_path / "site", 2, start=FLIPS - 1)
    st = opened(qtbot, window, folder)
    fits = []
    fit = window.ctl.adapt.adapter.fit
    monkeypatch.setattr(window.ctl.adapt.adapter, "fit", lambda *a, **k: fits.append(1) or fit(*a, **k))
    for _ in range(2):
        paint_stroke(window, next_stroke(st.labels, shifted_scene(FLIPS - 1).labels))
        st = wait_ready(qtbot, window)
    assert status(window) == "model adapted on 2 strokes / 1 image"
    assert window.ctl.save()
    wait_ready(qtbot, window)
    assert window.go_to(1)
    wait_image(qtbot, window, 1)
    st = wait_ready(qtbot, window)
    paint_stroke(window, next_stroke(st.labels, shifted_scene(FLIPS).labels))
    wait_ready(qtbot, window)
    assert window.ctl.save()
    wait_ready(qtbot, window)
    assert status(window) == "model adapted on 3 strokes / 2 images" and len(fits) == 3

    assert window.go_to(0)
    st = wait_image(qtbot, window, 0)
    st = wait_ready(qtbot, window)
    assert st.locked.any() and window.ctl.editor.stack().count() == 2    # its strokes came back with it
    assert window.ctl.save()
    wait_ready(qtbot, window)
    assert status(window) == "model adapted on 3 strokes / 2 images" and len(fits) == 3   # not taught again

    window.ctl.editor.stack().undo()
    wait_ready(qtbot, window)
    assert status(window) == "model adapted on 2 strokes / 2 images"


def test_the_eraser_returns_pixels_to_the_model_and_paint_void_teaches_nothing(qtbot, window, tmp_path):
    from gui.menus.help import shortcut_rows

    folder = write_folder(tmp_path / "site", 1, start=FLIPS)
    st = opened(qtbot, window, folder)
    before, gt = st.labels.copy(), shifted_scene(FLIPS).labels
    stroke = next_stroke(before, gt)
    paint_stroke(window, stroke)
    st = wait_ready(qtbot, window)
    assert status(window) == "model adapted on 1 stroke / 1 image"

    window.editing.set_tool("eraser")                  # erase the whole stroke: back to the model, unlocked
    ed = window.ctl.editor
    ed.set_radius(stroke.radius + 2)
    ed.begin_stroke(stroke.points[0], erase=True)
    for p in stroke.points[1:]:
        ed.stroke_to(p)
    ed.end_stroke()
    st = wait_ready(qtbot, window)
    assert not st.locked.any() and not (st.labels == VOID).any()
    assert window.ctl.adapt.head.is_original and status(window) == "model not adapted"   # it taught nothing more
    np.testing.assert_array_equal(st.labels, before)                    # the model's labels again

    window.editing.set_tool("void")
    ed.set_radius(3)
    ed.begin_stroke((20, 20), void=True)
    ed.stroke_to((40, 20))
    ed.end_stroke()
    st = wait_ready(qtbot, window)
    assert st.locked.sum() > 50 and np.all(st.labels[st.locked] == VOID)   # void, locked
    assert status(window) == "model not adapted"                          # and no stroke counted

    rows = {action: keys for _menu, action, keys in shortcut_rows(window)}
    assert rows.get("Eraser") == "E" and rows.get("Paint void") == "V"
