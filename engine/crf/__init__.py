"""Dense CRF: parameters, presets and a registry of backends (reference = pydensecrf, fast = our lattice engine)."""
from __future__ import annotations

from .base import CRFResult
from .params import PRESETS, CRFParams, all_presets, preset
from .reference import ReferenceBackend, ReferenceUnavailable

_BACKENDS = {"reference": ReferenceBackend}
DEFAULT_BACKEND = "reference"


def register_backend(name: str, factory, default: bool = False) -> None:
    """Add a backend; the fast engine registers itself here and becomes the default."""
    global DEFAULT_BACKEND
    _BACKENDS[name] = factory
    if default:
        DEFAULT_BACKEND = name


def _fast_backend():
    """Our exact permutohedral engine (engine/crf/fast); imported on first use so numba loads only when needed."""
    from .fast import FastBackend

    return FastBackend()


register_backend("fast", _fast_backend, default=True)


def backend_names() -> list[str]:
    return list(_BACKENDS)


def unavailable_backends() -> dict[str, str]:
    """Backends that cannot run in this installation -> why (the reference one without pydensecrf)."""
    from .reference import unavailable_reason

    reason = unavailable_reason()
    return {"reference": reason} if reason else {}


def get_backend(name: str | None = None):
    """A backend instance by name (None -> the default)."""
    from ..errors import EngineError

    name = name or DEFAULT_BACKEND
    if name not in _BACKENDS:
        raise EngineError(f"unknown CRF backend {name!r}; known: {', '.join(_BACKENDS)}")
    return _BACKENDS[name]()


BACKEND_NAMES = backend_names()

__all__ = ["CRFParams", "CRFResult", "PRESETS", "all_presets", "preset", "get_backend", "register_backend",
           "backend_names", "BACKEND_NAMES", "DEFAULT_BACKEND", "ReferenceUnavailable", "unavailable_backends"]
