"""Headless learning: `main.py finetune FOLDER --model CKPT --out NEW.pt` and `main.py tune-crf FOLDER [--model CKPT]`.

Both use the same engine calls as the window's Model > Train on saved labels… and CRF > Tune on saved labels."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..console import PhaseProgress, error, progress, say
from ..console import parser as make_parser
from ..errors import EngineError
from ..paths import DEMO_V1


def build_finetune_parser() -> argparse.ArgumentParser:
    from .finetune import Recipe

    d = Recipe()
    p = make_parser("finetune", "Fine-tune a model on a folder's saved labels; writes a new checkpoint.")
    p.add_argument("folder", type=Path, help="folder of images with saved labels in FOLDER/labels/")
    p.add_argument("--model", type=Path, required=True, help="base checkpoint (.pt, kazuto .pth or .caffemodel)")
    p.add_argument("--out", type=Path, required=True, help="the new checkpoint (project format), written at the end")
    p.add_argument("--head-only", action="store_true", help="train only the classifier (faster, less memory)")
    p.add_argument("--epochs", type=int, default=d.epochs,
                   help=f"passes over the training images (default {d.epochs})")
    p.add_argument("--batch-size", type=int, default=d.batch_size,
                   help=f"crops per training step (default {d.batch_size})")
    p.add_argument("--crop", type=int, default=d.crop,
                   help=f"training crop in pixels, capped at the model's size (default {d.crop})")
    p.add_argument("--lr", type=float, default=d.lr,
                   help=f"base learning rate, poly decay with power 0.9 (default {d.lr:g})")
    p.add_argument("--holdout", type=float, default=d.holdout,
                   help=f"share of saved images held out for mIoU (default {d.holdout:g})")
    p.add_argument("--seed", type=int, default=d.seed,
                   help=f"seed of the hold-out split, crops and flips (default {d.seed})")
    p.add_argument("--plain", action="store_true",
                   help="write the network alone, without the head over classes it lacked that training otherwise "
                        "keeps (for other DeepLab code; such classes are then predicted far worse)")
    p.add_argument("--device", default="auto", help="auto (GPU when present), cpu, cuda, cuda:N")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    return p


def finetune_main(argv: list[str]) -> int:
    """`main.py finetune`: a progress bar over the training steps on stderr, each epoch's held-out mIoU on stdout,
    problems on stderr (exit 2), Ctrl+C writes nothing (exit 130); stdout says what was written."""
    import torch

    from .finetune import HOLDOUT_MIN, Recipe, train_on_folder

    args = build_finetune_parser().parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    bar = None

    def report(p):
        nonlocal bar
        if bar is None and p.steps:
            bar = progress(p.steps, "training", unit="step")
        if bar is not None and p.step > bar.n:
            bar.set_postfix_str(f"loss {p.loss:.3f}", refresh=False)
            bar.update(p.step - bar.n)
        if p.epoch_done:
            (bar.write if bar is not None else print)(p.text)

    def run():
        recipe = Recipe(mode="head" if args.head_only else "all", epochs=args.epochs, batch_size=args.batch_size,
                        crop=args.crop, lr=args.lr, holdout=args.holdout, seed=args.seed,
                        folder_head=not args.plain)
        try:
            result = train_on_folder(args.folder, args.model, args.out, recipe, device=args.device,
                                     on_progress=report)
        finally:
            if bar is not None:
                bar.close()
        prov = result.provenance
        mious = prov["held_out_miou"]
        miou = f", held-out mIoU {mious[0][1] * 100:.1f}% -> {mious[-1][1] * 100:.1f}%" if mious else ""
        if not prov["held_out"] and args.holdout > 0:   # (a walk's 4 saved images gave no score, unsaid why)
            miou += (f" (none held out: {len(prov['images'])} saved images are all needed to train; from "
                     f"{HOLDOUT_MIN} on, {args.holdout:g} of them are held out and scored)")
        if result.folder_head is not None:
            with_head = (f", {result.head_miou * 100:.1f}% with the head" if result.head_miou is not None else "")
            miou += (f"; kept a head over the folder's classes, fitted to {prov['folder_head']['fitted_on']} "
                     f"saved images{with_head}")
        print(f"wrote {args.out}: {len(prov['images'])} training images, {len(prov['held_out'])} held out{miou}")
        if result.lost:
            print(f"warning: {result.lost_text()}", file=sys.stderr)
    return _guarded(run, "cancelled: nothing was written")


def _guarded(run, cancelled: str) -> int:
    """Run a command: 0 when done, 2 with the engine's message on stderr, 130 on Ctrl+C."""
    try:
        run()
    except KeyboardInterrupt:
        print(cancelled, file=sys.stderr)
        return 130
    except EngineError as exc:
        return error(str(exc))
    return 0


def build_tune_parser() -> argparse.ArgumentParser:
    from ..crf import all_presets

    p = make_parser("tune-crf", "Search the CRF parameters that best match a folder's saved labels.")
    p.add_argument("folder", type=Path, help="folder of images with saved labels in FOLDER/labels/")
    p.add_argument("--model", type=Path, default=DEMO_V1, help="checkpoint (default: the bundled demo model)")
    p.add_argument("--preset", choices=sorted(all_presets()), default=None,
                   help="the preset to compare with (default: this folder's preset, else the model's)")
    p.add_argument("--max-images", type=int, default=20, help="saved images to tune on (spread over the folder)")
    p.add_argument("--device", default="auto", help="network and CRF device: auto, cpu, cuda, cuda:N")
    p.add_argument("--keep", action="store_true", help="keep the values found as this folder's CRF values (the "
                                                       "crf entry of FOLDER/labels/project.json; a folder with no "
                                                       "class list yet gets the model's)")
    return p


def tune_crf_main(argv: list[str]) -> int:
    """`main.py tune-crf`: progress on stderr (predicting the saved images, then the CRF runs), the values found
    beside the preset's on stdout; --keep stores them for the folder."""
    from ..checkpoints import load_checkpoint
    from ..crf import all_presets, preset
    from ..crf.fast import FastBackend
    from ..crf.fast.kernel_cache import warm_up_with_notice
    from ..crf.params import preset_for_model
    from ..predict import Predictor
    from .crf_search import tune_on_folder
    from .folder_preset import keep_project, load_folder_preset, save_folder_preset

    args = build_tune_parser().parse_args(argv)

    def run():
        loaded = load_checkpoint(args.model)
        if args.preset:
            baseline, label = preset(args.preset), args.preset
        else:
            baseline = load_folder_preset(args.folder)
            label = "this folder's preset"
            if baseline is None:   # the preset the window starts this model with (demo_v1 for demo_v1.pt)
                label = preset_for_model(loaded.spec, args.model, all_presets())
                baseline = preset(label)
        project = keep_project(args.folder, loaded) if args.keep else None   # (before the search: it may refuse)
        predictor = Predictor(loaded, device=args.device)
        backend = FastBackend(device=args.device)
        warm_up_with_notice(say, backend)   # compiled once after an install: said, not silent
        bars = PhaseProgress(lambda text: "predicting saved images" if "predicting" in text else "CRF runs",
                             unit="")
        try:
            result = tune_on_folder(args.folder, predictor, baseline, backend=backend, max_images=args.max_images,
                                    on_progress=bars)
        finally:
            bars.close()
        print(f"preset ({label}): {baseline.to_dict()}  mIoU {result.baseline_miou * 100:.2f}%")
        print(f"found:            {result.best.to_dict()}  mIoU {result.best_miou * 100:.2f}%")
        print(result.summary())
        if args.keep:
            path = save_folder_preset(args.folder, result.best, project=project)
            print(f"kept as this folder's CRF values: {path} (crf)")
    return _guarded(run, "cancelled")
