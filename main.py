"""DeepLab Annotator entry point.

  python main.py                 open the bundled samples with the demo model (GUI)
  python main.py FOLDER          open a folder of images (GUI)
  python main.py predict IMAGE --model CKPT [--crf PRESET] --out LABEL.png     headless prediction
  python main.py train-demo | eval-demo                                        the demo model recipe
  python main.py eval-voc --model CKPT --voc VOC2012 [--crf PRESET]             mIoU on PASCAL VOC 2012 val
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

SUBCOMMANDS = ("predict", "train-demo", "eval-demo", "eval-voc", "gui")


def _predict(argv: list[str]) -> int:
    from engine.cli_predict import main as predict_main

    return predict_main(argv)


def _gui(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="main.py", description="DeepLab Annotator")
    parser.add_argument("folder", nargs="?", type=Path, help="folder of images (default: bundled samples)")
    parser.add_argument("--model", type=Path, help="checkpoint to load (default: bundled demo model)")
    args = parser.parse_args(argv)
    from gui.app import main as gui_main

    return gui_main(args.folder, args.model)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "predict":
        return _predict(argv[1:])
    if argv and argv[0] == "train-demo":
        from engine.demo.train import main as train_main

        return train_main(argv[1:])
    if argv and argv[0] == "eval-demo":
        from engine.demo.evaluate import main as eval_main

        return eval_main(argv[1:])
    if argv and argv[0] == "eval-voc":
        from engine.eval.voc import main as voc_main

        return voc_main(argv[1:])
    if argv and argv[0] == "gui":
        argv = argv[1:]
    return _gui(argv)


if __name__ == "__main__":
    sys.exit(main())
