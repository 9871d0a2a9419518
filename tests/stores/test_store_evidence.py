"""Stores hold the adaptive router's evidence: Entry.counters, the Redis text form across
releases, and SQLite files of earlier releases (migrated in place, nothing lost)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ark_context import ArkConfigError
from ark_context.stores import Entry, SQLiteStore

K1, K2 = b"\x01" * 16, b"\x02" * 16
FAR = 9e12


def test_redis_text_form_round_trips_counters_and_reads_values_of_earlier_releases() -> None:
    e = Entry("ctx-1|x", "live", 12.5, 3600, K1, 40, (3, 0, 9))
    assert Entry.decode(e.encode()) == e
    assert "+" not in Entry("ctx-2", tokens=7).encode()  # no counters: the old form exactly
    old = "superseded|86400|1700000000.125|" + K2.hex() + "|1234|ctx-old"
    assert Entry.decode(old) == Entry("ctx-old", "superseded", 1700000000.125, 86400, K2, 1234)


def _v1_file(path: Path) -> None:
    with sqlite3.connect(path) as c:
        c.execute(
            "CREATE TABLE ark_context_entries (k BLOB PRIMARY KEY, state TEXT NOT NULL, "
            "context_id TEXT NOT NULL, last_used REAL NOT NULL, ttl INTEGER NOT NULL, "
            "prev BLOB, expires_at REAL NOT NULL) WITHOUT ROWID"
        )
        c.execute(
            "INSERT INTO ark_context_entries VALUES (?, 'live', 'ctx-v1', 5.0, 3600, ?, ?)",
            (K1, K2, FAR),
        )


def _v2_file(path: Path) -> None:
    with sqlite3.connect(path) as c:
        c.execute(
            "CREATE TABLE ark_context_entries_v2 (k BLOB PRIMARY KEY, state TEXT NOT NULL, "
            "context_id TEXT NOT NULL, last_used REAL NOT NULL, ttl INTEGER NOT NULL, "
            "prev BLOB, tokens INTEGER NOT NULL DEFAULT 0, expires_at REAL NOT NULL) WITHOUT ROWID"
        )
        c.execute(
            "INSERT INTO ark_context_entries_v2 VALUES (?, 'superseded', 'ctx-v2', 6.0, 60, NULL, "
            "77, ?)",
            (K2, FAR),
        )


def test_a_v1_file_is_migrated_and_its_entries_kept(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _v1_file(path)
    store = SQLiteStore(path)
    assert store.get_many([K1]) == [Entry("ctx-v1", "live", 5.0, 3600, K2, 0)]
    store.apply(puts=[(K2, Entry("", tokens=3, counters=(1, 2)), FAR)])
    assert store.get_many([K2])[0] == Entry("", tokens=3, counters=(1, 2))
    store.close()
    with sqlite3.connect(path) as c:
        tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"ark_context_entries_v2"}  # the copied v1 table is gone
    again = SQLiteStore(path)  # reopening is a no-op: the row is not copied back
    assert again.claim(K1) is not None and again.claim(K1) is None
    again.close()


def test_a_v2_file_gains_counters_and_a_previous_release_can_still_read_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v2.db"
    _v2_file(path)
    store = SQLiteStore(path)
    assert store.get_many([K2]) == [Entry("ctx-v2", "superseded", 6.0, 60, None, 77)]
    store.apply(puts=[(K1, Entry("ctx-new", tokens=5, counters=(4,)), FAR)])
    store.close()
    with sqlite3.connect(path) as c:  # the previous release's SELECT names its columns
        row = c.execute(
            "SELECT context_id, state, last_used, ttl, prev, tokens FROM ark_context_entries_v2 "
            "WHERE k = ?",
            (K1,),
        ).fetchone()
    assert row == ("ctx-new", "live", 0.0, 0, None, 5)


def test_an_old_file_that_cannot_be_migrated_now_is_rejected_clearly_and_left_intact(
    tmp_path: Path,
) -> None:
    path = tmp_path / "busy.db"
    _v2_file(path)
    with sqlite3.connect(path) as c:
        c.execute("PRAGMA journal_mode = WAL")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        with pytest.raises(ArkConfigError, match=r"current schema.*migrated in place"):
            SQLiteStore(path, busy_timeout=0)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with sqlite3.connect(path) as c:
        cols = {r[1] for r in c.execute("PRAGMA table_info(ark_context_entries_v2)")}
        rows = c.execute("SELECT context_id, tokens FROM ark_context_entries_v2").fetchall()
    assert "counters" not in cols and rows == [("ctx-v2", 77)]


def test_a_foreign_table_under_our_name_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "foreign.db"
    with sqlite3.connect(path) as c:
        c.execute("CREATE TABLE ark_context_entries_v2 (k BLOB PRIMARY KEY, other TEXT)")
    with pytest.raises(ArkConfigError, match="not those of any ark-context release"):
        SQLiteStore(path)
