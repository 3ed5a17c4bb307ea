"""A scene family the demo models have never seen: a pale woven fabric belt under warm, uneven light, with other
object colours (kraft paper, green/amber glass-like bottles, black bin bags, gold and black cans).

It keeps synth's geometry and labelling rule, so ground truth means the same thing; only appearance moves. This is
the "new site" of bench/annotation_effort.py: a model trained on the rubber belt is confidently wrong here (the pale
belt looks like paper or a white bag, black bags look like the old belt), which is what corrections that teach
must fix.
"""
from __future__ import annotations

import cv2
import numpy as np

from engine.demo.texture import Domain, add_dirt, pick, smooth_noise


def _fabric_belt(rng: np.random.Generator, h: int, w: int, s: float) -> np.ndarray:
    """Pale woven fabric: a warp/weft thread pattern, transverse seams, slow fading and dark oil stains."""
    base = np.array(pick(rng, [(0.42, 0.40, 0.34), (0.36, 0.40, 0.36), (0.50, 0.46, 0.38), (0.40, 0.40, 0.42)]),
                    np.float32) * rng.uniform(0.85, 1.1)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    period = rng.uniform(3.0, 5.0) * s
    warp = np.sin(2 * np.pi * xx / period)
    weft = np.sin(2 * np.pi * yy / period)
    weave = 0.06 * np.sign(warp * weft) * np.minimum(np.abs(warp), np.abs(weft)) ** 0.5
    seam_period = rng.uniform(60, 120) * s
    seams = np.abs(((xx + rng.uniform(0, seam_period)) % seam_period) - seam_period / 2) < 1.5 * s
    fade = smooth_noise(rng, h, w, rng.uniform(40, 80) * s) * 0.06
    shade = (1.0 + weave + fade) * np.where(seams, 0.7, 1.0)
    img = base[None, None, :] * shade[..., None]
    return add_dirt(rng, img, h, w, s, tones=(0.25, 0.6))


def _warm_camera(rng: np.random.Generator, img: np.ndarray, h: int, w: int) -> np.ndarray:
    """Tungsten-like light: a warm cast, a strong vignette and a bright band from a side lamp; blur and noise."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r2 = ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2
    vignette = 1.0 - rng.uniform(0.25, 0.4) * r2 / 2
    angle = rng.uniform(0, np.pi)
    band = np.exp(-(((xx - w / 2) * np.cos(angle) + (yy - h / 2) * np.sin(angle)) / (0.25 * max(h, w))) ** 2)
    light = vignette * (0.85 + rng.uniform(0.2, 0.35) * band)
    cast = np.array([1.12, 0.98, 0.72], np.float32) * rng.uniform(0.95, 1.05, 3).astype(np.float32)
    img = img * light[..., None] * cast
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), rng.uniform(0.8, 1.5))
    return img + rng.normal(0, rng.uniform(0.02, 0.035), img.shape).astype(np.float32)


SHIFTED_DOMAIN = Domain(
    "shifted", _fabric_belt, _warm_camera,
    paper=((0.60, 0.45, 0.30), (0.55, 0.40, 0.26), (0.72, 0.72, 0.70), (0.85, 0.55, 0.60)),
    bottle=((0.25, 0.50, 0.30), (0.62, 0.38, 0.15), (0.30, 0.40, 0.70), (0.20, 0.35, 0.22)),
    cap=((0.95, 0.85, 0.1), (0.1, 0.1, 0.1), (0.9, 0.5, 0.1)),
    bag=((0.09, 0.09, 0.10), (0.12, 0.14, 0.22), (0.70, 0.15, 0.15), (0.10, 0.10, 0.09)),
    can=((0.80, 0.66, 0.28), (0.13, 0.13, 0.14), (0.45, 0.20, 0.55), (0.85, 0.72, 0.35)))
