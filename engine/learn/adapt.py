"""Head adaptation: fit the classifier to the annotator's locked pixels on the image's cached stride-8 features.

Why a head and not the network: the backbone's features are computed once per image (Predictor.extract_features)
and a head on them costs milliseconds, so a stroke can teach the model within the time of a CRF run. The head
learns on the locked cells (cross-entropy, void ignored) and is pulled toward an anchor head (KL on the cells
nobody painted, averaged per predicted class: the head the image was opened with, or the one the previous stroke
left, see engine.learn.correction.ImageAdaptation), so it moves only as far as the corrections ask.

Two kinds of head (AdaptConfig(kind=...)):
- "residual" (default): the network's own classifier, frozen, plus a zero-initialised 1x1 convolution on its
  inputs. For DeepLab v1 that is exactly fine-tuning fc8 (fc8 + dW is again a 1x1 convolution on fc7); for v2 it
  avoids back-propagating through the four dilated 3x3 ASPP branches, whose output is cached per image instead
  (bench/adapt_cost.py measures both). Its inputs are scaled by the mean L1 norm of a feature vector, so its
  weights have one scale whatever the network's width (128 channels for the demo, 2048 for ResNet-101). It has a
  pixel colour term too (engine.models.folder_head), learnt from a sample of the locked pixels themselves
  (engine.learn.pixels) besides the cells.
- "classifier": a trainable copy of the classifier itself (fc8, or the ASPP branches): the expensive alternative,
  kept for that measurement.

States are immutable CPU snapshots (HeadState), so undo records and background jobs can hold them safely.
"""
from __future__ import annotations

import contextlib
import copy
import threading
import weakref
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import EngineError, check_cancel
from ..models.folder_head import (
    N_COLOUR,
    N_PIXEL,
    FolderHead,
    NetworkClassifier,
    cell_mean_colour,
    fold_logits,
    identity_source,
    network_part,
)
from .grid import GridTargets, grid_targets
from .head_state import AdaptConfig, HeadState
from .pixels import colours_at, interpolate, pixel_targets
from .rows import Rows, balanced_mean, balanced_mean_weights, cross_entropy_term, row_logits, rows_where


def warm_up_optimizer() -> None:
    """Make one LBFGS on a dummy tensor. The first optimizer a process makes imports torch's compiler
    (torch._dynamo: 2.5 s measured on the 2-core machine), which would otherwise land on the first stroke's
    learning step; the window calls this in its learning lane while the open image is idle."""
    torch.optim.LBFGS([torch.zeros(1, requires_grad=True)])


class _BaseLogits:
    """The frozen classifier's logits per feature map, computed once: for v2 they are the ASPP output, far dearer
    than the 1x1 residual trained on top. Keyed by the map's identity (a FeatureSet's maps live as long as it)."""

    def __init__(self, classifier: nn.Module, capacity: int = 24):
        self.classifier, self.capacity = NetworkClassifier(classifier), capacity
        self._entries: dict[int, tuple] = {}
        self._lock = threading.Lock()

    def __call__(self, fmap: torch.Tensor) -> torch.Tensor:
        key = id(fmap)
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and hit[0]() is fmap:
                return hit[1]
        with torch.inference_mode(False), torch.no_grad():
            out = self.classifier(fmap)
        with self._lock:
            self._entries = {k: v for k, v in self._entries.items() if v[0]() is not None}
            while len(self._entries) >= self.capacity:
                self._entries.pop(next(iter(self._entries)))
            self._entries[key] = (weakref.ref(fmap), out)
        return out


def residual_parts(tensors) -> tuple:
    """A residual head state's (weight, bias, scale, pixel): states saved before the pixel term had none (zeros)."""
    weight, bias, scale = tensors[:3]
    pixel = tensors[3] if len(tensors) > 3 else torch.zeros(weight.shape[0], N_PIXEL)
    return weight, bias, scale, pixel


def resize_rows(state: HeadState | None, n: int) -> HeadState | None:
    """A residual ``state`` with ``n`` rows, one per folder class id (ids are stable: new classes get zero rows at
    the end, deleted ones lose theirs), so a class added or deleted mid-session keeps what the others learnt."""
    if state is None or state.is_original:
        return state
    weight, bias, scale, pixel = residual_parts(state.tensors)
    if weight.shape[0] == n:
        return state
    k = min(n, weight.shape[0])
    w2, b2, p2 = torch.zeros(n, weight.shape[1]), torch.zeros(n), torch.zeros(n, pixel.shape[1])
    w2[:k], b2[:k], p2[:k] = weight[:k], bias[:k], pixel[:k]
    taught = tuple(t for t in state.taught if t[0] < n)
    # the locks it was fitted to stay its own (else the next stroke would count every painted class again),
    # unless they paint a class that went
    fitted = state.fitted if state.fitted is None or all(c < n for c, _ in state.fitted.painted) else None
    return HeadState(state.kind, (w2, b2, scale, p2), state.strokes, state.images, taught=taught,
                     fitted_on=state.fitted_on, fitted=fitted)


class _OnNetworkPart(nn.Module):
    """A trainable copy of the network's classifier (the "classifier" kind) reading a map's network channels."""
    reads_colour = True   # it slices them itself

    def __init__(self, classifier: nn.Module):
        super().__init__()
        self.classifier = classifier

    def forward(self, fmap: torch.Tensor) -> torch.Tensor:
        return self.classifier(network_part(fmap))


def _feature_scale(features) -> float:
    """Mean L1 norm of a feature vector (over the cells of the first scale): what one unit of weight moves."""
    fmap = network_part(features.maps[0])
    return max(float(fmap.abs().sum(dim=1).mean()), 1e-6)


class HeadAdapter:
    """Builds, fits and applies adapted heads for one Predictor (its model's classifier stays untouched).
    ``source``: folder class id -> the network's channel, or -1 for a class it lacks (engine.project.ChannelMap's
    source; default: the network's own classes). The heads predict the folder's classes. Thread-safe: every method
    works on the snapshot it is given."""

    def __init__(self, predictor, config: AdaptConfig = AdaptConfig(), source=None):
        self.predictor, self.config = predictor, config
        self.kind = config.kind
        self.classifier = predictor.model.classifier
        self.n_model = predictor.n_classes
        self.source = tuple(range(self.n_model)) if source is None else tuple(int(s) for s in source)
        self.identity = identity_source(self.source, self.n_model)
        if not self.identity and self.kind != "residual":
            raise EngineError("only the residual head can learn classes the network does not have")
        self._base = _BaseLogits(self.classifier)
        self._cells: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()   # targets -> Rows
        self._pixels: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # targets -> their pixels' Rows
        self._cells_lock = threading.Lock()
        self.original = HeadState(self.kind)

    @property
    def n_classes(self) -> int:
        """How many classes the heads predict: the folder's."""
        return len(self.source)

    @property
    def feature_channels(self) -> int | None:
        """Channels of the maps a residual row reads: the classifier's input channels plus the colour ones (None
        when the classifier has no convolution to tell)."""
        convs = [p for p in self.predictor.model.classifier.parameters() if p.ndim == 4]
        return int(convs[0].shape[1]) + N_COLOUR if convs else None

    def with_source(self, source) -> "HeadAdapter":
        """The same network and config over another folder class list (classes added, deleted or rematched)."""
        return HeadAdapter(self.predictor, self.config, source)

    def resized(self, state: HeadState | None) -> HeadState | None:
        """``state`` with one residual row per folder class now (resize_rows)."""
        if self.kind != "residual":
            return state
        return resize_rows(state, self.n_classes)

    # ---- applying a state ----
    def head(self, state: HeadState | None, carried: bool = False) -> nn.Module | None:
        """A module for Predictor.head_logits / probs_from_features (None = the network's own head). ``carried``:
        the head as an image nobody corrected yet sees it (its known-class residual gated by the network's
        confidence, config.gate)."""
        original = state is None or state.is_original
        if original and self.identity:
            return None
        if not original and state.kind != self.kind:
            raise EngineError(f"a {state.kind!r} head state cannot be used by a {self.kind!r} adapter")
        dev = self.predictor.device
        if original:
            return FolderHead(self._base, self.source)
        if self.kind == "residual":
            weight, bias, scale, pixel = residual_parts(self.resized(state).tensors)
            return FolderHead(self._base, self.source, weight.to(dev), bias.to(dev), float(scale),
                              gate=self.config.gate if carried else None, gate_new=self.config.gate_new,
                              pixel=pixel.to(dev) if self.config.pixel_weight else None)
        head = _OnNetworkPart(copy.deepcopy(self.classifier))
        with torch.no_grad():
            for p, t in zip(head.parameters(), state.tensors):
                p.copy_(t.to(dev))
        return head

    def probs(self, features, state: HeadState | None, dtype=np.float32, carried: bool = False) -> np.ndarray:
        """(C,H,W) probabilities (float32, or float16 for large images) at image size of ``state``'s head on the
        cached features (``carried``: as an image nobody corrected sees it)."""
        return self.predictor.probs_from_features(features, self.head(state, carried), dtype=dtype)

    def targets(self, features, labels: np.ndarray, locked: np.ndarray) -> GridTargets:
        rows, cols = self.predictor.cell_centres(features)
        grid = grid_targets(labels, locked, rows, cols, self.n_classes)
        if not self.config.pixel_weight or getattr(features, "pixels", None) is None or self.kind != "residual":
            return grid
        return replace(grid, pixels=pixel_targets(labels, locked, self.n_classes, features.geometry,
                                                  features.cells_hw))

    # ---- learning ----
    def _trainable(self, state: HeadState, features) -> tuple[nn.Module, list[dict]]:
        dev, lr = self.predictor.device, self.config.lr
        if self.kind == "residual":
            if state.is_original:
                cf = features.maps[0].shape[1]
                c = self.n_classes
                weight, bias, pixel = torch.zeros(c, cf), torch.zeros(c), torch.zeros(c, N_PIXEL)
                scale = 1.0 / _feature_scale(features)
            else:
                weight, bias, scale, pixel = (t.clone() for t in residual_parts(self.resized(state).tensors))
            pixel = nn.Parameter(pixel.to(dev)) if self.config.pixel_weight else None
            module = FolderHead(self._base, self.source, nn.Parameter(weight.to(dev)), nn.Parameter(bias.to(dev)),
                                float(scale), pixel=pixel)
            params = [module.weight, module.bias] + ([module.pixel] if pixel is not None else [])
            return module, [{"params": params, "lr": lr}]
        module = self.head(state) if not state.is_original else _OnNetworkPart(copy.deepcopy(self.classifier))
        for p in module.parameters():
            p.requires_grad_(True)
        weights = [p for p in module.parameters() if p.dim() > 1]
        others = [p for p in module.parameters() if p.dim() <= 1]
        # one Adam step moves each weight by ~lr_w; a logit sums weight x feature over channels and kernel taps
        taps = max(sum(p[0, 0].numel() for p in weights), 1)
        lr_w = lr / (_feature_scale(features) * taps)
        return module, [{"params": weights, "lr": lr_w}, {"params": others, "lr": lr}]

    def _snapshot(self, module: nn.Module, state: HeadState, image_id, targets: GridTargets) -> HeadState:
        if self.kind == "residual":
            pixel = module.pixel if module.pixel is not None else torch.zeros(module.weight.shape[0], N_PIXEL)
            tensors = (module.weight.detach().cpu().clone(), module.bias.detach().cpu().clone(),
                       torch.tensor(module.inv_scale), pixel.detach().cpu().clone())
        else:
            tensors = tuple(p.detach().cpu().clone() for p in module.parameters())
        return HeadState(self.kind, tensors, state.strokes + 1, state.images | {image_id}, fitted_on=image_id,
                         fitted=targets, taught=_taught(state, image_id, targets))

    def fit(self, features, targets: GridTargets, state: HeadState, anchor: HeadState | None = None,
            image_id: str = "", replay=(), should_cancel=None, anchor_carried: bool = False,
            start: HeadState | None = None) -> HeadState:
        """A new state: ``start``'s head (default ``state``'s) fitted (config.steps iterations) to this image's locked
        cells (targets), counted as one stroke more than ``state``,
        held toward ``anchor``'s predictions (default: the network's own) on its free cells, plus the locked cells of
        the ``replay`` images ((features, targets) pairs). Cancellable between evaluations."""
        if targets.n_locked == 0:
            return anchor if anchor is not None else self.original
        with _threads_for(features):
            return self._fit(features, targets, state, anchor, image_id, replay, should_cancel, anchor_carried,
                             state if start is None else start)

    def _replay_cells(self, features, targets: GridTargets) -> "Rows":
        """An earlier image's locked cells, compact (cached while its targets live): per scale, the features and
        the frozen classifier's logits there, both at the fused score size. The residual is linear in the
        features and the scales are brought to that size by a linear interpolation, so a residual's fused logits at
        those cells are exactly max over scales of (logits + residual(features)) there."""
        with self._cells_lock:
            hit = self._cells.get(targets)
        if hit is not None:
            return hit
        dev = self.predictor.device
        flat = torch.from_numpy(targets.target).to(dev).reshape(-1)
        idx = torch.nonzero(flat >= 0).reshape(-1)
        to_score = getattr(self.predictor.model, "fuse_pyramid", None)
        with torch.inference_mode(False), torch.no_grad():
            maps, base = list(features.maps), [fold_logits(self._base(m), self.source) for m in features.maps]
            if len(maps) > 1:   # every scale at the 1x score size, as the model's fuse brings them
                maps, base = to_score(maps)[:-1], to_score(base)[:-1]
            cells = Rows(
                feats=tuple(m[0].reshape(m.shape[1], -1)[:, idx].T.contiguous() for m in maps),
                base=tuple(b[0].reshape(b.shape[1], -1)[:, idx].T.contiguous() for b in base),
                target=flat[idx], weight=torch.from_numpy(targets.weight).to(dev).reshape(-1)[idx])
        with self._cells_lock:
            self._cells[targets] = cells
        return cells

    def _pixel_cells(self, features, targets: GridTargets) -> tuple:
        """An image's sampled pixels (targets.pixels) as compact rows, (locked, unpainted): per scale, the features
        and frozen logits interpolated at each pixel (the residual is linear, so its logit there is the
        interpolated cell logit) and the colour detail the pixel term reads (cached while its targets live)."""
        with self._cells_lock:
            hit = self._pixels.get(targets)
        if hit is not None:
            return hit
        pt, dev = targets.pixels, self.predictor.device
        to_score = getattr(self.predictor.model, "fuse_pyramid", None)
        with torch.inference_mode(False), torch.no_grad():
            maps, base = list(features.maps), [fold_logits(self._base(m), self.source) for m in features.maps]
            if len(maps) > 1:
                maps, base = to_score(maps)[:-1], to_score(base)[:-1]
            feats = tuple(interpolate(m, pt.cell_y, pt.cell_x) for m in maps)
            everything = Rows(feats=feats, base=tuple(interpolate(b, pt.cell_y, pt.cell_x) for b in base),
                                      target=torch.from_numpy(pt.target).to(dev),
                                      weight=torch.from_numpy(pt.weight).to(dev),
                                      detail=colours_at(features.pixels, pt) - cell_mean_colour(feats[0]))
            locked = everything.target >= 0
            cells = (rows_where(everything, locked), rows_where(everything, ~locked))
        with self._cells_lock:
            self._pixels[targets] = cells
        return cells

    def _replay_term(self, replay):
        """For the residual head: a function of the module giving the mean, over the ``replay`` images, of each
        one's weighted cross-entropy on its locked cells (all images, every evaluation: a few small products)."""
        return cross_entropy_term([self._replay_cells(f, t) for f, t in replay])

    def _pixel_term(self, items):
        """The same over the sampled locked pixels of ``items`` ((features, targets) pairs); None if none has any."""
        cells = [self._pixel_cells(f, t)[0] for f, t in items if t.pixels is not None and f.pixels is not None]
        return cross_entropy_term(cells) if cells else None

    def _pixel_hold(self, features, targets: GridTargets, anchor_head):
        """For the image being corrected: a function of the module giving the balanced KL from ``anchor_head``'s
        predictions at its sampled unpainted pixels (None if there are none)."""
        if targets.pixels is None or features.pixels is None:
            return None
        free = self._pixel_cells(features, targets)[1]
        if free.target.numel() == 0:
            return None
        pt = targets.pixels
        keep = pt.target < 0
        with torch.no_grad():
            cells = self.predictor.head_logits(features, anchor_head)
            logits = interpolate(cells, pt.cell_y[keep], pt.cell_x[keep])
            if getattr(anchor_head, "has_pixel_term", False):   # as probs_from_features adds it, at these pixels
                gates = [anchor_head.cell_gate(m) for m in features.maps]
                gate = None if gates[0] is None else \
                    interpolate(self.predictor.model.fuse(gates), pt.cell_y[keep], pt.cell_x[keep])
                as_map = lambda rows: rows.T[None, :, :, None].contiguous()   # noqa: E731  (n, c) -> (1, c, n, 1)
                logits = anchor_head.add_pixel_term(as_map(logits), as_map(free.detail),
                                                    None if gate is None else as_map(gate))[0, :, :, 0].T
            anchor_logp = F.log_softmax(logits, dim=1)
        anchor_p = anchor_logp.exp()
        # balanced_mean's weights, once: each row 1 / (rows of its anchor class x classes present)
        each = torch.full((len(anchor_p),), 1.0 / len(anchor_p), device=anchor_p.device)
        weight = balanced_mean_weights(anchor_logp.argmax(dim=1)) if self.config.balanced else each

        def term(module) -> torch.Tensor:
            logp = F.log_softmax(row_logits(free, module), dim=1)
            return (weight * (anchor_p * (anchor_logp - logp)).sum(dim=1)).sum()
        return term

    def _fit(self, features, targets, state, anchor, image_id, replay, should_cancel, anchor_carried,
             start) -> HeadState:
        cfg, dev = self.config, self.predictor.device
        module, groups = self._trainable(start, features)
        target = torch.from_numpy(targets.target).to(dev)
        weight = torch.from_numpy(targets.weight).to(dev)
        free = torch.from_numpy(targets.free).to(dev)
        with torch.no_grad():
            anchor_head = self.head(anchor, carried=anchor_carried)
            anchor_logp = F.log_softmax(self.predictor.head_logits(features, anchor_head), dim=1)[0]
        anchor_p = anchor_logp.exp()
        anchor_class = anchor_logp.argmax(dim=0)
        replay = [r for r in replay if r[1].n_locked] if cfg.replay_weight else []
        rng = np.random.default_rng(cfg.seed + state.strokes)
        every = self._replay_term(replay) if replay and self.kind == "residual" else None
        pixel_now = pixel_then = pixel_hold = None
        if self.kind == "residual" and module.pixel is not None and cfg.pixel_weight:
            pixel_now = self._pixel_term([(features, targets)])
            pixel_then = self._pixel_term(replay) if replay else None
            if cfg.kl_weight:
                pixel_hold = self._pixel_hold(features, targets, anchor_head)

        def objective(picks) -> torch.Tensor:
            check_cancel(should_cancel)
            logp = F.log_softmax(self.predictor.head_logits(features, module), dim=1)[0]
            loss = _weighted_ce(logp, target, weight)
            if cfg.kl_weight and bool(free.any()):
                kl = (anchor_p * (anchor_logp - logp)).sum(dim=0)
                loss = loss + cfg.kl_weight * balanced_mean(kl, anchor_class, free, cfg.balanced)
            if every is not None:
                loss = loss + cfg.replay_weight * every(module)
            if pixel_now is not None:
                loss = loss + cfg.pixel_weight * pixel_now(module)
            if pixel_then is not None:
                loss = loss + cfg.pixel_weight * cfg.replay_weight * pixel_then(module)
            if pixel_hold is not None:
                loss = loss + cfg.pixel_weight * cfg.kl_weight * pixel_hold(module)
            for i in picks:
                feats_r, targets_r = replay[int(i)]
                logp_r = F.log_softmax(self.predictor.head_logits(feats_r, module), dim=1)[0]
                loss = loss + cfg.replay_weight / len(picks) * _weighted_ce(
                    logp_r, torch.from_numpy(targets_r.target).to(dev), torch.from_numpy(targets_r.weight).to(dev))
            return loss

        def pick():   # the classifier kind: a few whole earlier images per step
            if not replay or every is not None:
                return ()
            return rng.choice(len(replay), size=min(cfg.replay_per_step, len(replay)), replace=False)

        if cfg.optimizer == "lbfgs" and self.kind == "residual":
            # convex in the residual's parameters: solve it (the result depends on the objective, not on a path)
            params = [p for g in groups for p in g["params"]]
            opt = torch.optim.LBFGS(params, lr=1.0, max_iter=cfg.steps, history_size=10,
                                    line_search_fn="strong_wolfe")
            picks = pick()

            def closure():
                opt.zero_grad(set_to_none=True)
                loss = objective(picks)
                loss.backward()
                return loss
            opt.step(closure)
        else:
            opt = torch.optim.Adam(groups)
            for _ in range(cfg.steps):
                loss = objective(pick())
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        return self._snapshot(module, state, image_id, targets)


def _taught(state: HeadState, image_id: str, targets: GridTargets) -> tuple:
    """state.taught plus this stroke: the classes whose painted pixels grew since the head was last fitted on this
    image (all painted classes on an image it was not fitted on)."""
    before = dict(state.fitted.painted) if state.fitted is not None and state.fitted_on == image_id else {}
    grew = {c for c, counts in targets.painted
            if c not in before or before[c].shape != counts.shape or bool(np.any(counts > before[c]))}
    out = {c: (n, images) for c, n, images in state.taught}
    for c in grew:
        n, images = out.get(c, (0, frozenset()))
        out[c] = (n + 1, images | {image_id})
    return tuple(sorted((c, n, images) for c, (n, images) in out.items()))


SMALL_WORK = 1_000_000   # cells x channels below which the fit's ops are too small to share between threads


@contextlib.contextmanager
def _threads_for(features):
    """One intra-op thread for a small head on the CPU: its many tiny ops gain nothing from a second thread and,
    on a busy machine, lose 10x waiting for it (measured: 0.16 s vs 1.7 s per demo-v1 stroke under load)."""
    small = features.maps[0].device.type == "cpu" and \
        sum(m.shape[1] * m.shape[-2] * m.shape[-1] for m in features.maps) < SMALL_WORK
    before = torch.get_num_threads()
    if small and before > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if small and before > 1:
            torch.set_num_threads(before)


def _weighted_ce(logp: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the cells with a target (target >= 0), each weighted by its painted share."""
    w = torch.where(target >= 0, weight, torch.zeros_like(weight))
    picked = logp.gather(0, target.clamp(min=0)[None])[0]
    return -(w * picked).sum() / w.sum().clamp_min(1e-6)
