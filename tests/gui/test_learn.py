"""Corrections that teach, in the real window (offscreen): a stroke on a region the demo model is confidently wrong
about flips it; undo restores labels and head together, redo both again; the switch turns it off; the head
carries to the next image (prefetched predictions redone with it) and never touches another image's saved labels;
Reset; Model > Train on saved labels… (finish and cancel) and CRF > Tune on saved labels… (keep the preset)."""
import hashlib
import threading

import numpy as np
import pytest

from engine.demo.annotator import largest_wrong_region, next_stroke
from engine.learn.folder_preset import load_folder_preset, preset_path
from engine.paths import DEMO_V1
from gui.dialogs import prompts
from tests.support.gui_fixtures import close_window, open_window, wait_image, wait_ready
from tests.support.learn_fixtures import gate_learning, opened, paint_stroke, shifted_scene, write_folder

FLIPS = 2       # shifted scene 2: the pale belt is called "plastic bag" with p ~ 0.9 (see test_learn_adapt)


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    w = open_window(tmp_path, backend="fast")
    yield w
    close_window(w, monkeypatch)


def test_a_stroke_flips_the_wrong_region_and_undo_restores_labels_and_head(qtbot, window, tmp_path):
    folder = write_folder(tmp_path / "site", 2, start=FLIPS)
    st = opened(qtbot, window, folder)
    gt = shifted_scene(FLIPS).labels
    before, adapt = st.labels.copy(), window.ctl.adapt
    head0 = adapt.head
    region, cls = largest_wrong_region(before, gt)
    assert head0.is_original and region.mean() > 0.3
    assert window.learn.status_label.text() == "model not adapted"

    paint_stroke(window, next_stroke(before, gt))
    locked = st.locked.copy()
    st = wait_ready(qtbot, window)
    assert (st.labels[region] == cls).mean() > 0.8                 # the similar-looking region followed
    assert np.all(st.labels[locked] == cls)                         # locked pixels never change
    head1 = adapt.head
    assert not head1.is_original and window.learn.status_label.text() == "model adapted on 1 stroke / 1 image"

    window.ctl.editor.stack().undo()
    st = wait_ready(qtbot, window)
    assert adapt.head is head0 and not st.locked.any()              # the head came back with the labels
    np.testing.assert_array_equal(st.labels, before)
    assert window.learn.status_label.text() == "model not adapted"

    window.ctl.editor.stack().redo()
    st = wait_ready(qtbot, window)
    assert adapt.head is head1 and (st.labels[region] == cls).mean() > 0.8


def test_quick_strokes_then_undo_and_redo_give_back_exactly_what_was_shown(qtbot, window, tmp_path):
    """A fast walk: three strokes 20 ms apart (each one's learning superseded by the next), undo, redo: 10 % of the
    labels differed from before the undo, with the same locks. The undo had to fit the head again (no head was
    ever fitted to the first two strokes alone); the redo now restores the head the three strokes taught."""
    folder = write_folder(tmp_path / "site", 2, start=FLIPS)
    st = opened(qtbot, window, folder)
    gt = shifted_scene(FLIPS).labels
    labels = st.labels.copy()
    for _ in range(3):                                             # no waiting between them
        stroke = next_stroke(labels, gt)
        paint_stroke(window, stroke)
        labels = window.ctl.state.edits.labels.copy()
    st = wait_ready(qtbot, window)
    qtbot.waitUntil(lambda: not window.ctl.adapt.learning, timeout=20000)
    st = wait_ready(qtbot, window)
    shown, head3 = st.labels.copy(), window.ctl.adapt.head
    assert head3.strokes == 3
    for step in (window.ctl.editor.stack().undo, window.ctl.editor.stack().redo):
        step()
        wait_ready(qtbot, window)
        qtbot.waitUntil(lambda: not window.ctl.adapt.learning, timeout=20000)
        st = wait_ready(qtbot, window)
    assert window.ctl.adapt.head is head3
    np.testing.assert_array_equal(st.labels, shown)
    undone = window.ctl.editor.stack().undo                        # and the undo again is exact too
    undone()
    after_undo = wait_ready(qtbot, window).labels.copy()
    window.ctl.editor.stack().redo()
    wait_ready(qtbot, window)
    window.ctl.editor.stack().undo()
    st = wait_ready(qtbot, window)
    np.testing.assert_array_equal(st.labels, after_undo)


def test_moving_on_during_a_save_waits_for_the_save(qtbot, window, tmp_path, monkeypatch):
    """A fast walk pressed Ctrl+S, then D 60 ms later, while the save waited for the learning: D moved on inside
    the wait, the save failed with 'Not saved: ... another image was opened' (after a second save had written the
    file). D now takes effect when the save is done."""
    from PySide6.QtCore import QTimer

    from engine.annotate.status import Status
    folder = write_folder(tmp_path / "site", 2, start=FLIPS)
    st = opened(qtbot, window, folder)
    gt = shifted_scene(FLIPS).labels
    paint_stroke(window, next_stroke(st.labels, gt))
    errors, asked = [], []
    window.ctl.error.connect(errors.append)
    monkeypatch.setattr(prompts, "ask_unsaved", lambda *a: asked.append(a) or prompts.DISCARD)
    QTimer.singleShot(60, lambda: window.go(+1))                  # D, inside the save's wait
    assert window.save()
    assert window.ctl.index == 0 and window.ctl.dataset.status(0) == Status.SAVED
    qtbot.waitUntil(lambda: window.ctl.index == 1, timeout=10000)   # then it moves on
    assert not asked and not [e for e in errors if "Not saved" in e], errors


def test_a_save_right_after_a_stroke_saves_what_the_learning_leads_to(qtbot, window, tmp_path):
    """A walk pressed Ctrl+S 0.05 s after a stroke on a 12 MP photo: the save waited for an exact run and wrote
    it, then the stroke's learning arrived, changed 14.8 % of the labels and the image went back to *edited*. The
    save now waits for the learning too: what is saved is what shows once everything settles."""
    from engine.annotate.status import Status
    from engine.io.labels import read_label_png

    folder = write_folder(tmp_path / "site", 2, start=FLIPS)
    st = opened(qtbot, window, folder)
    gt = shifted_scene(FLIPS).labels
    region, cls = largest_wrong_region(st.labels, gt)
    paint_stroke(window, next_stroke(st.labels, gt))
    assert window.ctl.adapt.learning                          # due: it starts after the stroke's CRF answer
    assert window.save()                                       # at once, before any answer came
    st = wait_ready(qtbot, window)
    assert not window.ctl.adapt.head.is_original               # the stroke was learnt, before the save
    assert (st.labels[region] == cls).mean() > 0.8
    assert st.status == Status.SAVED and not window.isWindowModified()
    np.testing.assert_array_equal(read_label_png(folder / "labels" / "img1.png"), st.labels)


def test_leaving_right_after_a_stroke_with_autosave_carries_what_it_taught(qtbot, window, tmp_path):
    """The same walk, with File > Autosave when leaving: D right after a stroke saved the image and cancelled the
    stroke's learning, so the next image showed "model not adapted" and learnt nothing from it."""
    folder = write_folder(tmp_path / "site", 2, start=FLIPS)
    st = opened(qtbot, window, folder)
    gt = shifted_scene(FLIPS).labels
    window.autosave_action.setChecked(True)
    paint_stroke(window, next_stroke(st.labels, gt))
    assert window.go(1)
    st = wait_ready(qtbot, window)
    assert st.index == 1 and window.ctl.dataset[0].label_path.is_file()
    assert window.learn.status_label.text() == "model adapted on 1 stroke / 1 image"


def test_adaptation_learns_in_a_folder_whose_classes_are_in_another_order(qtbot, window, tmp_path):
    """Folder ids differ from the model's channels (remapped by name): the stroke's class is translated to the
    model's channel to learn, and the adapted probabilities come back in the folder's ids."""
    from engine.checkpoints import load_checkpoint
    from engine.labels import VOID
    from tests.support.class_dialogs import answer_mismatch

    folder = write_folder(tmp_path / "site", 1, start=FLIPS)
    names = load_checkpoint(DEMO_V1).spec.class_names
    (folder / "labels").mkdir(exist_ok=True)
    (folder / "labels" / "class_names.txt").write_text(
        "".join(f"{i} {n}\n" for i, n in enumerate(reversed(names))), encoding="utf-8")
    seen = []
    answer_mismatch("remap_button", seen)
    st = opened(qtbot, window, folder)
    assert seen and window.ctl.classes.class_list.names == tuple(reversed(names))
    last = len(names) - 1
    gt = shifted_scene(FLIPS).labels
    gt = np.where(gt == VOID, VOID, last - gt.astype(int)).astype(np.uint8)      # ground truth in folder ids
    before = st.labels.copy()
    region, cls = largest_wrong_region(before, gt)
    paint_stroke(window, next_stroke(before, gt))
    locked = st.locked.copy()
    st = wait_ready(qtbot, window)
    assert not window.ctl.adapt.head.is_original
    assert (st.labels[region] == cls).mean() > 0.8 and np.all(st.labels[locked] == cls)
    assert st.probs.shape[0] == len(names)


def test_the_switch_turns_adaptation_off(qtbot, window, tmp_path):
    folder = write_folder(tmp_path / "site", 1, start=FLIPS)
    window.learn.adapt_action.setChecked(False)
    st = opened(qtbot, window, folder)
    gt = shifted_scene(FLIPS).labels
    region, cls = largest_wrong_region(st.labels, gt)
    paint_stroke(window, next_stroke(st.labels, gt))
    st = wait_ready(qtbot, window)
    assert window.ctl.adapt.head.is_original and (st.labels[region] == cls).mean() < 0.3   # locks only
    assert window.learn.status_label.text() == "adaptation off"
    assert window.settings.value("learn/adapt", type=bool) is False


def test_the_head_carries_over_and_never_touches_saved_labels(qtbot, window, tmp_path, monkeypatch):
    """img1 is saved; a stroke on img2 teaches the head; img3 (prefetched before) is predicted with it; img1's
    labels, on screen and on disk, stay as saved."""
    monkeypatch.setattr(prompts, "ask_unsaved", lambda *a: prompts.DISCARD)
    folder = write_folder(tmp_path / "site", 3, saved=1, start=FLIPS - 1)
    saved_file = folder / "labels" / "img1.png"
    digest = hashlib.sha256(saved_file.read_bytes()).hexdigest()
    st = opened(qtbot, window, folder)
    saved_labels = st.labels.copy()
    st = opened(qtbot, window, folder, index=1)
    gt = shifted_scene(FLIPS).labels
    paint_stroke(window, next_stroke(st.labels, gt))
    st = wait_ready(qtbot, window)
    head = window.ctl.adapt.head
    assert not head.is_original
    qtbot.waitUntil(lambda: window.ctl.prefetch.take(2) is not None and
                    window.ctl.prefetch.take(2).extra is not None and window.ctl.prefetch.take(2).extra.head is head,
                    timeout=20000)                                   # the prefetched img3 was redone with it

    assert window.ctl.save()           # kept (Discard would take back what img2's stroke taught: issue 26)
    assert window.go_to(2)
    st = wait_image(qtbot, window, 2)
    st = wait_ready(qtbot, window)
    pred, adapter = window.ctl.classes.predictor, window.ctl.adapt.adapter
    want = adapter.probs(pred.extract_features(st.image), head, carried=True)   # as carried to an untouched image
    np.testing.assert_allclose(st.probs, want, atol=1e-6)
    assert not np.allclose(st.probs, pred.predict(st.image), atol=1e-3)

    assert window.go_to(0)
    st = wait_image(qtbot, window, 0)
    wait_ready(qtbot, window)
    np.testing.assert_array_equal(st.labels, saved_labels)
    assert hashlib.sha256(saved_file.read_bytes()).hexdigest() == digest
    assert window.file_list.status_text(0) == "saved"


def test_undo_on_an_image_the_head_was_carried_to_gives_back_what_it_showed(qtbot, window, tmp_path, monkeypatch):
    """A walk: an image opened with the head carried (gated where the network is sure), one stroke, Ctrl+Z. The
    head came back, but its probabilities were made ungated, as on the image that taught it: 6.4 % of a 4 MP
    image kept other labels, and the image was marked predicted. Undo now gives back what the image showed."""
    monkeypatch.setattr(prompts, "ask_unsaved", lambda *a: prompts.DISCARD)
    folder = write_folder(tmp_path / "site", 2, start=FLIPS)
    st = opened(qtbot, window, folder)
    paint_stroke(window, next_stroke(st.labels, shifted_scene(FLIPS).labels))
    wait_ready(qtbot, window)
    assert window.ctl.save()
    assert window.go_to(1)
    wait_image(qtbot, window, 1)
    st = wait_ready(qtbot, window)
    adapt = window.ctl.adapt
    carried, shown, probs = adapt.head, st.labels.copy(), st.probs.copy()
    assert not carried.is_original and carried.fitted_on != st.path.name
    ungated = adapt.adapter.probs(adapt.adapter.predictor.extract_features(st.image), carried)
    assert not np.allclose(ungated, probs, atol=1e-3)               # the gate matters on this image
    paint_stroke(window, next_stroke(shown, shifted_scene(FLIPS + 1).labels))
    wait_ready(qtbot, window)
    assert adapt.head is not carried
    window.ctl.editor.stack().undo()
    st = wait_ready(qtbot, window)
    assert adapt.head is carried
    np.testing.assert_allclose(st.probs, probs, atol=1e-6)
    np.testing.assert_array_equal(st.labels, shown)


def test_a_saved_image_replays_its_saved_labels_on_the_next_images(qtbot, window, tmp_path, monkeypatch):
    """After a stroke and Save on img1, what the carried head replays for img1 is every labelled pixel of the
    saved labels, not only the painted ones; the stroke on img2 learns with it."""
    monkeypatch.setattr(prompts, "ask_unsaved", lambda *a: prompts.DISCARD)
    folder = write_folder(tmp_path / "site", 2, start=FLIPS)
    st = opened(qtbot, window, folder)
    gt = shifted_scene(FLIPS).labels
    paint_stroke(window, next_stroke(st.labels, gt))
    st = wait_ready(qtbot, window)
    adapt = window.ctl.adapt
    (_, painted), = adapt.memory.items()
    assert window.ctl.save()
    qtbot.waitUntil(lambda: adapt.memory.items()[0][1] is not painted, timeout=10000)
    (feats, saved), = adapt.memory.items()
    cells = adapt.adapter.targets(feats, st.labels, np.ones(st.labels.shape, bool))
    assert saved.n_locked == cells.n_locked > 5 * painted.n_locked      # all of the saved labels' cells
    np.testing.assert_array_equal(saved.target, cells.target)

    replayed = []
    fit = adapt.adapter.fit
    monkeypatch.setattr(adapt.adapter, "fit", lambda *a, **k: replayed.append(a[5]) or fit(*a, **k))
    assert window.go_to(1)
    wait_image(qtbot, window, 1)
    st = wait_ready(qtbot, window)
    paint_stroke(window, next_stroke(st.labels, shifted_scene(FLIPS + 1).labels))
    wait_ready(qtbot, window)
    assert replayed and [t for _, t in replayed[-1]] == [saved]


def test_reset_puts_the_networks_own_head_back(qtbot, window, tmp_path, monkeypatch):
    folder = write_folder(tmp_path / "site", 1, start=FLIPS)
    st = opened(qtbot, window, folder)
    gt = shifted_scene(FLIPS).labels
    paint_stroke(window, next_stroke(st.labels, gt))
    wait_ready(qtbot, window)
    assert not window.ctl.adapt.head.is_original
    asked = []
    monkeypatch.setattr(prompts, "confirm", lambda *a: asked.append(a) or True)
    window.learn.reset_action.trigger()
    assert asked and "is removed too" in asked[0][2]
    st = wait_ready(qtbot, window)
    assert window.ctl.adapt.head.is_original and window.learn.status_label.text() == "model not adapted"
    np.testing.assert_array_equal(st.probs, window.ctl.classes.predictor.predict(st.image))


def test_reset_also_forgets_the_folders_copy(qtbot, window, tmp_path, monkeypatch):
    """A walk: Reset adaptation, then close and reopen, and the folder's head file brought all of it back."""
    folder = write_folder(tmp_path / "site", 2, start=FLIPS)
    st = opened(qtbot, window, folder)
    paint_stroke(window, next_stroke(st.labels, shifted_scene(FLIPS).labels))
    wait_ready(qtbot, window)
    assert window.save()
    store = window.ctl.learnt.store()
    assert store.path.is_file()
    monkeypatch.setattr(prompts, "confirm", lambda *a: False)          # No: nothing happens
    window.learn.reset_action.trigger()
    assert store.path.is_file() and not window.ctl.adapt.head.is_original
    monkeypatch.setattr(prompts, "confirm", lambda *a: True)
    window.learn.reset_action.trigger()
    wait_ready(qtbot, window)
    assert not store.path.exists() and window.ctl.adapt.head.is_original


def test_carry_off_sets_the_carried_head_aside_and_keeps_it_in_the_folder(qtbot, window, tmp_path, monkeypatch):
    """A walk turned Carry adaptation off on the 8th image of a folder taught by 23 strokes: the status read 'model
    not adapted', turning Carry on again brought nothing back, and the next save overwrote the folder's head with a
    1-stroke one. Now the next images start from the network's own head while Carry is off, the carried head waits
    aside (and stays the folder's), and the images after Carry comes on again get it back."""
    import torch

    monkeypatch.setattr(prompts, "ask_unsaved", lambda *a: prompts.DISCARD)
    folder = write_folder(tmp_path / "site", 3, start=FLIPS)
    st = opened(qtbot, window, folder)
    paint_stroke(window, next_stroke(st.labels, shifted_scene(FLIPS).labels))
    wait_ready(qtbot, window)
    assert window.save()
    adapt, store = window.ctl.adapt, window.ctl.learnt.store()
    taught = adapt.head
    window.learn.carry_action.setChecked(False)
    assert window.go(1)
    st = wait_ready(qtbot, window)
    assert adapt.head.is_original and adapt.carried_head is taught
    assert window.learn.status_label.text() == "model not adapted (Carry off; kept: 1 stroke / 1 image)"
    paint_stroke(window, next_stroke(st.labels, shifted_scene(FLIPS + 1).labels))   # learnt on this image only
    wait_ready(qtbot, window)
    assert not adapt.head.is_original and adapt.carried_head is taught
    assert window.save()
    kept = store.load(len(window.ctl.classes.class_list))             # the folder keeps the carried head
    assert kept.strokes == taught.strokes and kept.images == taught.images
    assert all(torch.equal(a, b) for a, b in zip(kept.tensors, taught.tensors))
    window.learn.carry_action.setChecked(True)
    assert window.go(1)
    wait_ready(qtbot, window)
    assert adapt.head is taught and window.learn.status_label.text() == "model adapted on 1 stroke / 1 image"


def test_a_reopened_folder_replays_its_saved_images_as_the_session_that_taught_it_did(qtbot, window, tmp_path,
                                                                                      monkeypatch):
    """A walk reopened a folder taught by 23 strokes on 6 saved images: the head came back, but nothing was
    replayed, and one 17-px stroke on a nucleus edge took the next images' stroma from IoU 0.99 to 0.04 (0.99 with
    the saved images replayed). A reopened folder's saved images are now read again while the open image is idle,
    and the head replays their labels from the next stroke on."""
    monkeypatch.setattr(prompts, "ask_unsaved", lambda *a: prompts.DISCARD)
    folder = write_folder(tmp_path / "site", 3, start=FLIPS)
    st = opened(qtbot, window, folder)
    paint_stroke(window, next_stroke(st.labels, shifted_scene(FLIPS).labels))
    wait_ready(qtbot, window)
    assert window.save() and window.go(1)
    wait_ready(qtbot, window)
    window.ctl.open_folder(folder)                                  # reopened: the head comes from the file
    adapt = window.ctl.adapt
    qtbot.waitUntil(lambda: window.ctl.state is not None and not adapt.head.is_original, timeout=20000)
    assert len(adapt.memory) == 0
    qtbot.waitUntil(lambda: len(adapt.memory) == 1 and not window.ctl.busy, timeout=30000)
    assert adapt.memory.items(exclude="img1.png") == []             # img1's saved labels, what it replays


def test_train_dialog_saves_a_checkpoint_and_cancel_writes_nothing(qtbot, window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    folder = write_folder(tmp_path / "site", 2, saved=2)
    opened(qtbot, window, folder)
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.No)
    window.learn.train_action.trigger()
    dlg = window.learn.train_dialog
    assert "2 saved images" in dlg.info.text()
    out = tmp_path / "trained.pt"
    dlg.out.setText(str(out))
    dlg.epochs.setValue(1)
    dlg.batch.setValue(2)
    dlg.head.setChecked(True)
    dlg.start()
    qtbot.waitUntil(lambda: bool(asked), timeout=60000)
    assert out.is_file() and "Saved" in dlg.status.text()
    assert dlg.curve.losses and len(dlg.curve.losses) == dlg.progress.maximum()

    cancelled = tmp_path / "cancelled.pt"
    dlg.out.setText(str(cancelled))
    dlg.epochs.setValue(200)
    dlg.start()
    qtbot.waitUntil(lambda: bool(dlg.curve.losses), timeout=60000)   # it is running
    dlg.cancel()
    assert dlg.status.text() == "Cancelled: nothing was written."
    dlg.lane.wait(60000)
    qtbot.wait(50)
    assert not cancelled.exists() and not list(tmp_path.glob(".cancelled.pt.*"))
    dlg.close()


def test_tune_dialog_shows_both_and_keeps_the_folder_preset(qtbot, window, tmp_path, monkeypatch):
    from engine.learn import crf_search
    monkeypatch.setattr(crf_search, "COARSE", {"bi_xy_std": (30.0, 80.0), "bi_rgb_std": (5.0, 13.0),
                                               "bi_w": (4.0, 8.0)})   # a small grid: the search itself is tested
    monkeypatch.setattr(crf_search, "FINE_SIGMA", (1.0,))              # in test_learn_crf_search
    folder = write_folder(tmp_path / "site", 2, saved=2)
    opened(qtbot, window, folder)
    window.learn.tune_action.trigger()
    dlg = window.learn.tune_dialog
    dlg.start()
    qtbot.waitUntil(lambda: dlg.result is not None, timeout=120000)
    res = dlg.result
    assert dlg.table.item(6, 0).text() == f"{res.baseline_miou * 100:.2f}%"
    assert dlg.table.item(6, 1).text() == f"{res.best_miou * 100:.2f}%"
    assert dlg.table.item(2, 1).text() == f"{res.best.bi_w:g}"
    assert res.best_miou > res.baseline_miou and dlg.keep_button.isEnabled()
    dlg.keep()
    assert preset_path(folder).is_file() and load_folder_preset(folder) == res.best
    assert window.crf_panel.preset_name() == "folder" and window.ctl.crf.params == res.best
    dlg.close()
    window.open_folder(folder)                     # opening the folder again picks its preset
    assert window.crf_panel.preset_name() == "folder" and window.crf_panel.params() == res.best
    assert window.crf_panel.preset_box.currentText() == "This folder" and window.ctl.crf.params == res.best

    # a walk: Keep after opening another folder wrote the first folder's values into the second
    window.learn.tune_action.trigger()
    dlg.start()
    qtbot.waitUntil(lambda: dlg.result is not None, timeout=120000)
    other = write_folder(tmp_path / "other", 2, saved=2)
    window.open_folder(other)
    assert dlg.result is None and not dlg.keep_button.isEnabled() and "Another folder" in dlg.status.text()
    dlg.keep()
    assert load_folder_preset(other) is None
    assert window.crf_panel.preset_box.findData("folder") < 0     # no values of its own: not the last folder's
    dlg.close()


def test_tuned_values_are_kept_and_run_as_found_not_rounded_by_the_panel(qtbot, window, tmp_path):
    """A walk: the search's 10.64 ran as 10.6, and a folder kept by `tune-crf --keep` opened as "Custom"."""
    from engine.learn.folder_preset import save_folder_preset

    folder = write_folder(tmp_path / "site", 2, saved=2)
    tuned = window.crf_panel.presets["demo_v1"].replace(bi_w=10.64, bi_rgb_std=19.95, bi_xy_std=93.33)
    save_folder_preset(folder, tuned)
    opened(qtbot, window, folder)
    assert window.crf_panel.params() == tuned and window.ctl.crf.params == tuned
    assert window.crf_panel.preset_box.currentText() == "This folder"


def test_a_pipeline_switch_starts_the_head_again_and_the_locks_reteach_it(qtbot, window, tmp_path):
    """Model > Pipeline gives the network other features: the adapted head starts from the network's own and the
    image's locks teach it once (still '1 stroke'); back on the checkpoint's pipeline the labels are those from
    before the switches, not a head refitted on top of itself each time."""
    folder = write_folder(tmp_path / "site", 1, start=FLIPS)
    st = opened(qtbot, window, folder)
    gt = shifted_scene(FLIPS).labels
    adapt = window.ctl.adapt
    paint_stroke(window, next_stroke(st.labels.copy(), gt))
    qtbot.waitUntil(lambda: not adapt.head.is_original, timeout=20000)
    st = wait_ready(qtbot, window)
    qtbot.waitUntil(lambda: not window.ctl.busy, timeout=20000)
    before = st.labels.copy()
    assert window.learn.status_label.text() == "model adapted on 1 stroke / 1 image"
    for name in ("caffe", "kazuto"):
        window.ctl.loader.set_pipeline(name)
        qtbot.waitUntil(lambda: window.ctl.loader.loaded.spec.pipeline == name, timeout=20000)
        qtbot.waitUntil(lambda: not adapt.head.is_original and not window.ctl.busy, timeout=30000)
        st = wait_ready(qtbot, window)
        assert window.learn.status_label.text() == "model adapted on 1 stroke / 1 image"
    np.testing.assert_array_equal(st.labels, before)


def test_the_strokes_refined_labels_show_before_the_head_learns(qtbot, window, tmp_path, monkeypatch):
    """The stroke's own CRF answer (the current probabilities, the new locks) is shown while the learning step is
    held on a gate the test controls: the answer does not wait for it, and the learning starts only once the
    answer is shown. Let go, the learning brings the similar-looking region."""
    folder = write_folder(tmp_path / "site", 1, start=FLIPS)
    st = opened(qtbot, window, folder)
    gt = shifted_scene(FLIPS).labels
    region, cls = largest_wrong_region(st.labels, gt)
    events, gate = [], threading.Event()
    gate_learning(monkeypatch, gate, events)
    window.ctl.results_changed.connect(lambda: events.append("shown"))
    paint_stroke(window, next_stroke(st.labels, gt))
    assert "learn" not in events and window.ctl.adapt.learning        # due, after the stroke's answer
    qtbot.waitUntil(lambda: "learn" in events, timeout=20000)
    assert events[0] == "shown"                                      # the answer first, then the learning
    assert window.ctl.crf.shown_kind() == "exact" and st.crf_params == window.crf_panel.params()
    np.testing.assert_array_equal(window.presenter.labels()[st.locked], cls)   # the stroke's labels are shown
    assert window.ctl.adapt.head.is_original and (st.labels[region] == cls).mean() < 0.3   # locks only, so far
    gate.set()
    st = wait_ready(qtbot, window)
    assert not window.ctl.adapt.head.is_original and (st.labels[region] == cls).mean() > 0.8


def test_the_first_stroke_before_the_features_are_read_still_teaches(qtbot, window, tmp_path):
    """No features yet when the stroke comes (they are read when the image is ready; here not): the stroke's answer
    is shown, then the features are read and the head learns."""
    folder = write_folder(tmp_path / "site", 1, start=FLIPS)
    window.ctl.crf.exact_ready.disconnect(window.ctl.adapt.idle)
    st = opened(qtbot, window, folder)
    gt = shifted_scene(FLIPS).labels
    region, cls = largest_wrong_region(st.labels, gt)
    kinds = []
    window.ctl.lanes["adapt"].busy_changed.connect(
        lambda busy: busy and kinds.append(window.ctl.lanes["adapt"].current_key.kind))
    paint_stroke(window, next_stroke(st.labels, gt))
    st = wait_ready(qtbot, window)
    assert kinds[:2] == ["features", "adapt"]
    assert not window.ctl.adapt.head.is_original and (st.labels[region] == cls).mean() > 0.8


def test_the_idle_image_warms_the_optimizer_before_the_first_stroke(qtbot, window, tmp_path, monkeypatch):
    """Once the open image is ready its learning lane reads the features and makes torch's first optimizer
    (engine.learn.adapt.warm_up_optimizer: a 2.5 s import), so the first stroke's learning does not pay for it."""
    import gui.session.adaptation as adaptation
    calls = []
    monkeypatch.setattr(adaptation, "warm_up_optimizer", lambda: calls.append(threading.current_thread()))
    folder = write_folder(tmp_path / "site", 1, start=FLIPS)
    opened(qtbot, window, folder)
    qtbot.waitUntil(lambda: bool(calls) and not window.ctl.lanes["adapt"].busy, timeout=60_000)
    assert calls[0] is not threading.main_thread()        # in the lane, never on the GUI thread
