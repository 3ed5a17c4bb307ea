"""`deeplab-annotator predict` (`main.py predict`): image -> model -> optional CRF -> VOC label PNG, headless; exercises the whole engine."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import EngineError
from .paths import DEMO_V1


def build_parser() -> argparse.ArgumentParser:
    from .crf import all_presets, backend_names

    from .cli import program

    p = argparse.ArgumentParser(prog=f"{program()} predict", description="Predict a label PNG for one image.")
    p.add_argument("image", type=Path)
    p.add_argument("--model", type=Path, default=DEMO_V1,
                   help="checkpoint: project .pt, kazuto .pth or .caffemodel (default: bundled demo model)")
    p.add_argument("--classes", type=Path, help="class list file (one name per line) to use instead of the model's")
    p.add_argument("--crf", choices=sorted(all_presets()) + ["none"], default="none",
                   help="refine with a dense CRF preset (default: none)")
    p.add_argument("--backend", choices=backend_names(), default=None, help="CRF backend (default: the app's)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--tile", action="store_true", help="tile large images instead of scaling them down")
    p.add_argument("--out", type=Path, required=True,
                   help="output label PNG (indexed, 255 = void); class_names.txt and OUT.provenance.json go beside it")
    return p


def write_outputs(out: Path, labels, loaded, image_name: str, crf_params, crf_backend: str) -> None:
    """What the window's Save writes, headless: the label PNG, class_names.txt beside it and the provenance
    sidecar (model, checkpoint hash, CRF settings; no hand-edited pixels)."""
    import numpy as np

    from .dataset import CLASS_NAMES_FILE
    from .io.labels import write_class_names, write_label_png
    from .io.provenance import make_provenance, write_provenance

    class_list = loaded.spec.class_list()
    write_label_png(out, labels, class_list)
    write_class_names(Path(out).parent / CLASS_NAMES_FILE, class_list)
    record = make_provenance(labels, np.zeros(labels.shape, bool), image_name, loaded=loaded,
                             crf_params=crf_params, crf_backend=crf_backend)
    write_provenance(out, record)


def run(args) -> str:
    """Do the work; return a one-line summary."""
    import numpy as np

    from .checkpoints import load_checkpoint
    from .crf import DEFAULT_BACKEND, get_backend, preset
    from .io.images import read_image
    from .labels import load_class_list
    from .predict import Predictor

    class_list = load_class_list(args.classes) if args.classes else None
    loaded = load_checkpoint(args.model, class_list=class_list)
    image = read_image(args.image)
    predictor = Predictor(loaded, device=args.device, strategy="tile" if args.tile else "scale")
    probs = predictor.predict(image)
    params = preset(args.crf) if args.crf != "none" else None
    if params is not None:
        labels = get_backend(args.backend).session(image).run(probs, params).labels
    else:
        labels = np.argmax(probs, axis=0).astype(np.uint8)
    write_outputs(args.out, labels, loaded, Path(args.image).name, params, args.backend or DEFAULT_BACKEND)
    counts = np.bincount(labels.ravel(), minlength=len(loaded.spec.class_names))
    names = loaded.spec.class_names
    share = ", ".join(f"{names[i]} {100 * counts[i] / labels.size:.1f}%" for i in np.argsort(-counts)[:5] if counts[i])
    return f"wrote {args.out} ({image.shape[1]}x{image.shape[0]}, device {predictor.device}, crf {args.crf}): {share}"


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        print(run(args))
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
