"""DeepLab Annotator entry point.

  python main.py                 open the bundled samples with the demo model (GUI)
  python main.py FOLDER          open a folder of images (GUI)
  python main.py predict IMAGE --model CKPT [--crf PRESET] --out LABEL.png     headless prediction
  python main.py prelabel FOLDER [--model CKPT] [--crf PRESET] [--ray [ADDRESS]] pre-label a whole folder
  python main.py train-demo | eval-demo                                        the demo model recipe
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

SUBCOMMANDS = ("predict", "prelabel", "train-demo", "eval-demo", "gui")


def _predict(argv: list[str]) -> int:
    from engine.cli_predict import main as predict_main

    return predict_main(argv)


def _gui(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="main.py", description="DeepLab Annotator")
    parser.add_argument("folder", nargs="?", type=Path, help="folder of images (default: bundled samples)")
    parser.add_argument("--model", type=Path, help="checkpoint to load (default: bundled demo model)")
    parser.add_argument("--read-only", action="store_true", help="look without saving (no lock, no autosave)")
    parser.add_argument("--max-pixels", help="largest image to decode, e.g. 250M (default 100M; see README)")
    args = parser.parse_args(argv)
    from gui.app import main as gui_main

    return gui_main(args.folder, args.model, read_only=args.read_only, max_pixels=args.max_pixels)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "predict":
        return _predict(argv[1:])
    if argv and argv[0] == "prelabel":
        from engine.batch.cli import main as prelabel_main; return prelabel_main(argv[1:])  # noqa: E702
    if argv and argv[0] == "train-demo":
        from engine.demo.train import main as train_main

        return train_main(argv[1:])
    if argv and argv[0] == "eval-demo":
        from engine.demo.evaluate import main as eval_main

        return eval_main(argv[1:])
    if argv and argv[0] == "gui":
        argv = argv[1:]
    return _gui(argv)


if __name__ == "__main__":
    sys.exit(main())
