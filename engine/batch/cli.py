"""`main.py prelabel FOLDER`: label every image of a folder with the model and the CRF, on this machine or on Ray.

Prints what it will do (and what it skips), a tqdm progress bar with rate and ETA, the errors as they happen, and
a summary. Exit status: 0 when every image is labelled or skipped, 1 if any image failed, 2 if the run could not
start (unreadable model or folder, bad settings, no Ray cluster).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..console import error, progress, say
from ..console import parser as make_parser
from ..errors import EngineError
from ..paths import DEMO_V1
from .run import prelabel
from .settings import BACKENDS, PrelabelSettings, default_net_threads


def build_parser() -> argparse.ArgumentParser:
    p = make_parser("prelabel", "Pre-label every image of FOLDER: labels/<image>.png (machine labels, never over "
                                "hand-saved ones) and labels/prelabel.csv.")
    p.add_argument("folder", type=Path, nargs="?", help="folder of images")
    p.add_argument("--model", type=Path, default=DEMO_V1, help="checkpoint (default: the bundled demo model)")
    crf = p.add_mutually_exclusive_group()
    crf.add_argument("--crf", metavar="PRESET",
                     help="CRF preset (default: the folder's recorded values in labels/project.json, as the window "
                          "uses them, else the model's own preset; 'none' for the network's labels as they are)")
    crf.add_argument("--crf-params", metavar="JSON",
                     help="CRF parameters as a JSON object or a .json file, e.g. '{\"bi_w\": 5, \"iterations\": 5}'; "
                          "missing ones come from the folder's recorded values (labels/project.json), else from the "
                          "model's preset")
    p.add_argument("--backend", choices=BACKENDS, default="fast", help="CRF backend, on the CPU (default: fast)")
    p.add_argument("--device", default="auto", help="network device: auto, cpu, cuda, cuda:N (default: auto)")
    p.add_argument("--tile", action="store_true", help="tile large images instead of scaling them down")
    p.add_argument("--threads", type=int, default=None,
                   help=f"torch threads for the network (default: half the cores, here {default_net_threads()})")
    p.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="run on Ray Data: alone, a local Ray; 'auto' or an address, an existing cluster")
    p.add_argument("--workers", type=int, default=None,
                   help="with --ray: model actors (default: one per GPU, else 2)")
    p.add_argument("--sequential", action="store_true", help="no pipelining (one stage after the other)")
    p.add_argument("--max-pixels", help="largest image to decode, e.g. 250M (default 100M, or $DEEPLAB_MAX_PIXELS)")
    p.add_argument("--only-new", action="store_true",
                   help="label only images without labels: leave those pre-labelled with another model or other "
                        "CRF settings as they are (default: label them again, replacing their labels)")
    p.add_argument("--map-classes", choices=("name", "position"), default=None,
                   help="when the labels folder holds other classes than the model: write the folder's ids by class "
                        "name, or keep them by position (default: refuse)")
    return p


def _crf_params(args, loaded):
    """The CRF values prelabel runs with (None: no CRF)."""
    return _crf_choice(args, loaded)[0]


def _crf_choice(args, loaded):
    """(the CRF values prelabel runs with or None, whether they are the folder's recorded ones)."""
    from ..crf import all_presets, preset
    from ..crf.params import preset_for_model, with_json_values

    presets = all_presets()
    model_preset = preset_for_model(loaded.spec, loaded.path, presets)  # the one the window starts with
    folder_values = _folder_values(args.folder) if args.crf is None and args.folder is not None else None
    if args.crf_params:   # (on the folder's values where it records some: a walk's one value set the others back)
        base = presets[model_preset] if folder_values is None else folder_values
        return with_json_values(base, args.crf_params), folder_values is not None
    if folder_values is not None:   # what the window refines this folder with (a walk: 0.1-0.2 % differed)
        return folder_values, True
    name = args.crf or model_preset
    if name == "none":
        return None, False
    return preset(name), False


def _folder_values(folder: Path):
    """The folder's recorded CRF values (labels/project.json: tuned, or the window's), or None."""
    from ..folder.dataset import LABELS_DIRNAME
    from ..project import FolderProject

    crf = FolderProject.open(Path(folder) / LABELS_DIRNAME).project.crf
    return None if crf is None else crf.params


def _run(args) -> int:
    from ..checkpoints import load_checkpoint
    from .ray_runner import RayOptions

    loaded = load_checkpoint(args.model)
    crf_params, from_folder = _crf_choice(args, loaded)
    settings = PrelabelSettings(crf_params=crf_params, crf_backend=args.backend, device=args.device,
                                strategy="tile" if args.tile else "scale",
                                net_threads=args.threads or default_net_threads(), redo_other_runs=not args.only_new)
    runner = "ray" if args.ray else ("sequential" if args.sequential else "pipeline")
    ray_options = RayOptions(address=args.ray, workers=args.workers) if args.ray else None
    bar = None

    def on_plan(plan):
        nonlocal bar
        crf = "no CRF" if settings.crf_params is None else f"CRF {settings.crf_backend} {settings.crf_params.to_dict()}"
        if from_folder:
            crf += ", the folder's values" + (" with --crf-params" if args.crf_params else "")
        print(f"{args.folder}: {plan.total} images, {len(plan.todo)} to label with "
              f"{loaded.spec.name or args.model.name} ({crf})")
        if plan.skipped:
            print(f"skipping {len(plan.skipped)} already pre-labelled with this model and CRF settings")
        if plan.unscored:
            print(f"labelling again {len(plan.unscored)} pre-labelled with this model and CRF settings by a run that "
                  "stopped before writing their scores to prelabel.csv")
        if plan.replaced:
            print(f"labelling again {len(plan.replaced)} pre-labelled with another model or other settings (their "
                  "labels are replaced; --only-new leaves them as they are)")
        if plan.left:
            print(f"leaving {len(plan.left)} pre-labelled with another model or other settings as they are "
                  "(--only-new)")
        if plan.kept:
            print(f"keeping {len(plan.kept)} hand-saved label{'s' if len(plan.kept) != 1 else ''} (never overwritten)")
        sys.stdout.flush()
        if plan.todo and settings.crf_params is not None and settings.crf_backend == "fast":
            from ..crf.fast.kernel_cache import warm_up_with_notice

            warm_up_with_notice(say)   # compiled once after an install (~40 s): said, not silent
        if plan.todo:
            bar = progress(len(plan.todo), "pre-labelling", unit="img")

    def on_result(outcome, row):
        if outcome.error:
            bar.write(f"error: {outcome.error}", file=sys.stderr)
        bar.update(1)

    try:
        summary = prelabel(args.folder, loaded, settings, runner=runner, ray_options=ray_options, on_plan=on_plan,
                           on_result=on_result, map_classes=args.map_classes)
    finally:
        if bar is not None:
            bar.close()
    for line in summary.lines():
        print(line)
    if summary.workers.get("net_rss"):
        w = summary.workers
        print(f"Ray: {w['workers']} model workers {w['actor']}, CRF tasks {w['crf_task']}; peak RSS per process: "
              f"model workers {max(w['net_rss'].values()):.0f} MiB, CRF workers {max(w['crf_rss'].values()):.0f} MiB")
    return 1 if summary.errors else 0


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.folder is None and args.ray not in (None, "local", "auto") and Path(args.ray).is_dir():
        args.folder, args.ray = Path(args.ray), "local"   # `prelabel --ray FOLDER`: the folder, not an address
    if args.folder is None:
        parser.print_usage(sys.stderr)
        return error("give the folder of images to pre-label")
    if args.workers is not None and not args.ray:
        return error("--workers needs --ray")
    from ..limits import MAX_PIXELS_ENV, parse_pixels, set_max_pixels
    env_before = os.environ.get(MAX_PIXELS_ENV)
    try:
        if args.max_pixels is not None:   # (the refusal of a large image names this option)
            set_max_pixels(args.max_pixels)
            os.environ[MAX_PIXELS_ENV] = str(parse_pixels(args.max_pixels))   # Ray's and the pipeline's workers
        return _run(args)
    except EngineError as exc:
        return error(str(exc))
    except KeyboardInterrupt:
        print("interrupted: finished images are written; run the same command again to resume", file=sys.stderr)
        return 130
    finally:
        if args.max_pixels is not None:   # (one process may run it more than once: tests, a script)
            set_max_pixels(None)
            if env_before is None:
                os.environ.pop(MAX_PIXELS_ENV, None)
            else:
                os.environ[MAX_PIXELS_ENV] = env_before
