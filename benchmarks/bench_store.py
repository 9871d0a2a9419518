"""Context stores: memory per tracked conversation, and the cost of one routed turn.

**Memory** (``tracemalloc``, the in-memory store): N conversations are driven through an
``InMemoryStore`` the way the router drives it, and the bytes the store still holds are
divided by N. Keys are 16-byte blake2b digests made fresh for every call, as the router
makes them; context ids have the real 24-character shape.

* *1 entry*: each conversation had one turn, so the store holds one ``live`` entry.
* *live + tombstone*: each had a second turn: claim the first entry, put the new
  transcript ``live`` (``prev`` = the first key) and the first key as a ``superseded``
  tombstone (empty context id), as ``ark_context.router`` does.
* *at capacity*: 2N conversations through a store capped at 2N entries, so half of them
  were evicted; bytes held divided by the conversations still tracked. It includes the
  ring of the last 4,096 evicted keys, which dominates in smoke mode.

**Turn latency** (informational): one session turn's store traffic, i.e. ``get_many``
of 4 digests, ``claim`` of the hit, and ``apply`` of the new live entry, its tombstone
and a delete, on memory, SQLite (temp file) and Redis (a real ``redis-server`` on
loopback, when installed), sync and async.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import os
import shutil
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from ark_context.stores import ContextStore, Entry, InMemoryStore

from ._harness import atime_per_call, fill_ratios, row, time_per_call

SECTION_MEM = "Store memory per tracked conversation"
SECTION_LAT = "Store turn latency (get_many + claim + apply)"
TTL = 86400
FAR = time.time() + 10 * 365 * 86400


def _digest(conv: int, turn: int) -> bytes:
    return hashlib.blake2b(b"%d/%d" % (conv, turn), digest_size=16).digest()


def _cid(conv: int) -> str:
    return f"ctx-20241211104333-{conv % 100000:05d}"


def _first_turn(store: ContextStore, conv: int, now: float) -> None:
    store.apply(puts=[(_digest(conv, 1), Entry(_cid(conv), "live", now, TTL), FAR)])


def _second_turn(store: ContextStore, conv: int, now: float) -> None:
    old = _digest(conv, 1)
    claimed = store.claim(old)
    assert claimed is not None
    store.apply(
        puts=[
            (_digest(conv, 2), Entry(claimed.context_id, "live", now, TTL, old), FAR),
            (_digest(conv, 1), Entry("", "superseded", now, TTL), FAR),
        ]
    )


def _held_bytes(build: Callable[[], InMemoryStore]) -> tuple[int, InMemoryStore]:
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        store = build()
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before, store
    finally:
        tracemalloc.stop()


def memory_rows(n: int) -> list[dict[str, Any]]:
    now = time.time()

    def one_entry() -> InMemoryStore:
        s = InMemoryStore(max_entries=4 * n)
        for c in range(n):
            _first_turn(s, c, now)
        return s

    def live_and_tombstone() -> InMemoryStore:
        s = InMemoryStore(max_entries=4 * n)
        for c in range(n):
            _first_turn(s, c, now)
            _second_turn(s, c, now)
        return s

    def at_capacity() -> InMemoryStore:
        s = InMemoryStore(max_entries=2 * n)
        for c in range(2 * n):
            _first_turn(s, c, now)
            _second_turn(s, c, now)
        return s

    rows = []
    b1, s1 = _held_bytes(one_entry)
    assert len(s1) == n
    rows.append(
        row(
            SECTION_MEM,
            f"1 live entry, {n:,} conversations",
            b1 / n,
            "B",
            target="<= 500 B",
            note=f"{b1 / 2**20:.1f} MiB held in total",
        )
    )
    del s1
    b2, s2 = _held_bytes(live_and_tombstone)
    assert len(s2) == 2 * n
    rows.append(
        row(
            SECTION_MEM,
            f"live + tombstone, {n:,} conversations",
            b2 / n,
            "B",
            target="<= 500 B",
            note=f"{b2 / 2**20:.1f} MiB held in total; 2 entries per conversation",
        )
    )
    del s2
    b3, s3 = _held_bytes(at_capacity)
    tracked = len(s3) / 2
    rows.append(
        row(
            SECTION_MEM,
            f"live + tombstone at capacity ({2 * n:,} entries, {2 * n:,} conversations put)",
            b3 / tracked,
            "B",
            note=f"{len(s3):,} entries held, {len(s3._evicted):,} evicted keys remembered",
        )
    )
    return rows


# -- latency ------------------------------------------------------------------------------


class _Turns:
    """Round-robin session turns over ``convs`` conversations already on their turn 1."""

    def __init__(self, store: ContextStore, convs: int) -> None:
        self.store, self.convs = store, convs
        self.turn = [1] * convs
        self.i = 0
        now = time.time()
        store.apply(
            puts=[(_digest(c, 1), Entry(_cid(c), "live", now, TTL), FAR) for c in range(convs)]
        )

    def _next(self) -> tuple[int, int, list[bytes]]:
        c = self.i % self.convs
        self.i += 1
        t = self.turn[c]
        self.turn[c] = t + 1
        return c, t, [_digest(c, t - 1), _digest(c, t), _digest(c, t + 1), _digest(c, t + 2)]

    def _writes(self, c: int, t: int, claimed: Entry) -> tuple[list[Any], list[bytes]]:
        now = time.time()
        live = Entry(claimed.context_id, "live", now, TTL, _digest(c, t))
        tomb = Entry("", "superseded", now, TTL)
        return [(_digest(c, t + 1), live, FAR), (_digest(c, t), tomb, FAR)], [_digest(c, t - 1)]

    def sync(self) -> None:
        c, t, keys = self._next()
        got = self.store.get_many(keys)
        assert got[1] is not None and got[1].state == "live"
        claimed = self.store.claim(keys[1])
        assert claimed is not None
        puts, deletes = self._writes(c, t, claimed)
        self.store.apply(puts, deletes)

    async def async_(self) -> None:
        c, t, keys = self._next()
        got = await self.store.aget_many(keys)
        assert got[1] is not None and got[1].state == "live"
        claimed = await self.store.aclaim(keys[1])
        assert claimed is not None
        puts, deletes = self._writes(c, t, claimed)
        await self.store.aapply(puts, deletes)


def _latency(store: ContextStore, name: str, smoke: bool, anchor: str | None) -> list[Any]:
    number, repeats = (50, 3) if smoke else (500, 7)
    turns = _Turns(store, 200)
    rows = [
        row(
            SECTION_LAT,
            f"{name} sync",
            time_per_call(turns.sync, number=number, repeats=repeats),
            "us",
            anchor=anchor,
        )
    ]

    async def run_async() -> float:
        value = await atime_per_call(turns.async_, number=number, repeats=repeats)
        aclose = getattr(store, "aclose", None)
        if aclose is not None:
            await aclose()
        return value

    rows.append(row(SECTION_LAT, f"{name} async", asyncio.run(run_async()), "us", anchor=anchor))
    return rows


def latency_rows(smoke: bool) -> list[dict[str, Any]]:
    from ark_context.stores import SQLiteStore

    base = "InMemoryStore sync"
    rows = _latency(InMemoryStore(), "InMemoryStore", smoke, None)
    rows[1]["anchor"] = base
    with tempfile.TemporaryDirectory(prefix="ark-bench-store-") as tmp:
        sqlite = SQLiteStore(os.path.join(tmp, "ctx.db"))
        rows += _latency(sqlite, "SQLiteStore (WAL file)", smoke, base)
        sqlite.close()
    if shutil.which("redis-server") is None:
        rows[-1]["note"] = "Redis rows left out: redis-server is not installed (make system-deps)"
        return rows
    from ark_context.stores import RedisStore
    from tests.redis_server import RedisServer

    with RedisServer.start() as server:
        redis_store = RedisStore(server.url, prefix="bench:")
        rows += _latency(redis_store, "RedisStore (loopback)", smoke, base)
        redis_store.close()
    return rows


def run(smoke: bool) -> list[dict[str, Any]]:
    n = 1_000 if smoke else 100_000
    return fill_ratios(memory_rows(n) + latency_rows(smoke))


if __name__ == "__main__":  # pragma: no cover
    import sys

    for r in run("--smoke" in sys.argv):
        print(f"{r['name']:<75} {r['value']:>10.1f} {r['unit']}  {r['note'] or ''}")
