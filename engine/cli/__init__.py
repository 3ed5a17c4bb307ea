"""The `deeplab-annotator` command (and `python main.py`): one table of subcommands, each "module:function".

A subcommand's function takes the remaining argv (list of str) and returns an exit status. Modules are imported
only when their subcommand runs, so `predict` never loads Qt and the table itself imports nothing heavy. To add a
subcommand, add one line to COMMANDS (and its one-line summary to SUMMARIES, for `--help`). Anything that is not a
subcommand (no argument, a folder, an image, an option) opens the window: the "gui" entry, which is named by string
so that engine/ never imports Qt itself.

Answered here, before any subcommand loads: `--version` (anywhere before `--`, for every subcommand), the top
`--help` (the window's options and the subcommands, without loading Qt), and a first argument that looks like a
mistyped subcommand (no such file, no dot or slash, close to a subcommand's name): an error naming the nearest
one, exit status 2, instead of a window on a folder that does not exist.
"""
from __future__ import annotations

import argparse
import difflib
import importlib
import os
import sys
from pathlib import Path

from engine.console import parser as make_parser
from engine.console import program, version_line

COMMANDS: dict[str, str] = {
    "gui": "gui.app:cli_main",
    "predict": "engine.cli.predict:main",
    "prelabel": "engine.batch.cli:main",
    "finetune": "engine.learn.cli:finetune_main",
    "tune-crf": "engine.learn.cli:tune_crf_main",
    "train-demo": "engine.demo.train:main",
    "eval-demo": "engine.demo.evaluate:main",
    "eval-voc": "engine.eval.voc:main",
    "export": "engine.cli.export:main",
    "import": "engine.cli.import_labels:main",
    "install-desktop": "engine.cli.install_desktop:main",
}
DEFAULT = "gui"
# what `--help` says of each subcommand (one without a line here is listed by name only)
SUMMARIES: dict[str, str] = {
    "gui": "open the window (the same as giving no subcommand)",
    "predict": "predict the label PNG of one image, with an optional CRF",
    "prelabel": "pre-label every image of a folder, on this machine or on Ray",
    "finetune": "train a model on a folder's saved labels",
    "tune-crf": "find the CRF values that fit a folder's saved labels",
    "train-demo": "train the bundled demo models",
    "eval-demo": "score the demo models on held-out scenes",
    "eval-voc": "a checkpoint's mIoU on PASCAL VOC 2012 val",
    "export": "write the saved labels as COCO, labelme, VOC, CVAT masks or YOLO-seg",
    "import": "turn labelme, COCO, CVAT mask or YOLO-seg annotations into a folder's saved labels",
    "install-desktop": "install the desktop entry and icons",
}
TYPO_CUTOFF = 0.6   # difflib ratio above which an unknown word counts as a mistyped subcommand

__all__ = ["COMMANDS", "DEFAULT", "SUMMARIES", "main", "program", "resolve", "subcommand_list", "typo_of",
           "window_parser"]


def resolve(target: str):
    """"package.module:function" -> the function (imports the module)."""
    module, _, func = target.partition(":")
    return getattr(importlib.import_module(module), func)


def subcommand_list() -> str:
    """The subcommands, one per line with their summary, for the top `--help`."""
    names = [name for name in COMMANDS if name != DEFAULT]
    width = max(map(len, names))
    return "\n".join(f"  {name:<{width}}  {SUMMARIES.get(name, '')}".rstrip() for name in names)


def window_parser() -> argparse.ArgumentParser:
    """The window's command line (`deeplab-annotator [FOLDER] [--model CKPT] ...`), defined Qt-free so `--help`
    answers without loading Qt; gui/app.py parses with it. Its help ends with the subcommands."""
    p = make_parser(None, "DeepLab Annotator: label semantic-segmentation datasets with DeepLab and a dense CRF.\n"
                          "With no subcommand it opens the window on FOLDER.",
                    formatter_class=argparse.RawDescriptionHelpFormatter,
                    epilog=f"subcommands (`{program()} SUBCOMMAND --help` for each):\n{subcommand_list()}")
    p.add_argument("folder", nargs="?", type=Path,
                   help="folder of images, or one image to open its folder at (default: the bundled samples)")
    p.add_argument("--model", type=Path, help="checkpoint to load (default: the bundled demo model)")
    p.add_argument("--read-only", action="store_true", help="look without saving (no lock, no autosave)")
    p.add_argument("--max-pixels",
                   help="largest image to decode, e.g. 250M (default 100M; see docs/user/limits.md)")
    p.add_argument("--screenshot", type=Path, metavar="PNG",
                   help="smoke test: when the first image is predicted and refined, save the window as PNG "
                        "and quit (0 = it worked); runs headless with QT_QPA_PLATFORM=offscreen")
    return p


def typo_of(word: str) -> str | None:
    """The subcommand `word` is a misspelling of, or None: a word that names an existing file or folder, or has a
    dot or a slash (a path), or is an option, is never a typo."""
    if not word or word in COMMANDS or word.startswith("-") or os.path.exists(word):
        return None
    if "." in word or "/" in word or os.sep in word or (os.altsep and os.altsep in word):
        return None
    close = difflib.get_close_matches(word.lower(), list(COMMANDS), n=1, cutoff=TYPO_CUTOFF)
    return close[0] if close else None


def _wants_version(argv: list[str]) -> bool:
    return "--version" in argv[:argv.index("--")] if "--" in argv else "--version" in argv


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if _wants_version(argv):
        print(version_line())
        return 0
    if argv and argv[0] in ("-h", "--help"):
        window_parser().print_help()
        return 0
    if argv and argv[0] in COMMANDS:
        name, rest = argv[0], argv[1:]
    else:
        nearest = typo_of(argv[0]) if argv else None
        if nearest is not None:
            print(f"{program()}: error: {argv[0]!r} is not a subcommand, nor a file or folder here; did you mean "
                  f"{nearest!r}? (`{program()} --help` lists the subcommands)", file=sys.stderr)
            return 2
        name, rest = DEFAULT, argv
    return int(resolve(COMMANDS[name])(rest) or 0)
