"""`deeplab-annotator export KIND FOLDER --out TARGET`: File > Export without the window.

The target is checked before anything is written: a file where a folder is expected (or the other way round) is an
error, and an existing file or a non-empty folder is only written into with --force. A progress bar (tqdm, on
stderr) runs when there are many images.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.errors import EngineError

KINDS = {
    "coco": "one COCO JSON file, RLE masks (pycocotools)",
    "labelme": "a labelme JSON per image + labels.txt for labelme2voc (opens in labelme and X-AnyLabeling)",
    "voc": "a PASCAL VOC segmentation folder with labelmap.txt (torchvision, mmseg, datumaro, CVAT)",
    "cvat-mask": "CVAT 'Segmentation mask 1.1': a folder, or a ZIP if --out ends in .zip",
    "yolo-seg": "an Ultralytics YOLO-seg folder: images/, labels/ with polygons, data.yaml",
}
PROGRESS_MIN = 10        # images from which the progress bar shows (from one for labelme: exact polygons of one
#                          12 MP label map took 1.5-3 minutes in a walk, with nothing said)


def build_parser() -> argparse.ArgumentParser:
    from engine.console import parser

    kinds = "; ".join(f"{k}: {v}" for k, v in KINDS.items())
    p = parser("export", f"Export a folder's saved labels. {kinds}.")
    p.add_argument("kind", choices=tuple(KINDS), help="the format to write (see above)")
    p.add_argument("folder", type=Path, help="folder of images whose labels/ the app saved")
    p.add_argument("-o", "--out", type=Path, required=True,
                   help="coco: the JSON file; cvat-mask: a folder or a .zip file; labelme, voc, yolo-seg: a folder")
    p.add_argument("--force", action="store_true",
                   help="write into an existing file or non-empty folder (files of the same names are replaced)")
    p.add_argument("--classes", type=Path, help="class list file (default: the folder's labels/class_names.txt)")
    p.add_argument("--val-fraction", type=float, default=0.2,
                   help="voc, yolo-seg: share of images in the val split (default 0.2)")
    p.add_argument("--seed", type=int, default=0, help="voc, yolo-seg: seed of the train/val split (default 0)")
    p.add_argument("--reviewed", action="store_true",
                   help="only the labels a person saved: leave out pre-labelled ones nobody reviewed (default: all)")
    return p


def _holds_something(path: Path) -> bool:
    try:
        return path.is_file() or (path.is_dir() and any(path.iterdir()))
    except OSError:
        return False


def check_target(kind: str, out: Path, force: bool) -> None:
    """EngineError if ``out`` is the wrong kind of path for ``kind`` or would be written into without ``force``."""
    from engine.io.dataset_export import target_conflict, writes_file

    if str(out) == "-":
        raise EngineError("--out -: export writes files, not standard output; give a file or folder name")
    if writes_file(kind, out) and out.is_symlink():   # (replacing the file atomically would replace the link)
        raise EngineError(f"--out {out} is a symbolic link; give the path it points to, or another name")
    if out.exists() and not out.is_dir() and not out.is_file():
        raise EngineError(f"--out {out} is not a regular file (a device, a pipe or a socket); give a file name")
    wrong, existing = target_conflict(kind, out)
    if wrong:
        hint = (f"give a file name such as {out / ('coco.json' if kind == 'coco' else 'masks.zip')}"
                if writes_file(kind, out) else "give a folder")
        raise EngineError(f"--out {wrong}: {hint}")
    if existing and not force:
        what = "replace it" if writes_file(kind, out) else \
            "write into it (files of the same names are replaced, the others are kept)"
        raise EngineError(f"{existing}; pass --force to {what}")


class _Progress:
    """progress(done, total) for the exporters: the console's bar on stderr (tqdm on a terminal, plain lines in a
    log), opened once the total is known."""

    def __init__(self, kind: str):
        self.kind, self.bar = kind, None

    def __call__(self, done: int, total: int) -> None:
        if total < (1 if self.kind == "labelme" else PROGRESS_MIN):
            return
        if self.bar is None:
            from engine.console import progress
            self.bar = progress(total, f"export {self.kind}", unit="image")
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _unique(classes, path):
    """A --classes list whose names are all different, by the folder's own rule (FolderClasses.from_names: case,
    spaces and underscores do not count), else EngineError: an export would write two categories a reader cannot
    tell apart."""
    from engine.project import FolderClasses
    from engine.project.errors import ClassEditError

    try:
        FolderClasses.from_names(classes.names)
    except ClassEditError as exc:
        raise EngineError(f"{path}: {exc}") from exc
    return classes


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from engine.folder.dataset import Dataset
    from engine.io.dataset_export import EXPORTERS, saved_class_list, unreviewed_note
    from engine.labels import load_class_list

    progress = _Progress(args.kind)
    fresh = not _holds_something(args.out)   # written into by this run only: a failure says what is left there
    try:
        if not args.folder.is_dir():
            raise EngineError(f"{args.folder}: " + ("not a folder (give the folder of images whose labels to export)"
                                                    if args.folder.exists() else "no such folder"))
        check_target(args.kind, args.out, args.force)
        dataset = Dataset(args.folder)
        machine = dataset.machine_labelled()
        if args.reviewed:
            dataset = dataset.reviewed()
        if not any(e.label_path.is_file() for e in dataset.entries):   # (a walk got an empty COCO file, exit 0)
            left_out = (f" ({machine} pre-labelled {'one is' if machine == 1 else 'ones are'} left out by "
                        "--reviewed)") if args.reviewed and machine else ""
            raise EngineError(f"{args.folder}: no saved labels in {dataset.labels_dir} to export{left_out}; label "
                              "and save some images first (Ctrl+S in the window, or main.py import / prelabel)")
        class_list = _unique(load_class_list(args.classes), args.classes) if args.classes else saved_class_list(dataset)
        summary = EXPORTERS[args.kind](dataset, class_list, args.out, val_fraction=args.val_fraction,
                                       seed=args.seed, progress=progress)
    except (EngineError, ValueError) as exc:
        progress.close()
        left = fresh and _holds_something(args.out)   # (a walk's failed export left files; the rerun refused them)
        print(f"error: {exc}" + (f"\n{args.out} holds part of the export (each file in it is whole); fix the cause "
                                 "and run it again with --force" if left else ""), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        progress.close()
        print(f"interrupted: {args.out} may hold part of the export (each file in it is whole); run it again "
              "with --force", file=sys.stderr)
        return 130
    progress.close()
    print(f"exported {summary} as {args.kind} to {args.out}{unreviewed_note(machine, args.reviewed, '--reviewed')}")
    return 0
