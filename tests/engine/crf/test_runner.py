"""engine.crf.runner / engine.crf.isolated: a GIL-holding backend (pydensecrf) runs in a child
process with the same result as in-process, can be cancelled mid-run, and keeps serving after."""
import threading
import time

import numpy as np
import pytest

from engine.crf import PRESETS, get_backend
from engine.crf.isolated import IsolatedCRF, needs_process
from engine.crf.runner import CRFRunner
from engine.errors import Cancelled, EngineError
from tests.support.gui_helpers import make_image


def _probs(h, w, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.random((3, h, w)).astype(np.float32) + 0.1
    return p / p.sum(0)


def test_reference_runs_isolated_with_identical_output():
    assert needs_process(get_backend("reference"))
    image, probs = make_image(1, 48, 64), _probs(48, 64)
    params = PRESETS["deeplab-v2"]
    want = get_backend("reference").session(image).run(probs, params)
    runner = CRFRunner("reference")
    try:
        assert runner.isolated is not None
        iters = []
        got = runner.run("img", image, probs, params, on_iteration=lambda i, n, q: iters.append((i, n)))
        np.testing.assert_array_equal(got.labels, want.labels)
        np.testing.assert_allclose(got.probs, want.probs, atol=1e-6)
        assert iters and iters[-1] == (params.iterations, params.iterations)
        got2 = runner.run("img", image, probs, params.replace(iterations=2))  # same image: no resend
        np.testing.assert_array_equal(got2.labels, get_backend("reference").session(image)
                                      .run(probs, params.replace(iterations=2)).labels)
    finally:
        runner.close()


def test_cancel_kills_the_run_and_the_next_one_works():
    image, probs = make_image(2, 300, 400), _probs(300, 400, 1)
    params = PRESETS["deeplab-v1"].replace(iterations=30)
    iso = IsolatedCRF("reference")
    try:
        iso.warm_up()
        flag = threading.Event()
        threading.Timer(0.05, flag.set).start()
        t = time.perf_counter()
        with pytest.raises(Cancelled):
            iso.run("a", image, probs, params, should_cancel=flag.is_set)
        assert time.perf_counter() - t < 1.0       # did not wait for the 30 iterations
        small = params.replace(iterations=1)
        got = iso.run("a", image[:40, :40].copy(), probs[:, :40, :40].copy(), small)
        want = get_backend("reference").session(image[:40, :40].copy()).run(probs[:, :40, :40].copy(), small)
        np.testing.assert_array_equal(got.labels, want.labels)
    finally:
        iso.close()
    with pytest.raises(EngineError, match="closed"):
        iso.run("a", image, probs, params)


def test_moving_to_another_image_lets_go_of_what_only_the_last_one_could_reuse():
    """A walk stepped through 100 small images: RSS rose by about 4 MB an image (their bilateral lattices and
    iteration histories waited for their caches' budgets, 768 and 640 MB). The runner's next image releases them."""
    from engine.crf.fast import lattice_cache as lc
    from engine.crf.fast.cpu_engine import Q0_MESSAGES
    from engine.crf.fast.history import HISTORIES

    def held():
        return lc.BILATERAL_LATTICES.used, HISTORIES.used, Q0_MESSAGES.used

    def fresh():
        lc.clear()
        HISTORIES.clear()
        Q0_MESSAGES.clear()

    params = PRESETS["deeplab-v1"]
    a, b = make_image(1, 48, 64), make_image(2, 48, 64)
    fresh()
    alone = CRFRunner("fast")
    alone.run("b", b, _probs(48, 64, seed=1), params)
    b_alone = held()
    alone.close()
    fresh()
    runner = CRFRunner("fast")
    runner.run("a", a, _probs(48, 64), params)
    assert all(held())                                        # image a's, kept while it is open
    runner.run("a", a, _probs(48, 64), params.replace(bi_w=7.0))
    assert lc.BUILD_COUNTS["bilateral"] >= 1 and lc.held(lc.bilateral_key(lc.image_key(a), params.bi_xy_std,
                                                                         params.bi_rgb_std))
    runner.run("b", b, _probs(48, 64, seed=1), params)
    assert held() == b_alone                                  # b's alone: a's went
    runner.close()
    fresh()


def test_an_image_keeps_the_newest_few_priors_and_histories_however_many_strokes():
    """A walk's 80 strokes on a 320x240 image kept 161 priors, 161 Q_0s and 20 iteration histories (1.6 GB more
    RSS, 2.6 GB in all): each stroke's locks make a new prior and run, and only the last few are ever reused.
    An image keeps the newest KEPT_PER_IMAGE of each; Q_0's messages the newest 16."""
    from engine.crf.fast.cpu_engine import Q0_MESSAGES
    from engine.crf.fast.history import HISTORIES
    from engine.crf.fast.session import KEPT_PER_IMAGE

    HISTORIES.clear()
    Q0_MESSAGES.clear()
    params = PRESETS["deeplab-v1"].replace(iterations=3)
    image = make_image(3, 40, 56)
    runner = CRFRunner("fast")
    session = runner.session("a", image)
    probs = _probs(40, 56)
    labels = np.ones((40, 56), np.uint8)
    for k in range(KEPT_PER_IMAGE + 12):
        locked = np.zeros((40, 56), bool)
        locked[k % 40, :k + 1] = True                         # each stroke's locks: a new prior
        runner.run("a", image, probs, params, locks=(labels, locked))
    assert len(session._priors) <= KEPT_PER_IMAGE and len(session._q0) <= KEPT_PER_IMAGE
    assert len(HISTORIES) <= KEPT_PER_IMAGE and len(Q0_MESSAGES) <= 16
    runner.close()
