"""Train on saved labels: fine-tune a loaded DeepLab (the whole network, or the classifier only) on a folder's saved
label PNGs with DeepLab's recipe, and write the result as a new project checkpoint with its provenance.

Recipe (DeepLab v1/v2 solvers): SGD with momentum 0.9, "poly" learning rate (1 - step/steps)^0.9, weight decay 5e-4
on weights, the classifier at 10x the base rate (biases 2x their layer's rate, as Caffe's lr_mult), cross-entropy
ignoring void (255), BatchNorm frozen (its statistics and affine terms stay as loaded), random scale 0.5-1.5, random
crop padded with the mean pixel / void, random left-right flip. A share of the saved images is held out to report
mIoU after every epoch (the raw network, as the app predicts). The GPU is used when there is one.

Nothing is written until training ends: cancel (should_cancel) raises Cancelled and leaves no file; running out of
memory raises TrainingError with what to change; the checkpoint is written atomically (temp file, fsync, rename).
"""
from __future__ import annotations

import copy
import datetime
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Optional

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from engine.eval.metrics import confusion_matrix, iou_per_class, mean_iou
from engine.models.device import pick_device
from engine.models.preprocess import INPUT_STD, to_input

from ..checkpoints import load_checkpoint, save_checkpoint
from ..crf.params import preset_for_model
from ..errors import EngineError, check_cancel
from ..labels import VOID
from ..predict import Predictor
from .augment import crop_and_flip, random_scale
from .saved import SavedImage, TrainingDataError, check_class_count, folder_class_names, load_checked, saved_images
from .trained_head import HEAD_IMAGES, with_trained_head

MODES = ("all", "head")


class TrainingError(EngineError):
    """Training could not run to the end (out of memory, diverged); nothing was written."""


@dataclass(frozen=True)
class Recipe:
    """What train-on-saved-labels does; stored in the new checkpoint's provenance."""
    mode: str = "all"                     # "all": the whole network; "head": the classifier only
    epochs: int = 30
    batch_size: int = 4
    crop: int = 321                       # capped at the model's input size
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 5e-4
    poly_power: float = 0.9
    classifier_lr_mult: float = 10.0
    scale_range: tuple = (0.5, 1.5)
    holdout: float = 0.2                  # share of saved images held out for mIoU (none with fewer than 5)
    seed: int = 0
    folder_head: bool = True              # keep a head over classes the network lacked (trained_head); False:
    #                                       a plain network, as other DeepLab code reads it

    def __post_init__(self):
        if self.mode not in MODES:
            raise EngineError(f"training mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.crop < 32 or self.lr <= 0:
            raise EngineError("epochs and batch size must be >= 1, crop >= 32 and the learning rate > 0")
        if not 0 <= self.holdout < 1:
            raise EngineError(f"holdout must be in [0, 1), got {self.holdout}")
        object.__setattr__(self, "scale_range", tuple(float(s) for s in self.scale_range))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["scale_range"] = list(self.scale_range)
        d.update(optimizer="SGD", lr_policy="poly", ignore_label=VOID, batch_norm="frozen", flip="left-right")
        return d


@dataclass(frozen=True)
class TrainProgress:
    """One report: after each step (miou unchanged) and after each epoch's held-out evaluation."""
    epoch: int
    epochs: int
    step: int
    steps: int
    loss: float
    losses: tuple = ()        # every step's loss so far (the live curve)
    miou: float | None = None  # held-out mIoU after the last finished epoch (epoch 0: before training)
    mious: tuple = ()         # (epoch, mIoU) so far
    epoch_done: bool = False  # this report closes an epoch (after its held-out evaluation)
    stage: str = ""           # after the epochs: what runs now (the head over the folder's classes)

    @property
    def text(self) -> str:
        if self.stage:
            return self.stage
        m = f", held-out mIoU {self.miou * 100:.1f}%" if self.miou is not None else ""
        loss = f", loss {self.loss:.3f}" if self.step else ""
        return f"epoch {self.epoch}/{self.epochs}, step {self.step}/{self.steps}{loss}{m}"


ProgressFn = Optional[Callable[[TrainProgress], None]]


@dataclass
class FinetuneResult:
    model: torch.nn.Module
    spec: object
    provenance: dict
    mious: tuple = ()
    losses: tuple = field(default_factory=tuple)
    lost: tuple = ()      # (class name, IoU before, after) on the training images: see lost_classes
    head_miou: float | None = None   # held-out mIoU with the head kept over the folder's classes (trained_head)
    folder_head: dict | None = None  # that head's settings for save_checkpoint; None: a plain network
    pixels: tuple = ()    # per class id: labelled pixels in the training images (what the network was trained on)

    def lost_text(self) -> str:
        """'' or a warning naming the classes the training lost, for the CLI and the dialog."""
        if not self.lost:
            return ""
        what = ", ".join(f"{name} (IoU {a:.2f} -> {b:.2f})" for name, a, b in self.lost)
        return (f"after training the network no longer predicts {what} on the very images it trained on. Keep the "
                "model the strokes adapted for them (Model > Export adapted model…), or save more images labelling "
                "them and train again")


HOLDOUT_MIN = 5   # fewer saved images than this: none is held out (each one is needed to train)


def held_out_count(n_items: int, fraction: float) -> int:
    """How many of ``n_items`` saved images split_holdout holds out (0 below HOLDOUT_MIN)."""
    return int(round(n_items * fraction)) if n_items >= HOLDOUT_MIN else 0


def split_holdout(items: list, fraction: float, seed: int = 0) -> tuple[list, list]:
    """(train, held out): a seeded random share ``fraction`` of the items, none with fewer than HOLDOUT_MIN."""
    n_hold = held_out_count(len(items), fraction)
    order = np.random.default_rng(seed).permutation(len(items))
    held = sorted(int(i) for i in order[:n_hold])
    return [x for i, x in enumerate(items) if i not in held], [items[i] for i in held]


def _is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def _param_groups(model, recipe: Recipe) -> list[dict]:
    """Caffe's multipliers: weights 1x lr with decay, biases 2x without; the classifier 10x (20x for biases).
    The first convolution sees raw 0-255 pixels (Caffe's input convention), so its gradients are ~INPUT_STD times
    and its weights ~1/INPUT_STD those of a layer on normalised inputs: its rate is divided by INPUT_STD^2, what
    plain SGD on normalised inputs would do (at 1x it diverges within ten steps on the demo models)."""
    head = {id(p) for p in model.classifier.parameters()}
    first = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    first_ids = {id(p) for p in first.parameters()}
    groups = {}
    for p in model.parameters():
        if not p.requires_grad or (recipe.mode == "head" and id(p) not in head):
            continue
        mult = (recipe.classifier_lr_mult if id(p) in head else 1.0) * (2.0 if p.dim() == 1 else 1.0)
        if id(p) in first_ids:
            mult /= INPUT_STD ** 2
        decay = recipe.weight_decay if p.dim() > 1 else 0.0
        groups.setdefault((mult, decay), []).append(p)
    return [{"params": ps, "lr": recipe.lr * m, "base_mult": m, "weight_decay": d} for (m, d), ps in groups.items()]


def _logit_pyramid(model, x: torch.Tensor, head_only: bool) -> list[torch.Tensor]:
    """Stride-8 logits to train on: [fused] or, for multi-scale v2, [1x, each scale, fused] (DeepLab's MSC losses).
    With head_only the backbone runs without gradients."""
    if head_only:
        with torch.no_grad():
            inputs = model.classifier_inputs(x)
    else:
        inputs = model.classifier_inputs(x)
    logits = [model.classifier(f) for f in inputs]
    return model.fuse_pyramid(logits) if hasattr(model, "fuse_pyramid") else [model.fuse(logits)]


def _loss(model, x, y, head_only: bool) -> torch.Tensor:
    pyramid = _logit_pyramid(model, x, head_only)
    return sum(F.cross_entropy(model.upsample_logits(s, x.shape[-2:]), y, ignore_index=VOID)
               for s in pyramid) / len(pyramid)


def _network_size(pair, size: int):
    """(image, labels) scaled down (bilinear / nearest) to the long side the network sees, if larger: what
    training and the held-out scores use, and what keeps hundreds of large photos in memory."""
    image, labels = pair
    h, w = labels.shape
    if max(h, w) <= size:
        return image, labels
    s = size / max(h, w)
    dsize = (max(1, round(w * s)), max(1, round(h * s)))
    return (cv2.resize(image, dsize, interpolation=cv2.INTER_AREA),
            cv2.resize(labels, dsize, interpolation=cv2.INTER_NEAREST))


class _Batches:
    """Augmented batches from (image, labels) pairs already at the size the network sees (_network_size)."""

    def __init__(self, pairs, spec, recipe: Recipe):
        self.pairs, self.spec, self.recipe = pairs, spec, recipe
        self.crop = min(recipe.crop, spec.input_size)
        self.pad_rgb = tuple(int(round(v)) for v in spec.mean_bgr[::-1])
        self.rng = np.random.default_rng(recipe.seed)

    def epoch(self):
        order = self.rng.permutation(len(self.pairs))
        bs = self.recipe.batch_size
        for start in range(0, len(order), bs):
            xs, ys = [], []
            for i in order[start:start + bs]:
                image, labels = random_scale(self.rng, *self.pairs[int(i)], self.recipe.scale_range)
                x, y = crop_and_flip(self.rng, image, labels, (self.crop, self.crop), vertical=False,
                                     pad_rgb=self.pad_rgb)
                xs.append(x)
                ys.append(y)
            yield to_input(np.stack(xs), self.spec.mean_bgr), torch.from_numpy(np.stack(ys).astype(np.int64))

    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.pairs) / self.recipe.batch_size)


LOST_IMAGES = 12     # training images lost_classes predicts (twice each: before and after)
LOST_SHARE = 0.5     # a class is lost when its IoU falls below this share of its IoU before and below LOST_IOU
LOST_IOU = 0.1


def _confusion(loaded, model, pairs, device) -> np.ndarray:
    """The raw network's confusion matrix on (image, labels) pairs, predicted as the app does."""
    n = loaded.spec.n_classes
    predictor = Predictor(replace(loaded, model=model), device=str(device))
    conf = np.zeros((n, n), np.int64)
    for image, labels in pairs:
        conf += confusion_matrix(labels, predictor.predict(image).argmax(0), n)
    return conf


def class_ious(loaded, model, pairs, device) -> np.ndarray:
    """(C,) IoU of the raw network on (image, labels) pairs, NaN for a class in neither."""
    return iou_per_class(_confusion(loaded, model, pairs, device))


def lost_classes(loaded, before, after, pairs, device) -> tuple:
    """(name, IoU before, IoU after) of the classes that ``after`` (the trained network) all but stopped predicting
    on the training images ``pairs`` (the first LOST_IMAGES), where ``before`` (the network it started from)
    predicted them. Why: a walk trained on four saved images with two classes strokes had taught; the trained
    network predicted neither anywhere (IoU 0.00), and nothing said so."""
    pairs = pairs[:LOST_IMAGES]
    if not pairs:
        return ()
    start, end = class_ious(loaded, before, pairs, device), class_ious(loaded, after, pairs, device)
    names = loaded.spec.class_names
    return tuple((names[c], float(start[c]), float(end[c])) for c in range(len(names))
                 if np.isfinite(start[c]) and start[c] >= LOST_IOU
                 and not (np.isfinite(end[c]) and end[c] >= min(LOST_IOU, LOST_SHARE * start[c])))


def evaluate(loaded, model, pairs, device) -> float | None:
    """mIoU of the raw network on (image, labels) pairs, predicted as the app does; None without pairs."""
    if not pairs:
        return None
    return mean_iou(_confusion(loaded, model, pairs, device))


def finetune(loaded, items: list[SavedImage], recipe: Recipe = Recipe(), device: str | None = "auto",
             should_cancel=None, on_progress: ProgressFn = None, keep_head: bool = False) -> FinetuneResult:
    """Fine-tune a copy of ``loaded.model`` on the saved images; the loaded model itself is not changed.
    ``keep_head``: then fit a head over its classes to the training images' labels (engine.learn.trained_head)."""
    n, size = loaded.spec.n_classes, loaded.spec.input_size
    train_items, held_items = split_holdout(list(items), recipe.holdout, recipe.seed)
    train_pairs = [_network_size(p, size) for p in load_checked(train_items, n)]
    held_pairs = [_network_size(p, size) for p in load_checked(held_items, n)]
    if not any((lab != VOID).any() for _, lab in train_pairs):
        raise TrainingDataError("every saved label map to train on is void (255): nothing to learn from")
    pixels = tuple(int(v) for v in sum(np.bincount(np.asarray(lab).ravel(), minlength=256)[:n]
                                       for _, lab in train_pairs))
    dev = pick_device(device)
    torch.manual_seed(recipe.seed)
    report = on_progress or (lambda p: None)
    try:
        model = copy.deepcopy(loaded.model).to(dev)
        mious = []
        base = evaluate(loaded, model, held_pairs, dev)
        if base is not None:
            mious.append((0, base))
        batches = _Batches(train_pairs, loaded.spec, recipe)
        steps = recipe.epochs * batches.steps_per_epoch()
        groups = _param_groups(model, recipe)
        opt = torch.optim.SGD(groups, lr=recipe.lr, momentum=recipe.momentum)
        losses, step = [], 0
        report(TrainProgress(0, recipe.epochs, 0, steps, float("nan"), (), base, tuple(mious), epoch_done=True))
        for epoch in range(1, recipe.epochs + 1):
            model.train()
            for x, y in batches.epoch():
                check_cancel(should_cancel)
                for g in opt.param_groups:
                    g["lr"] = recipe.lr * g["base_mult"] * (1 - step / steps) ** recipe.poly_power
                if not bool((y != VOID).any()):
                    continue                      # only void in these crops: no gradient to take
                loss = _loss(model, x.to(dev), y.to(dev), recipe.mode == "head")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                step += 1
                losses.append(float(loss.item()))
                if not math.isfinite(losses[-1]):
                    raise TrainingError(f"training diverged at step {step} (loss {losses[-1]}); lower the learning "
                                        f"rate (now {recipe.lr:g}). Nothing was written.")
                report(TrainProgress(epoch, recipe.epochs, step, steps, losses[-1], tuple(losses),
                                     mious[-1][1] if mious else None, tuple(mious)))
            check_cancel(should_cancel)
            miou = evaluate(loaded, model, held_pairs, dev)
            if miou is not None:
                mious.append((epoch, miou))
            report(TrainProgress(epoch, recipe.epochs, step, steps, losses[-1], tuple(losses),
                                 mious[-1][1] if mious else None, tuple(mious), epoch_done=True))
    except Exception as exc:
        if not _is_out_of_memory(exc):
            raise
        if dev.type == "cuda":
            torch.cuda.empty_cache()
        raise TrainingError(f"training ran out of memory on {dev} (batch {recipe.batch_size}, crop "
                            f"{min(recipe.crop, loaded.spec.input_size)} px, mode {recipe.mode!r}): lower the batch "
                            f"size or the crop, or train the head only. Nothing was written.") from exc
    model = model.eval().cpu()
    check_cancel(should_cancel)
    settings = head_miou = None
    if keep_head:
        report(TrainProgress(recipe.epochs, recipe.epochs, steps, steps, losses[-1] if losses else float("nan"),
                             tuple(losses), mious[-1][1] if mious else None, tuple(mious),
                             stage="Fitting the head over the folder's classes to the saved labels…"))
        model, settings = with_trained_head(loaded, model, train_pairs, should_cancel)
        head_miou = evaluate(loaded, model, held_pairs, "cpu") if settings is not None else None
    lost = lost_classes(loaded, loaded.model, model, train_pairs, "cpu")
    provenance = _provenance(loaded, recipe, train_items, held_items, dev, losses, mious)
    if settings is not None:
        provenance["folder_head"] = {"fitted_on": min(len(train_pairs), HEAD_IMAGES),
                                     "held_out_miou": None if head_miou is None else float(head_miou)}
    if lost:
        provenance["lost_classes"] = [[name, round(a, 4), round(b, 4)] for name, a, b in lost]
    return FinetuneResult(model, loaded.spec, provenance, tuple(mious), tuple(losses), lost, head_miou, settings,
                          pixels)


def _provenance(loaded, recipe, train_items, held_items, dev, losses, mious) -> dict:
    return {
        "base_checkpoint": str(loaded.path), "base_sha256": loaded.sha256, "base_format": loaded.source_format,
        "images": [{"image": it.name, "labels_sha256": it.label_sha256()} for it in train_items],
        "held_out": [{"image": it.name, "labels_sha256": it.label_sha256()} for it in held_items],
        "recipe": recipe.to_dict(), "device": str(dev), "torch": str(torch.__version__),
        "final_loss": losses[-1] if losses else None,
        "held_out_miou": [[int(e), float(m)] for e, m in mious],
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def _to_folder_classes(folder, loaded, should_cancel=None) -> tuple:
    """(the model to train, whether it keeps a head over the folder's classes). The folder's class list differs
    from the model's (more, fewer, another order), or the model is an exported adapted one: train a network with
    the folder's classes, matched by name; classes the network lacks start from the head the strokes taught (the
    folder's, or the adapted model's own), and the trained network keeps such a head (trained_head) when the
    folder has a class the network lacked or the model came with a head."""
    from ..folder.dataset import Dataset
    from ..models.folder_head import attached
    from .folder_classes import lacking_classes, same_classes, to_folder_classes
    from .head_store import HeadFileError, HeadStore
    from .saved import folder_class_list

    classes = folder_class_list(folder)
    adapted = attached(loaded.model) is not None
    if not adapted and (classes is None or same_classes(classes, loaded.spec.class_list())):
        return loaded, False
    classes = classes if classes is not None else loaded.spec.class_list()
    head = None
    if not adapted:
        try:
            head = HeadStore(Dataset(folder).labels_dir, loaded.sha256).load(len(classes), classes.names)
        except HeadFileError:
            head = None
    images = (item.load()[0] for item in saved_images(folder))
    keep = adapted or bool(lacking_classes(classes, loaded.spec.class_list()))
    return to_folder_classes(loaded, classes, head, images, should_cancel), keep


def untrained_classes(base, folder, names, pixels) -> tuple[str, ...]:
    """The classes of a trained checkpoint that nothing taught: new to ``base`` (by name), without a pixel in the
    training labels, and not taught by strokes (the folder's head file or ``base``'s own adapted head). The window
    shows them as new, not as the model's (a walk's one-image folder without glass: 'model — The model was trained
    on this class', and glass predicted nowhere)."""
    from ..folder.dataset import Dataset
    from ..labels import match_key
    from ..models.folder_head import attached
    from .head_store import HeadFileError, HeadStore

    known = {match_key(n) for n in base.spec.class_names}
    exported = attached(base.model)
    taught = {match_key(n) for n in exported.taught} if exported is not None else set()
    try:
        head = HeadStore(Dataset(folder).labels_dir, base.sha256).load(len(names), names)
    except (HeadFileError, EngineError):
        head = None
    if head is not None:
        taught |= {match_key(names[c]) for c, n, _ in head.taught if n and c < len(names)}
    return tuple(name for c, name in enumerate(names)
                 if match_key(name) not in known | taught and (c >= len(pixels) or not pixels[c]))


def train_on_folder(folder: str | Path, model_path: str | Path, out_path: str | Path, recipe: Recipe = Recipe(),
                    device: str | None = "auto", should_cancel=None, on_progress: ProgressFn = None,
                    loaded=None) -> FinetuneResult:
    """Model > Train on saved labels and `main.py finetune`: check, train, then write ``out_path`` atomically
    (only then: a cancelled or failed run leaves no file). ``loaded`` skips reading model_path again."""
    out_path = Path(out_path)
    if out_path.exists() and out_path.is_dir():
        raise EngineError(f"{out_path}: is a folder; give the new checkpoint's file name")
    loaded = loaded if loaded is not None else load_checkpoint(model_path)
    # the CRF values the base starts with, by name: the new file's name finds no preset tuned for it (a walk: a
    # model trained from demo_v1.pt refined with deeplab-v1's values, not demo_v1's)
    preset = preset_for_model(loaded.spec, loaded.path)
    base = loaded
    loaded, keep_head = _to_folder_classes(folder, loaded, should_cancel)
    check_class_count(folder, loaded.spec.n_classes)
    items = saved_images(folder)
    result = finetune(loaded, items, recipe, device, should_cancel, on_progress, keep_head and recipe.folder_head)
    check_cancel(should_cancel)
    names = folder_class_names(folder)
    spec = loaded.spec
    if names is not None and tuple(names) != spec.class_names:
        spec = replace(spec, class_names=tuple(names))
    base_name = spec.name or Path(loaded.path).stem
    spec = replace(spec, name=f"{base_name}, fine-tuned on {len(result.provenance['images'])} images of "
                              f"{Path(folder).name}", crf_preset=preset)
    result.spec = spec
    untrained = untrained_classes(base, folder, spec.class_names, result.pixels)
    if untrained:
        result.provenance["untrained_classes"] = list(untrained)
    save_checkpoint(out_path, result.model, spec, provenance=result.provenance, folder_head=result.folder_head)
    return result
