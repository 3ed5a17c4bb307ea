"""`python -m engine.cli ...`: the same subcommands as `main.py` and the `deeplab-annotator` script (the desktop
entry runs this form when no script is on the PATH, engine/cli/install_desktop.py)."""
import sys

from engine.cli import main

sys.exit(main())
