"""engine.crf.interactive without Qt: the policy (preview / local / exact), downscaled previews, compact
probabilities, dirty regions, and the queue of pasted windows."""
import numpy as np
import pytest

from engine.crf import CRFParams
from engine.crf.interactive import CompactProbs, Downscaled, InteractiveCRF, dirty_box, downscale, refiner
from engine.crf.runner import CRFRunner
from tests.support.crf_probs import random_probs
from tests.support.crf_scenes import synthetic_photo

PARAMS = CRFParams(pos_w=3, pos_xy_std=2, bi_w=5, bi_xy_std=8, bi_rgb_std=8, iterations=5)


def test_downscaled_copy_fits_the_budget_and_scales_the_kernels():
    g = Downscaled.for_image(2000, 3000)
    assert g.small[0] * g.small[1] <= downscale.PREVIEW_PIXELS and g.text == "preview 1/5 resolution"
    assert Downscaled.for_image(300, 400).is_identity
    small = g.params(CRFParams(3, 2, 4, 121, 5, 10))
    assert small.bi_xy_std == pytest.approx(121 * g.scale) and small.bi_rgb_std == 5 and small.pos_w == 3
    assert small.pos_xy_std == 0.5  # 2 px * 0.2 is below the panel's smallest width
    g = Downscaled.for_image(100, 120, budget=3000)
    probs = random_probs(4, 100, 120, 1)
    sp = g.probs(probs)
    assert sp.shape == (4,) + g.small and np.allclose(sp.sum(0), 1, atol=1e-5)
    labels, locked = np.zeros((100, 120), np.uint8), np.zeros((100, 120), bool)
    locked[10:12, 5:90] = True  # a thin stroke vanishes at the small size ...
    labels[locked] = 3
    up = g.upscale_labels(np.zeros(g.small, np.uint8), (labels, locked))
    assert up.shape == (100, 120) and (up[locked] == 3).all() and (up[~locked] == 0).all()  # ... not when shown


def test_probabilities_are_kept_as_float16_for_large_images_and_wide_label_sets():
    assert refiner.probs_dtype(3000, 4000, 5) == {"dtype": np.float16}            # 12 MP: by pixels
    assert refiner.probs_dtype(1500, 2000, 21) == {}                               # 3 MP x 21: 252 MB float32
    assert refiner.probs_dtype(1500, 2000, 182) == {"dtype": np.float16}          # 3 MP x 182: 2.2 GB float32
    assert refiner.probs_dtype(1000, 1000, 182) == {}                              # 1 MP x 182: 0.7 GB
    assert refiner.probs_dtype(1500, 2000) == {}                                   # (classes unknown: by pixels)


def test_half_probabilities_scale_down_as_their_float32_values_do():
    """A preview widens float16 probabilities plane by plane (on torch's threads): the same small copy as the
    float32 values give, bit for bit, and class sums still one."""
    g = Downscaled.for_image(700, 900, budget=20_000)
    half = random_probs(5, 700, 900, seed=4).astype(np.float16)
    small = g.probs(half)
    assert small.dtype == np.float32 and small.shape == (5,) + g.small
    assert np.array_equal(small, g.probs(half.astype(np.float32)))
    assert np.abs(small.sum(0) - 1).max() < 5e-3   # (float16 rounding of each class)


def test_compact_probs_are_bytes_and_read_back_within_half_a_step():
    probs = random_probs(5, 40, 50, 2)
    cp = CompactProbs(probs)
    assert cp.nbytes == probs.size + 5 * 4 and len(cp) == 5 and cp.shape == probs.shape   # (+ plane_of)
    assert np.abs(cp[2] - probs[2]).max() <= 0.5 / 255 + 1e-7
    assert np.abs(np.asarray(cp) - probs).max() <= 0.5 / 255 + 1e-7
    cp.paste((10, 5, 20, 15), np.ones((5, 10, 10), np.float32))
    assert (cp[0][5:15, 10:20] == 1).all() and (cp[0][:5] != 1).any()


def test_compact_probs_share_planes_of_equal_classes_and_split_them_on_writes():
    """Absent classes share one zero plane; a grouped store (the CRF's label groups) holds a plane per group; a
    paste or a lock that makes two classes of a plane differ gives them their own; reading is per class."""
    probs = np.zeros((40, 30, 20), np.float32)
    probs[3], probs[7] = 0.25, 0.75
    cp = CompactProbs(probs)
    assert cp.n_planes == 3 and cp.nbytes < 4 * 30 * 20 + 40 * 4   # 40 classes, 3 planes
    assert np.array_equal(np.asarray(cp), np.round(probs * 255) / 255) and cp[:, 4, 5].shape == (40,)
    assert np.array_equal(cp[:, 4, 5], np.asarray(cp)[:, 4, 5]) and cp[[7, 3, 0], 2:4].shape == (3, 2, 20)
    assert np.array_equal(cp[(1, 2), 1, 2:5], np.zeros((2, 3), np.float32))

    win = np.zeros((40, 5, 5), np.float32)
    win[3], win[9] = 0.5, 0.5          # class 9 (a zero-plane class) turns up in the window
    cp.paste((2, 3, 7, 8), win)
    assert cp.n_planes == 4 and (cp[9][3:8, 2:7] == 128 / 255).all() and not cp[10].any() and not cp[9][:3].any()
    assert np.array_equal(cp.codes[3, 3:8, 2:7], np.full((5, 5), 128, np.uint8))

    grouped, block = CompactProbs.grouped(np.array([0, 1, 1, 2, 1], np.int32), (4, 5))
    assert block.shape == (3, 20) and grouped.shape == (5, 4, 5)
    block[:] = [[0], [10], [245]]
    grouped.lock(np.array([0, 6]), np.array([2, 4]))   # classes 2 and 4 share group 1 with class 1
    assert grouped.n_planes == 5
    assert grouped.codes[:, 0, 0].tolist() == [0, 0, 255, 0, 0] and grouped.codes[:, 1, 1].tolist() == [0, 0, 0, 0, 255]
    assert grouped.codes[:, 3, 4].tolist() == [0, 10, 10, 245, 10]


def test_compact_probs_change_channel_count_plane_by_plane():
    """fit_channels of a compact result (a class added or removed): new classes at 0, the kept ones renormalised,
    with no float32 (C, H, W) array and the planes still shared."""
    from engine.project.reconcile import fit_channels
    probs = np.zeros((6, 8, 9), np.float32)
    probs[0], probs[1], probs[5] = 0.2, 0.2, 0.6
    cp = CompactProbs(probs)
    more = fit_channels(cp, 8)
    assert more.shape == (8, 8, 9) and more.n_planes == cp.n_planes + 1 and not more[7].any()
    assert np.array_equal(np.asarray(more)[:6], np.asarray(cp))
    fewer = fit_channels(cp, 3)
    assert fewer.shape == (3, 8, 9) and fewer.n_planes == 3   # (classes 0, 1 and the zero plane of 2)
    assert np.allclose(np.asarray(fewer), fit_channels(np.asarray(cp), 3), atol=0.5 / 255 + 1e-6)


def test_dirty_regions_as_a_box_boxes_or_a_mask():
    assert dirty_box((3, 4, 10, 12)) == (3, 4, 10, 12)
    assert dirty_box([(3, 4, 10, 12), (20, 1, 25, 5)]) == (3, 1, 25, 12)
    mask = np.zeros((30, 40), bool)
    mask[5:7, 8:30] = True
    assert dirty_box(mask) == (8, 5, 30, 7)
    assert dirty_box(np.zeros((3, 3), bool)) is None and dirty_box(None) is None and dirty_box([]) is None


@pytest.fixture
def interactive(monkeypatch):
    monkeypatch.setattr(downscale, "PREVIEW_PIXELS", 4000)
    monkeypatch.setattr(refiner, "LOCAL_MIN_PIXELS", 1000)
    img = synthetic_photo(90, 120, 7)
    probs = random_probs(4, 90, 120, 8, absent=1)
    probs.flags.writeable = False
    runner = CRFRunner("fast")
    yield InteractiveCRF(img, runner, "img"), probs
    runner.close()


def test_the_plan_follows_size_settings_and_what_is_known(interactive):
    it, probs = interactive
    assert it.plan(PARAMS, probs) == refiner.Plan("preview", exact_after=True)
    assert it.plan(PARAMS, probs, region=(10, 10, 20, 20)).first == "preview"  # no solution yet
    assert it.plan(PARAMS.replace(iterations=0), probs).first == "exact"
    preview = it.preview(probs, PARAMS)
    assert preview.kind.startswith("preview 1/") and preview.labels.shape == (90, 120) and preview.probs is None
    exact = it.exact(probs, PARAMS)
    assert exact.kind == "exact" and it.solution is not None
    assert it.plan(PARAMS, probs, region=(10, 10, 20, 20)) == refiner.Plan("local", exact_after=True, idle=True)
    assert it.plan(PARAMS.replace(bi_w=6), probs, region=(10, 10, 20, 20)).first == "preview"  # other settings
    other = probs.copy()
    assert it.plan(PARAMS, other, region=(10, 10, 20, 20)).first == "preview"  # other probabilities
    it.forget_solution()
    assert it.plan(PARAMS, probs, region=(10, 10, 20, 20)).first == "preview"
    small = InteractiveCRF(synthetic_photo(40, 50, 1), it.runner, "small")
    assert small.plan(PARAMS, random_probs(4, 40, 50, 1), region=(1, 1, 5, 5)).first == "exact"


def test_a_preview_leaves_faint_classes_out_of_its_crf(interactive, monkeypatch):
    """A preview (downscaled, an approximation) prunes classes under PREVIEW_PRUNE_MASS together: a wide model's
    preview is then as quick as a narrow one's (182 classes: 9.5 -> 0.27 s measured), its labels as before."""
    from engine.crf.fast import FastBackend
    it, probs = interactive
    rng = np.random.default_rng(3)
    faint = np.stack([10 ** rng.uniform(-3.6, -3.1) * random_probs(2, 90, 120, seed=50 + k)[0] for k in range(12)])
    wide = np.concatenate([probs * (1 - faint.sum(0, keepdims=True)), faint]).astype(np.float32)
    assert faint.sum(0).max() < refiner.PREVIEW_PRUNE_MASS and faint.max() > 1e-4   # (the default prunes none)
    from engine.crf.fast.history import HISTORIES
    held = HISTORIES.used
    sessions = []
    real = FastBackend.session
    monkeypatch.setattr(FastBackend, "session", lambda self, image: sessions.append(real(self, image)) or sessions[-1])
    pruned = InteractiveCRF(it.image, it.runner, "wide").preview(wide, PARAMS)
    stats = sessions[-1].last_stats
    assert stats["prune_mass"] == refiner.PREVIEW_PRUNE_MASS and stats["pruned"] >= 12   # (and the absent one)
    assert stats["mode"] != "streamed" and HISTORIES.used == held   # in memory, and no iteration history kept
    monkeypatch.setattr(refiner, "PREVIEW_PRUNE_MASS", 1e-4)
    full = InteractiveCRF(it.image, it.runner, "wide").preview(wide, PARAMS)
    assert sessions[-1].last_stats["groups"] >= stats["groups"] + 12
    assert (pruned.labels == full.labels).mean() >= 0.999


def test_local_windows_queue_until_taken_and_an_exact_run_clears_them(interactive):
    it, probs = interactive
    base = it.exact(probs, PARAMS)
    labels, locked = base.labels.copy(), np.zeros((90, 120), bool)
    locked[40:46, 50:60] = True
    labels[locked] = 3
    first = it.local(probs, PARAMS, (50, 40, 60, 46), (labels, locked))
    assert first is not None and first.kind == "local"
    assert it.solution.kind == "exact"  # the window is pasted into the solution by the next call, not before
    locked[60:64, 20:30] = True
    labels[60:64, 20:30] = 1
    second = it.local(probs, PARAMS, [(20, 60, 30, 64)], (labels, locked))
    assert it.solution.kind == "local" and it.solution.windows == 1
    assert [w.box for w in it.pending()] == [first.box, second.box] and it.pending() == []
    assert it.local(probs, PARAMS, (0, 0, 120, 90), (labels, locked)) is None  # most of the image
    it.local(probs, PARAMS, (50, 40, 60, 46), (labels, locked))
    it.exact(probs, PARAMS, (labels, locked))
    assert it.pending() == [] and it.solution.kind == "exact"


def test_new_probabilities_in_part_of_the_image_are_refined_in_a_window_there(interactive):
    """A head adaptation changes the probabilities where it flipped labels: a window re-solves them there, close
    to a whole-image run on the new probabilities, and the next stroke can start from it."""
    from engine.crf.fast import FastBackend

    it, probs = interactive
    it.exact(probs, PARAMS)
    new = probs.copy()
    new[:, 40:50, 50:62] = 0.02
    new[3, 40:50, 50:62] = 0.94
    new.flags.writeable = False
    box = (50, 40, 62, 50)
    assert it.plan(PARAMS, new, region=box).first == "preview"  # not said to be a partial change: a new prediction
    assert it.plan(PARAMS, new, region=box, probs_changed=True) == refiner.Plan("local", exact_after=True, idle=True)
    assert it.plan(PARAMS, new, region=(0, 0, 120, 80), probs_changed=True).first == "preview"  # most of the image
    window = it.local(new, PARAMS, box)
    assert window is not None and window.kind == "local"
    x0, y0, x1, y1 = window.box
    assert x0 <= 50 and y0 <= 40 and x1 >= 62 and y1 >= 50 and (x1 - x0) * (y1 - y0) < 90 * 120
    whole = FastBackend(device="cpu").session(it.image).run(new, PARAMS).labels
    agree = float(np.mean(window.labels == whole[y0:y1, x0:x1]))
    assert agree >= 0.995, agree
    assert (window.labels[40 - y0:50 - y0, 50 - x0:62 - x0] == 3).mean() > 0.9  # the change itself shows
    newer = new.copy()                                          # yet other probabilities (the next learning step)
    newer[3, 10:20, 10:20] = 0.9
    newer.flags.writeable = False
    assert it.plan(PARAMS, newer, region=(10, 10, 20, 20), probs_changed=True).first == "preview"  # mixed now:
    it.exact(new, PARAMS)                                       # with other ones, the exact run comes first
    assert it.plan(PARAMS, new, region=(10, 10, 20, 20)).first == "local"


def test_after_a_window_on_new_probabilities_the_next_strokes_windows_hold_the_image_as_the_solution_has_it(
        interactive):
    """A big-photo walk: after a stroke's learning re-solved its window with the head's new probabilities, a second
    stroke during the next exact run got a 1/7-resolution preview, not its window (the solution was 'mixed'). The
    next windows now go on with those probabilities, each held against what the solution holds: the old ones,
    and the new ones where an earlier window put them in (window.HeldProbs). Each agrees with a whole-image run on
    the new probabilities as closely as the first window does."""
    from engine.crf.fast import FastBackend

    it, probs = interactive
    it.exact(probs, PARAMS)
    new = probs.copy()                  # the head changed two places: one around the stroke, one far from it
    for ys, xs in ((slice(40, 50), slice(50, 62)), (slice(8, 20), slice(8, 22))):
        new[:, ys, xs] = 0.02
        new[3, ys, xs] = 0.94
    new.flags.writeable = False
    whole = FastBackend(device="cpu").session(it.image).run(new, PARAMS).labels
    first = it.local(new, PARAMS, (50, 40, 62, 50))          # the learning's window, around the stroke
    assert first is not None and it.plan(PARAMS, new, region=(8, 8, 22, 20)).first == "local"
    for box in ((8, 8, 22, 20), (46, 36, 70, 56)):          # a stroke far away, then one over the first window
        window = it.local(new, PARAMS, box)
        assert window is not None and window.kind == "local"
        x0, y0, x1, y1 = window.box
        agree = float(np.mean(window.labels == whole[y0:y1, x0:x1]))
        assert agree >= 0.995, (box, agree)
    assert (window.labels[40 - y0:50 - y0, 50 - x0:62 - x0] == 3).mean() > 0.9


def test_a_capturing_run_for_other_settings_does_not_hold_the_old_solution(interactive):
    """Its messages would be held beside the new run's (two trajectories: 2.8 GB at 12 MP x 21 classes); a solution
    for the same settings stays, for a stroke that cancels the run, unless windows mixed other probabilities in
    than the run's."""
    it, probs = interactive
    it.exact(probs, PARAMS)
    seen = []
    it.exact(probs, PARAMS, on_iteration=lambda i, n, p: seen.append(it.solution))
    assert seen and all(s is not None and s.params == PARAMS for s in seen)  # same settings: kept during the run
    seen.clear()
    it.exact(probs, PARAMS.replace(bi_w=6), on_iteration=lambda i, n, p: seen.append(it.solution))
    assert seen and all(s is None for s in seen)
    assert it.solution is not None and it.solution.params == PARAMS.replace(bi_w=6)
    new = probs.copy()  # a head adaptation's probabilities, re-solved in a window: the solution is mixed
    new[:, 40:50, 50:62] = 0.02
    new[3, 40:50, 50:62] = 0.94
    new.flags.writeable = False
    params = PARAMS.replace(bi_w=6)
    assert it.local(new, params, (50, 40, 62, 50)) is not None and it.local_possible(params, new, True)
    seen.clear()
    it.exact(new, params, on_iteration=lambda i, n, p: seen.append(it.solution))
    assert seen and all(s is not None for s in seen)   # a stroke that cancels the run still starts from it
    newer = new.copy()
    newer[3, 10:20, 10:20] = 0.9
    newer.flags.writeable = False
    assert it.local(newer, params, (10, 10, 20, 20)) is not None   # mixed with ``newer`` now
    newest = newer.copy()
    newest[3, 60:70, 90:100] = 0.9
    newest.flags.writeable = False
    seen.clear()
    it.exact(newest, params, on_iteration=lambda i, n, p: seen.append(it.solution))
    assert seen and all(s is None for s in seen)  # mixed with other probabilities: no window could start from it
