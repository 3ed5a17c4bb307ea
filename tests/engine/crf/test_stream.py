"""The streamed mean-field (engine.crf.fast.stream): large images never hold their prior or Q whole, and get the
in-memory engine's result bit for bit, with the same label groups, previews, captured messages and locks."""
import numba
import numpy as np
import pytest

from engine.crf import CRFParams
from engine.crf.base import progress_only
from engine.crf.compact import CompactProbs
from engine.crf.fast import FastBackend, cpu_engine, stream
from engine.crf.fast import session as session_mod
from engine.crf.fast.prior import make_prior
from tests.support.crf_probs import clear_crf_caches, random_probs
from tests.support.crf_scenes import synthetic_photo

H, W = 70, 90
PARAMS = CRFParams(3, 3, 4, 20, 6, 4)


@pytest.fixture(scope="module")
def scene():
    img = synthetic_photo(H, W, 4)
    probs = random_probs(7, H, W, seed=5, absent=3)  # three absent classes: one merged group
    labels, locked = np.zeros((H, W), np.uint8), np.zeros((H, W), bool)
    locked[20:30, 30:40] = True
    labels[locked] = 6  # an absent class painted: it leaves the merged group
    return img, probs, (labels, locked)


def _streamed(monkeypatch, tile=128):
    monkeypatch.setattr(session_mod, "BIG_BYTES", 0)
    monkeypatch.setattr(stream, "TILE", tile)  # several tiles, the last one partial (70 x 90 = 6300 pixels)


@pytest.mark.parametrize("half, held", [(False, True), (True, True), (True, False)])
@pytest.mark.parametrize("with_locks", [False, True])
def test_streamed_runs_match_the_in_memory_engine_bit_for_bit(scene, monkeypatch, half, held, with_locks):
    """Float16 probabilities' prior rows held for the run (session.HELD_PRIOR_BYTES) or made through the table
    at every pass: the same bits."""
    img, probs, locks = scene
    probs = probs.astype(np.float16) if half else probs
    if not held:
        monkeypatch.setattr(session_mod, "HELD_PRIOR_BYTES", 0)
    locks = locks if with_locks else None
    want = {}
    for params in (PARAMS, PARAMS.replace(iterations=0), PARAMS.replace(pos_w=0, bi_w=0)):
        want[params] = FastBackend(device="cpu").session(img).run(probs, params, locks=locks)
    _streamed(monkeypatch)
    for params, ref in want.items():
        s = FastBackend(device="cpu").session(img)
        got = s.run(probs, params, locks=locks)
        assert s.last_stats["mode"] == "streamed"
        assert np.array_equal(got.probs.view(np.uint32), ref.probs.view(np.uint32))
        assert np.array_equal(got.labels, ref.labels)
        compact = s.run(probs, params, locks=locks, compact=True)
        ref_compact = FastBackend(device="cpu").session(img).run(probs, params, locks=locks, compact=True)
        assert np.array_equal(compact.probs.codes, ref_compact.probs.codes)
        assert np.array_equal(compact.probs.codes, CompactProbs.encode(got.probs))   # (locks too)
        np.testing.assert_array_equal(compact.unc, ref_compact.unc)


@pytest.mark.parametrize("wide", [False, True])
def test_streamed_q_is_the_same_at_any_thread_count_and_tile_size(scene, monkeypatch, wide):
    """1 and 2 threads: each tile's splat runs on a thread of its own beside the next tile's step
    (stream.splat_tasks(8) == 1: 7 labels, 8 floats a row); 5: the splat is split in five tasks by vertex rows.
    The same bits. wide: 21 labels, 24 floats a row, split in tasks at every thread count."""
    img, probs, locks = scene
    if wide:
        probs = random_probs(21, H, W, seed=9, absent=2)
    real_threads = numba.config.NUMBA_NUM_THREADS
    results = []
    for tasks, tile in ((1, 64), (2, 128), (5, 4096)):
        _streamed(monkeypatch, tile)
        monkeypatch.setattr(cpu_engine.numba, "get_num_threads", lambda tasks=tasks: tasks)
        numba.set_num_threads(min(tasks, real_threads))
        clear_crf_caches()
        results.append(FastBackend(device="cpu").session(img).run(probs, PARAMS, locks=locks).probs)
    numba.set_num_threads(real_threads)
    for other in results[1:]:
        assert np.array_equal(other.view(np.uint32), results[0].view(np.uint32))


@pytest.mark.parametrize("half", [False, True])
def test_groups_and_prior_rows_are_make_priors(scene, half):
    _, probs, locks = scene
    probs = probs.astype(np.float16) if half else probs
    for lk in (None, locks):
        want = make_prior(probs, locks=lk)
        src = stream.StreamPrior(probs, key=("k",), locks=lk)
        assert np.array_equal(src.group_of_label, want.group_of_label)
        assert np.array_equal(src.rep_label, want.rep_label) and np.array_equal(src.counts, want.counts)
        assert np.array_equal(src.materialise().prior.view(np.uint32), want.prior.view(np.uint32))
        assert src.nbytes == 0  # it holds nothing of its own: rows are made on demand
    assert make_prior(probs, locks=locks).n_groups == make_prior(probs).n_groups + 1  # the painted class split off


def test_groups_stay_exact_when_fingerprints_collide(scene, monkeypatch):
    """A fingerprint only proposes: with every fingerprint equal, the row comparison still splits the groups."""
    _, probs, locks = scene
    half = probs.astype(np.float16)
    monkeypatch.setattr(stream.sk, "row_sums_lut", lambda codes, *a: np.zeros(a[-1], np.float64))
    for lk in (None, locks):
        want = make_prior(half, locks=lk)
        got = stream.StreamPrior(half, key=("k",), locks=lk)
        assert np.array_equal(got.group_of_label, want.group_of_label) and got.n_groups == want.n_groups


def test_streamed_previews_and_captured_messages_match(scene, monkeypatch):
    img, probs, locks = scene
    monkeypatch.setattr(session_mod, "TRAJECTORY_FLOAT32", 1 << 40)

    def run():
        seen = {}
        s = FastBackend(device="cpu").session(img)
        s.run(probs, PARAMS, locks=locks, capture=True,
              on_iteration=lambda i, n, p: seen.__setitem__(i, p().copy() if callable(p) else None))
        return s, seen

    ref_session, ref_seen = run()
    _streamed(monkeypatch)
    s, seen = run()
    assert sorted(seen) == sorted(ref_seen) == list(range(1, PARAMS.iterations + 1))
    for i in range(1, PARAMS.iterations):
        assert np.array_equal(seen[i], ref_seen[i])  # labels of Q_i, locks enforced
    got, want = s.solution(), ref_session.solution()
    assert got is not None and want is not None
    for step_got, step_want in zip(got.trajectory, want.trajectory, strict=True):
        for a, b in zip(step_got, step_want, strict=True):
            assert a.dtype == np.float32 and np.array_equal(a, b)
    box = (30, 20, 60, 45)
    assert np.array_equal(s.refine_window(got, probs, box, locks=locks).labels,
                          ref_session.refine_window(want, probs, box, locks=locks).labels)


@pytest.mark.parametrize("streamed", [False, True])
def test_a_progress_only_callback_gets_no_previews_and_none_are_made(scene, monkeypatch, streamed):
    """The window's large images show a downscaled preview, not an exact run's passes: their progress callback is
    progress_only, so a streamed pass writes no labels (0.4-0.5 s of a 12 MP run), and the result is the same."""
    img, probs, locks = scene
    if streamed:
        _streamed(monkeypatch)
    made = []
    argmax = session_mod.ck.argmax_labels
    monkeypatch.setattr(session_mod.ck, "argmax_labels", lambda *a: (made.append(1), argmax(*a))[1])

    def run(on_iteration):
        clear_crf_caches()
        return FastBackend(device="cpu").session(img).run(probs, PARAMS, locks=locks, on_iteration=on_iteration)

    previews = {}
    full = run(lambda i, n, p: previews.__setitem__(i, p))
    assert callable(previews[1]) and (made or not streamed)
    made.clear()
    previews.clear()
    quiet = run(progress_only(lambda i, n, p: previews.__setitem__(i, p)))
    assert not made
    assert sorted(previews) == list(range(1, PARAMS.iterations + 1))
    assert all(p is None for i, p in previews.items() if i < PARAMS.iterations)
    assert previews[PARAMS.iterations] is quiet.probs   # the final call still gives the result
    assert np.array_equal(quiet.labels, full.labels) and np.array_equal(quiet.probs, full.probs)


def test_few_distinct_labels_keep_the_in_memory_engine(scene, monkeypatch):
    """Above the streaming threshold by classes, below it by label groups: the prior is made whole (from the
    rows) and the iteration history works as before."""
    img, _, _ = scene
    probs = random_probs(9, H, W, seed=2, absent=7)  # 9 classes, 3 groups: (N, 4) floats, under (N, 16)
    n = H * W
    monkeypatch.setattr(session_mod, "BIG_BYTES", n * 4 * 4)
    s = FastBackend(device="cpu").session(img)
    s.run(probs, PARAMS)
    assert s.last_stats["mode"] == "shared" and s.last_stats["groups"] == 3
    s.run(probs, PARAMS.replace(iterations=2))
    assert s.last_stats["computed_iterations"] == 0  # the kept history answered


def test_a_streamed_pass_can_be_cancelled_between_its_tiles(scene, monkeypatch):
    """A pass takes seconds at 12 MP: cancelling (a stroke) is polled before every tile, not only between
    iterations, and a cancelled run leaves the session able to run again with the same result."""
    from engine.errors import Cancelled
    img, probs, _ = scene
    _streamed(monkeypatch)
    clear_crf_caches()
    session = FastBackend(device="cpu").session(img)
    calls = []
    want = session.run(probs, PARAMS, should_cancel=lambda: calls.append(1) and False)
    tiles = -(-H * W // 128)
    assert len(calls) >= PARAMS.iterations * tiles          # polled tile by tile, every pass

    polled, seen = [0], []

    def cancel_mid_pass():
        polled[0] += 1
        return polled[0] == tiles // 2                         # inside the first pass it makes (the first
                                                               # iteration's Q: Q_0's messages were kept)
    with pytest.raises(Cancelled):
        session.run(probs, PARAMS.replace(bi_w=5.0), should_cancel=cancel_mid_pass,
                    on_iteration=lambda i, n, p: seen.append(i))
    assert seen == []                                         # it stopped before an iteration was reported
    again = session.run(probs, PARAMS)
    assert np.array_equal(again.probs, want.probs) and np.array_equal(again.labels, want.labels)


def test_a_weight_change_starts_from_q0_s_kept_messages(scene, monkeypatch):
    """Q_0's messages do not depend on the weights, so a streamed run for new weights (a slider) starts from the
    ones the last run kept: one pass fewer, the same bits as a cold session; other probabilities, locks or
    sigmas never take them."""
    img, probs, locks = scene
    _streamed(monkeypatch)
    sweeps = []
    real_sweep = stream.StreamEngine.sweep
    def counted(self, *a, **k):
        sweeps.append(1)
        return real_sweep(self, *a, **k)
    monkeypatch.setattr(stream.StreamEngine, "sweep", counted)
    clear_crf_caches()
    s = FastBackend(device="cpu").session(img)
    s.run(probs, PARAMS, locks=locks)
    first = len(sweeps)
    heavier = PARAMS.replace(bi_w=9.0, pos_w=1.5)
    got = s.run(probs, heavier, locks=locks)
    assert len(sweeps) - first == first - 1                      # the pass of Q_0 was skipped
    clear_crf_caches()
    want = FastBackend(device="cpu").session(img).run(probs, heavier, locks=locks)
    assert np.array_equal(got.probs.view(np.uint32), want.probs.view(np.uint32))
    for other in ((probs, PARAMS.replace(bi_rgb_std=7), locks), (probs[::-1].copy(), PARAMS, locks),
                  (probs, PARAMS, None)):
        before = len(sweeps)
        s.run(other[0], other[1], locks=other[2])
        s.run(other[0], other[1].replace(bi_w=2.0), locks=other[2])
        assert len(sweeps) - before == 2 * first - 1             # its own Q_0 pass once, then kept


def test_warm_up_readies_the_streamed_kernels_too():
    """warm_up() (the window's start, in the CRF lane) also makes a tiny streamed run, so the first large image's
    exact run does not compile stream_kernels (4 s after an install). In a fresh interpreter: nothing ran before."""
    from tests.support.paths import fresh_python
    code = (
        "from engine.crf.fast import warm_up, stream_kernels as sk\n"
        "assert not sk.prior_rows_lut.signatures\n"
        "warm_up()\n"
        "ready = {n: bool(getattr(sk, n).signatures) for n in ('prior_rows_lut', 'zero_rows', 'splat_tile',\n"
        "                                                      'splat_tile_serial')}\n"
        "assert ready['prior_rows_lut'] and ready['zero_rows'], ready\n"
        "assert ready['splat_tile'] or ready['splat_tile_serial'], ready\n"
        "from engine.crf.fast import grid_lattice as gl\n"   # the xy kernel's grid form, which such runs take
        "assert gl.blur_bands.signatures and gl.codes_to_ids.signatures and gl.norm_blur.signatures\n"
    )
    done = fresh_python(code)
    assert done.returncode == 0, done.stderr
