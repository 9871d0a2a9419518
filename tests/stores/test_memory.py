"""InMemoryStore: the shared contract plus LRU bound, evicted markers and memory use."""

from __future__ import annotations

import tracemalloc
from collections import OrderedDict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ark_context import ArkConfigError
from ark_context.stores import Entry, InMemoryStore, default_store
from ark_context.stores.memory import _unpack
from tests.stores.contract import ClockContract, Harness, StoreContract, key


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def memory_harness(store: InMemoryStore, clock: FakeClock) -> Harness:
    def expiry_of(k: bytes) -> float | None:
        raw = store._data.get(k)
        return None if raw is None else _unpack_expiry(raw)

    def dump() -> bytes:
        parts = [k + v for k, v in store._data.items()]
        parts += [k + v for k, v in store._evicted.items()]
        return b"".join(parts)

    return Harness(store, clock, expiry_of, dump, clock.advance)


def _unpack_expiry(raw: bytes) -> float:
    from ark_context.stores.memory import _expire_at

    return _expire_at(raw)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def harness(clock: FakeClock) -> Harness:
    return memory_harness(InMemoryStore(clock=clock), clock)


class TestMemoryContract(StoreContract, ClockContract):
    pass


FAR = 1e12


def put(store: InMemoryStore, *ids: int, exp: float = FAR) -> None:
    store.apply(puts=[(key(i), Entry(f"ctx-{i}"), exp) for i in ids])


def test_lru_keeps_the_most_recently_put_keys() -> None:
    s = InMemoryStore(max_entries=3)
    put(s, 1, 2, 3)
    put(s, 1)  # refresh 1: now 2 is the oldest
    assert s.claim(key(3)) is not None  # a claim neither refreshes nor evicts
    put(s, 4)
    assert len(s) == 3
    got = s.get_many([key(i) for i in (1, 2, 3, 4)])
    assert [g and g.state for g in got] == ["live", "evicted", "claimed", "live"]
    put(s, 5)
    assert [g and g.state for g in s.get_many([key(3), key(1)])] == ["evicted", "live"]


def test_get_hits_do_not_refresh_the_lru_position() -> None:
    s = InMemoryStore(max_entries=2)
    put(s, 1, 2)
    s.get_many([key(1)])
    put(s, 3)
    assert s.get_many([key(1)])[0] == Entry("ctx-1", "evicted")


def test_evicted_marker_keeps_the_entry_fields_and_is_bounded() -> None:
    clock = FakeClock()
    s = InMemoryStore(max_entries=2, clock=clock, evicted_memory=3)
    s.apply(puts=[(key(0), Entry("ctx-0", "live", 5.5, 3600, key(9)), clock.now + 50)])
    put(s, *range(1, 8))
    assert s.get_many([key(0)]) == [None]  # fell out of the 3-key ring
    assert [g and g.state for g in s.get_many([key(i) for i in range(8)])] == [
        None, None, None, "evicted", "evicted", "evicted", "live", "live",
    ]  # fmt: skip
    assert len(s._evicted) == 3
    s2 = InMemoryStore(max_entries=1, clock=clock)
    s2.apply(puts=[(key(0), Entry("ctx-0", "live", 5.5, 3600, key(9)), clock.now + 50)])
    put(s2, 1)
    assert s2.get_many([key(0)]) == [Entry("ctx-0", "evicted", 5.5, 3600, key(9))]
    assert s2.claim(key(0)) is None  # an evicted marker is not claimable
    clock.advance(50)
    assert s2.get_many([key(0)]) == [None]  # and it expires like the entry did


def test_put_or_delete_clears_the_evicted_marker() -> None:
    s = InMemoryStore(max_entries=1)
    put(s, 1, 2, 3)
    assert [g and g.state for g in s.get_many([key(1), key(2)])] == ["evicted", "evicted"]
    put(s, 1)
    s.apply(deletes=[key(2)])
    got = s.get_many([key(1), key(2), key(3)])
    assert got[0] == Entry("ctx-1") and got[1] is None and got[2] == Entry("ctx-3", "evicted")


def test_expired_entries_dropped_for_capacity_are_not_reported_as_evicted() -> None:
    clock = FakeClock()
    s = InMemoryStore(max_entries=1, clock=clock)
    put(s, 1, exp=clock.now + 5)
    clock.advance(5)
    put(s, 2)
    assert s.get_many([key(1)]) == [None]
    assert len(s._evicted) == 0


def test_batch_eviction_on_large_stores_stays_bounded_and_drops_oldest_first() -> None:
    s = InMemoryStore(max_entries=1024, evicted_memory=0)
    for i in range(5000):
        put(s, i)
        assert len(s) <= 1024
    assert len(s) >= 1024 - 1024 // 128
    present = [g is not None for g in s.get_many([key(i) for i in range(5000)])]
    first = present.index(True)
    assert all(present[first:]) and not any(present[:first])  # a suffix: the newest keys


def test_claim_of_an_expired_entry_drops_it() -> None:
    clock = FakeClock()
    s = InMemoryStore(clock=clock)
    put(s, 1, exp=clock.now + 1)
    clock.advance(1)
    assert s.claim(key(1)) is None
    assert len(s) == 0


def test_purge_expired_and_clear() -> None:
    clock = FakeClock()
    s = InMemoryStore(clock=clock)
    put(s, 1, 2, exp=clock.now + 1)
    put(s, 3)
    clock.advance(1)
    assert s.purge_expired() == 2
    assert len(s) == 1
    s.clear()
    assert len(s) == 0 and s.get_many([key(3)]) == [None]


def test_default_store_is_one_per_process() -> None:
    assert default_store() is default_store()
    assert isinstance(default_store(), InMemoryStore)


@pytest.mark.parametrize(
    "kwargs",
    [{"max_entries": 0}, {"max_entries": "10"}, {"evicted_memory": -1}, {"clock": 5.0}],
)
def test_bad_settings_raise_config_errors_naming_the_setting(kwargs: dict[str, object]) -> None:
    with pytest.raises(ArkConfigError) as err:
        InMemoryStore(**kwargs)  # type: ignore[arg-type]
    assert next(iter(kwargs)) in str(err.value)


def test_repr_names_size_only() -> None:
    s = InMemoryStore(max_entries=7)
    put(s, 1)
    assert repr(s) == "InMemoryStore(entries=1, max_entries=7)"


def test_packed_value_round_trip() -> None:
    s = InMemoryStore()
    e = Entry("ctx-é", "superseded", 123.456789, 604800, b"\x01" * 16)
    s.apply(puts=[(key(1), e, FAR)])
    assert _unpack(s._data[key(1)]) == e


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["put", "del", "claim"]), st.integers(0, 12)),
        max_size=80,
    ),
    st.integers(1, 6),
)
def test_matches_a_reference_lru(ops: list[tuple[str, int]], cap: int) -> None:
    """Below 128 entries eviction is exact LRU; compare with an OrderedDict model."""
    s = InMemoryStore(max_entries=cap, evicted_memory=1000)
    model: OrderedDict[int, str] = OrderedDict()
    evicted: set[int] = set()
    for n, (op, i) in enumerate(ops):
        if op == "put":
            s.apply(puts=[(key(i), Entry(f"c{n}"), FAR)])
            model.pop(i, None)
            model[i] = "live"
            evicted.discard(i)
            while len(model) > cap:
                evicted.add(model.popitem(last=False)[0])
        elif op == "del":
            s.apply(deletes=[key(i)])
            model.pop(i, None)
            evicted.discard(i)
        else:
            won = s.claim(key(i))
            assert (won is not None) == (model.get(i) == "live")
            if won is not None:
                model[i] = "claimed"
        got = s.get_many([key(j) for j in range(13)])
        want = [model.get(j) or ("evicted" if j in evicted else None) for j in range(13)]
        assert [g and g.state for g in got] == want
    assert list(s._data) == [key(i) for i in model]


def _traced_bytes_per_entry(n: int, cap: int, rounds: int) -> float:
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        s = InMemoryStore(max_entries=cap, evicted_memory=0)
        for i in range(n):
            s.apply(puts=[(key(i, 3), Entry("ctx-20241211104333-12345", ttl=3600), FAR)])
            if i % rounds == 0:
                s.apply(puts=[(key(i // 2, 3), Entry("ctx-refreshed", ttl=3600), FAR)])
        return (tracemalloc.get_traced_memory()[0] - base) / len(s)
    finally:
        tracemalloc.stop()


def test_memory_per_entry_stays_small_under_churn() -> None:
    """Churn (puts, refreshes, evictions) must not let the dict table grow to 3x the keys.

    At 5,600 entries a dict that resizes itself under churn sizes its table for 3 x 5,600
    -> 32,768 slots (about 230 B per entry in all); the store rebuilds it by copy first,
    sized for 1.5 x 5,600 -> 16,384 slots (about 180 B per entry)."""
    per_entry = _traced_bytes_per_entry(n=30_000, cap=5_600, rounds=3)
    assert per_entry < 205, per_entry
