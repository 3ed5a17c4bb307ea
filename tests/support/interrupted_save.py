"""A save cut off after its commit record: the first rename of the save transaction happens, the next fails, as
a kill there would leave the folder (engine.io.transaction rolls such a save forward at the next opening)."""
from __future__ import annotations

import errno
import os

from engine.io import transaction


def die_after_first_rename(monkeypatch) -> None:
    """Patch the transaction's os.replace for the rest of the test (monkeypatch.undo() ends it)."""
    calls = []

    def replace(src, dst):
        if calls:
            raise OSError(errno.EIO, "simulated crash")
        calls.append(dst)
        os.rename(src, dst)
    monkeypatch.setattr(transaction.os, "replace", replace)
