"""The `deeplab-annotator` command (and `python main.py`): one table of subcommands, each "module:function".

A subcommand's function takes the remaining argv (list of str) and returns an exit status. Modules are imported
only when their subcommand runs, so `predict` never loads Qt and the table itself imports nothing. To add a
subcommand, add one line to COMMANDS. Anything that is not a subcommand (no argument, a folder, an image, an
option) opens the window: the "gui" entry, which is named by string so that engine/ never imports Qt itself.
"""
from __future__ import annotations

import importlib
import os
import sys

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


def program() -> str:
    """How the user called us, for usage lines: "deeplab-annotator", "main.py" or "python -m engine.cli"."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "deeplab-annotator"
    return "python -m engine.cli" if name == "__main__.py" else name


def resolve(target: str):
    """"package.module:function" -> the function (imports the module)."""
    module, _, func = target.partition(":")
    return getattr(importlib.import_module(module), func)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in COMMANDS:
        name, rest = argv[0], argv[1:]
    else:
        name, rest = DEFAULT, argv
    return int(resolve(COMMANDS[name])(rest) or 0)
