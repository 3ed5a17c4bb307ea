"""Classifier rows for classes the network lacks, distilled from the folder head that strokes taught them.

Why: the folder head's logit for a new class sits on the log-sum-exp of the known classes' logits and reads the
cell's colour and a pixel term (engine.models.folder_head); a plain classifier row can hold none of these. Copying
the residual's row alone made a class taught by a few strokes flood the start of Train on saved labels (a walk: a
scene with 3 % cardboard in the adapted model started at 52 %). Instead the new rows are fitted, with the network's
own rows fixed, so that the plain classifier's softmax matches the head's on the cells of the saved images: the
training then starts close to where the adapted model was.
"""
from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F

from ..errors import check_cancel
from ..models.folder_head import NetworkClassifier, network_part

MAX_IMAGES = 12        # saved images whose cells are fitted (a forward pass each)
MAX_CELLS = 60_000     # cells kept for the fit (a fixed sample): 60k x 2048 float32 is 0.5 GB for ResNet-101
STEPS = 400            # L-BFGS iterations: the objective is convex in the rows
WEIGHT_DECAY = 1e-7     # (measured, one cardboard stroke, 3 demo scenes: 1e-4 and 80 steps kept 25 % of the
#                         head's cardboard cells in the object, 1e-7 and 400 steps 79 %)


def distil_new_rows(predictor, head, known: list[tuple[int, int]], new: list[int], images,
                    inv_scale: float = 1.0, should_cancel=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows for the ``new`` head classes: (weight (len(new), C) as it multiplies the network's features, bias).

    predictor: the base network's (its classifier is the network's own); head: a folder head over the folder's
    classes (carried, as an untouched image sees it); known: (head class, network channel) of the rows the plain
    classifier keeps from the network; images: (H,W,3) uint8 arrays, the saved images."""
    feats, fixed, target = [], [], []
    rows = [j for j, _ in known] + list(new)
    channels = [s for _, s in known]
    own = NetworkClassifier(predictor.model.classifier)
    for image in itertools.islice(images, MAX_IMAGES):   # (an iterable: images are read as they are used)
        fmap = predictor.extract_features(image, should_cancel).maps[0]
        with torch.no_grad():
            p = F.softmax(head(fmap).float(), dim=1)[0, rows]
            k = own(fmap).float()[0, channels]
            x = network_part(fmap).float()[0]
        feats.append(x.flatten(1).T)
        fixed.append(k.flatten(1).T)
        target.append(p.flatten(1).T)
    x, k, p = torch.cat(feats), torch.cat(fixed), torch.cat(target)
    if x.shape[0] > MAX_CELLS:
        pick = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(0))[:MAX_CELLS]
        x, k, p = x[pick], k[pick], p[pick]
    p = p / p.sum(1, keepdim=True).clamp_min(1e-12)
    # each class the head calls counts alike: a class taught on a few strokes holds few cells, and fitted by
    # cell it would lose every one of them to the network's large classes
    top = p.argmax(1)
    counts = torch.bincount(top, minlength=p.shape[1]).float()
    balance = (1.0 / counts.clamp_min(1.0))[top]
    balance = balance / balance.sum()
    x = x * float(inv_scale)
    weight = torch.zeros(len(new), x.shape[1], requires_grad=True)
    bias = torch.zeros(len(new), requires_grad=True)
    opt = torch.optim.LBFGS([weight, bias], max_iter=STEPS, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        z = torch.cat([k, x @ weight.T + bias], 1)
        loss = -(balance * (p * F.log_softmax(z, dim=1)).sum(1)).sum() + WEIGHT_DECAY * (weight * weight).sum()
        loss.backward()
        return loss

    check_cancel(should_cancel)
    opt.step(closure)
    return weight.detach() * float(inv_scale), bias.detach()
