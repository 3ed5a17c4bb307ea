"""CRF > Tune on saved labels: the dense-CRF parameters that maximise mIoU against a folder's saved labels.

Search: a coarse-to-fine grid, as DeepLab's authors tuned theirs (the Gaussian kernel fixed at the preset's values,
the bilateral weight and both bilateral widths searched on a small held-out set), not optuna. A grid can be walked
in the order the fast engine's caches reward: every bilateral (bi_xy_std, bi_rgb_std) pair builds one lattice per
image, and all the weights are then tried on that lattice (engine/crf/fast: a weight change reuses the lattices and
the filtered Q_0), so a 60-point stage builds 20 lattices per image instead of 60. A sampler like optuna's TPE picks
sigma and weight together, so nearly every trial would pay for a new lattice. The fine stage is a smaller grid
around the coarse winner. Scores accumulate one confusion matrix over all images (the VOC protocol), void ignored.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from engine.eval.metrics import confusion_matrix, mean_iou

from ..crf.params import CRFParams
from ..errors import EngineError, check_cancel

COARSE = {"bi_xy_std": (20.0, 40.0, 70.0, 120.0), "bi_rgb_std": (3.0, 5.0, 9.0, 15.0, 25.0),
          "bi_w": (3.0, 5.0, 8.0)}
FINE_SIGMA = (0.75, 1.0, 1.33)    # multipliers around the coarse winner
FINE_WEIGHT = (0.75, 1.0, 1.33)

ProgressFn = Optional[Callable[[int, int, str], None]]


@dataclass(frozen=True)
class TuneResult:
    """The best parameters found and the current preset's, each with its mIoU over the same images."""
    best: CRFParams
    best_miou: float
    baseline: CRFParams
    baseline_miou: float
    no_crf_miou: float
    evaluated: int
    images: int

    @property
    def gain(self) -> float:
        return self.best_miou - self.baseline_miou

    def summary(self) -> str:
        b, p = self.best, self.baseline
        return (f"tuned on {self.images} saved images ({self.evaluated} settings): "
                f"bi_w {b.bi_w:g}, bi_xy_std {b.bi_xy_std:g}, bi_rgb_std {b.bi_rgb_std:g} "
                f"(pos_w {b.pos_w:g}, pos_xy_std {b.pos_xy_std:g}, {b.iterations} iterations): "
                f"mIoU {self.best_miou * 100:.2f}% vs the preset's {self.baseline_miou * 100:.2f}% "
                f"(bi_w {p.bi_w:g}, bi_xy_std {p.bi_xy_std:g}, bi_rgb_std {p.bi_rgb_std:g}); "
                f"no CRF {self.no_crf_miou * 100:.2f}%")


class _Scorer:
    """mIoU of parameter settings over the images, walking each sigma pair's weights on one lattice."""

    def __init__(self, sessions, probs, gts, n_classes: int, should_cancel, report):
        self.sessions, self.probs, self.gts, self.n = sessions, probs, gts, n_classes
        self.should_cancel, self.report = should_cancel, report
        self.done, self.total = 0, 0
        self.scores: dict[CRFParams, float] = {}

    def score(self, candidates: list[CRFParams]) -> None:
        todo = [p for p in dict.fromkeys(candidates) if p not in self.scores]
        self.total += len(todo) * len(self.sessions)
        by_lattice: dict[tuple, list[CRFParams]] = {}
        for p in todo:
            by_lattice.setdefault((p.pos_xy_std, p.bi_xy_std, p.bi_rgb_std), []).append(p)
        for group in by_lattice.values():
            confs = {p: np.zeros((self.n, self.n), np.int64) for p in group}
            for session, probs, gt in zip(self.sessions, self.probs, self.gts):
                for p in group:           # same lattices, other weights: the fast engine reuses them
                    check_cancel(self.should_cancel)
                    labels = session.run(probs, p).labels
                    confs[p] += confusion_matrix(gt, labels, self.n)
                    self.done += 1
                    self.report(self.done, self.total, f"CRF search: {self.done}/{self.total} runs")
            for p, conf in confs.items():
                self.scores[p] = mean_iou(conf)

    def best(self) -> tuple[CRFParams, float]:
        p = max(self.scores, key=lambda k: (self.scores[k], -_distance_key(k)))
        return p, self.scores[p]


def _distance_key(p: CRFParams) -> float:
    """Tie-break: among equal scores prefer the gentler setting (smaller weights)."""
    return p.bi_w + p.pos_w


def grid(base: CRFParams, space: dict) -> list[CRFParams]:
    """Every combination of ``space`` (field -> values) on top of ``base``."""
    keys = list(space)
    return [base.replace(**dict(zip(keys, values))) for values in itertools.product(*(space[k] for k in keys))]


def fine_grid(best: CRFParams) -> list[CRFParams]:
    """The fine stage: the bilateral widths and weight scaled around the coarse winner, to 0.01 (what the CRF
    panel shows and a folder's project.json keeps, so the values kept are the values scored)."""
    return grid(best, {"bi_xy_std": tuple(round(best.bi_xy_std * m, 2) for m in FINE_SIGMA),
                       "bi_rgb_std": tuple(round(best.bi_rgb_std * m, 2) for m in FINE_SIGMA),
                       "bi_w": tuple(round(best.bi_w * m, 2) for m in FINE_WEIGHT)})


def tune_crf(backend, images, probs, gts, baseline: CRFParams, n_classes: int, coarse: dict | None = None,
             fine: bool = True, should_cancel=None, on_progress: ProgressFn = None) -> TuneResult:
    """Search the CRF parameters (Gaussian kernel and iterations as in ``baseline``) that maximise mIoU of
    ``backend``'s results on (H,W,3) uint8 ``images`` with (C,H,W) float32 ``probs`` against (H,W) uint8 ``gts``."""
    if not images:
        raise EngineError("the CRF search needs at least one image with saved labels")
    if not (len(images) == len(probs) == len(gts)):
        raise EngineError("the CRF search needs as many probability maps and label maps as images")
    report = on_progress or (lambda d, t, s: None)
    sessions = [backend.session(im) for im in images]
    scorer = _Scorer(sessions, probs, gts, n_classes, should_cancel, report)
    scorer.score([baseline])
    baseline_miou = scorer.scores[baseline]
    scorer.score(grid(baseline, coarse or COARSE))
    if fine:
        scorer.score(fine_grid(scorer.best()[0]))
    best, best_miou = scorer.best()
    if best_miou <= baseline_miou:
        best, best_miou = baseline, baseline_miou
    conf = np.zeros((n_classes, n_classes), np.int64)
    for p, gt in zip(probs, gts):
        conf += confusion_matrix(gt, p.argmax(0), n_classes)
    return TuneResult(best, best_miou, baseline, baseline_miou, mean_iou(conf), len(scorer.scores), len(images))


def tune_on_folder(folder, predictor, baseline: CRFParams, backend=None, max_images: int = 20,
                   should_cancel=None, on_progress: ProgressFn = None, **kwargs) -> TuneResult:
    """CRF > Tune on saved labels and `main.py tune-crf`: predict the saved images (at most ``max_images``, spread
    over the folder) with ``predictor``, then tune_crf against their labels."""
    from ..crf import get_backend
    from .saved import check_class_count, load_checked, saved_images

    n = predictor.n_classes
    check_class_count(folder, n)
    items = saved_images(folder)
    if len(items) > max_images:
        items = [items[int(i)] for i in np.linspace(0, len(items) - 1, max_images).round()]
    pairs = load_checked(items, n)
    report = on_progress or (lambda d, t, s: None)
    probs = []
    for k, (image, _) in enumerate(pairs):
        check_cancel(should_cancel)
        report(k, len(pairs), f"CRF search: predicting saved image {k + 1}/{len(pairs)}")
        probs.append(predictor.predict(image, should_cancel=should_cancel))
    backend = backend if backend is not None else get_backend("fast")
    return tune_crf(backend, [im for im, _ in pairs], probs, [lab for _, lab in pairs], baseline, n,
                    should_cancel=should_cancel, on_progress=on_progress, **kwargs)
