"""Headless learning: `main.py finetune FOLDER --model CKPT --out NEW.pt` and `main.py tune-crf FOLDER [--model CKPT]`.

Both use the same engine calls as the window's Model > Train on saved labels… and CRF > Tune on saved labels."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import EngineError
from ..paths import DEMO_V1


def _finetune_parser() -> argparse.ArgumentParser:
    from .finetune import Recipe

    d = Recipe()
    p = argparse.ArgumentParser(prog="main.py finetune",
                                description="Fine-tune a model on a folder's saved labels; writes a new checkpoint.")
    p.add_argument("folder", type=Path, help="folder of images with saved labels in FOLDER/labels/")
    p.add_argument("--model", type=Path, required=True, help="base checkpoint (.pt, kazuto .pth or .caffemodel)")
    p.add_argument("--out", type=Path, required=True, help="the new checkpoint (project format), written at the end")
    p.add_argument("--head-only", action="store_true", help="train only the classifier (faster, less memory)")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--crop", type=int, default=d.crop, help="training crop in pixels (capped at the model's size)")
    p.add_argument("--lr", type=float, default=d.lr, help="base learning rate (poly decay, power 0.9)")
    p.add_argument("--holdout", type=float, default=d.holdout, help="share of saved images held out for mIoU")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", default="auto", help="auto (GPU when present), cpu, cuda, cuda:N")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    return p


def finetune_main(argv: list[str]) -> int:
    """`main.py finetune`: progress on stdout, problems on stderr (exit 2), Ctrl+C writes nothing (exit 130)."""
    import torch

    from .finetune import Recipe, train_on_folder

    args = _finetune_parser().parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    def progress(p):
        if p.epoch_done:
            print(p.text, flush=True)

    def run():
        recipe = Recipe(mode="head" if args.head_only else "all", epochs=args.epochs, batch_size=args.batch_size,
                        crop=args.crop, lr=args.lr, holdout=args.holdout, seed=args.seed)
        prov = train_on_folder(args.folder, args.model, args.out, recipe, device=args.device,
                               on_progress=progress).provenance
        mious = prov["held_out_miou"]
        miou = f", held-out mIoU {mious[0][1] * 100:.1f}% -> {mious[-1][1] * 100:.1f}%" if mious else ""
        print(f"wrote {args.out}: {len(prov['images'])} training images, {len(prov['held_out'])} held out{miou}")
    return _guarded(run, "cancelled: nothing was written")


def _guarded(run, cancelled: str) -> int:
    """Run a command: 0 when done, 2 with the engine's message on stderr, 130 on Ctrl+C."""
    try:
        run()
    except KeyboardInterrupt:
        print(cancelled, file=sys.stderr)
        return 130
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _tune_parser() -> argparse.ArgumentParser:
    from ..crf import all_presets

    p = argparse.ArgumentParser(prog="main.py tune-crf",
                                description="Search the CRF parameters that best match a folder's saved labels.")
    p.add_argument("folder", type=Path, help="folder of images with saved labels in FOLDER/labels/")
    p.add_argument("--model", type=Path, default=DEMO_V1, help="checkpoint (default: the bundled demo model)")
    p.add_argument("--preset", choices=sorted(all_presets()), default=None,
                   help="the preset to compare with (default: this folder's preset, else the model's)")
    p.add_argument("--max-images", type=int, default=20, help="saved images to tune on (spread over the folder)")
    p.add_argument("--device", default="auto", help="network and CRF device: auto, cpu, cuda, cuda:N")
    p.add_argument("--keep", action="store_true", help="keep the values found as this folder's preset "
                                                       "(FOLDER/labels/crf_preset.json)")
    return p


def tune_crf_main(argv: list[str]) -> int:
    """`main.py tune-crf`: prints the values found beside the preset's; --keep stores them for the folder."""
    from ..checkpoints import load_checkpoint
    from ..crf import preset
    from ..crf.fast import FastBackend
    from ..predict import Predictor
    from .crf_search import tune_on_folder
    from .folder_preset import load_folder_preset, save_folder_preset

    args = _tune_parser().parse_args(argv)

    def run():
        loaded = load_checkpoint(args.model)
        if args.preset:
            baseline, label = preset(args.preset), args.preset
        else:
            baseline = load_folder_preset(args.folder)
            label = "this folder's preset"
            if baseline is None:
                baseline, label = preset(loaded.spec.crf_preset), loaded.spec.crf_preset
        predictor = Predictor(loaded, device=args.device)
        result = tune_on_folder(args.folder, predictor, baseline, backend=FastBackend(device=args.device),
                                max_images=args.max_images)
        print(f"preset ({label}): {baseline.to_dict()}  mIoU {result.baseline_miou * 100:.2f}%")
        print(f"found:            {result.best.to_dict()}  mIoU {result.best_miou * 100:.2f}%")
        print(result.summary())
        if args.keep:
            path = save_folder_preset(args.folder, result.best)
            print(f"kept as this folder's CRF values: {path} (crf)")
    return _guarded(run, "cancelled")
