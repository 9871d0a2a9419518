"""Shared connection pools and request-body building.

Every client with the same ``(base_url, timeout, pool limits)`` shares one
``httpx.Client``; the API key is not part of the key (the ``Authorization`` header is
sent per request). ``httpx.AsyncClient`` is tied to the event loop its connections
were opened on, so async pools are additionally keyed (weakly) by the running loop:
clients share a pool within a loop, and ``asyncio.run`` per call gets a fresh one.

>>> key = pool_key("https://example.invalid/api/v3", 5.0)
>>> shared_client(key) is shared_client(key)
True
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import httpx
from pydantic_core import to_json

from ._exceptions import ArkInputError

if TYPE_CHECKING:
    import asyncio

__all__ = [
    "close_shared_pools",
    "drop_none",
    "encode_body",
    "pool_key",
    "shared_async_client",
    "shared_client",
]

_lock = threading.Lock()
_sync_pools: dict[Hashable, httpx.Client] = {}
_async_pools: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[Hashable, httpx.AsyncClient]
] = weakref.WeakKeyDictionary()


def pool_key(base_url: str, timeout: float | httpx.Timeout) -> tuple[Hashable, ...]:
    """The sharing key: settings that live on the ``httpx`` client itself."""
    t = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
    return (base_url, t.connect, t.read, t.write, t.pool)


def _timeout(key: tuple[Any, ...]) -> httpx.Timeout:
    return httpx.Timeout(connect=key[1], read=key[2], write=key[3], pool=key[4])


def shared_client(key: tuple[Any, ...]) -> httpx.Client:
    """The process-wide ``httpx.Client`` for ``key`` (thread-safe, created once)."""
    client = _sync_pools.get(key)
    if client is not None and not client.is_closed:
        return client
    with _lock:
        client = _sync_pools.get(key)
        if client is None or client.is_closed:
            if not _sync_pools:  # the first pool: close the pools' sockets at exit
                import atexit

                atexit.unregister(close_shared_pools)
                atexit.register(close_shared_pools)
            client = httpx.Client(timeout=_timeout(key))
            _sync_pools[key] = client
        return client


def shared_async_client(key: tuple[Any, ...]) -> httpx.AsyncClient:
    """The ``httpx.AsyncClient`` for ``key`` on the running event loop."""
    import asyncio

    loop = asyncio.get_running_loop()
    with _lock:
        pools = _async_pools.get(loop)
        if pools is None:
            # A pool holds its loop alive (connections -> transports -> loop), so the weak
            # keys never die on their own: forget the pools of loops that have closed.
            for old in [lp for lp in _async_pools if lp.is_closed()]:
                del _async_pools[old]
            pools = {}
            _async_pools[loop] = pools
        client = pools.get(key)
        if client is None or client.is_closed:
            client = httpx.AsyncClient(timeout=_timeout(key))
            pools[key] = client
        return client


def close_shared_pools() -> None:
    """Close every shared sync pool and forget the async ones (tests, shutdown)."""
    with _lock:
        clients = list(_sync_pools.values())
        _sync_pools.clear()
        _async_pools.clear()
    for c in clients:
        c.close()


_SCALARS = frozenset({str, int, float, bool})


def _path(where: Any) -> str:
    parts: list[str] = []
    while isinstance(where, tuple):
        where, key = where
        parts.append(f"[{key}]" if isinstance(key, int) else f".{key}")
    return str(where) + "".join(reversed(parts))


def drop_none(value: Any, where: Any = "request") -> Any:
    """``value`` without ``None`` in any dict, recursively (unchanged objects are reused).

    A ``None`` inside a list cannot be dropped without shifting positions: it is an
    :class:`ArkInputError`."""
    vcls = value.__class__
    if vcls is dict or (vcls is not list and vcls is not tuple and isinstance(value, Mapping)):
        out: dict[str, Any] | None = None
        for k, v in value.items():
            c = v.__class__
            if c in _SCALARS:  # fast path: most values
                continue
            if v is None:
                if out is None:
                    out = dict(value)
                del out[k]
                continue
            if c is list or c is dict or c is tuple or isinstance(v, Mapping):
                nv = drop_none(v, (where, k))
                if nv is not v:
                    if out is None:
                        out = dict(value)
                    out[k] = nv
        if out is not None:
            return out
        return value if vcls is dict or isinstance(value, dict) else dict(value)
    if vcls is list or vcls is tuple or isinstance(value, (list, tuple)):
        items: list[Any] | None = None
        for i, v in enumerate(value):
            c = v.__class__
            if c in _SCALARS:
                continue
            if v is None:
                raise ArkInputError(
                    f"{_path((where, i))} is None; Ark never accepts null there. Remove it."
                )
            if c is dict or c is list or c is tuple or isinstance(v, Mapping):
                nv = drop_none(v, (where, i))
                if nv is not v:
                    if items is None:
                        items = list(value)
                    items[i] = nv
        if items is not None:
            return items
        return value
    return value


def encode_body(body: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON for a request body that :func:`drop_none` already cleaned."""
    for key, value in body.items():
        if value.__class__ is float and not math.isfinite(value):
            raise ArkInputError(f"{key}={value} is not a finite number; JSON cannot carry it.")
    try:
        return to_json(body)
    except Exception as exc:  # pydantic_core raises PydanticSerializationError
        raise ArkInputError(f"The request cannot be encoded as JSON: {exc}") from None


def messages_list(messages: Sequence[Mapping[str, Any]] | Any, where: str) -> list[Any]:
    """Check ``messages`` is a non-empty sequence of mappings; return it as a list."""
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise ArkInputError(f"{where}: messages must be a list of {{'role', 'content'}} dicts.")
    if not messages:
        raise ArkInputError(f"{where}: messages must not be empty.")
    for i, m in enumerate(messages):
        if not isinstance(m, Mapping):
            raise ArkInputError(
                f"{where}: messages[{i}] is a {type(m).__name__}; pass dicts like "
                "{'role': 'user', 'content': '...'} (ark_context.wire_message builds them)."
            )
    return messages if isinstance(messages, list) else list(messages)
