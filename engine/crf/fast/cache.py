"""A thread-safe LRU cache bounded by bytes, so interactive reuse never grows memory without limit."""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Hashable


def nbytes_of(value) -> int:
    """Size of a cached value: its `nbytes` attribute (arrays, Lattice, ...) or 0."""
    return int(getattr(value, "nbytes", 0))


class ByteLRU:
    """Least-recently-used mapping whose values' total `nbytes` stays within `budget`.

    A value larger than the whole budget is returned to the caller but not kept. `on_evict(value)` is called for
    values pushed out by the budget and by clear() (not for pop or replacement).
    """

    def __init__(self, budget: int, sizeof: Callable[[object], int] = nbytes_of,
                 on_evict: Callable[[object], None] | None = None, max_items: int | None = None):
        self.budget = int(budget)
        self.max_items = max_items   # and at most this many values (None: the bytes alone bound it)
        self._sizeof = sizeof
        self._on_evict = on_evict
        self._items: OrderedDict[Hashable, tuple[object, int]] = OrderedDict()
        self._used = 0
        self._lock = threading.RLock()

    @property
    def used(self) -> int:
        return self._used

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key) -> bool:
        with self._lock:
            return key in self._items

    def get(self, key, default=None):
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return default
            self._items.move_to_end(key)
            return item[0]

    def put(self, key, value) -> None:
        size = self._sizeof(value)
        with self._lock:
            self.pop(key)
            if size > self.budget:
                return
            self._items[key] = (value, size)
            self._used += size
            while self._items and (self._used > self.budget or
                                   (self.max_items is not None and len(self._items) > self.max_items)):
                _, (evicted, old) = self._items.popitem(last=False)
                self._used -= old
                if self._on_evict is not None:
                    self._on_evict(evicted)

    def pop(self, key, default=None):
        with self._lock:
            item = self._items.pop(key, None)
            if item is None:
                return default
            self._used -= item[1]
            return item[0]

    def resize(self, key) -> None:
        """Re-measure a value that grew in place (e.g. a history that gained iterations), evicting others."""
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self.put(key, item[0])

    def clear(self) -> None:
        """Drop everything; `on_evict` sees each value (clearing is evicting all)."""
        with self._lock:
            items = list(self._items.values())
            self._items.clear()
            self._used = 0
            if self._on_evict is not None:
                for value, _ in items:
                    self._on_evict(value)

    def get_or_build(self, key, build: Callable[[], object]):
        """Cached value for key, building (outside the lock, so other keys stay usable) when missing."""
        value = self.get(key)
        if value is None:
            value = build()
            self.put(key, value)
        return value
