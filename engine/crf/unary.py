"""The unary energy from softmax probabilities, defined once so every backend sees identical input."""
import numpy as np

PROB_CLIP = 1e-5  # same as pydensecrf.utils.unary_from_softmax


def unary_from_probs(probs: np.ndarray) -> np.ndarray:
    """(C,H,W) probabilities -> (C,H*W) float32 C-contiguous energies -log(clip(p))."""
    probs = np.asarray(probs, dtype=np.float32)
    c = probs.shape[0]
    u = -np.log(np.clip(probs.reshape(c, -1), PROB_CLIP, 1.0))
    return np.ascontiguousarray(u, dtype=np.float32)
