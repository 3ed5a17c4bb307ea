"""What the demo scene families share: their description (Domain) and the texture helpers their belts and objects
are drawn with.

Here, not in synth.py, so that synth (the scene generator, which names every domain) and shifted (one domain) both
import it and neither imports the other: synth -> shifted -> texture. The functions draw from the rng in a fixed
order; moving them changed no scene.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

__all__ = ["Domain", "pick", "smooth_noise", "add_dirt"]


@dataclass(frozen=True)
class Domain:
    """What one family of scenes looks like: the belt, the object colours (RGB 0-1 choices per kind) and the camera.
    Object shapes and the labelling rule are the same in every domain, so ground truth means the same thing."""
    name: str
    belt: Callable      # (rng, h, w, s) -> (H,W,3) float32 image
    camera: Callable    # (rng, img, h, w) -> img
    paper: tuple
    bottle: tuple
    cap: tuple
    bag: tuple
    can: tuple


def smooth_noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Zero-mean, unit-ish smooth noise (H,W) float32: random grid of about cell px, bicubic upsampled."""
    gh, gw = max(2, int(h / cell) + 2), max(2, int(w / cell) + 2)
    grid = rng.standard_normal((gh, gw)).astype(np.float32)
    return cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)


def pick(rng: np.random.Generator, options):
    """One of the options, drawn with rng (one integer draw, so scenes stay bit-identical per seed)."""
    return options[int(rng.integers(len(options)))]


def add_dirt(rng, img, h, w, s, tones=(0.55, 1.6)) -> np.ndarray:
    """Dirt flecks and stains: belt-labelled things that look a little like objects."""
    for _ in range(int(rng.integers(2, 7))):
        mask = np.zeros((h, w), np.float32)
        c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        axes = (int(rng.integers(3, 18) * s), int(rng.integers(2, 10) * s))
        cv2.ellipse(mask, c, axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1, cv2.LINE_AA)
        mask = cv2.GaussianBlur(mask, (0, 0), rng.uniform(1.5, 4.0) * s)
        tone = rng.uniform(*tones)
        img = img * (1 - mask[..., None]) + img * tone * mask[..., None]
    return img
