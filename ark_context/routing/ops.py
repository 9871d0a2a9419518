"""Typed I/O operations: what a routing flow asks a driver to do.

A flow is a generator that yields :class:`Op` values and receives each one's result.
Every operation declares its result type (``Get`` is an ``Op[list[Entry | None]]``) and
runs itself against an :class:`Executor` (sync) or :class:`AsyncExecutor` (async), so
mypy checks that a driver hands back what the flow expects. Flows use :func:`run`:

>>> from ark_context.routing.ops import Sleep, run
>>> def flow():
...     yield from run(Sleep(0.0))
...     return "done"
>>> from ark_context.routing.drivers import drive
>>> class Ex:
...     def sleep(self, seconds: float) -> None: pass
>>> drive(flow(), Ex())
'done'

See docs/architecture.md ("Routing") for the state machine these operations serve.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from .._messages import WireMessage
    from ..stores import Entry
    from ..stores._base import Put
    from .backend import Created

__all__ = [
    "Acquire",
    "Apply",
    "AsyncExecutor",
    "Claim",
    "Create",
    "Detached",
    "Executor",
    "Flow",
    "Get",
    "Op",
    "Release",
    "Send",
    "Sleep",
    "run",
]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

Flow = Generator["Op[Any]", Any, T]
"""A routing flow: yields operations, returns a ``T``."""


class Executor(Protocol):
    """What a sync driver provides (one method per operation kind)."""

    def get_many(self, keys: Sequence[bytes]) -> list[Entry | None]: ...
    def claim(self, key: bytes) -> Entry | None: ...
    def apply(self, puts: Sequence[Put], deletes: Sequence[bytes]) -> None: ...
    def create(self, messages: list[WireMessage], shared: bool) -> Created: ...
    def send(self, state: str | None, messages: list[WireMessage], idempotent: bool) -> object: ...
    def sleep(self, seconds: float) -> None: ...
    def acquire(self, key: bytes) -> None: ...
    def release(self, key: bytes) -> None: ...
    def detached(self, flow: Flow[T]) -> T: ...


class AsyncExecutor(Protocol):
    """What an async driver provides: the same operations, awaited."""

    async def get_many(self, keys: Sequence[bytes]) -> list[Entry | None]: ...
    async def claim(self, key: bytes) -> Entry | None: ...
    async def apply(self, puts: Sequence[Put], deletes: Sequence[bytes]) -> None: ...
    async def create(self, messages: list[WireMessage], shared: bool) -> Created: ...
    async def send(
        self, state: str | None, messages: list[WireMessage], idempotent: bool
    ) -> object: ...
    async def sleep(self, seconds: float) -> None: ...
    async def acquire(self, key: bytes) -> None: ...
    async def release(self, key: bytes) -> None: ...
    async def detached(self, flow: Flow[T]) -> T: ...


class Op(Generic[T_co]):
    """One operation whose result is a ``T_co``."""

    __slots__ = ()

    def execute(self, ex: Executor) -> T_co:
        raise NotImplementedError

    async def aexecute(self, ex: AsyncExecutor) -> T_co:
        raise NotImplementedError


def run(op: Op[T]) -> Generator[Op[Any], Any, T]:
    """``result = yield from run(op)``: yield one operation, typed by what it returns."""
    result: T = yield op
    return result


@dataclass(slots=True)
class Get(Op["list[Entry | None]"]):
    """Read store entries, in order (``None`` where absent or expired)."""

    keys: list[bytes]

    def execute(self, ex: Executor) -> list[Entry | None]:
        return ex.get_many(self.keys)

    async def aexecute(self, ex: AsyncExecutor) -> list[Entry | None]:
        return await ex.get_many(self.keys)


@dataclass(slots=True)
class Claim(Op["Entry | None"]):
    """Atomically take a ``live`` entry (``None``: someone else has it, or it is gone)."""

    key: bytes

    def execute(self, ex: Executor) -> Entry | None:
        return ex.claim(self.key)

    async def aexecute(self, ex: AsyncExecutor) -> Entry | None:
        return await ex.claim(self.key)


@dataclass(slots=True)
class Apply(Op[None]):
    """Write and delete store entries in one batch."""

    puts: list[Put] = field(default_factory=list)
    deletes: list[bytes] = field(default_factory=list)

    def execute(self, ex: Executor) -> None:
        ex.apply(self.puts, self.deletes)

    async def aexecute(self, ex: AsyncExecutor) -> None:
        await ex.apply(self.puts, self.deletes)


@dataclass(slots=True)
class Create(Op["Created"]):
    """Create server-side state seeded with ``messages`` (a context, for the Context API).
    ``shared``: a read-only prefix shared by many conversations (``common_prefix``);
    otherwise a session that grows with one conversation."""

    messages: list[WireMessage]
    shared: bool = False

    def execute(self, ex: Executor) -> Created:
        return ex.create(self.messages, self.shared)

    async def aexecute(self, ex: AsyncExecutor) -> Created:
        return await ex.create(self.messages, self.shared)


@dataclass(slots=True)
class Send(Op[object]):
    """Send a turn from ``state`` (``None``: a plain call). The result is the backend's
    completion, or its open stream for a streamed call."""

    state: str | None
    messages: list[WireMessage]
    idempotent: bool

    def execute(self, ex: Executor) -> object:
        return ex.send(self.state, self.messages, self.idempotent)

    async def aexecute(self, ex: AsyncExecutor) -> object:
        return await ex.send(self.state, self.messages, self.idempotent)


@dataclass(slots=True)
class Sleep(Op[None]):
    seconds: float

    def execute(self, ex: Executor) -> None:
        ex.sleep(self.seconds)

    async def aexecute(self, ex: AsyncExecutor) -> None:
        await ex.sleep(self.seconds)


@dataclass(slots=True)
class Acquire(Op[None]):
    """Take the process-wide lock of ``key`` (threads or tasks); pair with :class:`Release`."""

    key: bytes

    def execute(self, ex: Executor) -> None:
        ex.acquire(self.key)

    async def aexecute(self, ex: AsyncExecutor) -> None:
        await ex.acquire(self.key)


@dataclass(slots=True)
class Release(Op[None]):
    key: bytes

    def execute(self, ex: Executor) -> None:
        ex.release(self.key)

    async def aexecute(self, ex: AsyncExecutor) -> None:
        await ex.release(self.key)


@dataclass(slots=True)
class Detached(Op[T]):
    """Run a sub-flow to completion even if the caller is cancelled (async: in its own
    task, shielded). Waiters on the same work are then never cancelled with it."""

    flow: Flow[T]

    def execute(self, ex: Executor) -> T:
        return ex.detached(self.flow)

    async def aexecute(self, ex: AsyncExecutor) -> T:
        return await ex.detached(self.flow)
