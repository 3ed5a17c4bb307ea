"""Train the bundled demo models (narrow DeepLab v1 LargeFOV and v2 ASPP) on the synthetic recycling-belt scenes.

This file *is* the recipe for resources/models/demo_v1.pt and demo_v2.pt: `python main.py train-demo --out
resources/models` rebuilds both on CPU from fixed seeds (2 threads: about 15 minutes on idle cores, 31 minutes measured
on a busy shared 2-core box; v2 alone reproduced its shipped weights bit for bit). Heads are the real ones (LargeFOV
dilated fc6; four-branch ASPP); only the backbones are narrow so the files stay a few MB and training fits a laptop
CPU. Loss is class-weighted pixel-wise cross-entropy on the full-resolution logits, upsampled by the models' pipeline:
kazuto's (no padding, bilinear align_corners=False), the PyTorch way these weights are trained and run.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from engine.console import parser as make_parser
from engine.console import progress
from engine.demo import synth
from engine.learn.augment import crop_and_flip
from engine.models.preprocess import INPUT_STD, to_input
from engine.models.registry import ModelSpec, build_model
from engine.paths import SAMPLES_DIR, WRITABLE_MODELS_DIR, WRITABLE_SAMPLES_DIR

CROP = (192, 256)  # training crop (H, W) from the 240x320 scenes: 2/3 of the pixels per step
SCALE_RANGE = (0.6, 1.2)  # random scaling of each training batch
INPUT_SIZE = 321  # Predictor scales larger images to this longer side: the framing the models were trained at
# Trained in PyTorch on unpadded crops, so they run as kazuto's PyTorch models do. On the test split the caffe
# pipeline (pad to 321 with the mean, Caffe zoom + crop) scored lower with the pre-pipeline weights: v1 76.8 vs 78.9,
# v2 80.3 vs 82.9 mIoU without CRF (the networks never saw mean padding in training).
DEMO_PIPELINE = "kazuto"


@dataclass(frozen=True)
class Recipe:
    """How one demo model is built and trained; `spec` is what the checkpoint stores (inference view)."""
    key: str
    spec: ModelSpec
    train_kwargs: tuple[tuple[str, object], ...]  # extra builder kwargs for training only
    steps: int
    batch: int
    lr: float
    weight_decay: float
    seed: int

    @property
    def filename(self) -> str:
        return f"demo_{self.key}.pt"


def _spec(arch: str, kwargs: dict, name: str, crf_preset: str) -> ModelSpec:
    # No MSC for the v2 demo: on 40 validation scenes, max-fusing the 0.5x/0.75x maps lowers mIoU (78.8 vs 82.7
    # single-scale; also when trained with per-scale losses) because the small objects vanish at half scale.
    return ModelSpec(arch=arch, n_classes=len(synth.CLASS_NAMES), class_names=synth.CLASS_NAMES,
                     palette=synth.PALETTE, arch_kwargs=tuple(kwargs.items()),
                     input_size=INPUT_SIZE, crf_preset=crf_preset, name=name, pipeline=DEMO_PIPELINE)


RECIPES: dict[str, Recipe] = {
    "v1": Recipe("v1", _spec("deeplab_v1_largefov", {"channels": (16, 32, 64, 96, 96), "fc_channels": 128},
                             "Demo DeepLab v1 LargeFOV (narrow VGG, recycling belt)", "deeplab-v1"),
                 train_kwargs=(("dropout", 0.1),), steps=1000, batch=8, lr=2e-3, weight_decay=1e-4, seed=1),
    "v2": Recipe("v2", _spec("deeplab_v2_resnet101", {"blocks": (1, 1, 2, 1), "base_channels": 16},
                             "Demo DeepLab v2 ASPP (narrow ResNet, recycling belt)", "deeplab-v2"),
                 train_kwargs=(("freeze_bn", False),), steps=600, batch=8, lr=2e-3, weight_decay=1e-4, seed=2),
}
N_TRAIN_SCENES = 800


def make_training_set(n: int, log=print, on_scene=None) -> tuple[np.ndarray, np.ndarray]:
    """(N,H,W,3) uint8 RGB images and (N,H,W) uint8 labels of train scenes 0..n-1 at synth.TRAIN_SIZE.
    on_scene(): called after each scene (a progress bar)."""
    h, w = synth.TRAIN_SIZE
    images = np.empty((n, h, w, 3), np.uint8)
    labels = np.empty((n, h, w), np.uint8)
    t0 = time.time()
    for i in range(n):
        scene = synth.make_scene(synth.split_seed("train", i), synth.TRAIN_SIZE)
        images[i], labels[i] = scene.image, scene.labels
        if on_scene is not None:
            on_scene()
    log(f"generated {n} training scenes {w}x{h} in {time.time() - t0:.0f}s")
    return images, labels


def _batch(rng: np.random.Generator, images, labels, size: int, crop=CROP):
    """Random crops of random scenes with random horizontal/vertical flips (a belt has no preferred orientation)."""
    ch, cw = crop
    x = np.empty((size, ch, cw, 3), np.uint8)
    y = np.empty((size, ch, cw), np.int64)
    for k, i in enumerate(rng.integers(0, len(images), size)):
        x[k], y[k] = crop_and_flip(rng, images[i], labels[i], crop)
    return x, torch.from_numpy(y)


def class_weights(labels: np.ndarray, n_classes: int) -> torch.Tensor:
    """Loss weights ~ 1/sqrt(pixel frequency), mean 1 over pixels: the belt covers ~75% of every scene, and the
    small classes (cans, paper scraps) would otherwise be learnt last."""
    freq = np.bincount(labels.ravel(), minlength=n_classes).astype(np.float64) + 1.0
    freq /= freq.sum()
    w = freq ** -0.5
    return torch.tensor(w / (w * freq).sum(), dtype=torch.float32)


def _init_weights(model: torch.nn.Module, input_std: float = INPUT_STD) -> None:
    """He init for convolutions; the first layer is scaled down by the input's spread (0-255 inputs, no BN in v1)."""
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    for i, m in enumerate(convs):
        torch.nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
        if i == 0:
            m.weight.data /= input_std
        if m.bias is not None:
            torch.nn.init.zeros_(m.bias)


def _param_groups(model: torch.nn.Module, lr: float, input_std: float = INPUT_STD) -> list[dict]:
    """The first convolution sees 0-255 inputs, so its weights are ~input_std times smaller than the rest; Adam's
    steps are absolute, so it gets lr / input_std (the same as training on normalised inputs)."""
    first = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d)).weight
    rest = [p for p in model.parameters() if p is not first and p.requires_grad]
    return [{"params": [first], "lr": lr / input_std}, {"params": rest, "lr": lr}]


def _batch_norms(model: torch.nn.Module) -> list[torch.nn.Module]:
    return [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def recalibrate_bn(model: torch.nn.Module, rng, images, labels, mean_bgr, batches: int = 20, batch: int = 8) -> None:
    """Re-estimate BatchNorm running statistics as exact averages over training batches ("precise BN"), so the
    eval-mode network sees the statistics it was trained with (Caffe-style momentum .999 would lag far behind)."""
    bns = _batch_norms(model)
    if not bns:
        return
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.train()
    for _ in range(batches):
        x, _ = _batch(rng, images, labels, batch)
        model(to_input(x, mean_bgr))
    model.eval()


def _rescale(rng, x: torch.Tensor, y: torch.Tensor, scales=SCALE_RANGE):
    """DeepLab's random-scale augmentation, one factor per batch (bilinear image, nearest labels)."""
    s = float(rng.uniform(*scales))
    size = (max(32, round(x.shape[-2] * s)), max(32, round(x.shape[-1] * s)))
    x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    y = F.interpolate(y[:, None].float(), size=size, mode="nearest")[:, 0].long()
    return x, y


def _loss(model, x, y, weight) -> torch.Tensor:
    """Weighted cross-entropy on the full-size logits."""
    return F.cross_entropy(model(x), y, weight=weight)


def train_one(recipe: Recipe, images, labels, steps: int | None = None, log=print,
              bn_batches: int = 20, on_step=None) -> torch.nn.Module:
    """Train one model from scratch; returns it in eval mode. Deterministic for a given recipe and thread count.
    on_step(step, steps, running loss) after each step (a progress bar); without it, a log line every 50 steps."""
    steps = recipe.steps if steps is None else steps
    torch.manual_seed(recipe.seed)
    rng = np.random.default_rng(recipe.seed)
    train_spec = ModelSpec.from_dict({**recipe.spec.to_dict(),
                                      "arch_kwargs": {**recipe.spec.kwargs(), **dict(recipe.train_kwargs)}})
    model = build_model(train_spec)
    _init_weights(model)
    for m in _batch_norms(model):
        m.momentum = 0.1  # training only; replaced by recalibrate_bn at the end
    model.train()
    weight = class_weights(labels, recipe.spec.n_classes)
    opt = torch.optim.AdamW(_param_groups(model, recipe.lr), lr=recipe.lr, weight_decay=recipe.weight_decay)
    warmup = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(  # linear warm-up, then DeepLab's "poly" decay (power 0.9)
        opt, lambda s: min(1.0, (s + 1) / warmup) * (1 - s / max(steps, 1)) ** 0.9)
    t0, running = time.time(), None
    for step in range(steps):
        x, y = _batch(rng, images, labels, recipe.batch)
        loss = _loss(model, *_rescale(rng, to_input(x, recipe.spec.mean_bgr), y), weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
        if not math.isfinite(running):
            raise RuntimeError(f"{recipe.key}: training diverged at step {step}")
        if on_step is not None:
            on_step(step + 1, steps, running)
        elif (step + 1) % 50 == 0 or step + 1 == steps:
            log(f"[{recipe.key}] step {step + 1}/{steps} loss {running:.4f} ({time.time() - t0:.0f}s)")
    recalibrate_bn(model, rng, images, labels, recipe.spec.mean_bgr, batches=bn_batches, batch=recipe.batch)
    return model.eval()


def build_parser() -> argparse.ArgumentParser:
    p = make_parser("train-demo", __doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=WRITABLE_MODELS_DIR,
                   help=f"folder for demo_v1.pt / demo_v2.pt (default: {WRITABLE_MODELS_DIR}; installed, the "
                        "user's data folder, where the app looks for them first)")
    p.add_argument("--models", nargs="+", choices=sorted(RECIPES), default=sorted(RECIPES),
                   help="which demo models to train (default: all)")
    p.add_argument("--steps", type=int, default=None, help="override the recipe's step count (quick checks)")
    p.add_argument("--scenes", type=int, default=N_TRAIN_SCENES,
                   help=f"number of training scenes (default {N_TRAIN_SCENES})")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (the recipe uses 2)")
    p.add_argument("--samples-dir", type=Path, default=WRITABLE_SAMPLES_DIR,
                   help=f"where to (re)write the held-out sample images (default: {WRITABLE_SAMPLES_DIR}); their "
                        "ground truth goes to samples_gt beside it")
    p.add_argument("--no-samples", action="store_true", help="do not write the sample images")
    return p


def main(argv: list[str] | None = None) -> int:
    """CLI: train the demo models and write them in the project checkpoint format."""
    from engine.checkpoints import save_checkpoint

    args = build_parser().parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    torch.use_deterministic_algorithms(True, warn_only=True)
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.no_samples:
        from engine.demo.samples import SAMPLES_GT_DIR, write_samples
        gt_dir = SAMPLES_GT_DIR if args.samples_dir == SAMPLES_DIR else args.samples_dir.parent / "samples_gt"
        print(f"wrote {len(write_samples(args.samples_dir, gt_dir))} samples to {args.samples_dir} (+ {gt_dir})")
    with progress(args.scenes, "generating scenes", unit="scene") as bar:
        images, labels = make_training_set(args.scenes, log=bar.write, on_scene=bar.update)
    for key in args.models:
        recipe = RECIPES[key]
        t0 = time.time()
        steps = recipe.steps if args.steps is None else args.steps
        with progress(steps, f"training {key}", unit="step") as bar:
            def on_step(step, _total, loss, bar=bar):
                bar.set_postfix_str(f"loss {loss:.4f}", refresh=False)
                bar.update(step - bar.n)
            model = train_one(recipe, images, labels, steps=steps, on_step=on_step)
        path = args.out / recipe.filename
        save_checkpoint(path, model, recipe.spec)
        size_mb = path.stat().st_size / 1e6
        print(f"wrote {path} ({size_mb:.1f} MB) after {time.time() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
