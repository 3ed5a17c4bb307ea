"""Local refinement (engine.crf.fast.window): a window re-solved with the rest of the image held at the current
solution agrees with a whole-image run, and thread counts and cache keys cannot change a result."""
import numba
import numpy as np
import pytest

from engine.crf import PRESETS, CRFParams
from engine.crf.fast import FastBackend, cpu_engine, keys
from engine.crf.fast import lattice_cache as lc
from engine.crf.fast import window as win
from engine.crf.fast.cpu_engine import Q0_MESSAGES
from engine.crf.fast.history import HISTORIES
from engine.crf.reference import pydensecrf_refine
from tests.support.crf_probs import random_probs
from tests.support.crf_scenes import synthetic_photo


def clear_crf_caches():
    lc.clear()
    HISTORIES.clear()
    Q0_MESSAGES.clear()


def _stroke(labels, box, cls):
    x0, y0, x1, y1 = box
    edit, locked = labels.copy(), np.zeros(labels.shape, bool)
    locked[y0:y1, x0:x1] = True
    edit[locked] = cls
    return edit, locked


@pytest.fixture(scope="module")
def scene():
    h, w = 150, 220
    img = synthetic_photo(h, w, 3)
    probs = random_probs(5, h, w, seed=4, absent=1)  # one absent class: a stroke of it splits the merged group
    params = PRESETS["deeplab-v1"].replace(bi_xy_std=15.0)
    session = FastBackend(device="cpu").session(img)
    base = session.run(probs, params, capture=True)
    return img, probs, params, session, base


def test_window_agrees_with_a_whole_image_run_and_leaves_the_rest(scene):
    img, probs, params, session, base = scene
    h, w = img.shape[:2]
    solution = session.solution()
    assert solution is not None and solution.params == params
    stroke_box = (100, 60, 125, 75)
    edit, locked = _stroke(base.labels, stroke_box, 4)  # class 4 was absent: its unary now differs
    first_try = win.window_for(stroke_box, params, h, w)
    assert first_try == (100 - 19, 60 - 19, 125 + 19, 75 + 19)  # 1.25 x the widest xy std (15)
    result = session.refine_local(solution, probs, stroke_box, locks=(edit, locked))
    box = result.box
    assert box[0] <= first_try[0] and box[1] <= first_try[1] and box[2] >= first_try[2] and box[3] >= first_try[3]
    whole = session.run(probs, params, locks=(edit, locked))
    x0, y0, x1, y1 = box
    agree = (result.labels == whole.labels[y0:y1, x0:x1]).mean()
    assert agree >= 0.995
    assert (result.labels[locked[y0:y1, x0:x1]] == 4).all()
    assert result.probs.shape == (5, y1 - y0, x1 - x0)
    # pasted into the label map, nothing outside the window moves
    shown = base.labels.copy()
    shown[y0:y1, x0:x1] = result.labels
    outside = np.ones((h, w), bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(shown[outside], base.labels[outside])
    assert not np.array_equal(shown, base.labels)  # the stroke spread


def test_a_window_where_nothing_changed_reproduces_the_solution(scene):
    img, probs, params, session, base = scene
    session.run(probs, params, capture=True)
    solution = session.solution()
    box = (40, 30, 140, 110)
    result = session.refine_window(solution, probs, box)
    x0, y0, x1, y1 = box
    assert np.abs(result.probs - base.probs[:, y0:y1, x0:x1]).max() < 1e-4
    assert np.array_equal(result.labels, base.labels[y0:y1, x0:x1])


def test_pasted_windows_are_the_state_the_next_stroke_starts_from(scene, monkeypatch):
    img, probs, params, session, base = scene
    h, w = img.shape[:2]
    session.run(probs, params, capture=True)
    solution = session.solution()
    first = (60, 50, 90, 65)  # here the change spreads past 1.25 sigmas (1.7 % of the edge band changes)
    edit, locked = _stroke(base.labels, first, 4)
    monkeypatch.setattr(win, "EDGE_TOLERANCE", 0.005)
    grown = session.refine_local(solution, probs, first, locks=(edit, locked))
    assert grown.box != win.window_for(first, params, h, w) and grown.edge_change <= 0.005  # it grew
    monkeypatch.undo()
    r1 = session.refine_local(solution, probs, first, locks=(edit, locked))
    whole = session.run(probs, params, locks=(edit, locked))
    x0, y0, x1, y1 = r1.box
    assert (r1.labels == whole.labels[y0:y1, x0:x1]).mean() >= 0.995
    win.paste(solution, r1)
    assert solution.kind == "local" and solution.windows == 1
    second = (95, 70, 130, 85)  # overlaps the first window
    edit2, locked2 = _stroke(edit, second, 2)
    locked2 |= locked
    r2 = session.refine_local(solution, probs, second, locks=(edit2, locked2))
    whole = session.run(probs, params, locks=(edit2, locked2))
    x0, y0, x1, y1 = r2.box
    assert (r2.labels == whole.labels[y0:y1, x0:x1]).mean() >= 0.995
    assert session.refine_local(solution, probs, (0, 0, 200, 140)) is None  # most of the image: run it whole


def test_solution_needs_a_capturing_run_and_is_for_its_image():
    clear_crf_caches()
    img, probs = synthetic_photo(40, 50, 1), random_probs(3, 40, 50, 2)
    session = FastBackend(device="cpu").session(img)
    session.run(probs, CRFParams(3, 3, 4, 20, 5, 3))
    assert session.solution() is None  # not captured: no messages kept
    session.run(probs, CRFParams(3, 3, 4, 20, 5, 3), capture=True)
    solution = session.solution()
    assert len(solution.trajectory) == 3 and solution.nbytes > 0
    other = FastBackend(device="cpu").session(synthetic_photo(41, 50, 1))
    with pytest.raises(Exception, match="cannot refine"):
        other.refine_window(solution, random_probs(3, 41, 50, 2), (0, 0, 10, 10))


def test_torch_engine_sessions_give_solutions_too():
    img, probs = synthetic_photo(40, 60, 5), random_probs(4, 40, 60, 6)
    params = CRFParams(3, 3, 4, 15, 5, 4)
    cpu = FastBackend(device="cpu").session(img)
    cpu.run(probs, params, capture=True)
    torch_session = FastBackend(device="cpu", engine="torch").session(img)
    torch_session.run(probs, params, capture=True)
    box = (10, 5, 50, 35)
    a = cpu.refine_window(cpu.solution(), probs, box)
    b = torch_session.refine_window(torch_session.solution(), probs, box)
    assert np.abs(a.probs - b.probs).max() < 1e-4


# ---- thread-count invariance and cache keys -------------------------------------------------------------------

def _kmeans_probs(img, k, seed=0):
    """Soft colour clusters: sharp, image-aligned probabilities like the issue's 21 k-means classes."""
    rng = np.random.default_rng(seed)
    pix = img.reshape(-1, 3).astype(np.float32)
    centres = pix[rng.choice(len(pix), k, replace=False)]
    for _ in range(5):
        d = ((pix[:, None, :] - centres[None]) ** 2).sum(-1)
        assign = d.argmin(1)
        for c in range(k):
            if (assign == c).any():
                centres[c] = pix[assign == c].mean(0)
    d = ((pix[:, None, :] - centres[None]) ** 2).sum(-1)
    logits = -d / 400.0
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    return np.ascontiguousarray(p.T.reshape(k, *img.shape[:2]).astype(np.float32))


@pytest.mark.parametrize("params", [CRFParams(3, 20, 4, 200, 40, 30),   # the GUI's slider maxima
                                    CRFParams(3, 500, 4, 121, 5, 10)])  # a very wide smoothness kernel
def test_q_is_the_same_at_any_thread_count(params, monkeypatch):
    from engine.io.images import read_image
    from engine.paths import SAMPLES_DIR

    img = read_image(SAMPLES_DIR / "belt_08.png")[::2, ::2].copy()  # 180x240: 21 classes, 30 iterations stay quick
    probs = _kmeans_probs(img, 21)
    ref = pydensecrf_refine(img, probs, params)
    results = []
    real_threads = numba.config.NUMBA_NUM_THREADS
    for tasks in (1, 2, 5):  # splat tasks; with 2+ CPUs the 2 and 5 runs use 2 numba threads as well
        monkeypatch.setattr(cpu_engine.numba, "get_num_threads", lambda tasks=tasks: tasks)
        numba.set_num_threads(min(tasks, real_threads))
        clear_crf_caches()
        results.append(FastBackend(device="cpu").session(img).run(probs, params).probs)
    numba.set_num_threads(real_threads)
    for other in results[1:]:
        assert np.array_equal(other.view(np.uint32), results[0].view(np.uint32))  # bit for bit
    assert np.abs(results[0] - ref).max() <= 1e-5


def test_two_maps_a_few_pixels_apart_get_different_keys_and_results():
    rng = np.random.default_rng(0)
    a = rng.random((5, 64, 80)).astype(np.float32)
    b = a.copy()
    for y, x in ((3, 4), (10, 70), (40, 2), (63, 79)):  # four pixels, values swapped between classes
        b[:, y, x] = b[::-1, y, x]
    assert keys.array_key(a) != keys.array_key(b)
    assert keys.array_key(a) == keys.array_key(a.copy())  # same bytes, same digest
    frozen = keys.freeze(a.copy())
    assert keys.array_key(frozen) == keys.array_key(frozen)  # numbered once, never hashed again
    assert keys.array_key(frozen) != keys.array_key(keys.freeze(a.copy()))  # another array, another number
    view = frozen[:, :10]
    assert keys.array_key(view)[0] == "frozen"
    assert keys.array_key(a[:, :10])[0] == "blake2b"  # a view of a writeable array is hashed
    # the iteration history is process-wide: a fresh session must never get the other map's result
    img = synthetic_photo(64, 80, 2)
    pa, pb = a / a.sum(0), b / b.sum(0)
    params = CRFParams(3, 3, 4, 30, 5, 4)
    FastBackend(device="cpu").session(img).run(pa, params)
    got = FastBackend(device="cpu").session(img).run(pb, params).probs
    clear_crf_caches()
    assert np.array_equal(got, FastBackend(device="cpu").session(img).run(pb, params).probs)


def test_big_image_mode_and_compact_results_change_nothing(monkeypatch):
    """In place with only the final Q kept, bytes for probabilities, float16 messages: same labels and Q."""
    from engine.crf.fast import session as session_mod
    from engine.crf.interactive import CompactProbs
    from engine.uncertainty import uncertainty_map

    img, probs = synthetic_photo(60, 90, 4), random_probs(5, 60, 90, 5, absent=2)
    params = CRFParams(3, 3, 4, 20, 6, 4)
    labels, locked = np.zeros((60, 90), np.uint8), np.zeros((60, 90), bool)
    locked[20:30, 30:40] = True
    labels[locked] = 4
    clear_crf_caches()
    normal = FastBackend(device="cpu").session(img).run(probs, params, locks=(labels, locked))
    monkeypatch.setattr(session_mod, "BIG_BYTES", 0)
    monkeypatch.setattr(session_mod, "TRAJECTORY_BUDGET", 1)  # nothing fits: no solution, run still fine
    monkeypatch.setattr(session_mod, "TRAJECTORY_FLOAT32", 1)
    clear_crf_caches()
    s = FastBackend(device="cpu").session(img)
    big = s.run(probs, params, locks=(labels, locked), compact=True, capture=True)
    assert s.solution() is None
    assert isinstance(big.probs, CompactProbs) and np.array_equal(big.labels, normal.labels)
    assert np.array_equal(big.probs.codes, CompactProbs.encode(normal.probs))
    np.testing.assert_array_equal(big.unc, uncertainty_map(normal.probs))
    again = s.run(probs, params.replace(iterations=6), locks=(labels, locked))  # no history kept: all 6 again
    assert s.last_stats["computed_iterations"] == 6
    clear_crf_caches()
    want = FastBackend(device="cpu").session(img).run(probs, params.replace(iterations=6), locks=(labels, locked))
    assert np.array_equal(again.probs, want.probs)
    half = probs.astype(np.float16)  # large images keep float16 probabilities: used as they are, never copied
    r16 = FastBackend(device="cpu").session(img).run(half, params)
    r32 = FastBackend(device="cpu").session(img).run(half.astype(np.float32), params)
    assert np.array_equal(r16.probs, r32.probs)
    monkeypatch.setattr(session_mod, "TRAJECTORY_BUDGET", 1 << 40)
    monkeypatch.setattr(session_mod, "TRAJECTORY_FLOAT32", 1 << 40)
    s = FastBackend(device="cpu").session(img)
    s.run(probs, params, capture=True)
    full = s.solution().nbytes  # float32
    monkeypatch.setattr(session_mod, "TRAJECTORY_FLOAT32", full - 1)  # over the float32 limit: kept as float16
    s.run(probs, params.replace(pos_w=3.5), capture=True)
    s.run(probs, params, capture=True)
    sol = s.solution()
    assert sol is not None and sol.trajectory[0][0].dtype == np.float16
    res = s.refine_window(sol, probs, (30, 20, 60, 45))
    ref = FastBackend(device="cpu").session(img).run(probs, params)
    assert (res.labels == ref.labels[20:45, 30:60]).mean() >= 0.995
