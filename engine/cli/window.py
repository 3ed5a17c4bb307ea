"""The window's command line (`deeplab-annotator [FOLDER] [--model CKPT] ...`), defined Qt-free so `--help`
answers without loading Qt; gui/app.py parses with it and opens the window."""
from __future__ import annotations

import argparse
from pathlib import Path

from engine.console import parser as make_parser


def build_parser() -> argparse.ArgumentParser:
    from engine.cli import program, subcommand_list

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
