"""`deeplab-annotator export coco|labelme|voc FOLDER --out TARGET`: File > Export without the window."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.errors import EngineError


def build_parser() -> argparse.ArgumentParser:
    from engine.cli import program

    p = argparse.ArgumentParser(prog=f"{program()} export", description="Export a folder's saved labels.")
    p.add_argument("kind", choices=("coco", "labelme", "voc"),
                   help="coco: one JSON with RLE masks; labelme: JSON per image + labels.txt; voc: VOC dataset")
    p.add_argument("folder", type=Path, help="folder of images whose labels/ the app saved")
    p.add_argument("--out", type=Path, required=True, help="coco: the JSON file; labelme, voc: a folder")
    p.add_argument("--classes", type=Path, help="class list file (default: the folder's labels/class_names.txt)")
    p.add_argument("--val-fraction", type=float, default=0.2, help="voc: share of images in val.txt (default 0.2)")
    p.add_argument("--seed", type=int, default=0, help="voc: seed of the train/val split (default 0)")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from engine.folder.dataset import Dataset
    from engine.io.dataset_export import EXPORTERS, saved_class_list
    from engine.labels import load_class_list

    try:
        if not args.folder.is_dir():
            raise EngineError(f"{args.folder}: no such folder")
        dataset = Dataset(args.folder)
        class_list = load_class_list(args.classes) if args.classes else saved_class_list(dataset)
        summary = EXPORTERS[args.kind](dataset, class_list, args.out, val_fraction=args.val_fraction,
                                       seed=args.seed)
    except (EngineError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"exported {summary} as {args.kind} to {args.out}")
    return 0
