"""Locked pixels as CRF constraints, checked with the reference (pydensecrf) backend on a tiny synthetic image."""
import numpy as np
import pytest

from engine.annotate.edits import EditableLabels
from engine.crf import PRESETS, get_backend
from engine.crf.constraints import enforce_locks, hard_unary_probs, run_constrained
from engine.labels import VOID

H, W = 40, 60


def _scene():
    """Left half red, right half blue; the 'model' is unsure everywhere and slightly prefers class 0."""
    rng = np.random.default_rng(0)
    img = np.empty((H, W, 3), np.uint8)
    img[:, : W // 2] = (200, 40, 40)
    img[:, W // 2:] = (40, 40, 200)
    img = np.clip(img.astype(int) + rng.integers(-3, 4, img.shape), 0, 255).astype(np.uint8)
    probs = np.empty((3, H, W), np.float32)
    probs[:] = np.array([0.50, 0.47, 0.03], np.float32)[:, None, None]
    return img, probs


def test_hard_unary_is_one_hot_on_locked_classes_only():
    probs = np.full((3, 4, 5), 1 / 3, np.float32)
    labels = np.zeros((4, 5), np.uint8)
    labels[0, 0], labels[1, 1], labels[2, 2] = 2, VOID, 1
    locked = np.zeros((4, 5), bool)
    locked[0, 0] = locked[1, 1] = True  # [2,2] is labelled but not locked
    out = hard_unary_probs(probs, labels, locked)
    assert out is not probs and np.allclose(probs, 1 / 3)  # input untouched
    assert np.array_equal(out[:, 0, 0], [0, 0, 1])
    assert np.allclose(out[:, 1, 1], 1 / 3)  # locked void: no unary change
    assert np.allclose(out[:, 2, 2], 1 / 3)  # unlocked: no change
    with pytest.raises(ValueError, match="3 classes"):
        hard_unary_probs(probs, np.full((4, 5), 7, np.uint8), np.ones((4, 5), bool))
    with pytest.raises(ValueError, match="must both be"):
        hard_unary_probs(probs, labels, np.zeros((5, 4), bool))


def test_enforce_locks_restores_annotator_values_including_void():
    crf = np.zeros((3, 3), np.uint8)
    edit = np.array([[1, 255, 0], [2, 2, 2], [0, 0, 0]], np.uint8)
    locked = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 0]], bool)
    out = enforce_locks(crf, edit, locked)
    assert out.tolist() == [[1, 255, 0], [0, 2, 0], [0, 0, 0]]


def test_stroke_propagates_to_similar_colour_and_locked_pixels_never_change():
    img, probs = _scene()
    session = get_backend("reference").session(img)
    params = PRESETS["deeplab-v1"]

    baseline = session.run(probs, params)
    assert np.all(baseline.labels == 0)  # the model alone gets the red object wrong

    edits = EditableLabels(baseline.labels, n_classes=3)
    edits.brush([(5, 10), (15, 10)], 2, 1)             # a short stroke of class 1 on the red half
    edits.brush([(50, 30)], 2, 2)                        # a class the model says is impossible, on blue
    edits.erase([(45, 5)], 1)                            # void on blue
    labels, locked = edits.snapshot()
    assert locked.sum() < 100 and locked[:, : W // 2].mean() < 0.06

    res = run_constrained(session, probs, params, labels, locked)
    red, blue = np.zeros((H, W), bool), np.zeros((H, W), bool)
    red[:, : W // 2], blue[:, W // 2:] = True, True
    assert (res.labels[red] == 1).mean() > 0.97          # the correction spread over the whole red region
    assert np.all(res.labels[blue & ~locked] == 0)       # but not into the equally unsure, differently coloured one
    assert np.array_equal(res.labels[locked], labels[locked])
    assert res.labels[5, 45] == VOID
    assert np.allclose(res.probs[:, 30, 50], [0, 0, 1])

    # the hard unary alone (before enforcement) already holds the painted classes
    raw = session.run(hard_unary_probs(probs, labels, locked), params)
    painted = locked & (labels != VOID)
    assert np.array_equal(raw.labels[painted], labels[painted])


def test_locks_survive_crf_then_a_new_prediction():
    img, probs = _scene()
    session = get_backend("reference").session(img)
    edits = EditableLabels(np.zeros((H, W), np.uint8), n_classes=3)
    edits.brush([(10, 20)], 4, 2)
    edits.erase([(40, 20)], 2)
    labels, locked = edits.snapshot()
    res = run_constrained(session, probs, PRESETS["deeplab-v2"], labels, locked)
    edits.merge_prediction(res.labels)
    new_prediction = np.argmax(probs, axis=0).astype(np.uint8)  # all 0: disagrees with every lock
    edits.merge_prediction(new_prediction)
    assert np.array_equal(edits.labels[locked], labels[locked])
    assert np.all(edits.labels[~locked] == 0)


def test_fast_crf_label_previews_keep_the_locks():
    img, probs = _scene()
    labels = probs.argmax(0).astype(np.uint8)
    locked = np.zeros((H, W), bool)
    labels[5:15, 5:15], locked[5:15, 5:15] = 1, True
    labels[20, 40], locked[20, 40] = VOID, True
    previews = []
    result = run_constrained(get_backend("fast").session(img), probs, PRESETS["deeplab-v1"], labels, locked,
                             on_iteration=lambda i, n, p: previews.append(p() if callable(p) else None))
    shown = [p for p in previews if p is not None]
    assert len(shown) == PRESETS["deeplab-v1"].iterations - 1  # one per unfinished iteration
    for p in shown:
        assert np.array_equal(p[locked], labels[locked])
    assert np.array_equal(result.labels[locked], labels[locked])
