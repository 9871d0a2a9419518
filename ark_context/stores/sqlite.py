"""SQLite store: one host, several processes, survives restarts.

One row per digest (``WITHOUT ROWID``, keyed by the 16 raw bytes) holding the state,
context id, last use, ttl, previous digest and expiry: no message text. The database runs
in WAL mode so readers never wait for a writer; writers wait up to ``busy_timeout``.
A claim is one ``UPDATE ... WHERE state = 'live' ... RETURNING`` statement, which SQLite
serialises across threads and processes, so exactly one claimer wins. Expired rows are
hidden from reads at once and deleted in bounded batches every ``purge_interval`` seconds
by whichever process writes.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from .._exceptions import ArkConfigError, ArkInputError
from ._base import ContextStore, Entry, EntryState, Put, check_puts

__all__ = ["SQLiteStore"]

# Schema history. v1 (``ark_context_entries``): no tokens. v2 (``ark_context_entries_v2``):
# tokens. v2 + ``counters`` (evidence of the adaptive router, as ``"3,1,0"``): added in
# place with ALTER TABLE, so processes running the previous release keep working on the
# same file. Opening a file migrates it in one transaction; v1 rows are copied, not lost.
_TABLE = "ark_context_entries_v2"
_V1_TABLE = "ark_context_entries"
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {_TABLE} (
    k BLOB PRIMARY KEY,
    state TEXT NOT NULL,
    context_id TEXT NOT NULL,
    last_used REAL NOT NULL,
    ttl INTEGER NOT NULL,
    prev BLOB,
    tokens INTEGER NOT NULL DEFAULT 0,
    expires_at REAL NOT NULL,
    counters TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS {_TABLE}_expires ON {_TABLE} (expires_at);
"""
_COLUMNS = {"k", "state", "context_id", "last_used", "ttl", "prev", "tokens", "expires_at"}
_V1_COLUMNS = {"k", "state", "context_id", "last_used", "ttl", "prev", "expires_at"}
_COLS = "context_id, state, last_used, ttl, prev, tokens, counters"
_UPSERT = (
    f"INSERT OR REPLACE INTO {_TABLE} "
    "(k, state, context_id, last_used, ttl, prev, tokens, counters, expires_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_CLAIM_RETURNING = (
    f"UPDATE {_TABLE} SET state = 'claimed' WHERE k = ? AND state = 'live' AND expires_at > ? "
    "RETURNING context_id, last_used, ttl, prev, tokens, counters"
)
_HAS_RETURNING = sqlite3.sqlite_version_info >= (3, 35, 0)
_CHUNK = 500  # bound variables per statement (old SQLite builds allow 999)
_PURGE_BATCH = 10_000


class SQLiteStore(ContextStore):
    """A store in an SQLite file, shared by the processes of one host.

    Each thread uses its own connection; async methods run in a worker thread, since a
    write may wait up to ``busy_timeout`` seconds for another process's lock.

    >>> import tempfile, os
    >>> from ark_context.stores import SQLiteStore, Entry
    >>> store = SQLiteStore(os.path.join(tempfile.mkdtemp(), "ctx.db"))
    >>> store.apply(puts=[(b"k" * 16, Entry("ctx-1", ttl=3600), 9e12)])
    >>> store.claim(b"k" * 16).context_id
    'ctx-1'
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = 10.0,
        purge_interval: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        try:
            text: object = os.fspath(path)
        except TypeError:
            text = None
        if not isinstance(text, str) or not text or text == ":memory:" or text.startswith("file:"):
            raise ArkConfigError(
                f"SQLiteStore path must be a file path, got {path!r}; "
                "use InMemoryStore for a store that lives in memory."
            )
        if not isinstance(busy_timeout, (int, float)) or busy_timeout < 0:
            raise ArkConfigError(
                f"SQLiteStore busy_timeout must be seconds >= 0, got {busy_timeout!r}."
            )
        if not isinstance(purge_interval, (int, float)) or purge_interval < 0:
            raise ArkConfigError(
                f"SQLiteStore purge_interval must be seconds >= 0, got {purge_interval!r}."
            )
        self.path = str(Path(text).expanduser().resolve())
        self.busy_timeout = float(busy_timeout)
        self.purge_interval = float(purge_interval)
        self._clock = clock
        self._local = threading.local()
        self._conns: list[tuple[int, threading.Thread, sqlite3.Connection]] = []
        self._conns_lock = threading.Lock()
        self._generation = 0
        self._next_purge = 0.0
        self._connect_or_raise()

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    # -- connections ---------------------------------------------------------------------

    def _connect_or_raise(self) -> None:
        try:
            conn = self._conn()
        except sqlite3.Error as exc:
            raise ArkConfigError(
                f"SQLiteStore cannot open {self.path!r} ({exc}); check that the directory "
                "exists and is writable, or pass another path."
            ) from exc
        try:
            _migrate(conn)  # idempotent; openers wait on busy_timeout
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise ArkConfigError(
                f"SQLiteStore cannot bring {self.path!r} to the current schema ({exc}); "
                "nothing was changed. Open it once with write access (it is migrated in "
                "place, keeping every entry), or pass another path."
            ) from exc

    def _conn(self) -> sqlite3.Connection:
        local = self._local
        pid = os.getpid()
        conn: sqlite3.Connection | None = getattr(local, "conn", None)
        if conn is not None and local.pid == pid and local.generation == self._generation:
            return conn
        # A new thread, a closed store, or a forked child (never reuse the parent's handle).
        conn = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout,
            isolation_level=None,  # autocommit; writes use explicit BEGIN IMMEDIATE
            check_same_thread=False,  # each thread gets its own; close() may run elsewhere
        )
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
            conn.close()
            raise sqlite3.OperationalError("the file system does not support WAL mode")
        conn.execute("PRAGMA synchronous = NORMAL")
        local.conn, local.pid, local.generation = conn, pid, self._generation
        with self._conns_lock:
            # Threads that ended cannot use their connections again: close them, so a
            # thread-per-request server does not collect one open handle per thread.
            dead = [c for c in self._conns if c[0] == pid and not c[1].is_alive()]
            self._conns = [c for c in self._conns if c not in dead]
            self._conns.append((pid, threading.current_thread(), conn))
        for _, _, old in dead:
            old.close()
        return conn

    def close(self) -> None:
        """Close this process's connections; later calls reopen."""
        with self._conns_lock:
            conns, self._conns = self._conns, []
            self._generation += 1
        pid = os.getpid()
        for owner, _thread, conn in conns:
            if owner == pid:  # a forked child leaves its parent's handles alone
                conn.close()

    # -- the contract --------------------------------------------------------------------

    def get_many(self, keys: Sequence[bytes]) -> list[Entry | None]:
        if not keys:
            return []
        _check_keys(keys)
        conn, now = self._conn(), self._clock()
        found: dict[bytes, tuple[str, EntryState, float, int, bytes | None, int, str]] = {}
        unique = list(dict.fromkeys(keys))
        several = len(unique) > _CHUNK
        if several:
            conn.execute("BEGIN")  # one snapshot across the chunks
        try:
            for i in range(0, len(unique), _CHUNK):
                chunk = unique[i : i + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    f"SELECT k, {_COLS} FROM {_TABLE} WHERE k IN ({marks}) AND expires_at > ?",
                    (*chunk, now),
                ).fetchall()
                for k, *fields in rows:
                    found[k] = tuple(fields)  # type: ignore[assignment]
        finally:
            if several:
                conn.execute("COMMIT")
        out: list[Entry | None] = []
        for k in keys:
            row = found.get(k)
            out.append(None if row is None else Entry(*row[:6], _counters(row[6])))
        return out

    def claim(self, key: bytes) -> Entry | None:
        _check_keys((key,))
        conn, now = self._conn(), self._clock()
        if _HAS_RETURNING:
            # fetchall runs the statement to completion, which commits it (autocommit)
            rows = conn.execute(_CLAIM_RETURNING, (key, now)).fetchall()
            row = rows[0] if rows else None
        else:  # SQLite < 3.35
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute(
                    f"SELECT context_id, last_used, ttl, prev, tokens, counters FROM {_TABLE} "
                    "WHERE k = ? AND state = 'live' AND expires_at > ?",
                    (key, now),
                ).fetchone()
                if row is not None:
                    conn.execute(f"UPDATE {_TABLE} SET state = 'claimed' WHERE k = ?", (key,))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        if row is None:
            return None
        cid, last_used, ttl, prev, tokens, counters = row
        return Entry(cid, "live", last_used, ttl, prev, tokens, _counters(counters))

    def apply(self, puts: Sequence[Put] = (), deletes: Sequence[bytes] = ()) -> None:
        check_puts(puts, deletes)
        if not puts and not deletes:
            return
        conn, now = self._conn(), self._clock()
        conn.execute("BEGIN IMMEDIATE")
        try:
            if deletes:
                conn.executemany(f"DELETE FROM {_TABLE} WHERE k = ?", [(k,) for k in deletes])
            conn.executemany(
                _UPSERT,
                [
                    (
                        k,
                        e.state,
                        e.context_id,
                        e.last_used,
                        e.ttl,
                        e.prev,
                        e.tokens,
                        ",".join(map(str, e.counters)),
                        exp,
                    )
                    for k, e, exp in puts
                ],
            )
            if now >= self._next_purge:
                self._next_purge = now + self.purge_interval
                conn.execute(
                    f"DELETE FROM {_TABLE} WHERE k IN (SELECT k FROM {_TABLE} "
                    f"WHERE expires_at <= ? LIMIT {_PURGE_BATCH})",
                    (now,),
                )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def purge_expired(self) -> int:
        """Delete every expired row now; returns how many."""
        cur = self._conn().execute(f"DELETE FROM {_TABLE} WHERE expires_at <= ?", (self._clock(),))
        return cur.rowcount

    def __len__(self) -> int:
        """Rows held, expired ones included until they are purged."""
        return int(self._conn().execute(f"SELECT count(*) FROM {_TABLE}").fetchone()[0])

    # A write can wait up to busy_timeout for another process's lock, and any call may
    # wait on the disk: never block the event loop, run in a worker thread.

    async def aget_many(self, keys: Sequence[bytes]) -> list[Entry | None]:
        return await asyncio.to_thread(self.get_many, keys)

    async def aclaim(self, key: bytes) -> Entry | None:
        return await asyncio.to_thread(self.claim, key)

    async def aapply(self, puts: Sequence[Put] = (), deletes: Sequence[bytes] = ()) -> None:
        await asyncio.to_thread(self.apply, puts, deletes)


def _counters(text: str | None) -> tuple[int, ...]:
    return tuple(int(c) for c in text.split(",")) if text else ()


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def _migrate(conn: sqlite3.Connection) -> None:
    """Create or upgrade the schema in one transaction: add the ``counters`` column to a
    v2 table, and copy a v1 table's rows (tokens unknown: 0) before dropping it."""
    have = _columns(conn, _TABLE)
    v1 = _columns(conn, _V1_TABLE)
    if have and "counters" in have and not v1:
        return  # current: the common case takes no write lock
    if have and not have >= _COLUMNS:
        raise sqlite3.DatabaseError(
            f"table {_TABLE} has columns {sorted(have)}, not those of any ark-context release"
        )
    if v1 and not v1 >= _V1_COLUMNS:
        raise sqlite3.DatabaseError(
            f"table {_V1_TABLE} has columns {sorted(v1)}, not those of any ark-context release"
        )
    conn.execute("BEGIN IMMEDIATE")
    have = _columns(conn, _TABLE)  # another process may have migrated meanwhile
    if not have:
        for stmt in _SCHEMA.split(";"):
            if stmt.strip():
                conn.execute(stmt)
    elif "counters" not in have:
        conn.execute(f"ALTER TABLE {_TABLE} ADD COLUMN counters TEXT NOT NULL DEFAULT ''")
    if _columns(conn, _V1_TABLE):
        conn.execute(
            f"INSERT OR IGNORE INTO {_TABLE} "
            "(k, state, context_id, last_used, ttl, prev, tokens, counters, expires_at) "
            f"SELECT k, state, context_id, last_used, ttl, prev, 0, '', expires_at FROM {_V1_TABLE}"
        )
        conn.execute(f"DROP TABLE {_V1_TABLE}")
    conn.execute("COMMIT")


def _check_keys(keys: Sequence[bytes]) -> None:
    for k in keys:
        if type(k) is not bytes:
            raise ArkInputError(f"Store keys must be bytes digests, got {type(k).__name__}.")
