"""`main.py predict`: image -> model -> optional CRF -> VOC label PNG, headless; exercises the whole engine."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import EngineError
from .paths import DEMO_V1


def build_parser() -> argparse.ArgumentParser:
    from .crf import all_presets, backend_names
    from .models.pipelines import PIPELINES

    p = argparse.ArgumentParser(prog="main.py predict", description="Predict a label PNG for one image.")
    p.add_argument("image", type=Path)
    p.add_argument("--model", type=Path, default=DEMO_V1,
                   help="checkpoint: project .pt, kazuto .pth or .caffemodel (default: bundled demo model)")
    p.add_argument("--classes", type=Path, help="class list file (one name per line) to use instead of the model's")
    p.add_argument("--crf", choices=sorted(all_presets()) + ["none"], default="none",
                   help="refine with a dense CRF preset (default: none)")
    p.add_argument("--backend", choices=backend_names(), default=None, help="CRF backend (default: the app's)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--tile", action="store_true", help="tile large images instead of scaling them down")
    p.add_argument("--pipeline", choices=sorted(PIPELINES), default=None,
                   help="inference pipeline (default: the checkpoint's own: caffe for Caffe weights, kazuto for "
                        "kazuto's .pth)")
    p.add_argument("--out", type=Path, required=True, help="output label PNG (indexed, 255 = void)")
    return p


def run(args) -> str:
    """Do the work; return a one-line summary."""
    import numpy as np

    from .checkpoints import load_checkpoint
    from .crf import get_backend, preset
    from .io.images import read_image
    from .io.labels import write_label_png
    from .labels import load_class_list
    from .predict import Predictor

    class_list = load_class_list(args.classes) if args.classes else None
    loaded = load_checkpoint(args.model, class_list=class_list, pipeline=args.pipeline)
    image = read_image(args.image)
    predictor = Predictor(loaded, device=args.device, strategy="tile" if args.tile else "scale")
    probs = predictor.predict(image)
    if args.crf != "none":
        result = get_backend(args.backend).session(image).run(probs, preset(args.crf))
        labels = result.labels
    else:
        labels = np.argmax(probs, axis=0).astype(np.uint8)
    write_label_png(args.out, labels, loaded.spec.class_list())
    counts = np.bincount(labels.ravel(), minlength=len(loaded.spec.class_names))
    names = loaded.spec.class_names
    share = ", ".join(f"{names[i]} {100 * counts[i] / labels.size:.1f}%" for i in np.argsort(-counts)[:5] if counts[i])
    return (f"wrote {args.out} ({image.shape[1]}x{image.shape[0]}, device {predictor.device}, "
            f"{loaded.spec.pipeline} pipeline, crf {args.crf}): {share}")


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        print(run(args))
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
