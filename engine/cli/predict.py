"""`deeplab-annotator predict` (`main.py predict`): image -> model -> optional CRF -> VOC label PNG, headless; exercises the whole engine."""
from __future__ import annotations

import argparse
from pathlib import Path

from engine.console import PhaseProgress, error, say
from engine.console import parser as make_parser
from engine.errors import EngineError
from engine.paths import DEMO_V1


def build_parser() -> argparse.ArgumentParser:
    from engine.crf import all_presets, backend_names
    from engine.models.pipelines import PIPELINES

    p = make_parser("predict", "Predict a label PNG for one image.")
    p.add_argument("image", type=Path, help="the image to label (PNG, JPEG, TIFF, ...)")
    p.add_argument("--model", type=Path, default=DEMO_V1,
                   help="checkpoint: project .pt, kazuto .pth or .caffemodel (default: bundled demo model)")
    p.add_argument("--classes", type=Path, help="class list file (one name per line) to use instead of the model's")
    p.add_argument("--crf", choices=sorted(all_presets()) + ["none"], default="none",
                   help="refine with a dense CRF preset (default: none)")
    p.add_argument("--crf-params", metavar="JSON",
                   help="CRF values as a JSON object or a .json file, e.g. '{\"bi_w\": 5}' (the values a window "
                        "folder records: labels/project.json's crf.params); missing ones come from --crf's preset, "
                        "else the model's")
    p.add_argument("--backend", choices=backend_names(), default=None, help="CRF backend (default: the app's)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--tile", action="store_true", help="tile large images instead of scaling them down")
    p.add_argument("--pipeline", choices=sorted(PIPELINES), default=None,
                   help="inference pipeline (default: the checkpoint's own: caffe for Caffe weights, kazuto for "
                        "kazuto's .pth)")
    p.add_argument("-o", "--out", type=Path, required=True,
                   help="output label PNG (indexed, 255 = void); class_names.txt and the provenance sidecar go "
                        "beside it (--out x.png writes x.provenance.json)")
    p.add_argument("--map-classes", choices=("name", "position"), default=None,
                   help="when --out is in a labels folder with another class list (labels/project.json or "
                        "class_names.txt): map the model's classes to the folder's ids by name, or keep the "
                        "folder's ids by position (default: refuse)")
    p.add_argument("--max-pixels", help="largest image to decode, e.g. 250M (default 100M, or $DEEPLAB_MAX_PIXELS)")
    p.add_argument("--bands", help="16-bit, float or multi-band images: the bands shown and predicted, from 1: "
                                   "R,G,B (e.g. 4,3,2) or one band as grey (default: the image folder's "
                                   "labels/project.json, else the first three)")
    p.add_argument("--scaling", help="how those samples become 0-255: percentile[:LOW,HIGH] (default 2,98), minmax "
                                     "or fixed:LOW,HIGH in the file's units (default: the image folder's setting)")
    return p


def image_scaling(args):
    """The band choice and scaling for args.image: the image folder's (labels/project.json), with --bands and
    --scaling replacing what they name. EngineError for values that cannot be used."""
    from dataclasses import replace

    from engine.folder.dataset import folder_image_settings
    from engine.io.scaling import ImageSettingsError

    scaling = folder_image_settings(Path(args.image).parent)
    try:
        if args.bands:
            scaling = replace(scaling, bands=tuple(int(b) for b in args.bands.split(",")))
        if args.scaling:
            mode, _, values = args.scaling.partition(":")
            numbers = tuple(float(v) for v in values.split(",")) if values else None
            if mode == "percentile":
                scaling = replace(scaling, mode=mode, percentiles=numbers or (2.0, 98.0))
            elif mode == "minmax" and numbers:   # (a walk: minmax:1,2 was taken and its numbers ignored)
                raise ImageSettingsError(f"--scaling minmax takes no numbers (got {values!r}); for a range of "
                                         f"your own use fixed:LOW,HIGH")
            else:
                scaling = replace(scaling, mode=mode, range=numbers)
    except ValueError as exc:
        raise ImageSettingsError(f"--bands/--scaling: not numbers ({exc})") from None
    return scaling


def write_outputs(out: Path, labels, loaded, image_name: str, crf_params, crf_backend: str,
                  class_list=None) -> None:
    """What the window's Save writes, headless and all or nothing (engine.io.transaction): the label PNG,
    class_names.txt beside it and the provenance sidecar (model, checkpoint hash, CRF settings; no hand-edited
    pixels; origin "machine", as a batch run's labels). class_list: the PNG's classes (default: the model's)."""
    import numpy as np

    from engine.io.labels import CLASS_NAMES_FILE, encode_class_names, encode_label_png
    from engine.io.provenance import ORIGIN_MACHINE, encode_provenance, make_provenance, sidecar_path
    from engine.io.transaction import SaveTransaction

    out = Path(out)
    class_list = class_list or loaded.spec.class_list()
    record = make_provenance(labels, np.zeros(labels.shape, bool), image_name, loaded=loaded,
                             crf_params=crf_params, crf_backend=crf_backend, origin=ORIGIN_MACHINE)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from engine.errors import LabelIOError
        raise LabelIOError(f"{out.parent}: cannot create the output folder ({exc.strerror or exc})") from exc
    from engine.folder.lock import sweep_unless_held
    from engine.project import is_labels_folder
    if is_labels_folder(out.parent):   # only the app's labels folders: elsewhere a .tmp file may be another app's
        sweep_unless_held(out.parent)
    txn = SaveTransaction(out.parent)
    png = encode_label_png(labels, class_list)
    txn.stage(out, png)
    txn.stage(out.parent / CLASS_NAMES_FILE, encode_class_names(class_list))
    txn.stage(sidecar_path(out), encode_provenance(record.for_file(png)))
    txn.commit()


def check_out(image: Path, out: Path) -> None:
    """Refuse an --out that would destroy the input or be misread: the label is an indexed PNG, so only a .png
    name (a walk's `--out photo.png` on photo.png replaced the photo with its labels, and `--out x.jpg` wrote PNG
    bytes under a .jpg name)."""
    if out.suffix.lower() != ".png":
        raise EngineError(f"--out {out}: the label is written as an indexed PNG; give a name ending in .png")
    try:
        same = out.samefile(image)   # (a link or another path to the same file too)
    except OSError:   # either is missing: not the same file
        same = False
    if same:
        raise EngineError(f"--out {out} is the input image itself: writing the labels there would replace the "
                          "photo; give another name (e.g. in a labels/ folder)")


def run(args) -> str:
    """Do the work; return a one-line summary."""
    check_out(Path(args.image), Path(args.out))
    import numpy as np

    from engine.checkpoints import load_checkpoint
    from engine.checkpoints.backbone import refuse_untaught
    from engine.crf import DEFAULT_BACKEND, get_backend
    from engine.io.images import read_image
    from engine.labels import VOID, load_class_list
    from engine.predict import Predictor, alpha_background, transparent_mask
    from engine.project import labels_target

    class_list = load_class_list(args.classes) if args.classes else None
    loaded = load_checkpoint(args.model, class_list=class_list, pipeline=args.pipeline)
    refuse_untaught(loaded, args.model, "Model > Export adapted model… and predict with that file")
    # a labels folder's own class list decides what the values mean: checked before any work is done
    target = labels_target(args.out.parent, loaded.spec.class_list(), args.map_classes)
    image, alpha = read_image(args.image, background=alpha_background(loaded.spec), with_alpha=True,
                              scaling=image_scaling(args))
    predictor = Predictor(loaded, device=args.device, strategy="tile" if args.tile else "scale")
    squashed = predictor.scale_note(*image.shape[:2])
    if squashed:
        say(f"warning: {squashed}")
    bars = PhaseProgress(lambda phase: phase, unit="step")   # a 12 MP run takes half a minute: show it moves
    probs = target.channel_map.apply(predictor.predict(image, on_progress=_network_progress(bars)))
    params = _crf_values(args, loaded)
    if params is not None:
        from engine.crf.base import progress_only
        from engine.crf.fast.kernel_cache import warm_up_with_notice

        backend = get_backend(args.backend)
        warm_up_with_notice(say, backend)   # the first CPU run after an install compiles: say so
        label = f"CRF {args.crf}" if not args.crf_params else "CRF (--crf-params)"
        bars(0, params.iterations, label)
        labels = backend.session(image).run(
            probs, params, on_iteration=progress_only(lambda i, n, _preview: bars(i, n, label))).labels
    else:
        labels = np.argmax(probs, axis=0).astype(np.uint8)
    bars.close()
    clear = transparent_mask(alpha)
    if clear is not None:
        labels[clear] = VOID      # fully transparent: no content to label
    write_outputs(args.out, labels, loaded, Path(args.image).name, params, args.backend or DEFAULT_BACKEND,
                  target.class_list)
    names = target.class_list.names
    counts = np.bincount(labels[labels != VOID], minlength=len(names))[:len(names)]
    share = ", ".join(f"{names[i]} {100 * counts[i] / labels.size:.1f}%" for i in np.argsort(-counts)[:5] if counts[i])
    note = f"; {target.note}" if target.note else ""
    return (f"wrote {args.out} ({image.shape[1]}x{image.shape[0]}, device {predictor.device}, "
            f"{loaded.spec.pipeline} pipeline, crf {args.crf}{' with --crf-params' if args.crf_params else ''}): "
            f"{share}{note}")


def _crf_values(args, loaded):
    """The CRF values predict refines with (None: none): --crf's preset, with --crf-params' values on top of it
    (or of the model's preset, the one the window starts with) to reproduce a folder's own values."""
    from engine.crf import preset
    from engine.crf.params import preset_for_model, with_json_values

    if args.crf_params:
        base = preset(args.crf) if args.crf != "none" else preset(preset_for_model(loaded.spec, loaded.path))
        return with_json_values(base, args.crf_params)
    return preset(args.crf) if args.crf != "none" else None


def _network_progress(bars):
    """Predictor.predict's on_progress(stage, fraction) as PhaseProgress steps: the network in one step, or its
    tiles one by one ("tile 3/12")."""
    def report(stage: str, fraction: float) -> None:
        if stage.startswith("tile "):
            done, total = (int(v) for v in stage[5:].split("/"))
            bars(done - 1, total, "network, tiles")
        elif stage.startswith("network"):
            bars(0, 1, stage)
    return report


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.max_pixels is not None:
            from engine.limits import set_max_pixels

            set_max_pixels(args.max_pixels)
        print(run(args))
    except EngineError as exc:
        return error(str(exc))
    return 0
