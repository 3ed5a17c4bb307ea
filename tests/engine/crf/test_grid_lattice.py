"""The xy kernel's lattice computed over the pixel grid (engine.crf.fast.grid_lattice): the stored lattice's vertices,
weights and blur under other ids, and streamed runs on it give the stored lattice's Q bit for bit without
building or holding the stored one."""
import numba
import numpy as np
import pytest

from engine.crf import CRFParams
from engine.crf.fast import FastBackend, stream
from engine.crf.fast import cpu_kernels as ck
from engine.crf.fast import grid_lattice as gl
from engine.crf.fast import lattice_cache as lc
from engine.crf.fast import session as session_mod
from engine.crf.fast.features import gaussian_features
from engine.crf.fast.lattice import build_lattice
from tests.support.crf_probs import clear_crf_caches, random_probs
from tests.support.crf_scenes import synthetic_photo

SIZES = [(7, 9, 1.0), (30, 41, 1.0), (30, 41, 3.0), (50, 37, 0.7), (64, 80, 2.5), (13, 200, 13.0), (201, 3, 1.0)]


@pytest.mark.parametrize("h, w, sxy", SIZES)
def test_the_grid_has_the_stored_lattices_vertices_and_weights(h, w, sxy):
    lat, grid = build_lattice(gaussian_features(h, w, sxy)), gl.make(h, w, sxy)
    pairs = np.unique(np.stack([lat.offsets.ravel(), grid.offsets.ravel()], 1), axis=0)
    assert len(pairs) == lat.n_vertices == len(np.unique(pairs[:, 1]))   # one grid id per stored vertex, and back
    assert int(grid.touched.sum()) == lat.n_vertices and grid.touched[grid.offsets.ravel()].all()
    assert np.array_equal(grid.weights, lat.weights)   # barycentric x normalisation, the same bits
    margins = 12 * (2 * h + w) / sxy + 2000   # (a band of ids a few wide around the image's keys)
    assert grid.n_vertices == gl.cell_count(h, w, sxy) < 1.2 * lat.n_vertices + margins   # dense inside


def test_a_large_grid_is_made_a_tile_at_a_time_with_the_same_result(monkeypatch):
    whole = gl.make(90, 70, 1.0)
    monkeypatch.setattr(gl, "TILE", 1000)   # 6300 pixels: 7 tiles, the last one partial
    tiled = gl.make(90, 70, 1.0)
    assert np.array_equal(whole.offsets, tiled.offsets) and np.array_equal(whole.weights, tiled.weights)


@pytest.mark.parametrize("h, w, sxy", SIZES[1:5])
def test_the_grid_blur_is_the_stored_lattices(h, w, sxy):
    lat, grid = build_lattice(gaussian_features(h, w, sxy)), gl.make(h, w, sxy)
    ids = grid.offsets
    m, width = lat.n_vertices, 8
    vals = np.zeros((m + 1, width), np.float32)
    vals[:m] = np.random.default_rng(0).random((m, width), dtype=np.float32)
    want = ck.blur(lat.neighbours, vals.copy(), np.zeros_like(vals))
    gvals = np.zeros((grid.n_vertices + 1, width), np.float32)
    gvals[ids.ravel()] = vals[lat.offsets.ravel()]
    scratch = np.full_like(gvals, 7.0)   # garbage, as a used buffer holds, but for the zero row
    scratch[-1] = 0.0
    whole = grid.blur(gvals.copy(), scratch)
    got = _blur_whole(grid, gvals)
    assert np.array_equal(whole, got)   # (the whole lattice at once, and band by band)
    assert np.array_equal(got[ids.ravel()], want[lat.offsets.ravel()])
    assert not got[:-1][grid.touched == 0].any()   # no value reaches a vertex pydensecrf does not have


def _blur_whole(grid, vals):
    """The three axes of blur_bands over every band, garbage in the scratch as a used buffer holds."""
    bands, zero = grid.n_vertices // (2 * grid.n_cols), np.zeros((1, vals.shape[1]), np.float32)
    src = vals
    for j in range(3):
        dst = np.full_like(vals, 7.0)
        dst[-1] = 0.0
        gl.blur_bands(src, 0, dst, 0, 0, bands, j, grid.touched, grid.n_cols, grid.a_min, bands, zero)
        src = dst
    return src


def _run(img, probs, params, locks=None, capture=False):
    s = FastBackend(device="cpu").session(img)
    return s, s.run(probs, params, locks=locks, capture=capture)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("half", [False, True])
def test_a_streamed_run_on_the_grid_is_the_stored_lattices_bit_for_bit(monkeypatch, threads, half):
    h, w = 70, 90
    img = synthetic_photo(h, w, 4)
    probs = random_probs(9, h, w, seed=3)
    probs = probs.astype(np.float16) if half else probs
    locks = (np.zeros((h, w), np.uint8), np.zeros((h, w), bool))
    locks[1][10:20, 30:50], locks[0][10:20, 30:50] = True, 4
    params = CRFParams(3, 1, 4, 20, 6, 4)   # the DeepLab v2 preset's xy std
    monkeypatch.setattr(session_mod, "BIG_BYTES", 0)
    monkeypatch.setattr(stream, "TILE", 640)
    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        clear_crf_caches()
        built = lc.BUILD_COUNTS["gaussian"]
        _, on_grid = _run(img, probs, params, locks)
        assert lc.BUILD_COUNTS["gaussian"] == built   # the stored xy lattice was neither built nor needed
        assert lc.GAUSSIAN_LATTICES.get(lc.grid_key(h, w, params.pos_xy_std)) is not None   # its grid is cached
        lc.gaussian_lattice(h, w, params.pos_xy_std)   # now it is cached: runs reuse it
        _, stored = _run(img, probs, params, locks)
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(on_grid.probs, stored.probs) and np.array_equal(on_grid.labels, stored.labels)


def test_a_run_whose_history_is_kept_uses_stored_lattices_for_its_local_windows(monkeypatch):
    h, w = 60, 80
    img, probs = synthetic_photo(h, w, 4), random_probs(6, h, w, seed=4)
    monkeypatch.setattr(session_mod, "BIG_BYTES", 0)
    clear_crf_caches()
    params = CRFParams(3, 1, 4, 20, 6, 4)
    s, full = _run(img, probs, params, capture=True)
    solution = s.solution()
    assert solution is not None and not any(isinstance(lat, gl.GridLattice) for lat, _ in solution.terms)
    assert s.refine_window(solution, probs, (10, 10, 40, 30)).labels.shape == (20, 30)


def test_a_capturing_run_too_big_to_keep_its_history_runs_on_the_grid(monkeypatch):
    """The window's exact runs capture; where their messages would be over the trajectory's budget (the DeepLab v2
    preset at 12 MP) nothing is kept for local windows, so nothing needs the stored xy lattice."""
    h, w = 60, 80
    img, probs = synthetic_photo(h, w, 4), random_probs(6, h, w, seed=4)
    monkeypatch.setattr(session_mod, "BIG_BYTES", 0)
    monkeypatch.setattr(session_mod, "TRAJECTORY_FLOAT32", 0)
    monkeypatch.setattr(session_mod, "TRAJECTORY_BUDGET", 0)
    clear_crf_caches()
    built = lc.BUILD_COUNTS["gaussian"]
    s, result = _run(img, probs, CRFParams(3, 1, 4, 20, 6, 4), capture=True)
    assert s.solution() is None and lc.BUILD_COUNTS["gaussian"] == built


@pytest.mark.parametrize("threads, classes, tile, piece, windows, fuse", [
    (1, 9, 448, 32, 4, True),     # one splat task beside the step; tiles end inside pixel rows
    (2, 21, 640, 32, 4, True),    # 24-float rows: the splat split between two tasks, the blur beside the step
    (2, 9, 448, 1, 1, True),      # a band blurred at a time, staging one window deep: moved and grown often
    (2, 21, 64, 2, 1, True),      # tiles shorter than a pixel row
    (2, 21, 640, 32, 4, False),   # the grid lattice with two buffers (stream.fuses: where they fit, wide rows)
])
def test_the_fused_grid_sweep_is_the_two_buffer_run_bit_for_bit(monkeypatch, threads, classes, tile, piece, windows,
                                                                fuse):
    """grid_stream: one buffer, the splat staged and blurred band by band inside the sweep, gives the stored
    lattice's messages and so its Q, whatever the tile, the piece, the staging depth and the splat's tasks."""
    from engine.crf.fast import grid_stream
    monkeypatch.setattr(session_mod, "fuses", lambda *a: fuse)
    made = []
    real = stream.StreamEngine.__init__
    monkeypatch.setattr(stream.StreamEngine, "__init__", lambda self, *a, **k: made.append(k.get("fuse"))
                        or real(self, *a, **k))
    h, w = 83, 90
    img = synthetic_photo(h, w, 5)
    probs = random_probs(classes, h, w, seed=6).astype(np.float16)
    params = CRFParams(3, 1, 4, 20, 6, 4)
    monkeypatch.setattr(session_mod, "BIG_BYTES", 0)
    monkeypatch.setattr(stream, "TILE", tile)
    monkeypatch.setattr(grid_stream, "PIECE", piece)
    monkeypatch.setattr(grid_stream, "WINDOWS", windows)
    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        clear_crf_caches()
        _, on_grid = _run(img, probs, params)
        assert lc.GAUSSIAN_LATTICES.get(lc.grid_key(h, w, params.pos_xy_std)) is not None
        lc.gaussian_lattice(h, w, params.pos_xy_std)
        _, stored = _run(img, probs, params)
    finally:
        numba.set_num_threads(before)
    assert made and set(made) == {fuse}
    assert np.array_equal(on_grid.probs.view(np.uint8), stored.probs.view(np.uint8))
    assert np.array_equal(on_grid.labels, stored.labels)


def test_a_sweep_holds_one_buffer_of_the_grid_lattice_and_a_few_bands(monkeypatch):
    """The memory the fused grid saves: one (M+1, W) buffer where a stored lattice takes two, and staging rows
    of a few tiles' bands."""
    from engine.crf.fast import grid_stream
    h, w, classes = 1500, 50, 21   # (tall: the staging rows are a few tiles' bands of the image's)
    probs = random_probs(classes, h, w, seed=2).astype(np.float16)
    grid, bilateral = gl.make(h, w, 1.0), build_lattice(gaussian_features(h, w, 3.0))   # (any second lattice)
    prior = stream.StreamPrior(probs, ("p",))
    eng = stream.StreamEngine(prior, [(grid, 3.0), (bilateral, 4.0)], tile=1024)
    width = prior.width
    for _ in range(2):
        eng.sweep()
        eng.blur()
    fused = eng.terms[0].fused
    assert eng.blurred[0] is fused.main and fused.main.shape == (grid.n_vertices + 1, width)
    assert eng.terms[0].bufs is None
    band = 2 * grid.n_cols * width * 4
    lo, hi = grid_stream.tile_bands(grid, 1024)
    window = grid_stream.window_bands(lo, hi)
    assert fused.stage.nbytes <= grid_stream.WINDOWS * window * band < fused.main.nbytes / 4
    stored = 2 * (bilateral.n_vertices + 1) * width * 4
    tiles = 3 * 1024 * width * 4
    assert eng.nbytes <= fused.main.nbytes + fused.stage.nbytes + (2 * grid_stream.PIECE + 6) * band + stored + tiles


def test_a_run_fuses_its_grid_lattice_where_the_splat_runs_beside_the_step_or_two_buffers_do_not_fit():
    grid, other = gl.make(300, 200, 1.0), build_lattice(gaussian_features(300, 200, 3.0))
    lats = [grid, other]
    two, one = stream.vertex_bytes(lats, 24, False), stream.vertex_bytes(lats, 24, True)
    assert two - one == 4 * 24 * (grid.n_vertices + 1)      # one buffer of the grid lattice less
    assert stream.vertex_bytes([other], 24, True) == stream.vertex_bytes([other], 24, False)   # stored: two
    before = numba.get_num_threads()
    numba.set_num_threads(2)
    try:
        assert stream.fuses(lats, 16, budget=1 << 40)          # one splat task beside the step: always
        assert not stream.fuses(lats, 24, budget=two)          # wide rows, two buffers fit: kept (faster)
        assert stream.fuses(lats, 24, budget=two - 1)          # they do not: one
    finally:
        numba.set_num_threads(before)
