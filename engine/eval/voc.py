"""`main.py eval-voc`: a checkpoint's mIoU on PASCAL VOC 2012 val, measured the way the published tables were.

Each image goes through the checkpoint's own pipeline (Predictor: caffe or kazuto, see engine.models.pipelines),
decoded with OpenCV as Caffe's ImageSegData and kazuto's datasets do; its argmax, and with ``--crf`` the dense CRF's
labels, are scored against SegmentationClass/*.png (255 = void, ignored) by one confusion matrix over the whole split
(mIoU = mean over classes of TP / (TP + FP + FN), classes absent from both skipped: kazuto's libs/utils/metric.py).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from engine.console import error, progress, say
from engine.console import parser as make_parser
from engine.errors import EngineError
from engine.eval.metrics import confusion_matrix, mean_iou, pixel_accuracy
from engine.io.labels import read_label_png


def voc_items(root: Path, split: str = "val") -> list[tuple[str, Path, Path]]:
    """(id, image, label) for each id in ImageSets/Segmentation/<split>.txt of a VOC2012-layout folder."""
    root = Path(root)
    listing = root / "ImageSets" / "Segmentation" / f"{split}.txt"
    if not listing.is_file():
        raise EngineError(f"{root}: no {listing.relative_to(root)}; expected a VOC2012 folder (JPEGImages, "
                          f"SegmentationClass, ImageSets/Segmentation)")
    ids = [line.split()[0] for line in listing.read_text().splitlines() if line.strip()]
    items = [(i, root / "JPEGImages" / f"{i}.jpg", root / "SegmentationClass" / f"{i}.png") for i in ids]
    missing = [str(p) for _, im, lab in items for p in (im, lab) if not p.is_file()]
    if missing:
        raise EngineError(f"{root}: {len(missing)} files of the {split} list are missing, e.g. {missing[0]}")
    return items


def read_bgr_as_rgb(path: Path) -> np.ndarray:
    """cv2.imread(IMREAD_COLOR), the decoder both published pipelines used, as (H,W,3) uint8 RGB."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise EngineError(f"{path}: not a readable image")
    return np.ascontiguousarray(bgr[..., ::-1])


def evaluate(predictor, items, crf=None, backend=None, log=print, every: int = 50, bar=None) -> dict:
    """{'none': confusion, 'crf': confusion or None, 'n': images} over `items` ((id, image, label) triples).
    bar: a progress bar (engine.console.progress) updated per image, its postfix the running mIoU; without
    one, a log line every `every` images."""
    n = predictor.n_classes
    conf = {"none": np.zeros((n, n), np.int64), "crf": np.zeros((n, n), np.int64) if crf is not None else None}
    t0 = time.time()
    for k, (_, image_path, label_path) in enumerate(items, start=1):
        image, gt = read_bgr_as_rgb(image_path), read_label_png(label_path)
        probs = predictor.predict(image)
        conf["none"] += confusion_matrix(gt, probs.argmax(0), n)
        if crf is not None:
            conf["crf"] += confusion_matrix(gt, backend.session(image).run(probs, crf).labels, n)
        crf_part = f", CRF {mean_iou(conf['crf']) * 100:.2f}" if crf is not None else ""
        if bar is not None:
            bar.set_postfix_str(f"mIoU {mean_iou(conf['none']) * 100:.2f}{crf_part}", refresh=False)
            bar.update(1)
        elif k % every == 0 or k == len(items):
            log(f"  {k}/{len(items)} images ({time.time() - t0:.0f}s): mIoU {mean_iou(conf['none']) * 100:.2f}"
                f"{crf_part}")
    conf["n"] = len(items)
    return conf


def build_parser() -> argparse.ArgumentParser:
    from engine.crf import all_presets, backend_names
    from engine.models.pipelines import PIPELINES

    p = make_parser("eval-voc", __doc__.split("\n")[0])
    p.add_argument("--model", type=Path, required=True, help="checkpoint (.pth, .caffemodel, project .pt)")
    p.add_argument("--voc", type=Path, required=True, help="the VOC2012 folder (VOCdevkit/VOC2012)")
    p.add_argument("--split", default="val", help="ImageSets/Segmentation list (default: val, 1449 images)")
    p.add_argument("--crf", choices=sorted(all_presets()), default=None, help="also score the CRF's labels")
    p.add_argument("--backend", choices=backend_names(), default=None, help="CRF backend (default: the app's)")
    p.add_argument("--pipeline", choices=sorted(PIPELINES), default=None, help="override the checkpoint's own")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--tile", action="store_true", help="tile images larger than input_size instead of shrinking")
    p.add_argument("--limit", type=int, default=None, help="score only the first N images (a quick check)")
    return p


def main(argv: list[str] | None = None) -> int:
    from engine.checkpoints import load_checkpoint
    from engine.crf import get_backend, preset
    from engine.crf.fast.kernel_cache import warm_up_with_notice
    from engine.predict import Predictor

    args = build_parser().parse_args(argv)
    try:
        items = voc_items(args.voc, args.split)[: args.limit]
        loaded = load_checkpoint(args.model, pipeline=args.pipeline)
        predictor = Predictor(loaded, device=args.device, strategy="tile" if args.tile else "scale")
        crf = preset(args.crf) if args.crf else None
        backend = get_backend(args.backend) if crf is not None else None
        print(f"{args.model.name}: {loaded.spec.arch}, {loaded.spec.n_classes} classes, {loaded.spec.pipeline} "
              f"pipeline, device {predictor.device}; {len(items)} {args.split} images")
        if backend is not None:
            warm_up_with_notice(say, backend)   # compiled once after an install: said, not silent
        with progress(len(items), f"{args.split} images", unit="img") as bar:
            conf = evaluate(predictor, items, crf, backend, bar=bar)
    except EngineError as exc:
        return error(str(exc))
    line = f"mIoU {mean_iou(conf['none']) * 100:.2f} (pixel acc {pixel_accuracy(conf['none']) * 100:.2f})"
    if crf is not None:
        line += f"; with CRF {args.crf}: mIoU {mean_iou(conf['crf']) * 100:.2f} " \
                f"(pixel acc {pixel_accuracy(conf['crf']) * 100:.2f})"
    print(f"{conf['n']} images: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
