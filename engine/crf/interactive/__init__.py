"""The CRF as an annotator uses it on images of any size: downscaled previews while sliders move, local windows
after strokes, the exact whole-image result when idle and before every save (refiner.py holds the policy)."""
from ..compact import CompactProbs
from .downscale import PREVIEW_PIXELS, Downscaled, preview_scale
from .refiner import (COMPACT_PIXELS, HALF_PROBS_BYTES, HALF_PROBS_PIXELS, IDLE_MS, KIND_EXACT, KIND_LOCAL,
                      KIND_NETWORK, LOCAL_MIN_PIXELS, InteractiveCRF, Outcome, Plan, dirty_box, probs_dtype)

__all__ = ["CompactProbs", "Downscaled", "InteractiveCRF", "Outcome", "Plan", "dirty_box", "preview_scale",
           "probs_dtype", "PREVIEW_PIXELS", "COMPACT_PIXELS", "HALF_PROBS_PIXELS", "HALF_PROBS_BYTES", "IDLE_MS",
           "KIND_EXACT", "KIND_LOCAL", "KIND_NETWORK", "LOCAL_MIN_PIXELS"]
