"""The annotator's locked pixels as training samples at the network input's resolution, for a head's pixel term.

GridTargets (engine.learn.grid) teach the stride-8 cells; a shard narrower than a cell is a blur there. These are a
sample of the locked pixels themselves (engine.models.folder_head's pixel term learns from them): up to
PER_CLASS pixels of each painted class, each class weighing the square root of its painted count (a thin class is
heard without drowning the wide ones; measured on fully labelled own-class scenes, glass IoU 0.48 at that balance,
0.38 unbalanced and 0.42 fully balanced), with the fractional stride-8 cell each one lies in, so the cell
features can be interpolated there exactly as the pipeline upsamples logits. A sample of the unpainted pixels goes
with them (target -1): the head is held toward its anchor there, at pixel level too, or one stroke's pixel term
would flip every pixel whose colour stands out from its cell the way the stroke's did.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..models import preprocess

PER_CLASS = 512   # locked pixels sampled per class
BALANCE = 0.5     # each class weighs its painted count to this power
FREE = 2048       # unpainted pixels drawn for the pull toward the anchor head


@dataclass(frozen=True, eq=False)
class PixelTargets:
    """n sampled pixels: rows/cols in the network input (input_hw), their fractional cell coordinates on the fused
    stride-8 grid, class and weight (the locked ones: weights summing to 1; the unpainted ones: class -1,
    weight 0)."""
    rows: np.ndarray
    cols: np.ndarray
    cell_y: np.ndarray
    cell_x: np.ndarray
    target: np.ndarray
    weight: np.ndarray

    def __len__(self) -> int:
        return int(self.target.shape[0])


def pixel_targets(labels: np.ndarray, locked: np.ndarray, n_classes: int, geometry, cells_hw,
                  per_class: int = PER_CLASS, seed: int = 0, free: int = FREE) -> PixelTargets | None:
    """A deterministic sample of the locked pixels of ``labels`` (image size), and of ``free`` unpainted ones, as
    PixelTargets; None if none is locked."""
    labels = np.asarray(labels)
    painted = np.asarray(locked, dtype=bool) & (labels < n_classes)
    if not painted.any():
        return None
    rng = np.random.default_rng(seed)
    where = np.flatnonzero(painted)
    of = labels.ravel()[where]
    picks, classes, weights = [], [], []
    for c in np.unique(of):
        idx = where[of == c]
        pick = idx if idx.size <= per_class else np.sort(rng.choice(idx, per_class, replace=False))
        picks.append(pick)
        classes.append(np.full(pick.size, int(c), np.int64))
        weights.append(np.full(pick.size, idx.size ** BALANCE / pick.size))
    weight = np.concatenate(weights)
    weight = weight / weight.sum()
    unpainted = np.flatnonzero(~painted)
    if unpainted.size and free:
        pick = unpainted if unpainted.size <= free else np.sort(rng.choice(unpainted, free, replace=False))
        picks.append(pick)
        classes.append(np.full(pick.size, -1, np.int64))
        weight = np.concatenate([weight, np.zeros(pick.size)])
    flat = np.concatenate(picks)
    H, W = labels.shape
    (hi, wi), (hn, wn), (h8, w8) = geometry.input_hw, geometry.net_hw, cells_hw
    rows = _to_input(flat // W, H, hi)
    cols = _to_input(flat % W, W, wi)
    return PixelTargets(rows, cols, preprocess.cell_coordinate(rows, h8, hn, geometry.pipeline),
                        preprocess.cell_coordinate(cols, w8, wn, geometry.pipeline), np.concatenate(classes),
                        weight.astype(np.float32))


def _to_input(pos: np.ndarray, n_img: int, n_in: int) -> np.ndarray:
    """Image pixel -> the nearest pixel the network saw (the logits are resized back with align_corners=False)."""
    if n_img == n_in:
        return pos.astype(np.int64)
    return np.clip(np.rint((pos + 0.5) * (n_in / n_img) - 0.5), 0, n_in - 1).astype(np.int64)


def interpolate(fmap: torch.Tensor, cell_y: np.ndarray, cell_x: np.ndarray) -> torch.Tensor:
    """(1,C,h,w) map -> (n, C) its bilinear interpolation at the fractional cells (as the upsampling does)."""
    h, w = fmap.shape[-2:]
    dev = fmap.device
    y = torch.from_numpy(cell_y).to(dev)
    x = torch.from_numpy(cell_x).to(dev)
    y0, x0 = y.floor().long().clamp(0, h - 1), x.floor().long().clamp(0, w - 1)
    y1, x1 = (y0 + 1).clamp(max=h - 1), (x0 + 1).clamp(max=w - 1)
    wy, wx = (y - y0).to(fmap.dtype)[:, None], (x - x0).to(fmap.dtype)[:, None]
    flat = fmap[0].reshape(fmap.shape[1], -1).T
    top = flat[y0 * w + x0] * (1 - wx) + flat[y0 * w + x1] * wx
    bottom = flat[y1 * w + x0] * (1 - wx) + flat[y1 * w + x1] * wx
    return top * (1 - wy) + bottom * wy


def colours_at(pixels: torch.Tensor, targets: PixelTargets) -> torch.Tensor:
    """(n, 3) the colour (FeatureSet.pixels) at the sampled pixels."""
    dev = pixels.device
    r = torch.from_numpy(targets.rows).to(dev)
    c = torch.from_numpy(targets.cols).to(dev)
    return pixels[0][:, r, c].T
