"""The fast lattice CRF reproduces pydensecrf, and its caches reuse exactly what a slider change allows."""
import threading
import time

import numpy as np
import pytest

from engine.crf import DEFAULT_BACKEND, PRESETS, CRFParams, get_backend
from engine.crf.fast import FastBackend, build_kernels, cpu_kernels, hash_kernels
from engine.crf.fast import lattice_cache as lc
from engine.crf.fast.cache import ByteLRU
from engine.crf.fast.cpu_engine import CpuEngine
from engine.crf.fast.features import gaussian_features
from engine.crf.fast.history import HISTORIES, History
from engine.crf.fast.lattice import build_lattice
from engine.crf.reference import pydensecrf_refine
from engine.errors import Cancelled, EngineError
from tests.support.crf_probs import GRID, assert_matches_reference, clear_crf_caches, random_probs, scene_image


@pytest.mark.parametrize("h,w,c,params,absent", GRID)
def test_matches_pydensecrf(h, w, c, params, absent):
    img = scene_image(h, w, seed=h)
    probs = random_probs(c, h, w, seed=w, absent=absent)
    ref = pydensecrf_refine(img, probs, params)
    assert_matches_reference(FastBackend(device="cpu").session(img).run(probs, params), ref)


def test_chunked_path_matches_too():  # (the torch engine has its own file: test_crf_torch.py)
    img, probs = scene_image(47, 63, 3), random_probs(7, 47, 63, 4)
    params = CRFParams(3, 2, 5, 40, 8, 6)
    ref = pydensecrf_refine(img, probs, params)

    class Chunked(CpuEngine):  # force the bounded-memory path: channels in chunks of a few
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs, wide_budget=0, chunk_budget=2 * 4 * 4 * 400)

    for engine, mode in ((Chunked, "chunked"), (CpuEngine, "shared")):
        backend = FastBackend(device="cpu")
        backend._factory = lambda engine=engine: engine
        clear_crf_caches()
        session = backend.session(img)
        assert_matches_reference(session.run(probs, params), ref)
        assert session.last_stats["computed_iterations"] == 6
        assert session.last_stats["mode"] == mode


def test_gaussian_lattice_has_pydensecrfs_vertex_count():
    # reference dense_crf.md §1.10 measured M_gauss = 64,732 for 816x612 with sxy = 3
    lat = build_lattice(gaussian_features(612, 816, 3.0))
    assert lat.n_vertices == 64732
    assert lat.offsets.shape == (612 * 816, 3) and lat.offsets.max() < lat.n_vertices


def test_generic_int16_key_path_builds_the_same_lattice(monkeypatch):
    # packed int64 codes are used when keys fit a box; the fallback keeps pydensecrf's wrapping int16 keys
    from engine.crf.fast import lattice as lattice_mod
    from engine.crf.fast.features import bilateral_features

    feats = bilateral_features(scene_image(37, 51, 17), 9.0, 4.0)
    packed = build_lattice(feats)
    monkeypatch.setattr(lattice_mod, "packing", lambda *a: None)
    generic = build_lattice(feats)
    assert packed.n_vertices == generic.n_vertices
    for name in ("offsets", "weights", "neighbours"):
        assert np.array_equal(getattr(packed, name), getattr(generic, name)), name
    img, probs = scene_image(37, 51, 17), random_probs(4, 37, 51, 18)
    params = CRFParams(3, 2, 5, 9, 4, 5)
    clear_crf_caches()
    assert_matches_reference(FastBackend(device="cpu").session(img).run(probs, params), pydensecrf_refine(img, probs, params))


def test_weight_changes_reuse_lattices_and_sigma_changes_rebuild():
    clear_crf_caches()
    img, probs = scene_image(52, 77, 5), random_probs(4, 52, 77, 6)
    session = FastBackend(device="cpu").session(img)
    base = CRFParams(3, 3, 4, 60, 6, 5)
    session.run(probs, base)
    builds = dict(lc.BUILD_COUNTS)
    for changed in (base.replace(pos_w=1.5), base.replace(bi_w=9), base.replace(pos_w=0.5, bi_w=2)):
        result = session.run(probs, changed)
        assert lc.BUILD_COUNTS == builds  # weights never rebuild a lattice
        assert_matches_reference(result, pydensecrf_refine(img, probs, changed))
    before = session.run(probs, base).probs
    after = session.run(probs, base.replace(bi_rgb_std=12))
    assert lc.BUILD_COUNTS["bilateral"] == builds["bilateral"] + 1
    assert lc.BUILD_COUNTS["gaussian"] == builds["gaussian"]
    assert np.abs(after.probs - before).max() > 1e-3  # a sigma change must change the result
    assert_matches_reference(after, pydensecrf_refine(img, probs, base.replace(bi_rgb_std=12)))
    after = session.run(probs, base.replace(pos_xy_std=1.5))
    assert lc.BUILD_COUNTS["gaussian"] == builds["gaussian"] + 1
    assert_matches_reference(after, pydensecrf_refine(img, probs, base.replace(pos_xy_std=1.5)))
    # the Gaussian lattice depends only on the size: a second image of that size reuses it
    FastBackend(device="cpu").session(scene_image(52, 77, 9)).run(probs, base)
    assert lc.BUILD_COUNTS["gaussian"] == builds["gaussian"] + 1


def test_weight_change_reuses_the_first_iterations_filtering(monkeypatch):
    clear_crf_caches()
    img, probs = scene_image(52, 77, 5), random_probs(4, 52, 77, 6)
    base = CRFParams(3, 3, 4, 60, 6, 4)
    session = FastBackend(device="cpu").session(img)
    session.run(probs, base)
    splats = []
    real = cpu_kernels.splat
    monkeypatch.setattr(cpu_kernels, "splat", lambda *a: splats.append(1) or real(*a))
    changed = base.replace(bi_w=7, pos_w=1)
    result = session.run(probs, changed)
    assert len(splats) == 3 * 2  # 4 iterations x 2 lattices, the first one's splat and blur came from the cache
    clear_crf_caches()
    fresh = FastBackend(device="cpu").session(img).run(probs, changed)
    assert np.array_equal(result.probs, fresh.probs)  # bit-identical to filtering Q_0 again
    session.run(probs, changed.replace(bi_rgb_std=9))  # another lattice: nothing to reuse
    assert len(splats) == (3 + 4 + 4) * 2  # (the fresh run above splatted 4 times too)


def test_iteration_slider_costs_only_the_added_iterations():
    clear_crf_caches()
    img, probs = scene_image(41, 59, 7), random_probs(5, 41, 59, 8)
    session = FastBackend(device="cpu").session(img)
    p = CRFParams(3, 3, 4, 50, 5, 5)
    session.run(probs, p)
    assert session.last_stats["computed_iterations"] == 5
    down = session.run(probs.copy(), p.replace(iterations=3))  # a fresh copy of the same data still hits
    assert session.last_stats["computed_iterations"] == 0
    up = session.run(probs, p.replace(iterations=8))
    assert session.last_stats["computed_iterations"] == 3
    clear_crf_caches()
    fresh = FastBackend(device="cpu").session(img)
    assert np.array_equal(fresh.run(probs, p.replace(iterations=3)).probs, down.probs)
    assert np.array_equal(fresh.run(probs, p.replace(iterations=8)).probs, up.probs)
    changed = probs.copy()
    changed[:, 0, 0] = changed[::-1, 0, 0]  # new probabilities: a new prior and history
    session.run(changed, p.replace(iterations=8))
    assert session.last_stats["computed_iterations"] == 8


def test_identical_unary_rows_are_merged_exactly():
    clear_crf_caches()
    img, probs = scene_image(60, 80, 11), random_probs(12, 60, 80, 12, absent=9)
    params = PRESETS["deeplab-v2"]
    merged_session = FastBackend(device="cpu").session(img)
    merged = merged_session.run(probs, params)
    assert merged_session.last_stats["groups"] == 4 and merged_session.last_stats["labels"] == 12
    unmerged = FastBackend(device="cpu", merge_labels=False).session(img).run(probs, params)
    assert np.abs(merged.probs - unmerged.probs).max() <= 1e-5  # float summation order only
    assert_matches_reference(merged, pydensecrf_refine(img, probs, params))


def test_progress_and_cancellation_between_iterations():
    clear_crf_caches()
    img, probs = scene_image(30, 45, 13), random_probs(3, 30, 45, 14)
    session = FastBackend(device="cpu", previews="probs").session(img)
    seen = []
    result = session.run(probs, CRFParams(3, 3, 4, 50, 5, 4), on_iteration=lambda i, n, q: seen.append((i, n, q)))
    assert [(i, n) for i, n, _ in seen] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert all(q.shape == probs.shape for _, _, q in seen) and np.array_equal(seen[-1][2], result.probs)
    # label previews (the default) are exactly the labels a run stopped at that iteration gives
    labels_seen = []
    FastBackend(device="cpu").session(img).run(probs, CRFParams(3, 3, 4, 50, 5, 4),
                                   on_iteration=lambda i, n, q: labels_seen.append((i, q)))
    for i, preview in labels_seen[:-1]:
        preview = preview()  # computed on demand
        assert preview.shape == probs.shape[1:] and preview.dtype == np.uint8
        stopped = FastBackend(device="cpu").session(img).run(probs, CRFParams(3, 3, 4, 50, 5, i))
        assert np.array_equal(preview, stopped.labels), i
    calls = []

    def cancel_after_two():
        calls.append(1)
        return len(calls) > 5  # 3 checks before iterating, then one per iteration

    other = CRFParams(3, 3, 5, 50, 5, 9)  # new weights: a history of its own
    with pytest.raises(Cancelled):
        session.run(probs, other, should_cancel=cancel_after_two)
    session.run(probs, other)
    assert session.last_stats["computed_iterations"] == 7  # the two finished iterations were kept


def test_bad_inputs_raise_engine_errors():
    img, probs = scene_image(20, 30), random_probs(3, 20, 30)
    session = FastBackend(device="cpu").session(img)
    with pytest.raises(EngineError, match="do not match"):
        session.run(probs[:, :10], PRESETS["deeplab-v1"])
    with pytest.raises(EngineError):
        FastBackend(device="cpu").session(img[..., 0])
    with pytest.raises(EngineError):
        build_lattice(np.full((10, 2), np.nan, np.float32))


def test_default_backend_is_fast_and_releases_the_gil():
    assert DEFAULT_BACKEND == "fast" and get_backend().name == "fast"
    assert get_backend("reference").name == "reference"
    assert get_backend().releases_gil
    for module in (build_kernels, cpu_kernels, hash_kernels):
        for name in dir(module):
            fn = getattr(module, name)
            if hasattr(fn, "targetoptions") and not fn.targetoptions.get("inline"):
                assert fn.targetoptions.get("nogil"), f"{module.__name__}.{name} holds the GIL"
    # behaviour: while a run is busy in a worker thread, this thread keeps running Python code
    clear_crf_caches()
    img, probs = scene_image(200, 300, 15), random_probs(21, 200, 300, 16)
    session = FastBackend(device="cpu").session(img)
    session.run(probs, CRFParams(3, 3, 4, 50, 5, 1))  # warm up (loads compiled kernels)
    ticks = []
    worker = threading.Thread(target=session.run, args=(probs, CRFParams(3, 3, 4, 60, 5, 30)))
    worker.start()
    while worker.is_alive():
        ticks.append(time.perf_counter())
    worker.join()
    assert len(ticks) > 1000


def test_history_thinning_and_byte_lru():
    hist = History(engine=None, budget=4 * 100)
    for t in range(10):
        hist.keep(t, np.zeros(25, np.float32))  # 100 bytes each; room for 4
    assert len(hist.qs) == 4 and 9 in hist.qs
    t, _ = hist.start_for(9)
    assert t == 9
    assert hist.start_for(5)[0] <= 5
    lru = ByteLRU(250)
    for k in range(4):
        lru.put(k, np.zeros(25, np.float32))
    assert len(lru) == 2 and 3 in lru and 0 not in lru and lru.used == 200
    lru.put("big", np.zeros(100, np.float32))  # larger than the budget: not kept
    assert "big" not in lru


def test_a_lattice_over_its_budget_is_shared_while_something_holds_it(monkeypatch):
    """Lattices too big for their caches (24 MP) are not kept, but the next run for the same image and sigmas
    shares the copy the last run's solution still holds, instead of building a second one beside it."""
    import gc

    clear_crf_caches()
    monkeypatch.setattr(lc.GAUSSIAN_LATTICES, "budget", 0)
    monkeypatch.setattr(lc.BILATERAL_LATTICES, "budget", 0)
    img, probs = scene_image(52, 77, 5), random_probs(4, 52, 77, 6)
    params = CRFParams(3, 3, 4, 60, 6, 5)
    _, held_g = lc.gaussian_lattice(52, 77, params.pos_xy_std)
    _, held_b = lc.bilateral_lattice(img, lc.image_key(img), params.bi_xy_std, params.bi_rgb_std)
    assert len(lc.GAUSSIAN_LATTICES) == len(lc.BILATERAL_LATTICES) == 0   # over budget: not cached
    builds = dict(lc.BUILD_COUNTS)
    result = FastBackend(device="cpu").session(img).run(probs, params)
    assert lc.BUILD_COUNTS == builds                                       # the held copies were used
    assert lc.gaussian_lattice(52, 77, params.pos_xy_std)[1] is held_g
    assert_matches_reference(result, pydensecrf_refine(img, probs, params))
    del held_g, held_b, result
    HISTORIES.clear()    # (the run's iteration history references them too)
    gc.collect()
    assert len(lc.LIVE) == 0
    FastBackend(device="cpu").session(img).run(probs, params)
    assert lc.BUILD_COUNTS["gaussian"] == builds["gaussian"] + 1           # nothing held them: built again
    assert lc.BUILD_COUNTS["bilateral"] == builds["bilateral"] + 1
