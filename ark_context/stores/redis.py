"""Redis store: a fleet of app servers sharing one Redis.

Each digest is one string key, ``<prefix><digest hex>``, whose value is
:meth:`Entry.encode` (``state|ttl|last_used|prev_hex|context_id``: no message text) and
whose Redis TTL ends at the put's ``expire_at`` (``SET ... PXAT``), so Redis drops
expired keys itself. A claim is a Lua script (atomic on the server): it rewrites a
``live|`` value to ``claimed|`` with ``KEEPTTL``, so exactly one of any number of
claimers on any number of hosts wins, and the claimed marker expires with the entry.
``apply`` is one ``MULTI``/``EXEC`` transaction.

The sync methods use a ``redis.Redis`` client; the async ones a ``redis.asyncio.Redis``
client created lazily for each running event loop (a connection pool is bound to its
loop). Requires Redis >= 6.2 and the ``redis`` package (``pip install 'ark-context[redis]'``).
A transaction spans many keys, so Redis Cluster is not supported.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from typing import Any

from .._exceptions import ArkConfigError
from ._base import ContextStore, Entry, Put, check_puts

__all__ = ["RedisStore"]

# KEYS[1]: the entry. Returns the value as it was when it was live, else false (nil).
_CLAIM_LUA = """
local v = redis.call('GET', KEYS[1])
if (not v) or string.sub(v, 1, 5) ~= 'live|' then
    return false
end
redis.call('SET', KEYS[1], 'claimed' .. string.sub(v, 5), 'KEEPTTL')
return v
"""


def _import_redis() -> Any:
    try:
        import redis
        import redis.asyncio
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ArkConfigError(
            "RedisStore needs the redis package: pip install 'ark-context[redis]'."
        ) from exc
    return redis


class RedisStore(ContextStore):
    """A store in Redis, shared by every process and host that uses the same prefix.

    Pass ``client``/``async_client`` to reuse your own clients (they are not closed by
    :meth:`close`); otherwise the store builds them from ``url``. With ``client`` but no
    ``async_client``, the async methods run the sync client in a worker thread, so both
    talk to the same server.

    >>> from ark_context.stores import RedisStore, Entry
    >>> store = RedisStore("redis://127.0.0.1:6379/0", prefix="myapp:ctx:")  # doctest: +SKIP
    >>> store.apply(puts=[(b"k" * 16, Entry("ctx-1", ttl=3600), 9e12)])  # doctest: +SKIP
    >>> store.claim(b"k" * 16).context_id  # doctest: +SKIP
    'ctx-1'
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        prefix: str = "arkctx:",
        client: Any = None,
        async_client: Any = None,
    ) -> None:
        if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
            raise ArkConfigError(
                f"RedisStore url must look like redis://host:port/db (or rediss://, unix://); "
                f"got {_safe_url(url)!r}."
            )
        if not isinstance(prefix, str):
            raise ArkConfigError(f"RedisStore prefix must be a str, got {type(prefix).__name__}.")
        self._redis = _import_redis()
        self.url = url
        self.prefix = prefix
        self._prefix = prefix.encode()
        self._own_client = client is None
        self._client: Any = client if client is not None else self._redis.Redis.from_url(url)
        self._claim = self._client.register_script(_CLAIM_LUA)
        self._fixed_async = async_client
        self._async_claim_fixed: Any = (
            async_client.register_script(_CLAIM_LUA) if async_client is not None else None
        )
        # event loop -> (async client, its claim script); pruned when loops close
        self._async: dict[asyncio.AbstractEventLoop, tuple[Any, Any]] = {}
        self._async_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RedisStore({_safe_url(self.url)!r}, prefix={self.prefix!r})"

    def _key(self, digest: bytes) -> bytes:
        if type(digest) is not bytes:
            check_puts((), (digest,))
        return self._prefix + digest.hex().encode()

    # -- sync ----------------------------------------------------------------------------

    def get_many(self, keys: Sequence[bytes]) -> list[Entry | None]:
        if not keys:
            return []
        raw = self._client.mget([self._key(k) for k in keys])
        return [None if v is None else Entry.decode(v) for v in raw]

    def claim(self, key: bytes) -> Entry | None:
        v = self._claim(keys=[self._key(key)])
        return None if v is None else Entry.decode(v)

    def apply(self, puts: Sequence[Put] = (), deletes: Sequence[bytes] = ()) -> None:
        check_puts(puts, deletes)
        if not puts and not deletes:
            return
        pipe = self._client.pipeline(transaction=True)
        self._queue(pipe, puts, deletes)
        pipe.execute()

    def _queue(self, pipe: Any, puts: Sequence[Put], deletes: Sequence[bytes]) -> None:
        if deletes:
            pipe.delete(*[self._key(k) for k in deletes])
        now_ms = time.time() * 1000.0
        for k, e, exp in puts:
            at_ms = int(exp * 1000.0)
            if at_ms <= now_ms:
                pipe.delete(self._key(k))  # already expired: the key must be absent
            else:
                pipe.set(self._key(k), e.encode(), pxat=at_ms)

    # -- async ---------------------------------------------------------------------------

    def _aclient(self) -> tuple[Any, Any] | None:
        """The running loop's (client, claim script); None: use the sync client in a thread."""
        if self._fixed_async is not None:
            return self._fixed_async, self._async_claim_fixed
        if not self._own_client:
            return None
        loop = asyncio.get_running_loop()
        pair = self._async.get(loop)
        if pair is None:
            with self._async_lock:
                for old in [lp for lp in self._async if lp.is_closed()]:
                    del self._async[old]  # its sockets close when collected
                client = self._redis.asyncio.Redis.from_url(self.url)
                pair = (client, client.register_script(_CLAIM_LUA))
                self._async[loop] = pair
        return pair

    async def aget_many(self, keys: Sequence[bytes]) -> list[Entry | None]:
        if not keys:
            return []
        pair = self._aclient()
        if pair is None:
            return await asyncio.to_thread(self.get_many, keys)
        raw = await pair[0].mget([self._key(k) for k in keys])
        return [None if v is None else Entry.decode(v) for v in raw]

    async def aclaim(self, key: bytes) -> Entry | None:
        pair = self._aclient()
        if pair is None:
            return await asyncio.to_thread(self.claim, key)
        v = await pair[1](keys=[self._key(key)])
        return None if v is None else Entry.decode(v)

    async def aapply(self, puts: Sequence[Put] = (), deletes: Sequence[bytes] = ()) -> None:
        check_puts(puts, deletes)
        if not puts and not deletes:
            return
        pair = self._aclient()
        if pair is None:
            return await asyncio.to_thread(self.apply, puts, deletes)
        async with pair[0].pipeline(transaction=True) as pipe:
            self._queue(pipe, puts, deletes)
            await pipe.execute()

    # -- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Close the sync client's connections (if this store created it)."""
        if self._own_client:
            self._client.close()

    async def aclose(self) -> None:
        """Close the async client of the running event loop (if this store created it)."""
        if self._fixed_async is not None:
            return
        pair = self._async.pop(asyncio.get_running_loop(), None)
        if pair is not None:
            await pair[0].aclose()


def _safe_url(url: object) -> str:
    """The url without its password, for messages and repr."""
    text = str(url)
    if "@" in text and "://" in text:
        scheme, rest = text.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user + ':***' if ':' in creds else '***'}@{host}"
    return text
