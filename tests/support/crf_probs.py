"""Small CRF scenes and the comparison with pydensecrf shared by the CRF engine tests."""
import cv2
import numpy as np

from engine.crf import PRESETS, CRFParams
from engine.crf.fast import lattice_cache as lc
from engine.crf.fast.cpu_engine import Q0_MESSAGES
from engine.crf.fast.history import HISTORIES
from tests.support.crf_scenes import synthetic_photo


def random_probs(c, h, w, seed=0, absent=0):
    """Smooth, network-like softmax; the last `absent` classes get ~0 probability (clipped -> identical unaries)."""
    rng = np.random.default_rng(seed)
    logits = cv2.resize(rng.normal(0, 2.5, (h // 8 + 2, w // 8 + 2, c)).astype(np.float32), (w, h))
    logits = logits.reshape(h, w, c).transpose(2, 0, 1) + rng.normal(0, 0.5, (c, h, w)).astype(np.float32)
    if absent:
        logits[c - absent:] -= 40.0
    p = np.exp(logits - logits.max(0))
    return (p / p.sum(0)).astype(np.float32)


def clear_crf_caches():
    lc.clear()
    HISTORIES.clear()
    Q0_MESSAGES.clear()


def assert_matches_reference(result, ref):
    """max |dQ| <= 1e-4; a label may differ only where pydensecrf's own top-2 are within 1e-4 (float noise)."""
    assert result.probs.shape == ref.shape and result.probs.dtype == np.float32
    assert float(np.abs(result.probs - ref).max()) <= 1e-4
    ref_labels = ref.argmax(0)
    differ = result.labels != ref_labels
    assert differ.mean() <= 1e-4 or differ.sum() <= 1
    if differ.any():
        ys, xs = np.nonzero(differ)
        gap = ref[ref_labels[ys, xs], ys, xs] - ref[result.labels[ys, xs], ys, xs]
        assert gap.max() <= 1e-4
    assert result.labels.dtype == np.uint8


GRID = [
    # (h, w, classes, params, absent classes) -- odd sizes (N % 4 != 0), 2 labels (pydensecrf's seqCompute path)
    (37, 53, 2, PRESETS["deeplab-v1"], 0),
    (64, 96, 21, PRESETS["deeplab-v2"], 0),
    (45, 71, 5, CRFParams(3, 0.5, 5, 2, 1, 5), 0),          # tiny sigmas: about one vertex per point and more
    (50, 50, 4, CRFParams(3, 200, 5, 500, 200, 5), 0),      # huge sigmas: a handful of vertices
    (33, 41, 3, CRFParams(0, 3, 6, 30, 10, 4), 0),          # bilateral term only
    (40, 39, 6, CRFParams(5, 2, 0, 30, 10, 4), 0),          # Gaussian term only
    (81, 121, 21, PRESETS["deeplab-v1"], 17),               # 17 absent classes merge into one channel
    (30, 31, 4, CRFParams(3, 3, 4, 50, 5, 0), 0),           # 0 iterations = softmax of the unary
    (375, 500, 21, PRESETS["deeplab-v1"], 0),               # 0.19 MP, natural-looking
]


scene_image = synthetic_photo
