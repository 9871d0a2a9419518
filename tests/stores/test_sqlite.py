"""SQLiteStore: the shared contract, reopening, several processes, purging, settings."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
from pathlib import Path

import pytest

from ark_context import ArkConfigError
from ark_context.stores import Entry, SQLiteStore
from tests.stores.contract import ClockContract, Harness, StoreContract, key


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def sqlite_harness(store: SQLiteStore, clock: FakeClock) -> Harness:
    def expiry_of(k: bytes) -> float | None:
        with sqlite3.connect(store.path) as c:
            row = c.execute(
                "SELECT expires_at FROM ark_context_entries_v2 WHERE k = ?", (k,)
            ).fetchone()
        return None if row is None else float(row[0])

    def dump() -> bytes:
        files = [Path(store.path + suffix) for suffix in ("", "-wal", "-shm", "-journal")]
        return b"".join(f.read_bytes() for f in files if f.exists())

    return Harness(store, clock, expiry_of, dump, clock.advance)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock):  # type: ignore[no-untyped-def]
    s = SQLiteStore(tmp_path / "ctx.db", clock=clock)
    yield s
    s.close()


@pytest.fixture
def harness(store: SQLiteStore, clock: FakeClock) -> Harness:
    return sqlite_harness(store, clock)


class TestSQLiteContract(StoreContract, ClockContract):
    pass


def test_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "ctx.db"
    s = SQLiteStore(path)
    e = Entry("ctx-1", "live", 1_700_000_000.25, 3600, key(9))
    s.apply(puts=[(key(1), e, 9e12)])
    s.close()
    s2 = SQLiteStore(str(path))
    assert s2.get_many([key(1)]) == [e]
    assert s2.claim(key(1)) == e
    s2.close()
    assert SQLiteStore(path).get_many([key(1)]) == [
        Entry("ctx-1", "claimed", 1_700_000_000.25, 3600, key(9))
    ]


def test_close_then_use_reopens(store: SQLiteStore) -> None:
    store.apply(puts=[(key(1), Entry("a"), 9e12)])
    store.close()
    assert store.get_many([key(1)]) == [Entry("a")]


def test_wal_mode_and_busy_timeout(store: SQLiteStore) -> None:
    conn = store._conn()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 10_000


def test_each_thread_has_its_own_connection(store: SQLiteStore) -> None:
    import threading

    seen: list[sqlite3.Connection] = []
    t = threading.Thread(target=lambda: seen.append(store._conn()))
    t.start()
    t.join()
    assert seen[0] is not store._conn()


def test_expired_rows_are_purged_by_writes(tmp_path: Path, clock: FakeClock) -> None:
    s = SQLiteStore(tmp_path / "ctx.db", clock=clock, purge_interval=60)
    s.apply(puts=[(key(i), Entry(f"c{i}"), clock.now + 10) for i in range(50)])
    s.apply(puts=[(key(100), Entry("long"), clock.now + 1000)])
    assert len(s) == 51
    clock.advance(30)
    s.apply(puts=[(key(101), Entry("x"), clock.now + 1000)])  # purge not due yet
    assert len(s) == 52
    clock.advance(30)
    s.apply(puts=[(key(102), Entry("y"), clock.now + 1000)])
    assert len(s) == 3
    s.apply(puts=[(key(103), Entry("z"), clock.now + 1)])
    clock.advance(5)
    assert s.purge_expired() == 1
    assert len(s) == 3


@pytest.mark.parametrize("path", [":memory:", "", "file::memory:?cache=shared", 5])
def test_non_file_paths_are_rejected(path: object) -> None:
    with pytest.raises(ArkConfigError, match="SQLiteStore path"):
        SQLiteStore(path)  # type: ignore[arg-type]


def test_unopenable_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ArkConfigError, match="directory exists"):
        SQLiteStore(tmp_path / "missing-dir" / "ctx.db")


@pytest.mark.parametrize("kwargs", [{"busy_timeout": -1}, {"purge_interval": "soon"}])
def test_bad_settings(tmp_path: Path, kwargs: dict[str, object]) -> None:
    with pytest.raises(ArkConfigError, match=next(iter(kwargs))):
        SQLiteStore(tmp_path / "ctx.db", **kwargs)  # type: ignore[arg-type]


def test_repr_is_the_path(store: SQLiteStore) -> None:
    assert repr(store) == f"SQLiteStore({store.path!r})"


# -- several processes ----------------------------------------------------------------------

KEYS = 1000


def _claimer(path: str, barrier: object, out: object) -> None:
    """Claim every key in order: a process that falls behind catches up on cheap misses,
    so the processes run neck and neck and a non-atomic claim would win a key twice."""
    store = SQLiteStore(path)
    barrier.wait(timeout=60)  # type: ignore[attr-defined]
    wins = []
    for i in range(KEYS):
        won = store.claim(key(i, 1))
        if won is not None:
            wins.append((i, won.context_id))
    out.put(wins)  # type: ignore[attr-defined]
    store.close()


@pytest.mark.parametrize(("start_method", "n"), [("fork", 4), ("spawn", 2)])
def test_processes_racing_claims_exactly_one_wins(
    tmp_path: Path, start_method: str, n: int
) -> None:
    path = str(tmp_path / "ctx.db")
    s = SQLiteStore(path)
    s.apply(puts=[(key(i, 1), Entry(f"ctx-{i}"), 9e12) for i in range(KEYS)])
    s.get_many([key(0, 1)])  # the parent holds an open connection across fork
    ctx = mp.get_context(start_method)
    barrier, out = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_claimer, args=(path, barrier, out)) for _ in range(n)]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    wins = sorted(w for per_proc in results for w in per_proc)
    assert wins == [(i, f"ctx-{i}") for i in range(KEYS)]
    assert {e.state for e in s.get_many([key(i, 1) for i in range(KEYS)]) if e} == {"claimed"}


class TestSQLiteContractWithoutReturning(StoreContract):
    """The claim path for SQLite < 3.35 (no RETURNING): a BEGIN IMMEDIATE transaction."""

    @pytest.fixture(autouse=True)
    def _no_returning(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from ark_context.stores import sqlite as sqlite_store

        monkeypatch.setattr(sqlite_store, "_HAS_RETURNING", False)
