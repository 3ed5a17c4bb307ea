"""Label pruning (engine.crf.fast.prune): classes with negligible probability everywhere leave the CRF, and the
solution stays within the stated bound of the full solve; a stroke of a pruned class still shows it."""
import numpy as np
import pytest

from engine.crf import PRESETS
from engine.crf.compact import CompactProbs
from engine.crf.fast import FastBackend
from engine.crf.fast.prune import PRUNE_MASS, negligible_labels
from engine.crf.reference import pydensecrf_refine
from tests.support.crf_probs import clear_crf_caches, random_probs
from tests.support.crf_scenes import synthetic_photo

BOUND = PRUNE_MASS   # max |dQ| against the full solve, as docs/crf.md states it


def faint_probs(c, present, h, w, seed=0):
    """A network-like softmax with `present` likely classes and c - present faint ones whose probabilities are
    small but unequal (1.2e-5 .. 3e-5 at their peaks, a few below the 1e-5 clip), as a trained network leaves the
    classes an image lacks."""
    rng = np.random.default_rng(seed)
    p = random_probs(present, h, w, seed=seed)
    faint = []
    for k in range(c - present):
        peak = rng.uniform(1.2e-5, 3e-5) if k < 12 else 10 ** rng.uniform(-7, -5.1)
        field = random_probs(2, h, w, seed=seed + 100 + k)[0]
        faint.append(peak * field / field.max())
    faint = np.stack(faint).astype(np.float32)
    p = p * (1 - faint.sum(0, keepdims=True))
    return np.concatenate([p, faint]).astype(np.float32)


@pytest.fixture(scope="module")
def scene():
    h, w = 90, 130
    return synthetic_photo(h, w, 5), faint_probs(21, 4, h, w, seed=3)


def test_pruned_classes_are_the_least_likely_and_their_mass_is_bounded(scene):
    _, probs = scene
    pruned = negligible_labels(probs)
    assert pruned[4:].sum() >= 10 and not pruned[:4].any()      # most faint ones go, no likely one
    assert float(probs[pruned].sum(0).max()) <= PRUNE_MASS       # the stated bound, at every pixel
    peaks = probs.reshape(21, -1).max(1)
    kept_faint = peaks[4:][~pruned[4:]]
    if kept_faint.size:                                          # taken from the least likely up
        assert peaks[pruned].max() <= kept_faint.min()
    assert not negligible_labels(probs, mass=0).any()
    assert not negligible_labels(random_probs(5, 40, 50, seed=1)).any()   # every class likely somewhere: none


def test_pruned_classes_share_their_mean_probability_so_their_sum_is_kept(scene):
    """prune.rest_prior: each pruned class's prior is the log of the pruned classes' mean (clipped) probability at
    that pixel, so together they keep the mass they had; a crop gets the whole image's values bit for bit, and
    float16 probabilities give what their float32 values give."""
    from engine.crf.fast.prune import rest_prior
    from engine.crf.unary import PROB_CLIP
    _, probs = scene
    pruned = negligible_labels(probs)
    row = rest_prior(probs, pruned).reshape(probs.shape[1:])
    total = np.zeros(probs.shape[1:], np.float32)
    for k in np.flatnonzero(pruned):                 # numpy's float32 arithmetic, in class order
        total += np.clip(probs[k].astype(np.float32), PROB_CLIP, 1.0)
    assert np.array_equal(row, np.log(total / np.float32(pruned.sum())))
    np.testing.assert_allclose(np.exp(row) * pruned.sum(), np.clip(probs[pruned], PROB_CLIP, 1.0).sum(0), rtol=1e-5)
    crop = probs[:, 20:50, 30:70]
    assert np.array_equal(rest_prior(crop, pruned).reshape(30, 40), row[20:50, 30:70])
    half = probs.astype(np.float16)
    assert np.array_equal(rest_prior(half, pruned), rest_prior(half.astype(np.float32), pruned))


def test_a_pruned_run_is_within_the_bound_of_the_full_solve(scene):
    img, probs = scene
    params = PRESETS["deeplab-v1"].replace(bi_xy_std=20.0)
    clear_crf_caches()
    full_session = FastBackend(device="cpu", prune_mass=0).session(img)
    full = full_session.run(probs, params)
    pruned_session = FastBackend(device="cpu").session(img)
    pruned = pruned_session.run(probs, params)
    assert pruned_session.last_stats["groups"] <= full_session.last_stats["groups"] - 4   # fewer channels solved
    assert float(np.abs(pruned.probs - full.probs).max()) <= BOUND
    assert (pruned.labels == full.labels).mean() >= 0.999
    ref = pydensecrf_refine(img, probs, params)                   # the full solve is pydensecrf's
    assert float(np.abs(full.probs - ref).max()) <= 1e-4
    assert float(np.abs(pruned.probs - ref).max()) <= BOUND + 1e-4


def test_a_stroke_of_a_pruned_class_shows_it_and_the_window_matches_a_whole_run(scene):
    img, probs = scene
    h, w = img.shape[:2]
    params = PRESETS["deeplab-v1"].replace(bi_xy_std=15.0)
    clear_crf_caches()
    session = FastBackend(device="cpu").session(img)
    base = session.run(probs, params, capture=True)
    solution = session.solution()
    target = int(np.flatnonzero(negligible_labels(probs))[-1])
    box = (60, 40, 80, 52)
    edit, locked = base.labels.copy(), np.zeros((h, w), bool)
    locked[box[1]:box[3], box[0]:box[2]] = True
    edit[locked] = target
    result = session.refine_local(solution, probs, box, locks=(edit, locked))
    x0, y0, x1, y1 = result.box
    assert (result.labels[locked[y0:y1, x0:x1]] == target).all()
    whole = session.run(probs, params, locks=(edit, locked))
    assert (whole.labels[locked] == target).all()
    assert (result.labels == whole.labels[y0:y1, x0:x1]).mean() >= 0.995


@pytest.mark.parametrize("half", [False, True])
def test_streamed_runs_prune_the_same_classes_bit_for_bit(scene, monkeypatch, half):
    """Large images run streamed (stream.py): the same pruning, the same Q as the in-memory engine."""
    from engine.crf.fast import session as session_mod
    from engine.crf.fast import stream
    img, probs = scene
    probs = probs.astype(np.float16) if half else probs
    params = PRESETS["deeplab-v1"].replace(bi_xy_std=20.0)
    h, w = img.shape[:2]
    locked = np.zeros((h, w), bool)
    locked[30:40, 50:70] = True
    target = int(np.flatnonzero(negligible_labels(probs))[-1])
    locks = (np.where(locked, target, 0).astype(np.uint8), locked)   # a stroke of a pruned class
    clear_crf_caches()
    in_memory = FastBackend(device="cpu").session(img)
    want = in_memory.run(probs, params, locks=locks)
    monkeypatch.setattr(session_mod, "BIG_BYTES", 0)
    monkeypatch.setattr(stream, "TILE", 1024)
    clear_crf_caches()
    streamed = FastBackend(device="cpu").session(img)
    got = streamed.run(probs, params, locks=locks)
    assert streamed.last_stats["mode"] != in_memory.last_stats["mode"]      # it did run streamed
    assert streamed.last_stats["groups"] == in_memory.last_stats["groups"] < 21
    assert np.array_equal(got.probs, want.probs) and np.array_equal(got.labels, want.labels)
    assert (got.labels[locked] == target).all()
    compact = streamed.run(probs, params, locks=locks, compact=True)   # a plane per label group, not per class
    assert compact.probs.n_planes <= streamed.last_stats["groups"] + 1 < 21   # (+ the locked class's own)
    assert np.array_equal(compact.probs.codes, CompactProbs.encode(got.probs))


@pytest.mark.parametrize("big_bytes", [0, 500_000])
def test_a_streamed_run_too_wide_for_its_memory_prunes_more_within_the_stated_bound(monkeypatch, big_bytes):
    """Faint classes above 1e-4 (a 182-class model's absent ones): a streamed run whose vertex buffers would pass
    STREAM_BYTES prunes at the next mass of PRUNE_LADDER, says so, and stays within that mass of the full solve; a
    stroke's window on that solution keeps its width (the window prunes at the solution's mass). big_bytes
    500000: the 21-class prior (1.1 MB) runs streamed, the pruned one (0.37 MB) is small enough to hold."""
    from engine.crf.fast import session as session_mod
    from engine.crf.fast import stream
    from engine.crf.fast.prune import PRUNE_LADDER
    h, w = 90, 130
    img = synthetic_photo(h, w, 5)
    rng = np.random.default_rng(7)
    p = random_probs(4, h, w, seed=7)
    faint = []
    for k in range(17):   # peaks 2e-5 .. 5e-4: together about 4e-3 at most, most above the default 1e-4
        field = random_probs(2, h, w, seed=200 + k)[0]
        faint.append(10 ** rng.uniform(-4.7, -3.3) * field / field.max())
    faint = np.stack(faint).astype(np.float32)
    probs = np.concatenate([p * (1 - faint.sum(0, keepdims=True)), faint]).astype(np.float32)
    params = PRESETS["deeplab-v1"].replace(bi_xy_std=20.0)
    monkeypatch.setattr(session_mod, "BIG_BYTES", big_bytes)
    monkeypatch.setattr(stream, "TILE", 1024)
    clear_crf_caches()
    full = FastBackend(device="cpu", prune_mass=0).session(img).run(probs, params)
    roomy = FastBackend(device="cpu").session(img)
    default = roomy.run(probs, params)
    assert roomy.last_stats["prune_mass"] == PRUNE_MASS and roomy.last_stats["groups"] > 8   # fits: as before
    assert "left the CRF" not in default.note
    monkeypatch.setattr(session_mod, "STREAM_BYTES", 0)   # no width fits: the last rung
    clear_crf_caches()
    tight = FastBackend(device="cpu").session(img)
    got = tight.run(probs, params, capture=True)
    mass = PRUNE_LADDER[-1]
    assert tight.last_stats["prune_mass"] == mass and tight.last_stats["pruned"] == 17
    assert tight.last_stats["mode"] == ("streamed" if big_bytes == 0 else "shared")
    assert tight.last_stats["groups"] == 5 and f"17 faint classes, under {mass:g} together, left the CRF" in got.note
    assert float(np.abs(got.probs - full.probs).max()) <= mass   # the bound docs/crf.md states
    # the pruned classes keep their combined mass (prune.rest_prior), so the kept ones hardly move: 8e-7 here,
    # where giving the pruned ones probability 0 moved them by 1e-3 (the faint classes' mass, up to 2.2e-3)
    assert float(np.abs(got.probs[:4] - full.probs[:4]).max()) <= 1e-5
    assert (got.labels == full.labels).mean() >= 0.999
    solution = tight.solution()
    width = solution.trajectory[0][0].shape[1]
    assert solution.prune_mass == mass
    box = (60, 40, 80, 52)
    edit, locked = got.labels.copy(), np.zeros((h, w), bool)
    locked[box[1]:box[3], box[0]:box[2]] = True
    edit[locked] = 2
    result = tight.refine_local(solution, probs, box, locks=(edit, locked))
    assert solution.trajectory[0][0].shape[1] == width                # no faint class came back as its own row
    x0, y0, x1, y1 = result.box
    whole = tight.run(probs, params, locks=(edit, locked))
    assert (result.labels == whole.labels[y0:y1, x0:x1]).mean() >= 0.995
