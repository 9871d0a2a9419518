"""The ``ContextStore`` contract, shared by every backend's tests.

A backend's test module defines a ``harness`` fixture returning :class:`Harness` and
subclasses :class:`StoreContract` (and :class:`ClockContract` when its clock can be
advanced). The classes are not named ``Test*`` so they are collected only through the
subclasses.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from ark_context import ArkInputError
from ark_context._messages import digest_chain, namespace_digest, wire_message
from ark_context.stores import ContextStore, Entry

SECRET_TEXT = "The heron sings of Zanzibar tangerines at midnight"


def key(i: int, tag: int = 0) -> bytes:
    """A deterministic 16-byte digest-like key."""
    return bytes([tag]) + i.to_bytes(15, "big")


@dataclass
class Harness:
    store: ContextStore
    now: Callable[[], float]
    """The clock the store uses for expiry (epoch seconds)."""
    expiry_of: Callable[[bytes], float | None]
    """The absolute expiry the backend holds for a key (None: no such key)."""
    dump: Callable[[], bytes]
    """Every byte the backend holds (keys and values), to check for message text."""
    advance: Callable[[float], None] | None = None
    """Move the store's clock forward (None: the backend expires on real time)."""
    expiry_tolerance: float = 0.0


def race_claims(store: ContextStore, keys: list[bytes], n: int = 16) -> list[list[Entry | None]]:
    """``n`` threads released together by a barrier, each claiming every key in order.

    A thread that loses a key catches up (a failed claim is cheaper than a won one), so the
    threads run neck and neck through the keys and a non-atomic claim shows up as a key
    won twice. A tiny switch interval makes the interpreter interleave threads often."""
    barrier = threading.Barrier(n)
    results: list[list[Entry | None]] = [[] for _ in range(n)]
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = [store.claim(k) for k in keys]
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        sys.setswitchinterval(old)
    assert not errors, errors
    return results


class StoreContract:
    """Semantics every backend must implement exactly (sync and async)."""

    race_keys = 200

    def far(self, h: Harness) -> float:
        return h.now() + 3600.0

    def test_absent_keys_read_as_none_in_order(self, harness: Harness) -> None:
        s = harness.store
        assert s.get_many([]) == []
        s.apply(puts=[(key(2), Entry("ctx-2", ttl=3600), self.far(harness))])
        got = s.get_many([key(1), key(2), key(3), key(2)])
        assert got[0] is None and got[2] is None
        assert got[1] == got[3] == Entry("ctx-2", "live", 0.0, 3600, None)

    def test_round_trip_keeps_every_field(self, harness: Harness) -> None:
        s = harness.store
        entries = {
            key(1): Entry(
                "ctx-20241211104333-12345", "live", 1_700_000_000.125, 86400, key(9), 1234
            ),
            key(2): Entry("ctx-b", "superseded", 1_700_000_001.5, 3600, None),
            key(3): Entry("ctx-ünïcode|pipe", "failed", 0.0, 604800, key(8)),
            key(4): Entry("ctx-d", "claimed", 12.25, 0, None),
            # an evidence record of the adaptive router: no context, counters only
            key(5): Entry("", "live", 5.5, 3600, None, 300, (7, 0, 2**32 - 1, 1, 3)),
            key(6): Entry("ctx-f|x", "live", 1.0, 60, key(7), 5, (1,)),
        }
        s.apply(puts=[(k, e, self.far(harness)) for k, e in entries.items()])
        assert s.get_many(list(entries)) == list(entries.values())
        assert s.claim(key(5)) == entries[key(5)]
        assert s.get_many([key(5)])[0] == Entry(
            "", "claimed", 5.5, 3600, None, 300, entries[key(5)].counters
        )

    def test_later_put_wins_and_deletes_apply_before_puts(self, harness: Harness) -> None:
        s, far = harness.store, self.far(harness)
        s.apply(puts=[(key(1), Entry("old"), far), (key(2), Entry("two"), far)])
        s.apply(
            puts=[(key(1), Entry("a"), far), (key(1), Entry("b"), far), (key(3), Entry("c"), far)],
            deletes=[key(2), key(3), key(99)],
        )
        assert [e and e.context_id for e in s.get_many([key(1), key(2), key(3)])] == [
            "b",
            None,
            "c",
        ]

    def test_claim_turns_live_into_claimed_and_returns_it_as_it_was(self, harness: Harness) -> None:
        s = harness.store
        e = Entry("ctx-1", "live", 1_700_000_000.5, 3600, key(7))
        s.apply(puts=[(key(1), e, self.far(harness))])
        won = s.claim(key(1))
        assert won == e
        assert s.get_many([key(1)]) == [Entry("ctx-1", "claimed", 1_700_000_000.5, 3600, key(7))]
        assert s.claim(key(1)) is None
        assert s.claim(key(2)) is None

    @pytest.mark.parametrize("state", ["claimed", "superseded", "failed", "evicted"])
    def test_only_live_entries_can_be_claimed(self, harness: Harness, state: str) -> None:
        s = harness.store
        e = Entry("ctx-1", state, 5.0, 3600)  # type: ignore[arg-type]
        s.apply(puts=[(key(1), e, self.far(harness))])
        assert s.claim(key(1)) is None
        assert s.get_many([key(1)]) == [e]

    def test_claim_keeps_the_expiry(self, harness: Harness) -> None:
        s, far = harness.store, self.far(harness)
        s.apply(puts=[(key(1), Entry("ctx-1", ttl=3600), far)])
        before = harness.expiry_of(key(1))
        assert before == pytest.approx(far, abs=harness.expiry_tolerance)
        assert s.claim(key(1)) is not None
        assert harness.expiry_of(key(1)) == before

    def test_expired_put_reads_absent_and_cannot_be_claimed(self, harness: Harness) -> None:
        s = harness.store
        s.apply(
            puts=[
                (key(1), Entry("gone"), harness.now() - 1.0),
                (key(2), Entry("kept"), self.far(harness)),
            ]
        )
        got = s.get_many([key(1), key(2)])
        assert got[0] is None and got[1] is not None
        assert s.claim(key(1)) is None

    def test_a_put_revives_an_expired_key(self, harness: Harness) -> None:
        s = harness.store
        s.apply(puts=[(key(1), Entry("gone"), harness.now() - 1.0)])
        s.apply(puts=[(key(1), Entry("back"), self.far(harness))])
        assert s.claim(key(1)) == Entry("back")

    def test_many_keys_in_one_batch(self, harness: Harness) -> None:
        s, far = harness.store, self.far(harness)
        keys = [key(i, 5) for i in range(1500)]
        s.apply(puts=[(k, Entry(f"ctx-{i}", ttl=i), far) for i, k in enumerate(keys)])
        got = s.get_many(keys)
        assert [g and (g.context_id, g.ttl) for g in got] == [(f"ctx-{i}", i) for i in range(1500)]
        s.apply(deletes=keys[::2])
        assert [g is None for g in s.get_many(keys)] == [i % 2 == 0 for i in range(1500)]

    def test_invalid_puts_raise_a_typed_error_and_write_nothing(self, harness: Harness) -> None:
        s, far = harness.store, self.far(harness)
        good = (key(1), Entry("ok"), far)
        bad_puts = [
            (key(2), Entry("x", state="bogus"), far),  # type: ignore[arg-type]
            ("not-bytes", Entry("x"), far),
            (key(2), Entry(42), far),  # type: ignore[arg-type]
            (key(2), Entry("x", ttl=-1), far),
            (key(2), Entry("x", prev="ab"), far),  # type: ignore[arg-type]
            (key(2), {"context_id": "x"}, far),
            (key(2), Entry("x"), "tomorrow"),
            (key(2), Entry("x", counters=(-1,)), far),
            (key(2), Entry("x", counters=(2**32,)), far),
            (key(2), Entry("x", counters=(1,) * 17), far),
            (key(2), Entry("x", counters=[1]), far),  # type: ignore[arg-type]
            (key(2), Entry("x", counters=(True,)), far),
        ]
        for bad in bad_puts:
            with pytest.raises(ArkInputError):
                s.apply(puts=[good, bad], deletes=[key(3)])  # type: ignore[list-item]
        with pytest.raises(ArkInputError):
            s.apply(puts=[good], deletes=["k"])  # type: ignore[list-item]
        assert s.get_many([key(1)]) == [None]
        with pytest.raises(ArkInputError):
            s.claim(key(1).hex())  # type: ignore[arg-type]
        with pytest.raises(ArkInputError):
            s.get_many([key(1), "k"])  # type: ignore[list-item]

    def test_sixteen_threads_racing_claims_exactly_one_wins(self, harness: Harness) -> None:
        s, far = harness.store, self.far(harness)
        keys = [key(i, 7) for i in range(self.race_keys)]
        s.apply(puts=[(k, Entry(f"ctx-{i}", ttl=3600), far) for i, k in enumerate(keys)])
        results = race_claims(s, keys)
        for i in range(len(keys)):
            winners = [per_thread[i] for per_thread in results if per_thread[i] is not None]
            assert winners == [Entry(f"ctx-{i}", ttl=3600)], f"key {i}: {winners}"
        assert {e and e.state for e in s.get_many(keys)} == {"claimed"}

    async def test_async_methods(self, harness: Harness) -> None:
        s, far = harness.store, self.far(harness)
        await s.aapply(puts=[(key(1), Entry("a"), far), (key(2), Entry("b"), far)])
        await s.aapply(deletes=[key(2)])
        assert await s.aget_many([key(1), key(2)]) == [Entry("a"), None]
        results = await asyncio.gather(*(s.aclaim(key(1)) for _ in range(16)))
        assert [r for r in results if r is not None] == [Entry("a")]
        assert await s.aget_many([key(1)]) == [Entry("a", "claimed")]
        assert await s.aclaim(key(1)) is None

    def test_no_message_text_is_stored(self, harness: Harness) -> None:
        s, far = harness.store, self.far(harness)
        ns = namespace_digest(
            base_url="https://ark.example/api/v3",
            model="ep-1",
            mode="session",
            truncation=None,
            api_key="sk-not-a-real-key",
        )
        messages = [
            wire_message("system", f"You are a poet. {SECRET_TEXT}"),
            wire_message("user", SECRET_TEXT),
            wire_message("assistant", SECRET_TEXT.upper()),
            wire_message("user", "Zanzibar?"),
        ]
        chain = digest_chain(ns, messages)
        s.apply(
            puts=[
                (chain[1], Entry("ctx-poet-1", "superseded", 1.0, 3600), far),
                (chain[3], Entry("ctx-poet-1", "live", 2.0, 3600, chain[1]), far),
            ]
        )
        raw = harness.dump()
        assert b"ctx-poet-1" in raw  # the dump really holds what the store keeps
        for text in (SECRET_TEXT, SECRET_TEXT.upper(), "Zanzibar", "heron", "poet."):
            assert text.encode() not in raw
            assert text.encode("utf-16-le") not in raw
        assert b"sk-not-a-real-key" not in raw


class ClockContract:
    """For backends whose expiry clock tests can advance."""

    def test_entries_expire_when_the_clock_passes_expire_at(self, harness: Harness) -> None:
        assert harness.advance is not None
        s, now = harness.store, harness.now()
        s.apply(puts=[(key(1), Entry("short"), now + 10), (key(2), Entry("long"), now + 100)])
        harness.advance(9.9)
        assert [e and e.context_id for e in s.get_many([key(1), key(2)])] == ["short", "long"]
        harness.advance(0.1)  # expire_at <= now is expired
        assert [e and e.context_id for e in s.get_many([key(1), key(2)])] == [None, "long"]
        assert s.claim(key(1)) is None
        assert s.claim(key(2)) == Entry("long")

    def test_a_claimed_entry_still_expires(self, harness: Harness) -> None:
        assert harness.advance is not None
        s, now = harness.store, harness.now()
        s.apply(puts=[(key(1), Entry("c"), now + 10)])
        assert s.claim(key(1)) is not None
        harness.advance(10)
        assert s.get_many([key(1)]) == [None]
