"""The ``ContextStore`` protocol: digests -> context ids and timestamps, no message text."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from .._exceptions import ArkInputError

__all__ = ["MAX_COUNTERS", "STATES", "ContextStore", "Entry", "EntryState", "Put", "check_puts"]

#: live: usable; claimed: an in-flight call owns it; superseded: a later transcript
#: continued it (a branch from here misses with reason "branch"); failed: dropped after
#: an uncertain outcome; evicted: a store that knows it dropped the key for capacity.
EntryState = Literal["live", "claimed", "superseded", "failed", "evicted"]
STATES: tuple[EntryState, ...] = ("live", "claimed", "superseded", "failed", "evicted")
MAX_COUNTERS = 16


@dataclass(slots=True)
class Entry:
    """What a store keeps under one transcript digest (16 bytes)."""

    context_id: str
    state: EntryState = "live"
    last_used: float = 0.0
    ttl: int = 0
    prev: bytes | None = None  # digest of the transcript this one continued
    tokens: int = 0  # tokens the server holds for this transcript (0: unknown)
    #: small non-negative counters (at most 16, each < 2**32): evidence records of the
    #: adaptive router keep their counts here; context entries leave it empty.
    counters: tuple[int, ...] = ()

    def encode(self) -> str:
        """Compact text form for Redis: ``state|ttl|last_used|prev_hex|tokens|context_id``.

        Counters ride in the tokens field as ``tokens+c1,c2,...`` (only when there are
        any), so values written before counters existed decode unchanged."""
        prev = self.prev.hex() if self.prev else ""
        tokens = str(self.tokens)
        if self.counters:
            tokens += "+" + ",".join(map(str, self.counters))
        return f"{self.state}|{self.ttl}|{self.last_used:.3f}|{prev}|{tokens}|{self.context_id}"

    @classmethod
    def decode(cls, raw: str | bytes) -> Entry:
        if isinstance(raw, bytes):
            raw = raw.decode()
        state, ttl, last_used, prev, tokens, cid = raw.split("|", 5)
        tokens, _, counts = tokens.partition("+")
        return cls(
            cid,
            state,  # type: ignore[arg-type]
            float(last_used),
            int(ttl),
            bytes.fromhex(prev) if prev else None,
            int(tokens),
            tuple(int(c) for c in counts.split(",")) if counts else (),
        )


Put = tuple[bytes, Entry, float]  # key, entry, absolute expiry (epoch seconds)


def check_puts(puts: Sequence[Put], deletes: Sequence[bytes] = ()) -> None:
    """Raise :class:`ArkInputError` unless every put is ``(bytes, Entry, number)`` with a
    known state and every delete is ``bytes``. Stores call it before writing anything."""
    for k in deletes:
        if type(k) is not bytes:
            raise ArkInputError(f"Store keys must be bytes digests, got {type(k).__name__}.")
    for put in puts:
        try:
            k, e, exp = put
        except (TypeError, ValueError):
            raise ArkInputError(
                f"Store puts are (key, Entry, expire_at) tuples, got {put!r:.120}."
            ) from None
        if type(k) is not bytes:
            raise ArkInputError(f"Store keys must be bytes digests, got {type(k).__name__}.")
        if not isinstance(e, Entry) or e.state not in STATES:
            raise ArkInputError(
                f"Store puts take an Entry with state in {', '.join(STATES)}; got {e!r:.120}."
            )
        if not isinstance(e.context_id, str) or not isinstance(e.ttl, int) or e.ttl < 0:
            raise ArkInputError(
                f"Entry for store key {k.hex()} needs a str context_id and an int ttl >= 0; "
                f"got {e!r:.120}."
            )
        if not isinstance(e.last_used, (int, float)) or not isinstance(exp, (int, float)):
            raise ArkInputError(
                f"Entry for store key {k.hex()} needs numeric last_used and expire_at (epoch "
                f"seconds); got last_used={e.last_used!r}, expire_at={exp!r}."
            )
        if type(e.tokens) is not int or e.tokens < 0:
            raise ArkInputError(f"Entry.tokens must be an int >= 0, got {e.tokens!r}.")
        c = e.counters
        if (
            type(c) is not tuple
            or len(c) > MAX_COUNTERS
            or any(type(n) is not int or not 0 <= n < 2**32 for n in c)
        ):
            raise ArkInputError(
                f"Entry.counters must be a tuple of at most {MAX_COUNTERS} ints in "
                f"[0, 2**32); got {c!r:.120}."
            )
        if e.prev is not None and type(e.prev) is not bytes:
            raise ArkInputError(f"Entry.prev must be bytes or None, got {type(e.prev).__name__}.")


class ContextStore(abc.ABC):
    """Maps transcript digests to contexts. Sync and async; every method is safe to call
    concurrently from threads (sync) or tasks (async).

    Example::

        import time
        from ark_context.stores import Entry, InMemoryStore
        store = InMemoryStore()
        now = time.time()
        store.apply(puts=[(b"k" * 16, Entry("ctx-1", last_used=now, ttl=3600), now + 3600)])
        assert store.claim(b"k" * 16).context_id == "ctx-1"
    """

    @abc.abstractmethod
    def get_many(self, keys: Sequence[bytes]) -> list[Entry | None]:
        """Entries for ``keys`` (``None`` where absent or expired), in order."""

    @abc.abstractmethod
    def claim(self, key: bytes) -> Entry | None:
        """Atomically turn a ``live`` entry into ``claimed`` and return it (as it was).

        Returns ``None`` when the key is absent, expired or not ``live``: exactly one of
        any number of concurrent claimers (across processes, for shared stores) wins."""

    @abc.abstractmethod
    def apply(self, puts: Sequence[Put] = (), deletes: Sequence[bytes] = ()) -> None:
        """Write ``puts`` (key, entry, expire_at) and remove ``deletes``, in one batch.

        Deletes apply first, then puts in order (a later put of the same key wins). A put
        whose ``expire_at`` has passed leaves the key absent. Invalid input raises
        :class:`~ark_context.ArkInputError` before anything is written."""

    async def aget_many(self, keys: Sequence[bytes]) -> list[Entry | None]:
        return self.get_many(keys)

    async def aclaim(self, key: bytes) -> Entry | None:
        return self.claim(key)

    async def aapply(self, puts: Sequence[Put] = (), deletes: Sequence[bytes] = ()) -> None:
        self.apply(puts, deletes)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections (optional)."""

    def __deepcopy__(self, memo: dict[int, object]) -> ContextStore:
        return self  # a store is shared state: copies of a model keep using the same one
