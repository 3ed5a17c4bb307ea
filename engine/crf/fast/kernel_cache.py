"""Whether numba's on-disk cache already holds the fast CRF's compiled kernels, so a first run can say that it
compiles them (about 40 s once after an install or an upgrade, under a second later) instead of staying silent.

The kernels are `@njit(cache=True)`: numba keeps their machine code in an index (.nbi) and data files (.nbc) in
__pycache__ beside the sources, or in a user cache folder when that is not writable; an index is only valid for
the source file it was made from. Reading the indexes is cheap (no compilation, a few small pickles); anything
unexpected in numba's internals gives "unknown" rather than a wrong answer.
"""
from __future__ import annotations

import importlib
import time

KERNEL_MODULES = ("build_kernels", "cpu_kernels", "grid_lattice", "hash_kernels", "sublattice", "stream_kernels")
COMPILE_NOTE = "compiling the CRF kernels once (about 40 s; later runs load them from numba's cache)…"
SLOW_S = 5.0   # a warm-up longer than this was a compilation


def kernels_cached() -> bool | None:
    """False when no kernel has compiled code in the cache for its current source (a fresh install or an upgrade:
    the first CPU run compiles them all, ~40 s), True when some have (a run compiled them; kernels a run has not
    needed yet compile on their first use, a second or two each), None when it cannot tell."""
    try:
        from numba.core.caching import FunctionCache
        from numba.core.dispatcher import Dispatcher

        found = 0
        for name in KERNEL_MODULES:
            module = importlib.import_module(f"{__package__}.{name}")
            for obj in vars(module).values():
                if isinstance(obj, Dispatcher) and isinstance(obj._cache, FunctionCache):
                    found += 1
                    if obj._cache._cache_file._load_index():
                        return True
        return False if found else None
    except Exception:   # numba's private layout moved: say nothing rather than something wrong
        return None


def uses_numba(backend) -> bool:
    """Whether a CRF backend runs the numba kernels (the fast one on the CPU; not its CUDA engine, not pydensecrf)."""
    return getattr(backend, "engine", None) == "numba"


def warm_up_with_notice(say, backend=None) -> float:
    """Load (or compile) the kernels now with a tiny run, first telling `say` when the cache is cold or, if that
    is unknown, after the fact when it was slow. backend: only a numba one is warmed (None: warm the CPU engine).
    Returns the seconds it took."""
    from . import warm_up

    if backend is not None and not uses_numba(backend):
        return 0.0
    cold = kernels_cached() is False
    if cold:
        say(COMPILE_NOTE)
    t0 = time.monotonic()
    warm_up()
    took = time.monotonic() - t0
    if cold or took > SLOW_S:
        say(f"CRF kernels ready ({took:.0f} s)")
    return took
