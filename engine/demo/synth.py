"""Deterministic synthetic "recycling belt" scenes for training and checking the bundled demo models.

No public weights can be downloaded at run time, so the app ships small models trained on this generator. The scenes
are built to look like a plausible annotation job (waste items on a textured conveyor belt) and to be hard in the
ways that make a dense CRF useful: soft, blurred and translucent boundaries, texture, sensor noise, shadows, belt
dirt that looks like objects, and similar colours across classes (white paper vs. white bags, clear bottles vs.
translucent bags). Every scene is a pure function of (seed, size): same seed -> bit-identical arrays.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine.demo.shifted import SHIFTED_DOMAIN
from engine.demo.texture import Domain, add_dirt, pick, smooth_noise

CLASS_NAMES: tuple[str, ...] = ("belt", "paper", "plastic bottle", "plastic bag", "metal can")
PALETTE: tuple[tuple[int, int, int], ...] = (
    (40, 40, 40), (230, 200, 60), (40, 120, 230), (230, 60, 160), (60, 200, 90))
BELT, PAPER, BOTTLE, BAG, CAN = range(5)

# Disjoint seed ranges: training draws from TRAIN, CRF tuning from VAL, reported numbers and samples from TEST.
TRAIN_SEED0 = 0
VAL_SEED0 = 1_000_000
TEST_SEED0 = 2_000_000
TRAIN_SIZE = (240, 320)  # (H, W) of training scenes
SAMPLE_SIZES = ((240, 320), (288, 384), (300, 400), (360, 480))


@dataclass(frozen=True)
class Scene:
    """One generated scene: image (H,W,3) uint8 RGB and labels (H,W) uint8 class ids (no void)."""
    image: np.ndarray
    labels: np.ndarray
    seed: int


def _belt(rng: np.random.Generator, h: int, w: int, s: float) -> np.ndarray:
    """Rubber conveyor belt: dark tinted base, transverse ridges, mottling, dirt flecks and a light gradient."""
    base = np.array(pick(rng, [(0.24, 0.25, 0.26), (0.18, 0.22, 0.20), (0.20, 0.21, 0.27), (0.30, 0.28, 0.25)]),
                    np.float32) * rng.uniform(0.8, 1.25)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    period = rng.uniform(5.0, 11.0) * s
    angle = rng.uniform(-0.08, 0.08)
    ridges = np.sin(2 * np.pi * (xx + angle * yy) / period) * rng.uniform(0.02, 0.05)
    mottle = smooth_noise(rng, h, w, rng.uniform(12, 30) * s) * rng.uniform(0.02, 0.05)
    shade = 1.0 + ridges + mottle
    return add_dirt(rng, base[None, None, :] * shade[..., None], h, w, s)


def _polygon_mask(h: int, w: int, pts: np.ndarray) -> np.ndarray:
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [np.round(pts * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    return mask.astype(np.float32) / 255.0


def _axis_coords(h: int, w: int, center, angle: float):
    """Coordinates along (u) and across (v) an object's axis, in pixels."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dx, dy = xx - center[0], yy - center[1]
    ca, sa = np.cos(angle), np.sin(angle)
    return dx * ca + dy * sa, -dx * sa + dy * ca


def _paper(rng, h, w, s, dom):
    """Opaque sheet or crumpled scrap: pale colour, fibre texture, folds, a few printed lines."""
    cx, cy = rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h
    sw, sh = rng.uniform(40, 100) * s, rng.uniform(35, 85) * s
    angle = rng.uniform(0, np.pi)
    if rng.random() < 0.5:  # sheet: jittered rectangle
        corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float32) * [sw / 2, sh / 2]
        corners += rng.normal(0, 4 * s, corners.shape)
    else:  # crumpled scrap: irregular polygon
        k = int(rng.integers(6, 10))
        t = np.sort(rng.uniform(0, 2 * np.pi, k))
        r = rng.uniform(0.6, 1.0, k)[:, None]
        corners = np.stack([np.cos(t) * sw / 2, np.sin(t) * sh / 2], 1) * r
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], np.float32)
    pts = corners @ rot.T + [cx, cy]
    shape = cv2.GaussianBlur(_polygon_mask(h, w, pts), (0, 0), 0.7)
    colour = np.array(pick(rng, dom.paper), np.float32)
    u, v = _axis_coords(h, w, (cx, cy), angle + rng.uniform(-0.5, 0.5))
    tex = 1.0 + smooth_noise(rng, h, w, 3.0) * 0.03 + smooth_noise(rng, h, w, 25 * s) * 0.05
    for _ in range(int(rng.integers(0, 3))):  # folds: one side of a line slightly darker
        off = rng.uniform(-sw / 3, sw / 3)
        tex = tex * np.where(u > off, rng.uniform(0.82, 0.95), 1.0)
    if rng.random() < 0.6:  # printed text lines
        for j in range(int(rng.integers(2, 6))):
            band = np.abs(v - (j - 2) * rng.uniform(6, 9) * s) < 1.2 * s
            tex = tex * np.where(band & (np.abs(u) < sw * 0.3), rng.uniform(0.35, 0.7), 1.0)
    layer = colour[None, None, :] * tex[..., None].astype(np.float32)
    return shape, shape, layer


def _bottle(rng, h, w, s, dom):
    """Clear or tinted PET bottle lying on the belt: partly see-through, cylinder shading, bright specular streak."""
    cx, cy = rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h
    length, radius = rng.uniform(55, 130) * s, rng.uniform(11, 20) * s
    angle = rng.uniform(0, np.pi)
    d = np.array([np.cos(angle), np.sin(angle)])
    p0, p1 = np.array([cx, cy]) - d * length / 2, np.array([cx, cy]) + d * length / 2
    mask = np.zeros((h, w), np.uint8)
    cv2.line(mask, tuple(np.round(p0 * 16).astype(int)), tuple(np.round(p1 * 16).astype(int)), 255,
             int(2 * radius), cv2.LINE_AA, shift=4)
    neck_end = p1 + d * radius * 1.4
    cv2.line(mask, tuple(np.round(p1 * 16).astype(int)), tuple(np.round(neck_end * 16).astype(int)), 255,
             int(radius * 0.9), cv2.LINE_AA, shift=4)
    shape = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), 0.8)
    tint = np.array(pick(rng, dom.bottle), np.float32)
    u, v = _axis_coords(h, w, (cx, cy), angle)
    t = np.clip(v / radius, -1, 1)
    body = 0.75 + 0.25 * np.sqrt(1 - t ** 2)
    ribs = 1.0 + 0.06 * np.sin(u / (rng.uniform(3, 6) * s))
    layer = tint[None, None, :] * (body * ribs)[..., None]
    spec = np.exp(-((t + rng.uniform(0.2, 0.5)) / 0.12) ** 2) * rng.uniform(0.25, 0.55)
    layer = layer + spec[..., None]
    cap = np.zeros((h, w), np.float32)
    cv2.circle(cap, tuple(np.round(neck_end * 16).astype(int)), int(radius * 0.55 * 16), 1.0, -1, cv2.LINE_AA, shift=4)
    cap_colour = np.array(pick(rng, dom.cap), np.float32)
    layer = layer * (1 - cap[..., None]) + cap_colour * cap[..., None]
    opacity = np.maximum(shape * rng.uniform(0.55, 0.8), cap * shape)
    return shape, opacity, layer.astype(np.float32)


def _bag(rng, h, w, s, dom):
    """Thin plastic bag: irregular blob, very soft edges, translucent, wrinkle highlights."""
    cx, cy = rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h
    r0 = rng.uniform(28, 70) * s
    t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    r = np.full_like(t, r0)
    for k in range(1, 5):
        r += r0 * rng.uniform(0, 0.25 / k) * np.cos(k * t + rng.uniform(0, 2 * np.pi))
    pts = np.stack([cx + r * np.cos(t) * rng.uniform(0.7, 1.3), cy + r * np.sin(t)], 1)
    hard = _polygon_mask(h, w, pts)
    shape = cv2.GaussianBlur(hard, (0, 0), rng.uniform(1.5, 3.5) * s)
    colour = np.array(pick(rng, dom.bag), np.float32)
    wrinkle = np.abs(smooth_noise(rng, h, w, rng.uniform(6, 14) * s))
    tex = 0.85 + 0.35 * np.clip(1.0 - wrinkle, 0, 1) ** 3 + smooth_noise(rng, h, w, 20 * s) * 0.06
    layer = colour[None, None, :] * tex[..., None]
    opacity = shape * rng.uniform(0.45, 0.75)
    return shape, opacity, layer.astype(np.float32)


def _can(rng, h, w, s, dom):
    """Crushed drink can: opaque metal cylinder with strong metallic banding; silver or printed colour."""
    cx, cy = rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h
    length, radius = rng.uniform(40, 75) * s, rng.uniform(13, 21) * s
    angle = rng.uniform(0, np.pi)
    u, v = _axis_coords(h, w, (cx, cy), angle)
    corner = radius * rng.uniform(0.2, 0.5)
    du, dv = np.maximum(np.abs(u) - (length / 2 - corner), 0), np.maximum(np.abs(v) - (radius - corner), 0)
    sd = np.sqrt(du ** 2 + dv ** 2) - corner  # signed-ish distance of a rounded rectangle
    shape = np.clip(0.5 - sd / 1.2, 0, 1).astype(np.float32)
    base = np.array(pick(rng, dom.can), np.float32)
    t = np.clip(v / radius, -1, 1)
    band = 0.55 + 0.35 * np.cos(3.0 * t + rng.uniform(-0.5, 0.5)) ** 2 + 0.4 * np.exp(-((t - 0.3) / 0.1) ** 2)
    dents = 1.0 + smooth_noise(rng, h, w, 6 * s) * 0.12
    rim = (np.abs(u) > length / 2 - 4 * s).astype(np.float32)
    colour = base[None, None, :] * (1 - rim[..., None]) + np.float32(0.8) * rim[..., None]
    layer = colour * (band * dents)[..., None]
    return shape, shape, layer.astype(np.float32)


def _camera(rng, img: np.ndarray, h: int, w: int) -> np.ndarray:
    """Uneven light, colour cast, defocus blur, sensor noise."""
    gx = np.linspace(-1, 1, w, dtype=np.float32)[None, :] * rng.uniform(-0.15, 0.15)
    gy = np.linspace(-1, 1, h, dtype=np.float32)[:, None] * rng.uniform(-0.15, 0.15)
    img = img * (1 + gx + gy)[..., None] * rng.uniform(0.92, 1.08, 3).astype(np.float32)
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), rng.uniform(0.6, 1.3))
    return img + rng.normal(0, rng.uniform(0.012, 0.03), img.shape).astype(np.float32)


BELT_DOMAIN = Domain(
    "belt", _belt, _camera,
    paper=((0.92, 0.91, 0.88), (0.93, 0.89, 0.78), (0.78, 0.84, 0.90), (0.62, 0.50, 0.36), (0.85, 0.85, 0.85),
           (0.90, 0.80, 0.82)),
    bottle=((0.80, 0.86, 0.90), (0.55, 0.70, 0.90), (0.55, 0.80, 0.62), (0.55, 0.38, 0.25), (0.85, 0.85, 0.86)),
    cap=((0.1, 0.3, 0.8), (0.9, 0.9, 0.9), (0.8, 0.1, 0.1), (0.1, 0.6, 0.2)),
    bag=((0.88, 0.88, 0.86), (0.45, 0.62, 0.42), (0.50, 0.62, 0.85), (0.90, 0.85, 0.45), (0.70, 0.72, 0.74)),
    can=((0.75, 0.76, 0.78), (0.80, 0.12, 0.12), (0.15, 0.30, 0.75), (0.20, 0.60, 0.30), (0.72, 0.74, 0.78)))


def domain(name: str = "belt") -> Domain:
    """The scene family by name: 'belt' (what the demo models were trained on) or 'shifted' (engine.demo.shifted:
    a fabric belt under warm light with other object colours, which they have never seen)."""
    if name == "belt":
        return BELT_DOMAIN
    if name == "shifted":
        return SHIFTED_DOMAIN
    raise ValueError(f"unknown scene domain {name!r}; expected 'belt' or 'shifted'")


_MAKERS = {PAPER: _paper, BOTTLE: _bottle, BAG: _bag, CAN: _can}
_CLASS_WEIGHTS = np.array([0.3, 0.25, 0.2, 0.25])


def make_scene(seed: int, size: tuple[int, int] = TRAIN_SIZE, scene_domain: str | Domain = "belt",
               makers: dict | None = None, weights=None) -> Scene:
    """Render scene `seed` at size (H, W). Objects are painted back to front; a pixel takes the class of the topmost
    object whose shape coverage is >= 0.5 there, otherwise belt. Pure function of (seed, size, domain).
    ``makers`` {class id: maker(rng, h, w, s, domain)} and ``weights`` (their draw probabilities) replace the four
    demo object kinds (engine.demo.own_classes adds kinds the demo models never saw)."""
    h, w = int(size[0]), int(size[1])
    if h < 32 or w < 32:
        raise ValueError(f"scene size must be at least 32x32, got {size}")
    dom = domain(scene_domain) if isinstance(scene_domain, str) else scene_domain
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), h, w]))
    s = min(h, w) / 240.0  # objects scale with the frame: same camera framing at every resolution
    img = dom.belt(rng, h, w, s)
    labels = np.zeros((h, w), np.uint8)
    n_obj = int(rng.integers(3, 9))
    kinds = _MAKERS if makers is None else makers
    p = _CLASS_WEIGHTS if makers is None else np.asarray(weights, np.float64)
    for cls in rng.choice(np.array(sorted(kinds)), size=n_obj, p=p):
        shape, opacity, layer = kinds[int(cls)](rng, h, w, s, dom)
        # Soft drop shadow offset down-right, painted before the object itself.
        shift = np.float32([[1, 0, rng.uniform(2, 6) * s], [0, 1, rng.uniform(2, 6) * s]])
        shadow = cv2.GaussianBlur(cv2.warpAffine(shape, shift, (w, h)), (0, 0), rng.uniform(2, 4) * s)
        img = img * (1 - 0.35 * shadow[..., None])
        a = opacity[..., None]
        img = img * (1 - a) + layer * a
        labels[shape >= 0.5] = cls
    img = dom.camera(rng, img, h, w)
    out = np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Scene(image=np.ascontiguousarray(out), labels=labels, seed=int(seed))


def split_seed(split: str, index: int) -> int:
    """Seed of scene `index` in split 'train', 'val' or 'test' (disjoint ranges)."""
    base = {"train": TRAIN_SEED0, "val": VAL_SEED0, "test": TEST_SEED0}
    if split not in base:
        raise ValueError(f"unknown split {split!r}; expected one of {sorted(base)}")
    if not 0 <= index < 1_000_000:
        raise ValueError(f"scene index must be in [0, 1000000), got {index}")
    return base[split] + int(index)


def sample_size(index: int) -> tuple[int, int]:
    """(H, W) of held-out sample `index`: cycles through a few realistic sizes."""
    return SAMPLE_SIZES[index % len(SAMPLE_SIZES)]


def make_split(split: str, count: int, size: tuple[int, int] | None = None, scene_domain: str = "belt",
               start: int = 0) -> list[Scene]:
    """`count` scenes of a split from index `start`; size None -> the sample sizes (val/test) or TRAIN_SIZE."""
    scenes = []
    for i in range(start, start + count):
        sz = size if size is not None else (TRAIN_SIZE if split == "train" else sample_size(i))
        scenes.append(make_scene(split_seed(split, i), sz, scene_domain))
    return scenes
