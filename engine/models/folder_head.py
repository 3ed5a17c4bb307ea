"""A classifier over the folder's classes: the network's classes matched by name, plus classes it never knew.

Most labelling jobs have classes of their own. The folder head keeps the network's logit for every folder class the
network knows (its channel ``source[f]``) and gives every class it lacks a logit NEW_CLASS_MARGIN below the
log-sum-exp of the known ones, so an untaught class has a probability under e^-8 everywhere and steals no pixel. A
folder that shares no class with the network (or a backbone-only checkpoint) starts uniform. On top sits a residual
1x1 convolution over every folder class, which strokes teach (engine.learn.adapt): for a new class it is the whole
classifier, on the network's own features.

Every feature map the head sees ends in N_COLOUR channels of the cell's colour (the network input's mean and
standard deviation over the cell, with_colour): a small network's features may not tell two classes apart that it
was never trained to (measured on the built-in own-class scenes with the 128-channel demo model, a linear head on
fully labelled cells: cardboard IoU 0.34 and glass 0.09 on the features alone, 0.83 and 0.66 with the colour too),
as ilastik's and Dash Doodler's hand-made features are. The network's own classifier reads only its own channels.

``pixel`` (F, 3): finer than a cell, a colour term at the network input's resolution. A cell's colour is its mean,
so a shard narrower than a cell is a blur in it (measured, linear heads fitted to fully labelled own-class scenes,
IoU of untouched raw predictions at pixel level: glass 0.40 with the cell colour alone, 0.48 with a pixel colour
term; cardboard 0.81 and 0.85). The head's logit at a pixel is the upsampled cell logit plus
pixel . (colour(pixel) - upsampled cell mean colour): the cell term already holds pixel . (cell mean colour), so
the pixel term adds only what varies inside a cell, and everything fitted or compared on cells (the pull toward the
anchor head, the replay) sees the head's cell average.

``gate``: on an image nobody has corrected yet, a carried residual should not overrule the network where the network
is sure (measured: four strokes on one demo image cost another image 5.5 points where the head was carried ungated).
With a gate g, the known classes' residual is scaled by clamp((1 - conf) / (1 - g), 0, 1), conf being the
network's probability (over all its outputs) of the likeliest folder class it knows at that cell: a network with one
output (a backbone-only checkpoint's placeholder) is never sure, and nor is one sure of a class the folder lacks.
New classes' rows are gated only where the network is all but certain (``gate_new``, 0.99: the network cannot be
sure about a class it lacks, but a head taught on a few images must not paint a new class over a belt the network
calls belt at p > 0.99, measured: one carried scene fell to 26% accuracy). The image being corrected sees the
residual in full (gate None).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

NEW_CLASS_MARGIN = 8.0
UNTAUGHT_MARGIN = 16.0   # an untaught row of an adapted head: below its known rows as adapted (FolderHead.untaught)
DEFAULT_GATE = 0.9
DEFAULT_GATE_NEW = 0.99
N_COLOUR = 6          # per cell: mean and standard deviation of the 3 input channels
N_PIXEL = 3           # per pixel: the 3 input channels (pixel_colour)
COLOUR_GAIN = 3.0     # colour in 0-1 units times this: about the weight of a feature vector scaled to L1 norm 1


def cell_colour(x: torch.Tensor, hw) -> torch.Tensor:
    """(N,3,H,W) network input -> (N,6,h,w) mean and standard deviation of each channel over each cell."""
    x = x.float() / 255.0
    mean = F.adaptive_avg_pool2d(x, tuple(hw))
    sq = F.adaptive_avg_pool2d(x * x, tuple(hw))
    return torch.cat([mean, (sq - mean * mean).clamp_min(0).sqrt()], 1) * COLOUR_GAIN


def pixel_colour(x: torch.Tensor) -> torch.Tensor:
    """(N,3,H,W) network input -> its colour in cell_colour's units, per pixel."""
    return x.float() / 255.0 * COLOUR_GAIN


def cell_mean_colour(fmap: torch.Tensor) -> torch.Tensor:
    """The cell mean colour channels of a map with_colour made."""
    c = fmap.shape[1]
    return fmap[:, c - N_COLOUR:c - N_COLOUR + N_PIXEL]


def with_colour(maps, x: torch.Tensor) -> list:
    """Each classifier input map with the cell colour of the network input ``x`` appended (the same cells)."""
    return [torch.cat([m, cell_colour(x, m.shape[-2:]).to(m.dtype)], 1) for m in maps]


def network_part(fmap: torch.Tensor) -> torch.Tensor:
    """The network's own channels of a map with_colour made."""
    return fmap[:, :fmap.shape[1] - N_COLOUR]


class NetworkClassifier:
    """A classifier on a map with colour channels: one that reads the colour (``reads_colour``, as FolderHead)
    gets the whole map; the network's own (or a copy) only its own channels."""

    def __init__(self, classifier):
        self.classifier = classifier

    def __call__(self, fmap: torch.Tensor) -> torch.Tensor:
        whole = getattr(self.classifier, "reads_colour", False)
        return self.classifier(fmap if whole else network_part(fmap))


def identity_source(source, n_model: int) -> bool:
    return tuple(source) == tuple(range(n_model))


def fold_logits(logits: torch.Tensor, source: tuple[int, ...], margin: float = NEW_CLASS_MARGIN) -> torch.Tensor:
    """(N,K,h,w) network logits -> (N,F,h,w) folder logits: known classes take their channel, new ones sit
    ``margin`` below the log-sum-exp of the known ones; with no known class at all, zeros (uniform). A network with
    one output (a backbone-only checkpoint's placeholder) knows no class either: its softmax is 1 everywhere, so
    the folder class matched to it would otherwise stand ``margin`` above every class strokes teach and keep
    every pixel they do not reach (a walk: 84 % of an unseen image 'background', never painted, and the taught
    field 0 %)."""
    k = logits.shape[1]
    if identity_source(source, k):
        return logits
    n, _, h, w = logits.shape
    known = [s for s in source if s >= 0]
    if not known or k < 2:
        return logits.new_zeros((n, len(source), h, w))
    dev = logits.device
    out = logits.index_select(1, torch.tensor([max(s, 0) for s in source], device=dev))
    if len(known) == len(source):
        return out
    kept = logits.index_select(1, torch.tensor(sorted(set(known)), device=dev))
    floor = torch.logsumexp(kept, dim=1, keepdim=True) - margin
    new = torch.tensor([s < 0 for s in source], device=dev)[None, :, None, None]
    return torch.where(new, floor.expand_as(out), out)


def gate_weights(logits: torch.Tensor, source: tuple[int, ...], gate: float,
                 gate_new: float | None = None) -> torch.Tensor:
    """(N,F,h,w) weights for the residual from the network's own logits (N,K,h,w): known rows
    clamp((1 - conf) / (1 - gate), 0, 1), new rows the same with ``gate_new`` (1 when None). conf is the network's
    probability, over all its outputs, of the likeliest folder class it knows: sure of a class the folder does not
    list, it says nothing about the folder's. A network with one output (a backbone-only checkpoint's placeholder)
    or none of the folder's classes is never sure: no gate."""
    n, k, h, w = logits.shape
    known = sorted({s for s in source if s >= 0})
    if k < 2 or not known:
        return logits.new_ones((n, len(source), h, w))
    probs = F.softmax(logits, dim=1)
    conf = probs.index_select(1, torch.tensor(known, device=logits.device)).amax(dim=1, keepdim=True)
    g = ((1.0 - conf) / max(1.0 - float(gate), 1e-6)).clamp(0.0, 1.0)
    g_new = torch.ones_like(conf) if gate_new is None else \
        ((1.0 - conf) / max(1.0 - float(gate_new), 1e-6)).clamp(0.0, 1.0)
    rows = torch.tensor([s >= 0 for s in source], device=logits.device)[None, :, None, None]
    return torch.where(rows, g.expand(n, len(source), h, w), g_new.expand(n, len(source), h, w))


class FolderHead(nn.Module):
    """fold(base(f)) + gate * conv1x1(f scaled; weight, bias): the network's channels of f scaled by ``inv_scale``,
    its colour channels as they are. ``base``: a callable giving the network's logits from a map with colour
    (NetworkClassifier, or a cache of its results; not registered, so this module's state is only its residual);
    ``weight`` (F, channels) and ``bias`` (F,) may be nn.Parameters (while learning) or tensors (buffers)."""
    reads_colour = True

    def __init__(self, base, source, weight=None, bias=None, inv_scale: float = 1.0, gate: float | None = None,
                 margin: float = NEW_CLASS_MARGIN, gate_new: float | None = None, pixel=None):
        super().__init__()
        object.__setattr__(self, "base", base)   # not a submodule: the network owns it
        self.source, self.margin, self.gate, self.inv_scale = tuple(int(s) for s in source), float(margin), gate, \
            float(inv_scale)
        self.gate_new = gate_new
        self.taught: dict[str, tuple[int, int]] = {}   # an exported head: class -> (strokes, images) that taught it
        if isinstance(weight, nn.Parameter):
            self.weight, self.bias = weight, bias
        elif weight is not None:
            self.register_buffer("weight", weight)
            self.register_buffer("bias", bias)
        else:
            self.weight = self.bias = None
        if isinstance(pixel, nn.Parameter) or pixel is None or weight is None:
            self.pixel = pixel if weight is not None else None
        else:
            self.register_buffer("pixel", pixel)

    @property
    def untaught(self) -> tuple[int, ...]:
        """New classes' rows nothing has taught (all zero) in a head that is not being fitted. Their floor under
        the network's logits is not enough once the known rows are adapted: a head fitted before a class was
        added never saw it, and where its strokes pushed every known row below that floor the class won (a walk:
        35 % of an image nobody painted it on, after an undo gave that head back). They sit UNTAUGHT_MARGIN below
        the adapted known rows instead, so an untaught class has no share anywhere; a fit (Parameters) sees
        the floor it learns against. (Read from the weights each time: a loaded checkpoint fills them after
        construction.)"""
        if self.weight is None or isinstance(self.weight, nn.Parameter):
            return ()
        rows = [i for i, s in enumerate(self.source) if s < 0 and not bool(self.weight[i].any())
                and not bool(self.bias[i]) and (self.pixel is None or not bool(self.pixel[i].any()))]
        return tuple(rows) if len(rows) < len(self.source) and any(s >= 0 for s in self.source) else ()

    def _pin_untaught(self, logits: torch.Tensor) -> torch.Tensor:
        """``logits`` (a fresh tensor: changed in place, no full-size copy) with the untaught rows UNTAUGHT_MARGIN below
        the log-sum-exp of the known rows."""
        untaught = self.untaught
        if not untaught:
            return logits
        dev = logits.device
        known = torch.tensor([i for i, s in enumerate(self.source) if s >= 0], device=dev)
        floor = torch.logsumexp(logits.index_select(1, known), dim=1, keepdim=True) - UNTAUGHT_MARGIN
        rows = torch.tensor(untaught, device=dev)
        return logits.index_copy_(1, rows, floor.expand(-1, len(untaught), *floor.shape[2:]).to(logits.dtype))

    @property
    def has_pixel_term(self) -> bool:
        return self.weight is not None and self.pixel is not None

    @property
    def n_classes(self) -> int:
        return len(self.source)

    def scaled_weight(self) -> torch.Tensor:
        """(F, channels) weight as it multiplies the map: network channels times inv_scale, colour as it is."""
        c = self.weight.shape[1]
        scale = torch.full((c,), self.inv_scale, dtype=self.weight.dtype, device=self.weight.device)
        scale[c - N_COLOUR:] = 1.0
        w = self.weight * scale
        if self.pixel is None:
            return w
        # the cell holds the pixel term's cell average: pixel . (cell mean colour)
        pad = (c - N_COLOUR, N_COLOUR - N_PIXEL)
        return w + F.pad(self.pixel, pad)

    def cell_gate(self, fmap: torch.Tensor) -> torch.Tensor | None:
        """(N,2,h,w) the gate of the known and of the new rows at each cell (None: not gated)."""
        if self.gate is None:
            return None
        with torch.no_grad():
            g = gate_weights(self.base(fmap), self.source, self.gate, self.gate_new)
            new = [i for i, s in enumerate(self.source) if s < 0]
            known = [i for i, s in enumerate(self.source) if s >= 0]
            return torch.cat([g[:, known[:1] or new[:1]], g[:, new[:1] or known[:1]]], 1)

    def add_pixel_term(self, logits: torch.Tensor, detail: torch.Tensor, gate: torch.Tensor | None = None):
        """Add the pixel term to ``logits`` (N,F,H,W) in place and return them: pixel . ``detail`` (N,3,H,W: the
        colour minus the upsampled cell mean), times the upsampled ``gate`` (N,2,H,W from cell_gate: known rows take
        the first, new rows the second). One group of rows at a time, so 182 classes at 513x513 add one temporary
        the size of their logits, not three. Untaught rows are pinned again under the known rows as they now
        are, at every pixel."""
        for k, is_new in enumerate((False, True)):
            rows = [i for i, s in enumerate(self.source) if (s < 0) == is_new]
            if not rows:
                continue
            idx = torch.tensor(rows, device=logits.device)
            delta = torch.einsum("fc,nchw->nfhw", self.pixel.index_select(0, idx).to(logits.dtype),
                                 detail.to(logits.dtype))
            if gate is not None:
                delta.mul_(gate[:, k:k + 1].to(logits.dtype))
            logits.index_add_(1, idx, delta)
        return self._pin_untaught(logits)

    def forward(self, fmap: torch.Tensor) -> torch.Tensor:
        logits = self.base(fmap)
        folded = fold_logits(logits, self.source, self.margin)
        if self.weight is None:
            return folded
        delta = F.conv2d(fmap, self.scaled_weight()[:, :, None, None], self.bias)
        if self.gate is not None:
            with torch.no_grad():
                g = gate_weights(logits, self.source, self.gate, self.gate_new)
            delta = delta * g
        return self._pin_untaught(folded + delta)


def attach(model: nn.Module, head: FolderHead | None) -> nn.Module:
    """Make ``head`` the network's classifier (None: its own again). It is registered as ``folder_head``, so it
    moves with the network and its residual is in the network's state_dict; the network's own weights are
    untouched."""
    if head is None:
        model._modules.pop("folder_head", None)
    else:
        model.folder_head = head
    return model


def attached(model: nn.Module) -> FolderHead | None:
    return model._modules.get("folder_head")
