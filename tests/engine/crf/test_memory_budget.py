"""Memory budgets of the whole-image exact CRF as formulas (docs/design/memory.md), checked with tracemalloc.

numpy reports its allocations to tracemalloc, so the peak of a run is every array it made at once. A large image
runs streamed (engine.crf.fast.stream): besides its result it may hold two vertex buffers per kernel, two pixel
tiles and the captured messages, nothing of size pixels x classes in float32. These tests fail when Q, the prior
or the unary is kept whole in float32, or a float32 (C,H,W) copy of the probabilities appears: at 200 x 300 x 21
classes each of those is 5-6 MB, more than the whole budget's slack.
"""
import gc
import tracemalloc
import weakref

import numpy as np
import pytest

from engine.crf import PRESETS
from engine.crf.fast import FastBackend, grid_stream, simd, stream
from engine.crf.fast import lattice_cache as lc
from engine.crf.fast import session as session_mod
from tests.support.crf_probs import random_probs
from tests.support.crf_scenes import synthetic_photo

H, W, C = 200, 300, 21
N = H * W
TILE = 4096
SLACK = 256 << 10  # small arrays: group tables, lock indices, the float16 table, tile cuts


@pytest.fixture(scope="module")
def scene():
    img = synthetic_photo(H, W, 7)
    probs = random_probs(C, H, W, seed=8)  # every class present: 21 groups, rows of 24 floats
    return img, probs


def _peak(fn) -> int:
    """Peak bytes numpy (and Python) allocated during fn(), above what was allocated before."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def _vertex_bytes(params, width: int, grid: bool = False) -> int:
    """Two (M+1, W) float32 vertex buffers per kernel, of the lattices the session used; grid: the xy kernel's
    grid form, which a streamed run that keeps no history takes, holds one where the run fuses it (stream.fuses),
    its staging rows (a few tiles' bands) and the blur's two scratch pieces (grid_stream.py)."""
    key = (lc.grid_key if grid else lc.gaussian_key)(H, W, params.pos_xy_std)
    lats = [lc.GAUSSIAN_LATTICES.get(key)]
    lats += [lat for key in list(lc.BILATERAL_LATTICES._items) if (lat := lc.BILATERAL_LATTICES.get(key))]
    assert len(lats) == 2 and all(lat is not None and lat.n_points == N for lat in lats)
    total = sum(2 * (lat.n_vertices + 1) * width * 4 for lat in lats)
    if grid and stream.fuses(lats, width, session_mod.STREAM_BYTES):
        bw = 2 * lats[0].n_cols
        bands = lats[0].n_vertices // bw
        lo, hi = grid_stream.tile_bands(lats[0], TILE)
        stage = min(bands, grid_stream.WINDOWS * grid_stream.window_bands(lo, hi))
        scratch = sum(min(bands, grid_stream.PIECE + k) for k in (4, 2))
        total += ((stage + scratch) * bw - (lats[0].n_vertices + 1)) * width * 4
    return total, sum(lat.n_vertices + 1 for lat in lats)


def _tiles() -> int:
    """(TILE, W) float32 tiles of a streamed run: the prior's, Q's, and Q's second while a splat runs beside."""
    return 3 if stream.splat_tasks(simd.row_width(C)) == 1 else 2


def _held(half: bool, width: int) -> bool:
    """Whether a streamed run holds its (N, W) prior: float32 probabilities always, float16 ones up to
    session.HELD_PRIOR_BYTES."""
    return not half or N * width * 4 <= session_mod.HELD_PRIOR_BYTES


@pytest.mark.parametrize("half, held_bytes", [(False, None), (True, None), (True, 0)])
def test_streamed_exact_run_stays_within_its_formula(scene, monkeypatch, half, held_bytes):
    """Peak <= result (C*N codes + labels N + uncertainty 4N) + 2 vertex buffers per kernel + the tiles (the
    prior's and Q's, and a second Q tile where the splat runs beside the step: stream.splat_tasks(W) == 1) + slack;
    a prior held for the run adds N*W*4 (float32 probabilities, below 4 MP in the app, always, and make it a
    block of groups at a time, C*TILE*4; float16 ones up to HELD_PRIOR_BYTES; held_bytes 0: never)."""
    img, probs = scene
    probs = probs.astype(np.float16) if half else probs
    if held_bytes is not None:
        monkeypatch.setattr(session_mod, "HELD_PRIOR_BYTES", held_bytes)
    monkeypatch.setattr(session_mod, "BIG_BYTES", 0)
    monkeypatch.setattr(stream, "TILE", TILE)
    lc.clear()
    params = PRESETS["deeplab-v1"]
    session = FastBackend(device="cpu").session(img)
    session.run(probs, params, compact=True)  # builds the lattices and finds the label groups (kept: not measured)
    width = simd.row_width(C)
    vertex, _ = _vertex_bytes(params, width, grid=True)   # (no history kept: the xy kernel on the grid)
    budget = C * N + N + 4 * N + vertex + _tiles() * TILE * width * 4 + (N * width * 4 if _held(half, width) else 0) \
        + (0 if half else C * TILE * 4) + SLACK
    peak = _peak(lambda: session.run(probs, params, compact=True))
    assert session.last_stats["mode"] == "streamed"
    assert peak <= budget, f"peak {peak} B over the budget {budget} B"


def test_capturing_run_adds_only_its_float16_messages(scene, monkeypatch):
    """With capture (the window's exact runs): + iterations x (vertices of both lattices) x W x 2 bytes."""
    img, probs = scene
    probs = probs.astype(np.float16)
    monkeypatch.setattr(session_mod, "BIG_BYTES", 0)
    monkeypatch.setattr(session_mod, "TRAJECTORY_FLOAT32", 1)  # float16, as at 12 MP
    monkeypatch.setattr(stream, "TILE", TILE)
    lc.clear()
    params = PRESETS["deeplab-v1"]
    session = FastBackend(device="cpu").session(img)
    session.run(probs, params, compact=True, capture=True)
    width = simd.row_width(C)
    vertex, rows = _vertex_bytes(params, width)
    messages = params.iterations * rows * width * 2
    previews = N  # the labels of each iteration, for on_iteration
    held = N * width * 4 if _held(True, width) else 0
    budget = C * N + 5 * N + vertex + _tiles() * TILE * width * 4 + held + messages + previews + SLACK
    peak = _peak(lambda: session.run(probs, params, compact=True, capture=True, on_iteration=lambda i, n, p: None))
    assert session.solution() is not None and session.solution() is None  # kept once, then handed over
    assert peak <= budget, f"peak {peak} B over the budget {budget} B"


def test_a_run_holds_no_lattice_its_cache_let_go(scene, monkeypatch):
    """Lattices over their cache's budget (24 MP) are not kept: nor may the session keep them for a solution it
    has no messages for, or one it has handed over (1.9 GB were held idle at 24 MP)."""
    img, probs = scene
    built = []
    real_build = lc.build_lattice
    monkeypatch.setattr(lc, "build_lattice", lambda feats: built.append(weakref.ref(lat := real_build(feats))) or lat)
    monkeypatch.setattr(session_mod, "BIG_BYTES", 0)
    monkeypatch.setattr(lc, "GAUSSIAN_LATTICES", lc.ByteLRU(0))  # nothing fits
    monkeypatch.setattr(lc, "BILATERAL_LATTICES", lc.ByteLRU(0))
    monkeypatch.setattr(lc, "LIVE", weakref.WeakValueDictionary())   # (no earlier test's copy to share)
    session = FastBackend(device="cpu").session(img)
    for capture in (False, True):
        built.clear()
        session.run(probs, PRESETS["deeplab-v1"], capture=capture)
        assert len(built) == (2 if capture else 1)   # (keeping no history, the xy kernel runs on the grid)
        if capture:
            solution = session.solution()
            assert solution is not None and {id(lat) for lat, _ in solution.terms} == {id(ref()) for ref in built}
            del solution
        gc.collect()
        assert all(ref() is None for ref in built)
