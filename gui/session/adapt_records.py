"""What the adaptation (gui.session.adaptation) keeps beside the head: what a prediction carries (Prepared), each
stroke's heads for its undo record (StrokeHeads), and the digest that says which locks a head is fitted to."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from engine.learn.adapt import HeadState


@dataclass(frozen=True)
class Prepared:
    """What a prediction carries besides the probabilities: the head that made them and, when it went through
    the classifier seam, the image's features (None after a plain Predictor.predict)."""
    features: object
    head: HeadState


@dataclass(frozen=True)
class StrokeHeads:
    """A stroke's heads: ``before`` fitted to the locks with key ``key_before``, ``after`` to ``key_after``."""
    before: HeadState
    after: HeadState
    key_before: bytes
    key_after: bytes


def locks_key(labels: np.ndarray, locked: np.ndarray) -> bytes:
    """A digest of which pixels are locked and to what: the head is 'fitted to' one such set of locks."""
    h = hashlib.blake2b(digest_size=16)
    h.update(np.packbits(locked).tobytes())
    h.update(np.ascontiguousarray(labels[locked]).tobytes())
    return h.digest()
