"""ImageState with hand edits (no Qt): locked pixels survive new predictions and CRF results, disk
labels stay put, whole-map replacement, restore after a crash, provenance of what is saved, the lock
overlay and next-unsaved in display order."""
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from engine.annotate.edits import EditableLabels
from engine.annotate.state import ImageState
from engine.crf.params import PRESETS
from engine.display.overlays import lock_rgba
from engine.folder.dataset import Dataset, Status
from engine.io.provenance import make_provenance, write_provenance
from engine.labels import VOID
from engine.project.reconcile import fit_channels


def _state(h=6, w=8):
    return ImageState(index=0, path=Path("/x/cat.jpg"), image=np.zeros((h, w, 3), np.uint8), token=1)


def _probs(winner, h=6, w=8):
    p = np.full((3, h, w), 0.1, np.float32)
    p[winner] = 0.8
    return p


def test_locked_pixels_survive_prediction_and_crf_others_follow():
    st = _state()
    st.set_prediction(_probs(1))
    st.ensure_edits(3).brush([(1, 1)], 0, 2)
    st.ensure_edits().erase([(5, 4)], 0)
    st.note_hand_edit()
    assert st.status == Status.EDITED and st.lock_constraints()[1].sum() == 2
    st.set_crf(_probs(0), np.zeros((6, 8), np.uint8), PRESETS["deeplab-v1"])
    assert st.labels[1, 1] == 2 and st.labels[4, 5] == VOID and st.labels[0, 0] == 0
    st.set_prediction(_probs(1))                          # a new model run: locks kept again
    assert st.labels[1, 1] == 2 and st.labels[4, 5] == VOID and (st.labels[~st.locked] == 1).all()
    assert st.follows_model and st.source == "hand"


def test_disk_labels_do_not_follow_the_model_but_take_edits():
    st = _state()
    disk = np.full((6, 8), 2, np.uint8)
    st.set_saved_labels(disk)
    st.set_prediction(_probs(1))
    assert (st.labels == 2).all() and st.status == Status.SAVED
    st.ensure_edits().brush([(0, 0)], 0, 0)
    st.note_hand_edit()
    st.set_crf(_probs(1), np.ones((6, 8), np.uint8), "p")
    assert st.labels[0, 0] == 0 and (st.labels.ravel()[1:] == 2).all() and st.status == Status.EDITED


def test_set_hand_labels_locks_changes_and_use_model_result_keeps_them():
    st = _state()
    st.set_prediction(_probs(1))
    hand = st.labels.copy()
    hand[2:4, 2:4] = 0
    edit = st.set_hand_labels(hand)
    assert edit.box == (2, 2, 4, 4) and st.locked.sum() == 4 and st.status == Status.EDITED
    st.set_crf(_probs(1), np.ones((6, 8), np.uint8), "p")
    assert (st.labels[2:4, 2:4] == 0).all()
    undo = st.use_model_result()
    assert (st.labels == 1).sum() == 44 and (st.labels[2:4, 2:4] == 0).all() and st.locked.sum() == 4
    assert st.base == "model" and st.follows_model
    st.edits.undo(undo)
    assert (st.labels[2:4, 2:4] == 0).all() and st.locked.sum() == 4


def test_replace_all_variants():
    m = EditableLabels(np.zeros((3, 3), np.uint8))
    m.brush([(0, 0)], 0, 5)
    new = np.full((3, 3), 1, np.uint8)
    e = m.replace_all(new, lock_changed=False, keep_locks=True)
    assert (m.labels == 1).all() and m.locked.sum() == 1 and e.kind == "replace"
    m.replace_all(np.full((3, 3), 1, np.uint8), lock_changed=True, keep_locks=False)
    assert not m.locked.any()                             # nothing changed, nothing locked
    with pytest.raises(ValueError, match="must be"):
        m.replace_all(np.zeros((2, 2), np.uint8))


def test_restore_edits_after_a_crash():
    st = _state()
    labels = np.full((6, 8), 2, np.uint8)
    locked = np.zeros((6, 8), bool)
    locked[0, :3] = True
    st.restore_edits(labels, locked, "disk")
    assert st.dirty and st.base == "disk" and not st.follows_model
    np.testing.assert_array_equal(st.locked, locked)
    with pytest.raises(ValueError, match="do not fit"):
        st.restore_edits(np.zeros((2, 2), np.uint8), np.zeros((2, 2), bool))


def test_provenance_for_model_labels_and_for_edited_disk_labels(tmp_path):
    loaded = SimpleNamespace(spec=SimpleNamespace(name="demo", arch="deeplab_v1_largefov"), sha256="cd" * 32,
                             source_format="deeplab-annotator/1", path=Path("demo.pt"))
    st = _state()
    st.set_prediction(_probs(1))
    st.set_crf(_probs(1), np.ones((6, 8), np.uint8), PRESETS["deeplab-v2"])
    st.ensure_edits(3).brush([(2, 2)], 0, 0)
    rec = st.provenance(loaded, "fast", tmp_path / "cat.png")
    assert rec.model_name == "demo" and rec.crf_backend == "fast" and rec.crf_params["bi_xy_std"] == 67
    assert rec.edited_pixels == 1 and rec.image == "cat.jpg"
    st.set_crf(_probs(1), np.ones((6, 8), np.uint8), PRESETS["deeplab-v1"].replace(iterations=0))
    assert st.provenance(loaded, "fast", tmp_path / "cat.png").crf_params is None   # CRF off

    old_locked = np.zeros((6, 8), bool)
    old_locked[5, 7] = True
    write_provenance(tmp_path / "cat.png", make_provenance(np.ones((6, 8), np.uint8), old_locked, "cat.jpg",
                                                           loaded=loaded, crf_params=PRESETS["deeplab-v1"],
                                                           crf_backend="reference"))
    disk = _state()
    disk.set_saved_labels(np.ones((6, 8), np.uint8))
    disk.ensure_edits(3).brush([(0, 0)], 0, 2)
    rec = disk.provenance(None, "fast", tmp_path / "cat.png")   # the model of the file, not today's
    assert rec.model_name == "demo" and rec.crf_backend == "reference" and rec.crf_params["bi_xy_std"] == 121
    assert rec.edited_pixels == 2 and rec.edited_mask()[0, 0] and rec.edited_mask()[5, 7]


def test_lock_overlay_hatches_only_locked_pixels_and_patches_line_up():
    locked = np.zeros((12, 12), bool)
    locked[2:10, 2:10] = True
    full = lock_rgba(locked)
    assert (full[~locked, 3] == 0).all() and (full[locked, 3] > 0).all()
    assert len(np.unique(full[locked, 3])) == 2            # stripes and the veil between them
    np.testing.assert_array_equal(lock_rgba(locked[3:7, 4:9], 4, 3), full[3:7, 4:9])


def test_next_unsaved_follows_the_display_order(tmp_path):
    for name in ("a", "b", "c", "d"):
        Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(tmp_path / f"{name}.png")
    ds = Dataset(tmp_path)
    ds.set_status(2, Status.SAVED)
    assert ds.next_unsaved(0, [0, 2, 3, 1]) == 3 and ds.next_unsaved(0) == 1
    assert ds.image_id(1) == "b.png" and ds.index_of_id("d.png") == 3 and ds.index_of_id("z.png") is None
    for i in range(4):
        ds.set_status(i, Status.SAVED)
    assert ds.next_unsaved(1, [3, 2, 1, 0]) is None


def test_a_class_count_change_keeps_the_probabilities_frozen_and_the_labels():
    """The folder gained a class the model does not know: the same probabilities with one more channel (at 0) go in
    through ImageState.set_channels, frozen like set_prediction's (the CRF keys them by identity), labels kept."""
    st = ImageState(index=0, path=Path("a.png"), image=np.zeros((6, 8, 3), np.uint8))
    probs = np.random.default_rng(0).random((3, 6, 8)).astype(np.float32)
    st.set_prediction(probs / probs.sum(0))
    labels = st.labels.copy()
    st.set_channels(fit_channels(st.probs, 4))
    assert st.probs.shape == (4, 6, 8) and not st.probs.flags.writeable
    assert not st.probs[3].any() and np.array_equal(st.labels, labels)
