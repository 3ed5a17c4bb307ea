"""What every CRF backend returns, and input checks they share."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import EngineError


@dataclass(frozen=True)
class CRFResult:
    """Refined probabilities (C,H,W) float32 (or, asked for compact, engine.crf.interactive.CompactProbs) and
    their argmax labels (H,W) uint8; note: what the user should know about how it was computed (e.g. 'the GPU
    ran out of memory: ran on the CPU'), or ''."""

    probs: np.ndarray
    labels: np.ndarray
    note: str = ""
    unc: np.ndarray | None = None  # (H,W) uncertainty when the backend computed it (compact results, see fast)


def progress_only(on_iteration):
    """Mark an on_iteration callback that never calls its preview (it reports progress only), so a run need not
    make one: a streamed run otherwise writes every pass's labels as it goes (0.4-0.5 s of a 12 MP exact run).
    Returns the callback; such a callback gets None as its preview."""
    on_iteration.wants_preview = False
    return on_iteration


def wants_preview(on_iteration) -> bool:
    """Whether a run should make previews for this on_iteration (None: no callback, none)."""
    return on_iteration is not None and getattr(on_iteration, "wants_preview", True)


PROB_TOLERANCE = 1e-3   # probabilities a little outside [0, 1] (rounding) are clipped by the unary anyway
MAX_FEATURE = 1e6       # |position / std| and |colour / std| beyond this crash pydensecrf's lattice


def check_image(image_rgb) -> np.ndarray:
    """The CRF image as given, if it is (H,W,3) uint8 RGB with pixels; EngineError otherwise.

    Why so strict: pydensecrf would silently cast (a float [0,1] image turns black, uint16 wraps mod 256)."""
    image = np.asarray(image_rgb)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise EngineError(f"CRF image must be (H,W,3) uint8 RGB 0-255, got {image.shape} {image.dtype}"
                          + ("; scale float or 16-bit images to 0-255 uint8 first (engine.io.images.read_image "
                             "does)" if image.dtype != np.uint8 else ""))
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise EngineError(f"CRF image has no pixels ({image.shape[1]}x{image.shape[0]})")
    return image


def as_probs(probs, keep_half: bool = False) -> np.ndarray:
    """(C,H,W) floating-point probabilities as float32 (no copy if they are already; with keep_half, float16 ones
    stay float16: large images keep them so, and a full-size copy just to change the type is what they avoid);
    EngineError otherwise."""
    arr = np.asarray(probs)
    if not np.issubdtype(arr.dtype, np.floating):
        raise EngineError(f"CRF probabilities must be floating point (softmax output), got {arr.dtype}")
    if arr.ndim != 3 or 0 in arr.shape:
        raise EngineError(f"CRF probabilities must be (C,H,W) with C, H, W > 0, got {arr.shape}")
    if keep_half and arr.dtype == np.float16:
        return arr
    return np.asarray(arr, dtype=np.float32)


_UNSIGNED = {np.dtype(np.float16): np.uint16, np.dtype(np.float32): np.uint32, np.dtype(np.float64): np.uint64}


def nonnegative_max(values: np.ndarray) -> float | None:
    """The largest of float16/32/64 values by their bits, or None when a sign bit is set somewhere (-0.0 or a
    negative: ask np.max). Why: for floats without a sign bit the bit patterns order like the values (NaN above
    infinity above the finite ones), and an integer maximum is about 30x faster than numpy's float16 maximum
    (12 MP x 5 classes: 4 ms against 130 ms, paid by every stroke's new probabilities)."""
    arr = np.asarray(values)
    unsigned = _UNSIGNED.get(arr.dtype)
    if unsigned is None or arr.size == 0:
        return None
    top = arr.view(unsigned).max()
    if top >> (8 * arr.itemsize - 1):
        return None
    return float(np.array(top, unsigned).view(arr.dtype))


def check_probs(probs: np.ndarray) -> None:
    """Every value finite and within [0, 1]: one NaN would make all of Q NaN and every label 0."""
    hi = nonnegative_max(probs)
    if hi is not None and hi <= 1 + PROB_TOLERANCE:  # (NaN compares False): no sign bit, so none below 0
        return
    lo, hi = float(np.min(probs)), float(np.max(probs))  # NaN propagates through min/max
    if not (np.isfinite(lo) and np.isfinite(hi)):
        bad = int(np.count_nonzero(~np.isfinite(probs)))
        raise EngineError(f"CRF probabilities contain {bad} NaN or infinite value(s): the network output is "
                          f"broken (check the model's weights); the CRF was not run")
    if lo < -PROB_TOLERANCE or hi > 1 + PROB_TOLERANCE:
        raise EngineError(f"CRF probabilities must lie in [0, 1] (softmax output), found {lo:g}..{hi:g}")


def check_inputs(image_rgb: np.ndarray, probs: np.ndarray, params=None) -> None:
    """Image must be (H,W,3) uint8 and probabilities (C,H,W) of the same size; with params, the kernel widths
    must keep lattice coordinates in range for this image size."""
    check_image(image_rgb)
    if probs.ndim != 3 or probs.shape[1:] != image_rgb.shape[:2]:
        raise EngineError(f"CRF probabilities {probs.shape} do not match image {image_rgb.shape[:2]}")
    if probs.shape[0] == 0:
        raise EngineError("CRF probabilities have no classes")
    if probs.shape[0] > 255:
        raise EngineError("at most 255 classes fit a uint8 label map with 255 = void")
    if params is not None:
        span = max(image_rgb.shape[:2])
        for name, reach in (("pos_xy_std", span), ("bi_xy_std", span), ("bi_rgb_std", 255)):
            std = float(getattr(params, name))
            if reach / std > MAX_FEATURE:
                raise EngineError(f"CRF {name} = {std:g} is too small for this {image_rgb.shape[1]}x"
                                  f"{image_rgb.shape[0]} image (use at least {reach / MAX_FEATURE:.3g})")


def labels_from_probs(probs: np.ndarray) -> np.ndarray:
    """Argmax over classes as uint8 (first maximum wins, like pydensecrf's MAP), one class at a time: np.argmax
    over the first axis copies all classes (0.5 GB at 12 MP x 21 classes in float16)."""
    best = np.array(probs[0])
    labels = np.zeros(best.shape, np.uint8)
    better = np.empty(best.shape, bool)
    for c in range(1, probs.shape[0]):
        x = probs[c]
        np.greater(x, best, out=better)
        labels[better] = c
        np.maximum(best, x, out=best)
    return labels
