"""The fast CRF's speed parts change nothing: SIMD row ops, recycled buffers, the split hash insert, the unary."""
import numpy as np
import pytest
from numba import njit

from engine.crf import PRESETS
from engine.crf.fast import FastBackend, hash_kernels, simd
from engine.crf.fast import lattice as lattice_mod
from engine.crf.fast import lattice_cache as lc
from engine.crf.fast.buffers import POOL, ArrayPool
from engine.crf.fast.cache import ByteLRU
from engine.crf.fast.features import bilateral_features
from engine.crf.fast.history import HISTORIES, History
from engine.crf.unary import PROB_CLIP, unary_from_probs
from tests.support.crf_scenes import synthetic_photo


@njit
def _rows_op(op, dst, a, b, c, scale):
    """Apply one simd row op to row 0 of each (1, W) array."""
    w = dst.shape[1]
    if op == 0:
        simd.axpy(simd.address(dst), simd.address(a), scale, w)
    elif op == 1:
        simd.blur(simd.address(dst), simd.address(a), simd.address(b), simd.address(c), w)
    else:
        simd.copy(simd.address(dst), simd.address(a), w)


@pytest.mark.parametrize("width", [4, 8, 12, 24, 184])
def test_simd_row_ops_equal_the_scalar_formulas(width):
    rng = np.random.default_rng(width)
    a, b, c, d = (rng.standard_normal((1, width + 4)).astype(np.float32)[:, :width].copy() for _ in range(4))
    guard = rng.standard_normal((1, width + 8)).astype(np.float32)
    dst = guard.copy()[:, :width].copy()
    start = dst.copy()
    _rows_op(0, dst, a, b, c, np.float32(0.75))
    np.testing.assert_allclose(dst, start + np.float32(0.75) * a, rtol=1e-6, atol=1e-6)
    _rows_op(1, dst, d, b, c, np.float32(0))
    np.testing.assert_allclose(dst, d + np.float32(0.5) * (b + c), rtol=1e-6, atol=1e-6)
    _rows_op(2, dst, a, b, c, np.float32(0))
    assert np.array_equal(dst, a)
    assert simd.row_width(1) == 4 and simd.row_width(4) == 4 and simd.row_width(5) == 8
    assert simd.row_width(21) == 24 and simd.row_width(182) == 184


def test_rows_stay_inside_their_padding():
    # a row op on row 1 of a (3, W) array must not touch rows 0 and 2
    w = simd.row_width(13)
    arr = np.arange(3 * w, dtype=np.float32).reshape(3, w)
    src = np.ones((1, w), np.float32)
    before = arr.copy()

    @njit
    def op(arr, src):
        simd.axpy(simd.address(arr) + arr.shape[1] * 4, simd.address(src), np.float32(1), arr.shape[1])

    op(arr, src)
    assert np.array_equal(arr[0], before[0]) and np.array_equal(arr[2], before[2])
    assert np.array_equal(arr[1], before[1] + 1)


def test_array_pool_recycles_within_budget():
    pool = ArrayPool(budget=3 * 400)
    a = pool.take((10, 10))
    assert a.shape == (10, 10) and a.dtype == np.float32
    pool.give(a)
    assert pool.nbytes == 400
    assert pool.take((10, 10)) is a and pool.nbytes == 0
    for _ in range(5):
        pool.give(np.empty((10, 10), np.float32))
    assert pool.nbytes <= pool.budget
    taken = [pool.take((10, 10)) for _ in range(3)]  # empties that shape's free list ...
    assert pool.nbytes == 0
    pool.give(np.empty((20, 10), np.float32))
    pool.give(np.empty((20, 10), np.float32))  # ... and this give has to drop something first
    pool.give(taken[0])
    assert pool.nbytes <= pool.budget
    pool.give(np.empty((10, 20), np.float32)[:, :10])  # a view: never pooled (someone else owns the memory)
    pool.give(np.empty((1000,), np.float32))  # over the whole budget
    assert pool.nbytes <= pool.budget


def test_lru_tells_about_evictions_and_clear():
    seen = []
    lru = ByteLRU(250, on_evict=seen.append)
    values = [np.zeros(25, np.float32) for _ in range(4)]
    for k, v in enumerate(values):
        lru.put(k, v)
    assert [id(v) for v in seen] == [id(values[0]), id(values[1])]
    lru.pop(2)
    assert len(seen) == 2  # popping hands the value to the caller, it is not an eviction
    lru.clear()
    assert [id(v) for v in seen][-1] == id(values[3])


def test_history_gives_dropped_iterations_back_but_never_q0():
    pool_before = POOL.nbytes
    hist = History(engine=None, budget=3 * 100)
    q0 = np.zeros(25, np.float32)
    hist.keep(0, q0)
    for t in range(1, 6):
        hist.keep(t, np.full(25, t, np.float32))
    assert 5 in hist.qs and len(hist.qs) == 3
    hist.release()
    assert hist.qs == {}
    assert all(arr is not q0 for arrays in POOL._free.values() for arr in arrays)
    assert POOL.nbytes > pool_before or POOL.nbytes == POOL.budget


def test_results_are_identical_after_buffers_are_recycled():
    """Weight A, then weight B (A's history is evicted into the pool), then A again from recycled memory."""
    lc.clear()
    HISTORIES.clear()
    img = synthetic_photo(61, 83, 3)
    rng = np.random.default_rng(4)
    probs = rng.random((6, 61, 83)).astype(np.float32) + 0.05
    probs /= probs.sum(0)
    params = PRESETS["deeplab-v1"]
    first = FastBackend(device="cpu").session(img).run(probs, params)
    session = FastBackend(device="cpu").session(img)
    for w in (2.0, 7.0, 3.5):
        session.run(probs, params.replace(bi_w=w))
        HISTORIES.clear()  # evict into the pool, so the next run writes into recycled arrays
    lc.clear()  # and rebuild the lattices from recycled scratch too
    recycled = [arr for arrays in POOL._free.values() for arr in arrays]
    assert recycled
    for arr in recycled:
        arr.fill(np.nan if arr.dtype.kind == "f" else -7)  # whatever a kernel forgets to overwrite shows
    again = FastBackend(device="cpu").session(img).run(probs, params)  # a new prior too, from recycled scratch
    assert np.array_equal(first.probs, again.probs) and np.array_equal(first.labels, again.labels)


def test_split_hash_insert_gives_the_sequential_vertex_ids():
    feats = bilateral_features(synthetic_photo(97, 131, 8), 13.0, 6.0)
    scale = lattice_mod.scale_factors(5)
    lo, radix, stride = lattice_mod.packing(feats, scale)
    codes = np.empty((feats.shape[0], 6), np.int64)
    bary = np.empty((feats.shape[0], 6), np.float32)
    bad = np.zeros(1, np.int64)
    lattice_mod.bk.embed_packed(feats, scale, lo, radix, stride, codes, bary, bad)
    assert bad[0] == 0
    off1, vc1, _ = hash_kernels.insert_codes(codes)
    for parts in (2, 3, 5):
        off, vc, table = lattice_mod._insert_codes(codes, parts=parts)
        assert np.array_equal(off, off1) and np.array_equal(vc, vc1), parts
        assert (table[:, 1] >= 0).sum() == vc1.shape[0]


@pytest.mark.parametrize("odd", [0, 3])   # 3: the zero padding point pydensecrf inserts
def test_a_build_made_a_chunk_at_a_time_is_the_whole_builds_lattice(monkeypatch, odd):
    """A large build embeds and hashes BUILD_CHUNK points at a time (the int64 codes of every point at once were
    the 24 MP build's peak): the same vertex ids, weights and neighbours as the build from all codes at once."""
    img = synthetic_photo(97, 131, 8)
    feats = bilateral_features(img, 13.0, 6.0)[:97 * 131 - odd]
    whole = lattice_mod.build_lattice(feats)
    monkeypatch.setattr(lattice_mod, "BUILD_CHUNK", 1000)     # 13 chunks
    chunked = lattice_mod.build_lattice(feats)
    assert chunked.n_vertices == whole.n_vertices
    for name in ("offsets", "weights", "neighbours"):
        assert np.array_equal(getattr(chunked, name), getattr(whole, name)), name
    used = []
    real = lattice_mod._insert_chunked
    monkeypatch.setattr(lattice_mod, "_insert_chunked", lambda *a: used.append(1) or real(*a))
    lattice_mod.build_lattice(feats)
    assert used                                                # the chunked path ran


def test_a_chunked_build_holds_two_chunks_of_codes_and_no_second_weights_array(monkeypatch):
    """The large build's budget beyond the lattice it returns: two chunks of int64 codes (one hashing, one being
    made) with their part offsets and vertex codes, and the hash tables (at most 4 slots of 16 bytes a vertex, and
    a 1 MiB table per part); not the codes of every point (8 (d+1) bytes each) nor barycentric weights beside the
    weights. numba's arrays are traced too. The build from all codes at once needs 29.6 MB more here, this 9.5."""
    import tracemalloc
    feats = bilateral_features(synthetic_photo(480, 640, 8), 13.0, 6.0)
    chunk = 8000
    monkeypatch.setattr(lattice_mod, "BUILD_CHUNK", chunk)
    lattice_mod.build_lattice(feats[:20000])                   # numba kernels compiled outside the trace
    tracemalloc.start()
    try:
        lat = lattice_mod.build_lattice(feats)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    held = lat.offsets.nbytes + lat.weights.nbytes + lat.neighbours.nbytes
    budget = 2 * chunk * (6 * 8 + 6 * 4 + 8) + 4 * 16 * lat.n_vertices + 2 * (1 << 20)
    assert peak - held <= budget, (peak - held, budget)
    assert budget < feats.shape[0] * 6 * (8 + 4)                # (which the old build's codes and bary exceed)


def test_unary_in_place_and_threaded_is_bit_identical():
    rng = np.random.default_rng(9)
    probs = rng.random((5, 300, 900)).astype(np.float32) * 1.2  # some > 1 and some < PROB_CLIP after scaling
    probs[0, :3] = 0.0
    plain = -np.log(np.clip(probs.reshape(5, -1), PROB_CLIP, 1.0))
    out = np.empty((5, 300 * 900), np.float32)
    assert unary_from_probs(probs, out=out) is out
    assert np.array_equal(out.view(np.uint32), plain.astype(np.float32).view(np.uint32))
    assert np.array_equal(unary_from_probs(probs[:1]), plain[:1])
    with pytest.raises(ValueError):
        unary_from_probs(probs, out=np.empty((5, 10), np.float32))


@pytest.mark.parametrize("tasks", [1, 2, 3, 7])
def test_splat_owners_cover_every_vertex_once_and_sum_in_pixel_order(tasks):
    """Each vertex row belongs to one task, which adds its pixels in ascending order: the same bits as one task."""
    from engine.crf.fast import cpu_kernels as ck
    from engine.crf.fast.cpu_engine import owners_for

    img = synthetic_photo(57, 79, 12)
    lat = lc.bilateral_lattice(img, lc.image_key(img), 20.0, 6.0)[1]
    owners = owners_for(lat.offsets, lat.n_vertices, tasks)
    rows = np.concatenate([np.arange(a, b + 1) for a, b, _, _ in owners])
    assert np.array_equal(rows, np.arange(lat.n_vertices))  # a partition of 0..M-1, in order
    for a, b, p_lo, p_hi in owners:  # the pixel span holds every pixel touching the task's rows
        mine = np.nonzero(((lat.offsets >= a) & (lat.offsets <= b)).any(axis=1))[0]
        assert mine.size == 0 or (mine.min() >= p_lo and mine.max() < p_hi)
    rng = np.random.default_rng(13)
    q = rng.random((lat.n_points, 8)).astype(np.float32)
    base = np.zeros((1, 4), np.float32)

    def splat(own):
        vals = np.full((lat.n_vertices + 1, 8), np.nan, np.float32)
        vals[-1] = 0
        ck.splat(q, 0, lat.offsets, lat.weights, vals, own, base, False)
        return vals

    one = splat(owners_for(lat.offsets, lat.n_vertices, 1))
    assert np.isfinite(one).all()
    assert np.array_equal(splat(owners).view(np.uint32), one.view(np.uint32))
    # one vertex row against the pixel-order sum, as pydensecrf computes it, in float32
    order_check = np.zeros(8, np.float32)
    v = int(lat.offsets[lat.n_points // 2, 0])
    for i, j in zip(*np.nonzero(lat.offsets == v)):
        order_check = order_check + lat.weights[i, j] * q[i]
    np.testing.assert_allclose(one[v], order_check, rtol=2e-6, atol=1e-6)


def test_prior_is_built_narrow_and_exact_when_fingerprints_collide(monkeypatch):
    """Large inputs count groups first (no full copy of the unary); equal fingerprints never merge unequal rows."""
    from engine.crf.fast import cpu_kernels as ck
    from engine.crf.fast import prior as prior_mod
    from tests.support.crf_probs import random_probs

    probs = random_probs(12, 40, 50, 1, absent=7)
    labels, locked = np.zeros((40, 50), np.uint8), np.zeros((40, 50), bool)
    locked[5:9, 5:20] = True
    labels[locked] = 10  # an absent class painted: it leaves the merged group
    want = prior_mod.make_prior(probs, locks=(labels, locked))
    assert want.n_groups == 7
    monkeypatch.setattr(prior_mod, "BIG_PRIOR", 0)
    two_pass = prior_mod.make_prior(probs, locks=(labels, locked))
    monkeypatch.setattr(ck, "row_fingerprints", lambda x: np.zeros(x.shape[0], np.int64))  # all collide
    colliding = prior_mod.make_prior(probs, locks=(labels, locked))
    for got in (two_pass, colliding):
        assert np.array_equal(got.group_of_label, want.group_of_label)
        assert np.array_equal(got.prior, want.prior) and np.array_equal(got.counts, want.counts)


def test_kept_messages_are_numpy_s_conversion_bit_for_bit():
    """A capturing run keeps every iteration's messages, converted on torch's threads (convert.converted): the
    bits are numpy's astype, rounding, overflow, subnormals and the padding's zeros included."""
    from engine.crf.fast.convert import converted as _converted

    rng = np.random.default_rng(3)
    values = (rng.standard_normal((1001, 8)) * np.float32(10.0) ** rng.integers(-9, 6, (1001, 8))).astype(np.float32)
    values[0, :4] = (65520.0, -7e4, 6e-8, 2.9802322e-08)     # past float16's range, its subnormals, a halfway case
    values[:, 6:] = 0.0
    for dtype in (np.float16, np.float32):
        got = _converted(values, dtype)
        with np.errstate(over="ignore"):   # (numpy warns about the values past float16's range; so it should)
            want = values.astype(dtype)
        assert got.dtype == dtype and got.flags.c_contiguous and not np.shares_memory(got, values)
        np.testing.assert_array_equal(got.view(np.uint16 if dtype == np.float16 else np.uint32),
                                      want.view(np.uint16 if dtype == np.float16 else np.uint32))


@pytest.mark.parametrize("sxy, srgb", [(121.0, 5.0), (67.0, 3.0), (0.7, 0.3)])
def test_bilateral_features_are_pydensecrfs_float32_quotients(sxy, srgb):
    """Written in place, the features stay int / float32(sigma) in float32, column x first (features.py)."""
    img = synthetic_photo(37, 53, 2)
    f = bilateral_features(img, sxy, srgb).reshape(37, 53, 5)
    ys, xs = np.mgrid[0:37, 0:53].astype(np.float32)
    assert np.array_equal(f[..., 0], xs / np.float32(sxy)) and np.array_equal(f[..., 1], ys / np.float32(sxy))
    assert np.array_equal(f[..., 2:], img.astype(np.float32) / np.float32(srgb))
