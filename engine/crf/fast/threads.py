"""numba threading for the fast CRF: the workqueue layer, and one lock around every parallel kernel launch.

Why: on a busy 2-core machine numba's OpenMP layer spent ~8 ms waking its threads for every parallel region
(measured; the workqueue layer ~25 us), and a mean-field iteration has about ten regions. The workqueue layer
is not safe for concurrent launches from several threads, so all launches here hold PARALLEL_LOCK (numba is
used nowhere else in the app). Set NUMBA_THREADING_LAYER to override the choice.
"""
from __future__ import annotations

import os
import threading

import numba

if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"

PARALLEL_LOCK = threading.RLock()
