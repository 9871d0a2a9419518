"""In-process store: the default. Bounded LRU, O(1) memory per conversation.

Each entry is one ``bytes`` value packed with :data:`_HEADER` (state, ttl, last use,
expiry, the previous digest and the context id) in a plain ``dict`` keyed by the
caller's 16-byte digest. A plain dict keeps insertion order and costs about half of
an ``OrderedDict`` per key, so the LRU order is the dict order: a put moves its key to
the end, and capacity evictions take the oldest keys from the front in small batches
(amortised O(1)). Measured with tracemalloc (``benchmarks/bench_store.py``) at 100,000
conversations: about 180 bytes for one live entry, 350 for a live entry plus its tombstone.
"""

from __future__ import annotations

import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from .._exceptions import ArkConfigError, ArkInputError
from ._base import STATES, ContextStore, Entry, EntryState, Put, check_puts

__all__ = ["InMemoryStore", "default_store"]

_STATES = STATES
_STATE_CODE: dict[str, int] = {s: i for i, s in enumerate(_STATES)}
_LIVE, _CLAIMED = _STATE_CODE["live"], _STATE_CODE["claimed"]
_CLAIMED_BYTE = bytes([_CLAIMED])
#: state code, len(prev), ttl, last_used, expire_at, tokens, number of counters; then
#: prev, then the counters (uint32 each), then the context id.
_HEADER = struct.Struct("<BBIddIB")
_HSIZE = _HEADER.size
_EXPIRE_AT = struct.Struct("<d")
_EXPIRE_OFFSET = 14  # offset of expire_at inside _HEADER
_TTL_MAX = 2**32 - 1


def _pack(key: bytes, entry: Entry, expire_at: float) -> bytes:
    try:
        if type(key) is not bytes:
            raise TypeError(key)
        prev = entry.prev or b""
        counters = entry.counters
        if counters:  # rare (evidence records): check them fully
            check_puts([(key, entry, expire_at)])
        head = _HEADER.pack(
            _STATE_CODE[entry.state],
            len(prev),
            entry.ttl,
            entry.last_used,
            expire_at,
            entry.tokens,
            len(counters),
        )
        if counters:
            prev += struct.pack(f"<{len(counters)}I", *counters)
        return head + prev + entry.context_id.encode()
    except (KeyError, AttributeError, TypeError, ValueError, struct.error):
        check_puts([(key, entry, expire_at)])  # raises the precise ArkInputError
        raise ArkInputError(
            f"Entry for store key {key.hex()} cannot be stored: ttl must be at most {_TTL_MAX} "
            f"and prev at most 255 bytes; got {entry!r:.120}."
        ) from None


def _unpack(raw: bytes, state: EntryState | None = None) -> Entry:
    code, plen, ttl, last_used, _, tokens, ncount = _HEADER.unpack_from(raw)
    end = _HSIZE + plen
    prev = raw[_HSIZE:end] if plen else None
    counters: tuple[int, ...] = ()
    if ncount:
        counters = struct.unpack_from(f"<{ncount}I", raw, end)
        end += 4 * ncount
    return Entry(raw[end:].decode(), state or _STATES[code], last_used, ttl, prev, tokens, counters)


def _expire_at(raw: bytes) -> float:
    return _EXPIRE_AT.unpack_from(raw, _EXPIRE_OFFSET)[0]  # type: ignore[no-any-return]


class InMemoryStore(ContextStore):
    """A bounded LRU map of digests to entries, shared by every model in the process.

    ``max_entries`` bounds memory (a tracked conversation uses one live entry plus one
    tombstone, about 350 bytes together). Keys dropped for capacity are remembered in a
    small ring of ``evicted_memory`` keys, so that a later read reports them with state
    ``"evicted"``. ``clock`` returns epoch seconds and decides expiry (tests inject one).

    >>> from ark_context.stores import InMemoryStore, Entry
    >>> s = InMemoryStore(max_entries=2)
    >>> s.apply(puts=[(b"a" * 16, Entry("ctx-a", ttl=3600), 9e12)])
    >>> s.get_many([b"a" * 16])[0].context_id
    'ctx-a'
    """

    def __init__(
        self,
        max_entries: int = 200_000,
        clock: Callable[[], float] = time.time,
        *,
        evicted_memory: int = 4096,
    ) -> None:
        if not isinstance(max_entries, int) or max_entries < 1:
            raise ArkConfigError(
                f"InMemoryStore max_entries must be an int >= 1, got {max_entries!r}."
            )
        if not isinstance(evicted_memory, int) or evicted_memory < 0:
            raise ArkConfigError(
                f"InMemoryStore evicted_memory must be an int >= 0, got {evicted_memory!r}."
            )
        if not callable(clock):
            raise ArkConfigError("InMemoryStore clock must be a callable returning epoch seconds.")
        self.max_entries = max_entries
        self.evicted_memory = evicted_memory
        self._clock = clock
        self._data: dict[bytes, bytes] = {}
        self._evicted: OrderedDict[bytes, bytes] = OrderedDict()
        self._lock = threading.Lock()
        # Appends since the dict was last rebuilt. Deleted slots stay in a dict until it
        # resizes, and a resize sizes the table for 3x the live keys; rebuilding by copy
        # (sized for 1.5x) first keeps the table small under churn.
        self._appends = 0

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"InMemoryStore(entries={len(self._data)}, max_entries={self.max_entries})"

    # -- reads ---------------------------------------------------------------------------

    def get_many(self, keys: Sequence[bytes]) -> list[Entry | None]:
        now = self._clock()
        found: list[tuple[bytes | None, EntryState | None]] = []
        with self._lock:  # a read never sees half of an apply
            data, evicted = self._data, self._evicted
            for k in keys:
                raw = data.get(k)
                if raw is not None:
                    found.append((raw, None))
                else:
                    if type(k) is not bytes:
                        check_puts((), (k,))
                    found.append((evicted.get(k), "evicted"))
        return [
            None if raw is None or _expire_at(raw) <= now else _unpack(raw, state)
            for raw, state in found
        ]

    # -- writes --------------------------------------------------------------------------

    def claim(self, key: bytes) -> Entry | None:
        if type(key) is not bytes:
            check_puts((), (key,))
        with self._lock:
            data = self._data
            raw = data.get(key)
            if raw is None or raw[0] != _LIVE:
                return None
            if _expire_at(raw) <= self._clock():
                del data[key]
                return None
            data[key] = _CLAIMED_BYTE + raw[1:]  # same slot: a claim keeps the LRU position
            return _unpack(raw)

    def apply(self, puts: Sequence[Put] = (), deletes: Sequence[bytes] = ()) -> None:
        try:  # pack (and so validate) everything before writing anything
            packed = [(k, _pack(k, e, exp)) for k, e, exp in puts]
        except ArkInputError:
            raise
        except (TypeError, ValueError):
            check_puts(puts, deletes)
            raise
        if any(type(k) is not bytes for k in deletes):
            check_puts((), deletes)
        with self._lock:
            data, evicted = self._data, self._evicted
            for k in deletes:
                data.pop(k, None)
                if evicted:
                    evicted.pop(k, None)
            for k, raw in packed:
                if data.pop(k, None) is None and evicted:
                    evicted.pop(k, None)
                data[k] = raw  # (re)inserted at the end: most recently used
            self._appends += len(packed)
            if len(data) > self.max_entries:
                self._evict(len(data) - self.max_entries)
            if self._appends > max(len(self._data) // 2, 1024):
                self._data = dict(self._data)
                self._appends = 0

    def _evict(self, excess: int) -> None:
        """Drop the oldest keys: ``excess`` plus a batch, so scans stay amortised O(1)."""
        data = self._data
        count = min(len(data), excess + self.max_entries // 128)
        victims: list[bytes] = []
        for k in data:  # insertion order: least recently put first
            victims.append(k)
            if len(victims) >= count:
                break
        now = self._clock()
        keep, ring = self.evicted_memory, self._evicted
        for k in victims:
            raw = data.pop(k)
            if keep and _expire_at(raw) > now:
                ring[k] = raw
                if len(ring) > keep:
                    ring.popitem(last=False)

    # -- housekeeping --------------------------------------------------------------------

    def purge_expired(self) -> int:
        """Remove expired entries now (they are otherwise evicted first); returns how many."""
        with self._lock:
            now = self._clock()
            dead = [k for k, raw in self._data.items() if _expire_at(raw) <= now]
            for k in dead:
                del self._data[k]
            for k in [k for k, raw in self._evicted.items() if _expire_at(raw) <= now]:
                del self._evicted[k]
            self._data = dict(self._data)
            self._appends = 0
            return len(dead)

    def clear(self) -> None:
        """Forget everything, including the evicted-key ring."""
        with self._lock:
            self._data = {}
            self._evicted.clear()
            self._appends = 0


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
