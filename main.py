"""DeepLab Annotator entry point from a checkout; installed, the same is the `deeplab-annotator` command.

  python main.py                 open the bundled samples with the demo model (GUI)
  python main.py FOLDER          open a folder of images (GUI)
  python main.py predict IMAGE [--model CKPT] [--crf PRESET] --out LABEL.png   headless prediction
  python main.py prelabel FOLDER [--model CKPT] [--crf PRESET] [--ray [ADDRESS]] pre-label a whole folder
  python main.py finetune FOLDER --model CKPT --out NEW.pt                      train on the folder's saved labels
  python main.py tune-crf FOLDER [--model CKPT] [--keep]                        CRF values that fit the saved labels
  python main.py train-demo | eval-demo                                        the demo model recipe
  python main.py eval-voc --model CKPT --voc VOC2012 [--crf PRESET]             mIoU on PASCAL VOC 2012 val

  python main.py --version | --help | SUBCOMMAND --help                         version, the subcommands, options

The subcommands are listed in engine/cli/__init__.py (COMMANDS); a mistyped one is an error, not a window.
"""
import multiprocessing
import sys

from engine.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # the PyInstaller bundle: a spawned CRF worker runs here, not the CLI
    sys.exit(main())
