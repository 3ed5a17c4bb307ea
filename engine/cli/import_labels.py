"""`main.py import FOLDER --from {labelme,coco,cvat-mask,voc,yolo-seg} SOURCE`: another tool's annotations become the
folder's saved hand labels (File > Import labels… without the window; engine.folder.imports does the work).

Exit status: 0 when every annotation found its image and was imported or kept by rule (hand-saved labels without
--force); 1 when some images failed (a source file or image that could not be read included), or some annotations name
images the folder lacks or an image another annotation already named (the first is used); 2 when nothing was
written: an unreadable source, classes without a place (use --map / --add-new), a folder whose class list cannot be
read, a folder another window holds, every image failing (a read-only labels folder); 130 when interrupted (Ctrl+C).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.errors import EngineError

EPILOG = """classes are matched by name (case, spaces, underscores and dashes do not count). A source class the folder
lacks stops the import unless you say where it goes: --map SOURCE=FOLDER (or SOURCE=void), or --add-new to add
it to the folder's class list. Pixels no shape covers become void (255) unless --unlabelled names a class.
Imported labels count as hand labels: prediction and pre-labelling never replace them."""


def build_parser() -> argparse.ArgumentParser:
    from engine.console import parser
    from engine.io.imports import FORMATS

    p = parser("import", "Import existing annotations as the folder's saved labels.", epilog=EPILOG)
    p.add_argument("folder", type=Path, help="folder of images; labels go into its labels/ folder")
    p.add_argument("--from", dest="fmt", choices=FORMATS, required=True, metavar="FORMAT",
                   help=f"the annotations' format: {', '.join(FORMATS)}")
    p.add_argument("source", type=Path,
                   help="labelme: folder of .json files; coco: the instances .json; cvat-mask: the export folder or "
                        ".zip; voc: the dataset folder (labelmap.txt + SegmentationClass/); yolo-seg: the dataset "
                        "folder (data.yaml + labels/) or its data.yaml")
    p.add_argument("--map", action="append", default=[], metavar="SOURCE=FOLDER",
                   help="put source class SOURCE into folder class FOLDER ('void' makes it void); repeatable")
    p.add_argument("--add-new", action="store_true",
                   help="add source classes the folder lacks to its class list (labels/project.json)")
    p.add_argument("--unlabelled", metavar="CLASS",
                   help="folder class for pixels no annotation covers (default: void)")
    p.add_argument("--force", action="store_true", help="replace labels a person saved (kept by default)")
    p.add_argument("--dry-run", action="store_true", help="say what would be imported; write nothing")
    return p


def _mapping(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        src, sep, dst = pair.partition("=")
        if not sep or not src.strip() or not dst.strip():
            raise EngineError(f"--map {pair!r}: expected SOURCE=FOLDER, e.g. --map dgo=dog or --map clutter=void")
        out[src.strip()] = dst.strip()
    return out


def _lock(folder):
    """The folder's writer lock for the run; EngineError when a window is working on the folder."""
    from engine.folder.lock import FolderLock, Outcome

    lock = FolderLock(folder)
    outcome = lock.acquire()
    if outcome == Outcome.HELD:
        who = lock.holder.describe() if lock.holder is not None else "another window"
        raise EngineError(f"{folder.parent}: {who} is working on this folder; close it or use File > Import "
                          "labels… in that window")
    return lock


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from engine.console import error, headless, progress
    from engine.folder.dataset import Dataset
    from engine.folder.imports import plan_import, run_import
    from engine.io.imports import read_source
    from engine.io.transaction import sweep_temp_files

    lock = None
    try:
        if not args.folder.is_dir():
            raise EngineError(f"{args.folder}: no such folder")
        dataset = Dataset(args.folder)
        source = read_source(args.fmt, args.source)
        if source.failed and not source.items:   # the one file given, or every file, unreadable
            raise EngineError("; ".join(source.problems[:3]) + ("" if len(source.problems) <= 3 else
                                                                  f"; and {len(source.problems) - 3} more"))
        if not args.dry_run:
            lock = _lock(dataset.labels_dir)
            sweep_temp_files(dataset.labels_dir)   # what an interrupted run left (ours now: we hold the lock)
        plan = plan_import(dataset, source, mapping=_mapping(args.map), add_new=args.add_new, force=args.force,
                           unlabelled=args.unlabelled)
        print(plan.describe())
        for problem in plan.problems:
            print(f"note: {problem}", file=sys.stderr)
        for name, which in plan.twice:
            print(f"warning: {name} is annotated twice ({which}); the first is used", file=sys.stderr)
        if plan.unmatched:
            first = next(iter(plan.unmatched))
            near = plan.unmatched[first]
            example = f"--map {first}={near[0] if near else 'CLASS'}"
            raise EngineError(f"{len(plan.unmatched)} source class(es) match no class of the folder: "
                              f"{', '.join(plan.unmatched)}. Say where they go ({example}, --map {first}=void) or "
                              "add them with --add-new")
        if args.dry_run:   # the status the run would give for what is known now (a walk: 0, and 1 without it)
            print("dry run: nothing written")
            return 1 if plan.not_found or source.failed or plan.twice else 0
        if not plan.jobs:
            print("nothing to import")
            return 1 if plan.not_found or source.failed or plan.twice else 0
        with progress(len(plan.jobs), f"import {args.fmt}", unit="image") as bar:
            result = run_import(dataset, plan, progress=lambda done, total, name: bar.update(1))
    except (EngineError, OSError) as exc:
        return error(str(exc))
    except KeyboardInterrupt:
        if lock is not None:   # an image cut off mid-save leaves only temporary files: swept while the lock is ours
            sweep_temp_files(dataset.labels_dir)
        print("interrupted: the images imported so far are saved; run the same command again for the rest "
              "(add --force only to replace labels you saved by hand)", file=sys.stderr)
        return 130
    finally:
        if lock is not None:
            lock.release()
    for name in result.empty:
        print(f"note: {name}: its annotation labels no pixel; its labels were left as they were", file=sys.stderr)
    for name, why in result.errors:
        print(f"error: {name}: {headless(why)}", file=sys.stderr)
    if source.failed:
        print(f"error: {len(source.failed)} source file(s) or image(s) could not be read (see the notes above); "
              "nothing of them was imported", file=sys.stderr)
    print(f"{result.message(plan)} into {dataset.labels_dir}")
    if result.errors and not result.imported:
        return 2   # every image failed: nothing was written
    return 1 if result.errors or plan.not_found or source.failed or plan.twice else 0
