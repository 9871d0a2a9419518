"""In-process store: the default. Bounded LRU, O(1) memory per conversation."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence

from ._base import ContextStore, Entry, Put

__all__ = ["InMemoryStore", "default_store"]


class InMemoryStore(ContextStore):
    """A bounded LRU map of digests to entries, shared by every model in the process.

    >>> from ark_context.stores import InMemoryStore, Entry
    >>> s = InMemoryStore(max_entries=2)
    >>> s.apply(puts=[(b"a" * 16, Entry("ctx-a", ttl=3600), 9e12)])
    >>> s.get_many([b"a" * 16])[0].context_id
    'ctx-a'
    """

    def __init__(self, max_entries: int = 200_000, clock: object = time.time) -> None:
        self.max_entries = max_entries
        self._clock = clock
        self._data: OrderedDict[bytes, tuple[Entry, float]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._data)

    def get_many(self, keys: Sequence[bytes]) -> list[Entry | None]:
        now = self._clock()  # type: ignore[operator]
        out: list[Entry | None] = []
        data = self._data
        for k in keys:
            item = data.get(k)
            if item is None or item[1] <= now:
                out.append(None)
            else:
                out.append(item[0])
        return out

    def claim(self, key: bytes) -> Entry | None:
        now = self._clock()  # type: ignore[operator]
        with self._lock:
            item = self._data.get(key)
            if item is None or item[1] <= now or item[0].state != "live":
                return None
            e = item[0]
            self._data[key] = (Entry(e.context_id, "claimed", e.last_used, e.ttl, e.prev), item[1])
            return e

    def apply(self, puts: Sequence[Put] = (), deletes: Sequence[bytes] = ()) -> None:
        with self._lock:
            data = self._data
            for k in deletes:
                data.pop(k, None)
            for k, e, exp in puts:
                data[k] = (e, exp)
                data.move_to_end(k)
            while len(data) > self.max_entries:
                data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


_default: InMemoryStore | None = None
_default_lock = threading.Lock()


def default_store() -> InMemoryStore:
    """The process-wide store every model uses unless given another."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = InMemoryStore()
    return _default
