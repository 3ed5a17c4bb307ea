"""DeepLab's training augmentation on one (image, labels) pair: random scale, random crop (padding with the mean
pixel and void where the image is smaller, as Caffe does) and random flips. Shared by the demo recipe
(engine.demo.train) and fine-tuning on saved labels (engine.learn.finetune)."""
from __future__ import annotations

import cv2
import numpy as np

from ..labels import VOID


def random_scale(rng: np.random.Generator, image: np.ndarray, labels: np.ndarray, scale_range, base: float = 1.0):
    """Both resized by base * U(scale_range): bilinear image, nearest labels (classes never blend)."""
    s = base * float(rng.uniform(*scale_range))
    h, w = labels.shape
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return (cv2.resize(image, size, interpolation=cv2.INTER_LINEAR),
            cv2.resize(labels, size, interpolation=cv2.INTER_NEAREST))


def crop_and_flip(rng: np.random.Generator, image: np.ndarray, labels: np.ndarray, crop, vertical: bool = True,
                  pad_rgb=(0, 0, 0)):
    """A random (ch, cw) crop, flipped left-right with p=0.5 and, if ``vertical``, up-down with p=0.5 (a belt has no
    preferred orientation; photos have one). Images smaller than the crop are padded bottom/right first."""
    ch, cw = crop
    h, w = labels.shape
    if h < ch or w < cw:
        ph, pw = max(ch - h, 0), max(cw - w, 0)
        image = cv2.copyMakeBorder(image, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=tuple(int(v) for v in pad_rgb))
        labels = cv2.copyMakeBorder(labels, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=VOID)
        h, w = labels.shape
    top = int(rng.integers(0, h - ch + 1))
    left = int(rng.integers(0, w - cw + 1))
    sy = -1 if vertical and rng.random() < 0.5 else 1
    sx = -1 if rng.random() < 0.5 else 1
    return image[top:top + ch, left:left + cw][::sy, ::sx], labels[top:top + ch, left:left + cw][::sy, ::sx]
