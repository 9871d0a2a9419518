"""Pluggable context stores: memory (default), SQLite, Redis."""

from ._base import ContextStore, Entry, EntryState
from .memory import InMemoryStore, default_store

__all__ = [
    "ContextStore",
    "Entry",
    "EntryState",
    "InMemoryStore",
    "RedisStore",
    "SQLiteStore",
    "default_store",
]


def __getattr__(name: str) -> object:
    if name == "SQLiteStore":
        from .sqlite import SQLiteStore

        return SQLiteStore
    if name == "RedisStore":
        from .redis import RedisStore

        return RedisStore
    raise AttributeError(name)
