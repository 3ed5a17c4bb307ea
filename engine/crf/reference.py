"""Reference backend: a direct pydensecrf call, fed the raw RGB image (never the mean-subtracted one).

pydensecrf (the pydensecrf2 package) is optional: PyPI has no wheel for it, so installing it needs a C compiler,
and the app's default CRF is its own engine. `pip install 'deeplab-annotator[reference]'` adds it (the dev extra,
so `make test`, includes it). Without it this module still imports; choosing the backend raises
ReferenceUnavailable, an EngineError whose message says how to install it.
"""
from __future__ import annotations

import numpy as np

from ..errors import EngineError, check_cancel
from .base import CRFResult, as_probs, check_image, check_inputs, check_probs, labels_from_probs
from .params import CRFParams
from .unary import unary_from_probs


INSTALL_HINT = ("the reference CRF backend needs pydensecrf, which is not installed: "
                "pip install 'deeplab-annotator[reference]' (or pip install pydensecrf2; it builds from source and "
                "needs a C compiler). The default backend, 'fast', needs nothing more.")


class ReferenceUnavailable(EngineError):
    """The reference backend was chosen but pydensecrf is not installed."""


def _densecrf():
    """pydensecrf.densecrf, or ReferenceUnavailable."""
    try:
        import pydensecrf.densecrf as dcrf
    except ImportError as exc:
        raise ReferenceUnavailable(INSTALL_HINT) from exc
    return dcrf


def unavailable_reason() -> str | None:
    """Why the reference backend cannot run here (pydensecrf missing), or None when it can."""
    try:
        _densecrf()
    except ReferenceUnavailable as exc:
        return str(exc)
    return None


def pydensecrf_refine(image_rgb: np.ndarray, probs: np.ndarray, params: CRFParams) -> np.ndarray:
    """The textbook call (kazuto's crf.py): returns Q as (C,H,W) float32."""
    dcrf = _densecrf()
    c, h, w = probs.shape
    d = dcrf.DenseCRF2D(w, h, c)
    d.setUnaryEnergy(unary_from_probs(probs))
    d.addPairwiseGaussian(sxy=params.pos_xy_std, compat=params.pos_w)
    d.addPairwiseBilateral(sxy=params.bi_xy_std, srgb=params.bi_rgb_std,
                           rgbim=np.require(image_rgb, np.uint8, ["C", "W"]), compat=params.bi_w)
    q = d.inference(params.iterations)
    return np.asarray(q, dtype=np.float32).reshape(c, h, w)


class ReferenceSession:
    """One image; every run rebuilds everything, as pydensecrf does."""

    def __init__(self, image_rgb: np.ndarray):
        # pydensecrf needs a writable C-contiguous buffer; images decoded by Pillow are read-only views.
        # Checked first: np.require would silently cast a float or uint16 image to uint8.
        self.image = np.require(check_image(image_rgb), dtype=np.uint8, requirements=["C", "W"])

    def run(self, probs, params: CRFParams, should_cancel=None, on_iteration=None) -> CRFResult:
        probs = as_probs(probs)
        check_inputs(self.image, probs, params)
        check_probs(probs)
        check_cancel(should_cancel)
        q = pydensecrf_refine(self.image, probs, params)
        check_cancel(should_cancel)
        if on_iteration is not None:
            on_iteration(params.iterations, params.iterations, q)
        return CRFResult(q, labels_from_probs(q))


class ReferenceBackend:
    """pydensecrf, single-threaded; kept selectable to check the fast engine against."""

    name = "reference"
    label = "pydensecrf (reference)"

    def __init__(self):
        _densecrf()   # ReferenceUnavailable now, with its message, rather than at the first run

    def session(self, image_rgb: np.ndarray) -> ReferenceSession:
        return ReferenceSession(image_rgb)
