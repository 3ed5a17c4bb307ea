"""Re-emitting a service's signals as the session's own: the window listens to the session only."""
from __future__ import annotations

from PySide6.QtCore import QObject


def relay(source: QObject, target: QObject, *signals: str) -> None:
    """Connect each named signal of ``source`` to the same-named signal of ``target``."""
    for name in signals:
        getattr(source, name).connect(getattr(target, name))
