"""Compact training rows of one image, locked cells or sampled pixels, and the cross-entropy of a residual head on
them: what the head replays of earlier images every evaluation, and how it learns from pixels (engine.learn.adapt).
A residual head is linear in the features, so its logit at a row is the frozen logit there plus a product or two.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True, eq=False)
class Rows:
    """One image's locked cells: per scale (n, channels) features and (n, classes) frozen logits at the fused
    score size, and the cells' (n,) targets and painted shares; or its sampled locked pixels (the same, interpolated
    at each pixel, and ``detail``: (n, 3) the pixel's colour minus its interpolated cell mean colour)."""
    feats: tuple
    base: tuple
    target: torch.Tensor
    weight: torch.Tensor
    detail: torch.Tensor | None = None


def rows_where(cells: Rows, keep: torch.Tensor) -> Rows:
    """The rows of ``cells`` where ``keep`` (n,) is True."""
    return Rows(tuple(f[keep] for f in cells.feats), tuple(b[keep] for b in cells.base), cells.target[keep],
                cells.weight[keep], None if cells.detail is None else cells.detail[keep])


def row_logits(cells: Rows, module) -> torch.Tensor:
    """(n, F) a residual module's fused logits at the rows of ``cells``, with its pixel term where they have one."""
    w = module.scaled_weight()
    logits = [b + f @ w.T + module.bias for f, b in zip(cells.feats, cells.base)]
    fused = logits[0] if len(logits) == 1 else torch.stack(logits).amax(dim=0)
    if cells.detail is not None and module.pixel is not None:
        fused = fused + cells.detail @ module.pixel.T
    return fused


def cross_entropy_term(cells):
    """A function of a residual module: the mean, over ``cells`` (Rows, one per image), of each one's
    weighted cross-entropy on its rows (each image's weights sum to the same)."""
    feats = [torch.cat([c.feats[s] for c in cells]) for s in range(len(cells[0].feats))]
    base = [torch.cat([c.base[s] for c in cells]) for s in range(len(cells[0].base))]
    target = torch.cat([c.target for c in cells])
    weight = torch.cat([c.weight / c.weight.sum().clamp_min(1e-6) for c in cells]) / len(cells)
    detail = torch.cat([c.detail for c in cells]) if cells[0].detail is not None else None
    rows = Rows(tuple(feats), tuple(base), target, weight, detail)

    def term(module) -> torch.Tensor:
        picked = F.log_softmax(row_logits(rows, module), dim=1).gather(1, target[:, None])[:, 0]
        return -(weight * picked).sum()
    return term


def balanced_mean(values: torch.Tensor, classes: torch.Tensor, mask: torch.Tensor, balanced: bool) -> torch.Tensor:
    """Mean of values[mask]; balanced: the mean over classes of each class's mean, so a large region the anchor
    calls one class weighs no more than a small object it calls another."""
    if not balanced:
        return values[mask].mean()
    v, c = values[mask], classes[mask]
    n = int(c.max()) + 1
    sums = torch.zeros(n, dtype=v.dtype, device=v.device).index_add_(0, c, v)
    counts = torch.bincount(c, minlength=n).to(v.dtype)
    present = counts > 0
    return (sums[present] / counts[present]).mean()


def balanced_mean_weights(classes: torch.Tensor) -> torch.Tensor:
    """(n,) weights w with (w * values).sum() == balanced_mean(values, classes, all rows, True): fixed classes
    (the anchor's), so they are computed once per fit."""
    counts = torch.bincount(classes)
    return 1.0 / (counts[classes].to(torch.float32) * int((counts > 0).sum()))
