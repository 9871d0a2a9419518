"""Drivers: execute a flow's operations, sync or async. No routing decision lives here.

A driver sends each operation's result back into the flow, or throws the exception the
operation raised into it (the flow decides what to do; it re-raises what it cannot
handle). ``drive`` and ``adrive`` are the whole protocol; the executors bind operations
to a store and a backend for one call.

>>> from ark_context.routing.ops import Sleep, run
>>> def flow():
...     yield from run(Sleep(0.0))
...     return 42
>>> class Ex:
...     def sleep(self, seconds: float) -> None: pass
>>> drive(flow(), Ex())
42
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    import asyncio

    from .._messages import WireMessage
    from ..stores import ContextStore, Entry
    from ..stores._base import Put
    from .backend import Backend, CallSpec, Created
    from .ops import AsyncExecutor, Executor, Flow

__all__ = ["AsyncRunner", "KeyedLocks", "SyncRunner", "adrive", "drive"]

T = TypeVar("T")
L = TypeVar("L")


def _step(flow: Flow[T], value: object, error: BaseException | None) -> tuple[bool, Any]:
    """Resume ``flow`` with an operation's result (or its error): ``(False, next op)``, or
    ``(True, return value)`` once the flow is done."""
    try:
        return False, (flow.send(value) if error is None else flow.throw(error))
    except StopIteration as stop:
        return True, stop.value


def drive(flow: Flow[T], ex: Executor) -> T:
    """Run ``flow`` to its return value, executing each operation with ``ex``."""
    done, op = _step(flow, None, None)
    while not done:
        try:
            value, error = op.execute(ex), None
        except BaseException as exc:  # the flow decides; it re-raises what it can't handle
            value, error = None, exc
        done, op = _step(flow, value, error)
    result: T = op
    return result


async def adrive(flow: Flow[T], ex: AsyncExecutor) -> T:
    """Async twin of :func:`drive`: the same steps, each operation awaited."""
    done, op = _step(flow, None, None)
    while not done:
        try:
            value, error = await op.aexecute(ex), None
        except BaseException as exc:
            value, error = None, exc
        done, op = _step(flow, value, error)
    result: T = op
    return result


class KeyedLocks(Generic[L]):
    """Per-key locks, kept only while someone holds or waits for them (refcounted), so
    the map is bounded by concurrency and two holders of one key always share a lock."""

    __slots__ = ("_factory", "_guard", "_slots")

    def __init__(self, factory: Callable[[], L]) -> None:
        self._factory = factory
        self._guard = threading.Lock()
        self._slots: dict[bytes, list[Any]] = {}  # key -> [lock, refcount]

    def ref(self, key: bytes) -> L:
        with self._guard:
            slot = self._slots.get(key)
            if slot is None:
                slot = self._slots[key] = [self._factory(), 0]
            slot[1] += 1
            lock: L = slot[0]
            return lock

    def unref(self, key: bytes) -> L:
        with self._guard:
            slot = self._slots[key]
            slot[1] -= 1
            if slot[1] == 0:
                del self._slots[key]
            lock: L = slot[0]
            return lock

    def __len__(self) -> int:
        return len(self._slots)


_Locks = TypeVar("_Locks")
_Sleep = TypeVar("_Sleep")


class _Runner(Generic[_Locks, _Sleep]):
    """What a runner binds for one call: a store, a backend, the call, shared locks, a sleep."""

    __slots__ = ("backend", "call", "locks", "sleep_fn", "store")

    def __init__(
        self, store: ContextStore, backend: Backend, call: CallSpec, locks: _Locks, sleep: _Sleep
    ) -> None:
        self.store = store
        self.backend = backend
        self.call = call
        self.locks = locks
        self.sleep_fn = sleep


class SyncRunner(_Runner[KeyedLocks[threading.Lock], Callable[[float], None]]):
    """Executes operations for one sync call: a store, a backend, a sleep, shared locks."""

    __slots__ = ()

    def get_many(self, keys: Sequence[bytes]) -> list[Entry | None]:
        return self.store.get_many(keys)

    def claim(self, key: bytes) -> Entry | None:
        return self.store.claim(key)

    def apply(self, puts: Sequence[Put], deletes: Sequence[bytes]) -> None:
        self.store.apply(puts, deletes)

    def create(self, messages: list[WireMessage], shared: bool) -> Created:
        return self.backend.create(messages, self.call, shared=shared)

    def send(self, state: str | None, messages: list[WireMessage], idempotent: bool) -> object:
        result = self.backend.send(state, messages, self.call, idempotent=idempotent)
        self.call.request_bytes = _request_bytes(result)
        return result

    def sleep(self, seconds: float) -> None:
        self.sleep_fn(seconds)

    def acquire(self, key: bytes) -> None:
        lock = self.locks.ref(key)
        try:
            lock.acquire()
        except BaseException:
            self.locks.unref(key)
            raise

    def release(self, key: bytes) -> None:
        self.locks.unref(key).release()

    def detached(self, flow: Flow[T]) -> T:
        return drive(flow, self)


class AsyncRunner(_Runner["LoopLocks", Callable[[float], Awaitable[Any]]]):
    """Async twin of :class:`SyncRunner`; locks are per event loop."""

    __slots__ = ()

    async def get_many(self, keys: Sequence[bytes]) -> list[Entry | None]:
        return await self.store.aget_many(keys)

    async def claim(self, key: bytes) -> Entry | None:
        return await self.store.aclaim(key)

    async def apply(self, puts: Sequence[Put], deletes: Sequence[bytes]) -> None:
        await self.store.aapply(puts, deletes)

    async def create(self, messages: list[WireMessage], shared: bool) -> Created:
        return await self.backend.acreate(messages, self.call, shared=shared)

    async def send(
        self, state: str | None, messages: list[WireMessage], idempotent: bool
    ) -> object:
        result = await self.backend.asend(state, messages, self.call, idempotent=idempotent)
        self.call.request_bytes = _request_bytes(result)
        return result

    async def sleep(self, seconds: float) -> None:
        await self.sleep_fn(seconds)

    async def acquire(self, key: bytes) -> None:
        locks = self.locks.current()
        lock = locks.ref(key)
        try:
            await lock.acquire()
        except BaseException:
            locks.unref(key)
            raise

    async def release(self, key: bytes) -> None:
        self.locks.current().unref(key).release()

    async def detached(self, flow: Flow[T]) -> T:
        import asyncio

        task = asyncio.get_running_loop().create_task(adrive(flow, self))
        task.add_done_callback(_retrieve)
        return await asyncio.shield(task)


class LoopLocks:
    """One :class:`KeyedLocks` of ``asyncio.Lock`` per running event loop."""

    __slots__ = ("_by_loop",)

    def __init__(self) -> None:
        self._by_loop: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, KeyedLocks[asyncio.Lock]
        ] = weakref.WeakKeyDictionary()

    def current(self) -> KeyedLocks[asyncio.Lock]:
        import asyncio

        loop = asyncio.get_running_loop()
        locks = self._by_loop.get(loop)
        if locks is None:
            locks = self._by_loop.setdefault(loop, KeyedLocks(asyncio.Lock))
        return locks


def _retrieve(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: waiters got it, or nobody is left to care


def _request_bytes(result: object) -> int:
    """Body size the client sent (streams and completions expose it; see _client)."""
    return int(getattr(result, "request_bytes", 0) or 0)
