"""What one stroke's head adaptation costs, for the demo models and for the real-size networks, at 0.5 MP.

    .venv/bin/python bench/adapt_cost.py             # demo v1/v2 + VGG-16 LargeFOV + ResNet-101 ASPP MSC (21 classes)
    .venv/bin/python bench/adapt_cost.py --demo-only

Per model: the backbone's features (once per image; the app does it when the image is ready), then per stroke the
locked-pixel targets, the fit (engine.learn.adapt, the app's settings) and the new probabilities at image size.
The real-size networks are also timed with a head over 21 and over 182 folder classes (161 of them classes the
network lacks, engine.models.folder_head). For DeepLab v2 it also times the alternative head, the four ASPP branches themselves ("classifier" kind, Adam):
per step, and its ratio to the 1x1 residual on res5 that the app adapts instead. The real-size networks have
random weights (timing does not depend on them). Times are the best of --repeat runs; the machine may be shared,
so the load is printed beside them.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from engine.annotate.edits import EditableLabels  # noqa: E402
from engine.checkpoints import LoadedModel, load_checkpoint  # noqa: E402
from engine.demo import synth  # noqa: E402
from engine.demo.annotator import next_stroke, paint  # noqa: E402
from engine.learn.adapt import AdaptConfig, HeadAdapter  # noqa: E402
from engine.models.registry import ModelSpec, build_model  # noqa: E402
from engine.paths import DEMO_V1, DEMO_V2  # noqa: E402
from engine.predict import Predictor  # noqa: E402

SIZE = (612, 816)   # 0.5 MP


def _best(fn, repeat: int):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def real_size(arch: str) -> LoadedModel:
    spec = ModelSpec(arch=arch, n_classes=21, input_size=513,
                     msc_scales=(0.5, 0.75) if arch == "deeplab_v2_resnet101" else ())
    torch.manual_seed(0)
    return LoadedModel(build_model(spec).eval(), spec, "random", "", Path(f"random {arch}"))


def measure(name: str, loaded, repeat: int, aspp_steps: int, folder_classes: int | None = None) -> None:
    """``folder_classes``: the head predicts that many folder classes, the model's own first and the rest classes
    it lacks (engine.models.folder_head), as a COCO-Stuff-sized folder on a 21-class model."""
    predictor = Predictor(loaded, device="cpu")
    scene = synth.make_scene(synth.split_seed("test", 0), SIZE, "shifted")
    image = scene.image
    feat_s, features = _best(lambda: predictor.extract_features(image), 1)
    n = predictor.n_classes
    base = predictor.probs_from_features(features).argmax(0).astype(np.uint8)
    gt = np.minimum(scene.labels, n - 1)
    edits = EditableLabels(base, n_classes=n)
    paint(edits, next_stroke(base, gt) or next_stroke(np.full_like(gt, (int(gt.max()) + 1) % n), gt))
    labels, locked = edits.snapshot()
    source = None if folder_classes is None else \
        tuple(range(min(n, folder_classes))) + (-1,) * max(0, folder_classes - n)
    adapter = HeadAdapter(predictor, source=source)
    adapter.fit(features, adapter.targets(features, labels, locked), adapter.original)   # warm (autograd init)
    tgt_s, targets = _best(lambda: adapter.targets(features, labels, locked), repeat)
    fit_s, head = _best(lambda: adapter.fit(features, targets, adapter.original), repeat)
    probs_s, _ = _best(lambda: adapter.probs(features, head), repeat)
    cells = sum(int(np.prod(m.shape[-2:])) for m in features.maps)
    channels = features.maps[0].shape[1]
    total = tgt_s + fit_s + probs_s
    if folder_classes is not None:
        name = f"{name}, {folder_classes} folder cl."
    print(f"{name:<44} {channels:5d} ch {cells:6d} cells | features {feat_s * 1e3:7.0f} ms | per stroke: targets "
          f"{tgt_s * 1e3:5.1f}  fit {fit_s * 1e3:6.0f}  probs {probs_s * 1e3:5.0f}  = {total * 1e3:6.0f} ms", flush=True)
    if folder_classes is None and (hasattr(loaded.model, "scales") or
                                   type(loaded.model.classifier).__name__ == "_ASPP"):
        aspp = HeadAdapter(predictor, AdaptConfig(kind="classifier", steps=aspp_steps, optimizer="adam"))
        step_s, _ = _best(lambda: aspp.fit(features, targets, aspp.original), 1)
        per_step = step_s / max(aspp_steps, 1)
        full = per_step * AdaptConfig().steps
        print(f"{'':<44}   ASPP branches themselves (Adam): {per_step * 1e3:7.0f} ms per step, "
              f"{AdaptConfig().steps} steps {full:6.1f} s = {full / fit_s:5.1f}x the residual fit", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--demo-only", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--aspp-steps", type=int, default=3, help="ASPP steps timed (per-step time is reported)")
    ap.add_argument("--quick", action="store_true", help="the demo models only, one repetition (make bench)")
    args = ap.parse_args(argv)
    if args.quick:
        args.demo_only, args.repeat = True, 1
    torch.set_num_threads(max(1, args.threads))
    print(f"head adaptation per stroke at {SIZE[1]}x{SIZE[0]} (0.5 MP), torch threads {args.threads}, "
          f"load {os.getloadavg()[0]:.1f}")
    models = [("demo v1 (narrow VGG LargeFOV)", load_checkpoint(DEMO_V1)),
              ("demo v2 (narrow ResNet ASPP)", load_checkpoint(DEMO_V2))]
    for name, loaded in models:
        measure(name, loaded, args.repeat, args.aspp_steps)
    if not args.demo_only:
        for name, arch in (("VGG-16 LargeFOV, 21 classes", "deeplab_v1_largefov"),
                           ("ResNet-101 ASPP MSC, 21 classes", "deeplab_v2_resnet101")):
            loaded = real_size(arch)
            measure(name, loaded, max(1, args.repeat - 1), args.aspp_steps)
            for folder_classes in (21, 182):   # a head over the folder's classes: 21, and 182 (161 of them new)
                measure(name.split(",")[0], loaded, max(1, args.repeat - 1), args.aspp_steps, folder_classes)
    print(f"load {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
