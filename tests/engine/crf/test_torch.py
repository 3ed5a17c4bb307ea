"""The torch engine (the fast CRF's GPU path) matches pydensecrf and reuses what a slider change allows.

Every test runs the torch engine on the CPU (so CI checks the code path) and again on CUDA where there is a GPU
(bench/gpu_check.sh runs this file there). Sparse products on a GPU may sum in another order from run to run,
so reruns are compared to float rounding (~1e-7), not bit for bit.
"""
import numpy as np
import pytest
import torch

from engine.crf import PRESETS, CRFParams
from engine.crf.fast import FastBackend, torch_engine
from engine.crf.fast import lattice_cache as lc
from engine.crf.fast.cpu_engine import CpuEngine
from engine.crf.fast.session import FastSession
from engine.crf.reference import pydensecrf_refine
from engine.errors import DeviceMemoryError, EngineError
from tests.support.crf_probs import GRID, assert_matches_reference, clear_crf_caches, random_probs, scene_image

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=needs_cuda)])
def torch_backend(request):
    """FastBackend(**kw) with the torch engine on each device."""
    return lambda **kw: FastBackend(device=request.param, engine="torch", **kw)


@pytest.mark.parametrize("h,w,c,params,absent", GRID)
def test_torch_matches_pydensecrf(torch_backend, h, w, c, params, absent):
    img = scene_image(h, w, seed=h)
    probs = random_probs(c, h, w, seed=w, absent=absent)
    clear_crf_caches()
    session = torch_backend().session(img)
    assert_matches_reference(session.run(probs, params), pydensecrf_refine(img, probs, params))
    assert session.last_stats["engine"] == "torch"


def test_apple_mps_is_never_picked_for_the_crf(monkeypatch):
    import engine.crf.fast as fast

    monkeypatch.setattr(fast, "pick_device", lambda pref: torch.device("mps"))  # as on a Mac without CUDA
    auto = FastBackend()
    assert auto.device.type == "cpu" and auto.engine == "numba"
    with pytest.raises(EngineError, match="MPS"):
        FastBackend(device="mps")


@needs_cuda
def test_auto_device_picks_the_gpu():
    backend = FastBackend()
    assert backend.engine == "torch" and backend.device.type == "cuda"


def test_weight_change_reuses_lattices_uploads_and_prior(torch_backend):
    clear_crf_caches()
    img, probs = scene_image(52, 77, 5), random_probs(4, 52, 77, 6)
    session = torch_backend().session(img)
    base = CRFParams(3, 3, 4, 60, 6, 5)
    session.run(probs, base)
    builds, uploads = dict(lc.BUILD_COUNTS), dict(torch_engine.UPLOAD_COUNTS)
    for changed in (base.replace(pos_w=1.5), base.replace(bi_w=9)):
        assert_matches_reference(session.run(probs, changed), pydensecrf_refine(img, probs, changed))
    assert lc.BUILD_COUNTS == builds and torch_engine.UPLOAD_COUNTS == uploads
    after = session.run(probs, base.replace(bi_rgb_std=12))
    assert torch_engine.UPLOAD_COUNTS["lattice"] == uploads["lattice"] + 1  # only the new bilateral lattice
    assert torch_engine.UPLOAD_COUNTS["prior"] == uploads["prior"]
    assert_matches_reference(after, pydensecrf_refine(img, probs, base.replace(bi_rgb_std=12)))


def test_iteration_slider_and_previews(torch_backend):
    clear_crf_caches()
    img, probs = scene_image(41, 59, 7), random_probs(5, 41, 59, 8)
    session = torch_backend().session(img)
    p = CRFParams(3, 3, 4, 50, 5, 5)
    seen = []
    session.run(probs, p, on_iteration=lambda i, n, preview: seen.append((i, preview() if i < n else None)))
    assert [i for i, _ in seen] == [1, 2, 3, 4, 5]
    down = session.run(probs, p.replace(iterations=3))
    assert session.last_stats["computed_iterations"] == 0
    up = session.run(probs, p.replace(iterations=8))
    assert session.last_stats["computed_iterations"] == 3
    clear_crf_caches()
    fresh = torch_backend().session(img)
    assert np.abs(fresh.run(probs, p.replace(iterations=3)).probs - down.probs).max() <= 1e-6
    assert np.array_equal(seen[2][1], down.labels)  # the iteration-3 preview is that iteration's label map
    assert np.abs(fresh.run(probs, p.replace(iterations=8)).probs - up.probs).max() <= 1e-6


def test_many_classes_merge_and_match(torch_backend):
    clear_crf_caches()
    img, probs = scene_image(60, 80, 11), random_probs(40, 60, 80, 12, absent=30)
    session = torch_backend().session(img)
    result = session.run(probs, PRESETS["deeplab-v2"])
    assert session.last_stats["groups"] == 11
    assert_matches_reference(result, pydensecrf_refine(img, probs, PRESETS["deeplab-v2"]))


def test_out_of_gpu_memory_reruns_on_the_cpu_and_says_so(monkeypatch):
    clear_crf_caches()
    img, probs = scene_image(40, 57, 3), random_probs(4, 40, 57, 5)
    params = CRFParams(3, 3, 4, 50, 5, 5)
    runs = []

    def out_of_memory(*args):
        runs.append(1)
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(torch_engine, "filter_q", out_of_memory)
    released = []
    torch_factory = FastBackend(device="cpu", engine="torch")._factory()
    session = FastSession(img, torch_factory, "torch:cuda", fallback=(CpuEngine, "numba:cpu", lambda: released.append(1)))
    result = session.run(probs, params)
    assert runs == [1] and released == [1]
    assert "ran out of memory" in result.note and "CPU" in result.note
    assert session.last_stats["engine"] == CpuEngine.kind
    assert_matches_reference(result, pydensecrf_refine(img, probs, params))
    again = session.run(probs, params.replace(bi_w=7))  # the session stays on the CPU, and keeps saying so
    assert runs == [1] and again.note == result.note
    # without a fallback (the CPU engine itself) the error reaches the caller as an EngineError with a message
    monkeypatch.setattr(torch_engine, "filter_q", out_of_memory)
    with pytest.raises(DeviceMemoryError, match="ran out of memory"):
        FastSession(img, torch_factory, "torch:cuda").run(probs, params.replace(bi_w=9))
