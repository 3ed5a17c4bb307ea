"""Hand-correction tools at the engine level: what each paints, what it locks, and exact undo/redo."""
import numpy as np
import pytest

from engine.annotate.edits import EditableLabels
from engine.labels import VOID


def _model(h=40, w=50, n=21):
    lab = np.zeros((h, w), np.uint8)
    lab[:, w // 2:] = 1
    return EditableLabels(lab, n_classes=n)


def test_brush_paints_disc_locks_it_and_stores_only_its_box():
    m = _model()
    e = m.brush([(10, 10)], radius=3, class_id=7)
    painted = m.labels == 7
    ys, xs = np.nonzero(painted)
    assert painted.sum() > 20 and ys.min() == 7 and ys.max() == 13 and xs.min() == 7 and xs.max() == 13
    assert painted[10, 10] and not painted[7, 7]  # round, not square
    assert np.array_equal(m.locked, painted)
    assert e.box == (7, 7, 14, 14) and e.after_labels.shape == (7, 7)
    assert e.kind == "brush" and e.changed_pixels == painted.sum()


def test_brush_polyline_covers_segment_between_points_and_radius_zero():
    m = _model()
    m.brush([(2, 20), (20, 20)], radius=0, class_id=5)
    assert np.all(m.labels[20, 2:21] == 5) and (m.labels == 5).sum() == 19
    m.brush([(30, 5), (30, 30)], radius=2, class_id=6)
    assert np.all(m.labels[5:31, 28:33] == 6)
    assert m.labels[20, 27] != 6 and m.labels[20, 33] != 6


def test_brush_clips_at_image_border_and_outside_is_noop():
    m = _model(20, 20)
    e = m.brush([(-1, -1), (2, 2)], radius=2, class_id=3)
    assert e.box[0] == 0 and e.box[1] == 0 and m.labels[0, 0] == 3
    rev = m.revision
    e2 = m.brush([(-50, -50)], radius=2, class_id=3)
    assert e2.is_empty and m.revision == rev


def test_paint_void_paints_void_and_locks():
    m = _model()
    e = m.erase([(30, 30)], radius=1)
    assert m.labels[30, 30] == VOID and m.locked[30, 30]
    assert e.kind == "void"


def test_the_eraser_unlocks_back_to_the_model_and_a_stroke_stands_until_erased():
    m = _model()
    model = np.asarray(m.labels).copy()
    stroke = m.brush([(20, 20), (30, 20)], radius=2, class_id=3)
    assert stroke.stands_in(m.labels, m.locked, n_classes=5)
    e = m.unlock([(20, 20)], radius=3, model=model)       # part of it: the rest still stands
    assert e.kind == "eraser" and not m.locked[20, 20] and m.labels[20, 20] == model[20, 20]
    assert stroke.stands_in(m.labels, m.locked, n_classes=5)
    m.unlock([(20, 20), (30, 20)], radius=3, model=model)
    np.testing.assert_array_equal(m.labels, model)        # back to the model's labels, nothing locked
    assert not m.locked.any() and not stroke.stands_in(m.labels, m.locked)
    m.redo(stroke)
    assert stroke.stands_in(m.labels, m.locked)
    m.undo(stroke)
    assert not stroke.stands_in(m.labels, m.locked)
    m.unlock([(5, 5)], radius=0, model=None)               # no model result yet: unlabelled is void
    assert m.labels[5, 5] == VOID and not m.locked[5, 5]
    assert not m.erase([(40, 35)], 1).stands_in(m.labels, m.locked)   # void teaches nothing


def test_flood_fill_takes_4_connected_equal_label_region_only():
    lab = np.zeros((10, 10), np.uint8)
    lab[2:5, 2:5] = 3
    lab[5, 5] = 3           # only diagonal to the block: not 4-connected
    lab[7:9, 7:9] = 3       # a separate island
    m = EditableLabels(lab, n_classes=21)
    e = m.flood_fill((3, 3), 9)
    assert np.all(m.labels[2:5, 2:5] == 9)
    assert m.labels[5, 5] == 3 and np.all(m.labels[7:9, 7:9] == 3)
    assert (m.labels == 9).sum() == 9 and m.locked.sum() == 9
    assert e.box == (2, 2, 5, 5)


def test_polygon_fill_inside_and_edges():
    m = _model()
    m.fill_polygon([(5, 5), (15, 5), (15, 15), (5, 15)], 4)
    assert np.all(m.labels[5:16, 5:16] == 4) and (m.labels == 4).sum() == 121
    m.fill_polygon([(20, 30), (30, 30), (25, 38)], 2)  # lasso-like triangle
    assert m.labels[33, 25] == 2 and m.labels[31, 21] == 2 and m.labels[37, 21] != 2
    with pytest.raises(ValueError, match="at least 3"):
        m.fill_polygon([(0, 0), (3, 3)], 2)


def test_pick_and_class_validation():
    m = _model()
    assert m.pick((1, 1)) == 0 and m.pick((49, 1)) == 1
    with pytest.raises(ValueError, match="outside"):
        m.pick((50, 0))
    with pytest.raises(ValueError, match="out of range"):
        m.brush([(1, 1)], 1, 21)
    with pytest.raises(ValueError, match="0..255"):
        m.brush([(1, 1)], 1, 300)


def test_undo_redo_sequence_restores_every_state_exactly():
    m = _model()
    ops = [
        lambda: m.brush([(3, 3), (30, 20)], 2, 5),
        lambda: m.erase([(25, 20)], 4),
        lambda: m.flood_fill((45, 35), 8),
        lambda: m.fill_polygon([(0, 30), (20, 39), (0, 39)], 2),
        lambda: m.clear_locks(),
    ]
    states, edits = [m.snapshot()], []
    for op in ops:
        edits.append(op())
        states.append(m.snapshot())
    for i in range(len(edits) - 1, -1, -1):
        m.undo(edits[i])
        assert np.array_equal(m.labels, states[i][0]) and np.array_equal(m.locked, states[i][1])
    for i, e in enumerate(edits):
        m.redo(e)
        assert np.array_equal(m.labels, states[i + 1][0]) and np.array_equal(m.locked, states[i + 1][1])
    m.undo(edits[-1])  # undoing "clear locks" brings the locks back
    assert m.locked.sum() > 0 and m.labels[20, 25] == VOID and m.locked[20, 25]


def test_edit_records_are_small_and_readonly():
    m = EditableLabels(np.zeros((1000, 1000), np.uint8), n_classes=21)
    e = m.brush([(500, 500)], 5, 3)
    assert e.nbytes < 1000  # 11x11 box x 4 patches, not 4 MB of copies
    with pytest.raises(ValueError):
        e.after_labels[0, 0] = 1
    with pytest.raises(ValueError):
        m.labels[0, 0] = 1


def test_noop_edit_is_empty():
    m = _model()
    m.brush([(5, 5)], 2, 0)
    again = m.brush([(5, 5)], 2, 0)
    assert again.is_empty and again.changed_pixels == 0


def test_combine_stroke_segments_into_one_undoable_record():
    m = _model()
    before = m.snapshot()
    segs = [m.brush([(2, 2), (10, 2)], 1, 4), m.brush([(10, 2), (10, 30)], 1, 4), m.brush([(10, 30), (2, 2)], 1, 6)]
    after = m.snapshot()
    stroke = m.combine(segs)
    assert stroke.box == (1, 1, 12, 32)
    m.undo(stroke)
    assert np.array_equal(m.labels, before[0]) and np.array_equal(m.locked, before[1])
    m.redo(stroke)
    assert np.array_equal(m.labels, after[0]) and np.array_equal(m.locked, after[1])


def test_merge_prediction_keeps_locked_pixels_including_void():
    m = _model()
    m.brush([(5, 5)], 2, 9)
    m.erase([(40, 30)], 2)
    locked_before = m.locked.copy()
    kept = m.labels.copy()
    new = np.full(m.shape, 12, np.uint8)
    e = m.merge_prediction(new)
    assert np.array_equal(m.labels[locked_before], kept[locked_before])
    assert np.all(m.labels[~locked_before] == 12)
    assert m.labels[30, 40] == VOID
    assert np.array_equal(m.locked, locked_before) and e.kind == "prediction"
    m.undo(e)
    assert np.array_equal(m.labels, kept)


def test_clear_locks_keeps_labels_and_returns_undoable_edit():
    m = _model()
    m.brush([(5, 5), (20, 5)], 2, 9)
    labels = m.labels.copy()
    e = m.clear_locks()
    assert not m.has_locks and np.array_equal(m.labels, labels)
    assert e.box == (3, 3, 23, 8)
    m.merge_prediction(np.zeros(m.shape, np.uint8))
    assert not (m.labels == 9).any()  # unlocked pixels follow the new prediction


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="uint8"):
        EditableLabels(np.zeros((4, 4), np.int32))
    with pytest.raises(ValueError, match="locked mask shape"):
        EditableLabels(np.zeros((4, 4), np.uint8), np.zeros((4, 5), bool))
    m = EditableLabels.blank(4, 6)
    assert m.shape == (4, 6) and np.all(m.labels == VOID)
    with pytest.raises(ValueError, match="prediction must be"):
        m.merge_prediction(np.zeros((6, 4), np.uint8))
