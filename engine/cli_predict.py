"""`main.py predict`: image -> model -> optional CRF -> VOC label PNG, headless; exercises the whole engine."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import EngineError
from .paths import DEMO_V1


def build_parser() -> argparse.ArgumentParser:
    from .crf import all_presets, backend_names

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
    p.add_argument("--out", type=Path, required=True, help="output label PNG (indexed, 255 = void)")
    p.add_argument("--map-classes", choices=("name", "position"), default=None,
                   help="when --out is in a labels folder with another class list (labels/project.json or "
                        "class_names.txt): map the model's classes to the folder's ids by name, or keep the "
                        "folder's ids by position (default: refuse)")
    p.add_argument("--max-pixels", help="largest image to decode, e.g. 250M (default 100M, or $DEEPLAB_MAX_PIXELS)")
    return p


def run(args) -> str:
    """Do the work; return a one-line summary."""
    import numpy as np

    from .checkpoints import load_checkpoint
    from .crf import get_backend, preset
    from .io.images import read_image
    from .io.labels import write_label_png
    from .labels import VOID, load_class_list
    from .predict import Predictor, alpha_background, transparent_mask
    from .project import labels_target

    class_list = load_class_list(args.classes) if args.classes else None
    loaded = load_checkpoint(args.model, class_list=class_list)
    # a labels folder's own class list decides what the values mean: checked before any work is done
    target = labels_target(args.out.parent, loaded.spec.class_list(), args.map_classes)
    image, alpha = read_image(args.image, background=alpha_background(loaded.spec), with_alpha=True)
    predictor = Predictor(loaded, device=args.device, strategy="tile" if args.tile else "scale")
    probs = target.channel_map.apply(predictor.predict(image))
    if args.crf != "none":
        result = get_backend(args.backend).session(image).run(probs, preset(args.crf))
        labels = result.labels
    else:
        labels = np.argmax(probs, axis=0).astype(np.uint8)
    clear = transparent_mask(alpha)
    if clear is not None:
        labels[clear] = VOID      # fully transparent: no content to label
    write_label_png(args.out, labels, target.class_list)
    names = target.class_list.names
    counts = np.bincount(labels[labels != VOID], minlength=len(names))[:len(names)]
    share = ", ".join(f"{names[i]} {100 * counts[i] / labels.size:.1f}%" for i in np.argsort(-counts)[:5] if counts[i])
    note = f"; {target.note}" if target.note else ""
    return (f"wrote {args.out} ({image.shape[1]}x{image.shape[0]}, device {predictor.device}, crf {args.crf}): "
            f"{share}{note}")


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.max_pixels is not None:
            from .limits import set_max_pixels

            set_max_pixels(args.max_pixels)
        print(run(args))
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
