"""An exact run's progress callback: small images get the unfinished run's labels, large ones (which show a
downscaled preview instead) ask for none, so the engine makes none (engine.crf.base.progress_only)."""
from engine.crf.base import wants_preview
from gui.session.crf_requests import _iteration_reporter


def test_a_large_image_s_exact_run_asks_for_progress_only():
    reports = []
    on_iteration = _iteration_reporter(lambda *a: reports.append(a), False, "Refining")
    assert not wants_preview(on_iteration)
    on_iteration(3, 10, None)
    assert reports == [(3, 10, "Refining 3/10", None)]


def test_a_small_image_s_exact_run_shows_its_passes():
    reports = []
    on_iteration = _iteration_reporter(lambda *a: reports.append(a), True, "Refining")
    assert wants_preview(on_iteration)
    on_iteration(1, 10, lambda: "labels of Q_1")
    assert reports == [(1, 10, "Refining 1/10", ("exact, iteration 1/10", "labels of Q_1"))]
