"""A correction on labels read from disk spreads only near itself and only its own class; undoing it (or erasing
it) gives the file's labels back exactly; Use model result keeps the locked pixels."""
import numpy as np

from engine.annotate.spread import corrections, reach_for, spread_mask
from engine.annotate.state import ImageState
from engine.annotate.status import Status

H, W = 40, 200


def _state(disk):
    st = ImageState(index=0, path=None, image=np.zeros((H, W, 3), np.uint8))
    st.set_saved_labels(disk)
    return st


def _probs(labels, n=3):
    p = np.full((n, H, W), 0.1, np.float32)
    for c in range(n):
        p[c][labels == c] = 0.8
    return p


def test_the_spread_takes_only_the_corrected_class_near_the_correction_connected_to_it():
    labels = np.zeros((H, W), np.uint8)
    model = np.zeros((H, W), np.uint8)
    model[:, :150] = 1          # the model says 1 over a long strip...
    model[:, 170:] = 1          # ...and over an island cut off from it
    seeds = np.zeros((H, W), bool)
    seeds[18:22, 10:14] = True
    labels[seeds] = 1
    out = spread_mask(labels, seeds, model, seeds, reach=30)
    assert out[:, 14:44].all() and not out[:, 45:].any()      # within the reach, and no farther
    assert not out[seeds].any()                               # locked pixels are the seeds' own
    model[:, 44] = 2                                           # a cut: the far side no longer touches the seed
    assert not spread_mask(labels, seeds, model, seeds, reach=30)[:, 45:].any()
    assert reach_for(H, W) == 30 and reach_for(10, 10) == 24


def test_a_correction_on_saved_labels_spreads_near_itself_and_undo_gives_the_file_back():
    disk = np.zeros((H, W), np.uint8)
    st = _state(disk)
    model = np.ones((H, W), np.uint8)              # the model says 1 everywhere: it would rewrite the whole file
    st.set_crf(_probs(model), model, "p")
    np.testing.assert_array_equal(st.labels, disk)                 # nothing to spread: the file stands
    stroke = st.edits.brush([(10, 20), (14, 20)], 2, 1)
    st.note_hand_edit()
    assert corrections(st.labels, st.locked, disk).any() and st.spreads
    assert st.follow_corrections()
    reach = reach_for(H, W)
    assert (st.labels[:, :14 + 2 + reach] == 1).all()              # near it: the model's 1
    assert (st.labels[:, 14 + 3 + reach:] == 0).all()              # farther: the file's 0
    assert st.status == Status.EDITED
    st.edits.undo(stroke)
    st.note_hand_edit()
    assert st.follow_corrections() and st.spread is None
    np.testing.assert_array_equal(st.labels, disk)                 # exactly the file again
    assert st.status == Status.SAVED and not st.spreads

    st.edits.redo(stroke)                                          # the stroke again, and a confirming one (the
    st.edits.brush([(100, 20)], 2, 0)                              # file's class), which does not spread
    assert st.follow_corrections() and st.locked[20, 100]
    assert (st.labels[:, :14 + 2 + reach] == 1).all() and (st.labels[:, 14 + 3 + reach:] == 0).all()


def test_use_model_result_keeps_the_locked_pixels():
    disk = np.zeros((H, W), np.uint8)
    st = _state(disk)
    model = np.ones((H, W), np.uint8)
    st.set_crf(_probs(model), model, "p")
    st.edits.fill_polygon([(100, 5), (120, 5), (120, 15), (100, 15)], 2)
    locked = st.locked.copy()
    edit = st.use_model_result()
    assert st.follows_model and np.all(st.labels[locked] == 2) and np.array_equal(st.locked, locked)
    assert np.all(st.labels[~locked] == 1)
    st.edits.undo(edit)
    assert np.all(st.labels[~locked] == 0)


def test_a_correction_never_spreads_over_pixels_a_person_edited_in_the_file():
    """Imported labels (every pixel a person's, by their provenance) or the strokes of an earlier session: a new
    correction spreads only over the file's other pixels, not a rectangle of someone's drawing."""
    disk = np.zeros((H, W), np.uint8)
    hand = np.zeros((H, W), bool)
    hand[:, 30:60] = True                          # a band someone painted in an earlier session
    st = ImageState(index=0, path=None, image=np.zeros((H, W, 3), np.uint8))
    st.set_saved_labels(disk, hand=hand)
    model = np.ones((H, W), np.uint8)
    st.set_crf(_probs(model), model, "p")
    st.edits.brush([(10, 20), (14, 20)], 2, 1)
    st.note_hand_edit()
    assert st.follow_corrections()
    assert (st.labels[:, 17:30] == 1).all()        # the file's other pixels near it take the model's class...
    assert (st.labels[:, 30:60] == 0).all()        # ...a person's stay, and the spread stops at them
    assert (st.labels[:, 60:] == 0).all()          # (beyond them it is no longer connected)
    imported = ImageState(index=0, path=None, image=np.zeros((H, W, 3), np.uint8))
    imported.set_saved_labels(disk, hand=np.ones((H, W), bool))   # an import: every pixel a person's
    imported.set_crf(_probs(model), model, "p")
    imported.edits.brush([(10, 20), (14, 20)], 2, 1)
    imported.note_hand_edit()
    imported.follow_corrections()
    assert int((imported.labels == 1).sum()) == int(imported.locked.sum())   # only the stroke itself
