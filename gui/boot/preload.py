"""Modules the window needs soon after it opens, imported on a background thread while it starts.

Why: skimage.color loads its submodules (and scipy's) on first use, 0.5-0.7 s measured on the 2-core machine. Its
first use is the changed-by-CRF colour, picked on the GUI thread when a model's palette binds
(engine.labels.changed_colour), so every start froze the window that long after the model loaded (a 4 MP image
with the v2 demo model: a 0.54-0.69 s stall, found with a heartbeat and the GUI thread's stack). Imports take
Python's import lock per module, so a GUI thread that gets there first waits for the rest of that import only.
"""
from __future__ import annotations

import importlib
import logging
import threading

# (module, attributes whose lazy loading imports the work): what the GUI thread uses soon after start
SOON = (("skimage.color", ("rgb2lab", "deltaE_ciede2000")),)

_started = threading.Event()
done = threading.Event()


def _load() -> None:
    try:
        for name, attrs in SOON:
            module = importlib.import_module(name)
            for attr in attrs:
                getattr(module, attr)
    except Exception:   # noqa: BLE001 - the GUI thread's own import reports it where it is used
        logging.getLogger(__name__).debug("preload failed", exc_info=True)
    finally:
        done.set()


def start() -> None:
    """Start the imports once per process (later calls do nothing)."""
    if not _started.is_set():
        _started.set()
        threading.Thread(target=_load, name="preload", daemon=True).start()
