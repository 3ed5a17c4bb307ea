"""Belt scenes with two classes the demo models never saw, "cardboard" and "glass": the bench's built-in set for
classes a folder has and its model lacks (bench/annotation_effort.py --scenes own).

Cardboard: flat brown sheets with corrugation and a strip of tape. Glass: dark green or amber shards, translucent
with hard specular glints. Both share colours with known classes in places (brown paper, green bottles), as real
classes do. Same generator, belt and camera as the demo scenes (engine.demo.synth), so only the classes are new.
"""
from __future__ import annotations

import cv2
import numpy as np

from engine.demo import synth
from engine.demo.texture import pick, smooth_noise

CLASS_NAMES: tuple[str, ...] = synth.CLASS_NAMES + ("cardboard", "glass")
PALETTE: tuple[tuple[int, int, int], ...] = synth.PALETTE + ((150, 100, 50), (120, 230, 220))
CARDBOARD, GLASS = 5, 6
SEED0 = 4_000_000    # disjoint from the demo splits and the learning tests


def _cardboard(rng, h, w, s, dom):
    """A flat box panel: brown, corrugation ridges across it, a strip of tape along it."""
    cx, cy = rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h
    sw, sh = rng.uniform(60, 120) * s, rng.uniform(40, 80) * s
    angle = rng.uniform(0, np.pi)
    u, v = synth._axis_coords(h, w, (cx, cy), angle)
    shape = np.clip(0.5 - (np.maximum(np.abs(u) - sw / 2, np.abs(v) - sh / 2)) / 1.0, 0, 1).astype(np.float32)
    colour = np.array(pick(rng, ((0.55, 0.38, 0.20), (0.60, 0.43, 0.24), (0.50, 0.36, 0.22))), np.float32)
    ridges = 1.0 + 0.10 * np.sin(2 * np.pi * u / (rng.uniform(3.0, 4.5) * s))
    tex = ridges * (1.0 + smooth_noise(rng, h, w, 20 * s) * 0.05)
    tape = np.abs(v - rng.uniform(-0.2, 0.2) * sh) < rng.uniform(4, 7) * s
    layer = colour[None, None, :] * tex[..., None]
    layer = np.where(tape[..., None], np.float32(0.85) * colour * 1.3, layer)
    return shape, shape, layer.astype(np.float32)


def _glass(rng, h, w, s, dom):
    """A broken bottle's shards: a few sharp polygons, dark green or amber, see-through, hard white glints."""
    cx, cy = rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h
    mask = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(2, 5))):
        k = int(rng.integers(3, 6))
        r = rng.uniform(20, 40) * s
        t = np.sort(rng.uniform(0, 2 * np.pi, k))
        ox, oy = rng.normal(0, 14 * s, 2)
        pts = np.stack([cx + ox + np.cos(t) * r * rng.uniform(0.5, 1.0, k),
                        cy + oy + np.sin(t) * r * rng.uniform(0.5, 1.0, k)], 1)
        mask = np.maximum(mask, synth._polygon_mask(h, w, pts))
    shape = cv2.GaussianBlur(mask, (0, 0), 0.6)
    tint = np.array(pick(rng, ((0.10, 0.35, 0.15), (0.45, 0.22, 0.05), (0.08, 0.28, 0.12))), np.float32)
    glint = (smooth_noise(rng, h, w, 4 * s) > 1.4).astype(np.float32)
    layer = tint[None, None, :] * (1.0 + smooth_noise(rng, h, w, 8 * s)[..., None] * 0.15) + glint[..., None] * 0.7
    return shape, shape * rng.uniform(0.75, 0.9), layer.astype(np.float32)


MAKERS = {**synth._MAKERS, CARDBOARD: _cardboard, GLASS: _glass}
WEIGHTS = (0.2, 0.15, 0.15, 0.15, 0.175, 0.175)   # paper, bottle, bag, can, cardboard, glass


def make_scene(index: int, size=None) -> synth.Scene:
    """Scene ``index`` of the set, at one of the sample sizes (or ``size``)."""
    size = size if size is not None else synth.sample_size(index)
    return synth.make_scene(SEED0 + int(index), size, "belt", makers=MAKERS, weights=WEIGHTS)


def make_set(start: int, count: int, size=None) -> list:
    return [make_scene(i, size) for i in range(start, start + count)]
