"""Conversation -> context routing: the cheapest correct Ark call for a full history.

Callers (LangChain, LlamaIndex) pass the whole conversation on every call. The router
finds the context whose server-side transcript is the longest prefix of it, claims it,
sends only the rest, and records the new transcript's digest after the reply. See
DESIGN.md for the invariant this keeps.

The routing logic is written once, as generators that yield I/O operations (store
reads and writes, HTTP calls, sleeps); a sync and an async driver execute them. So
``chat``/``achat``/``stream``/``astream`` share every decision.

>>> from ark_context.router import ContextRouter
>>> router = ContextRouter(model="ep-x", api_key="k", base_url="http://127.0.0.1:1/api/v3")
>>> router.mode
'session'
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from ._client import ArkContextClient, AsyncArkContextClient
from ._exceptions import (
    ArkAPIError,
    ArkConnectionError,
    ArkContextBusyError,
    ArkContextGoneError,
    ArkError,
    ArkInputError,
)
from ._messages import (
    Chain,
    WireMessage,
    digest_chain,
    namespace_digest,
    trailing_turn_start,
    validate_conversation,
)
from ._models import ChatCompletionChunk, ContextInfo, Usage
from ._route_types import MissReason, Outcome, RoutedCompletion, RouteInfo
from ._validation import check_truncation, check_ttl
from .stores import ContextStore, Entry, default_store

if TYPE_CHECKING:
    import asyncio

__all__ = ["AsyncRoutedStream", "ContextRouter", "RoutedStream"]

_RESERVED = frozenset({"model", "messages", "context_id", "stream", "stream_options"})
_UNSUPPORTED = frozenset({"tools", "tool_choice", "functions", "response_format", "thinking"})
_STATE_REASON: dict[str, MissReason] = {
    "superseded": "branch",
    "claimed": "busy",
    "failed": "failure",
    "evicted": "evicted",
    "live": "expired",  # a live entry we skipped because it is past its ttl
}
_TOUCH_EVERY = 60.0  # seconds between last-use updates of a shared common_prefix entry


# -- operations the flows yield ------------------------------------------------------


@dataclass(slots=True)
class _Get:
    keys: list[bytes]


@dataclass(slots=True)
class _Claim:
    key: bytes


@dataclass(slots=True)
class _Apply:
    puts: list[tuple[bytes, Entry, float]] = field(default_factory=list)
    deletes: list[bytes] = field(default_factory=list)


@dataclass(slots=True)
class _Create:
    messages: list[WireMessage]


@dataclass(slots=True)
class _CreateShared:
    """Get-or-create the common_prefix context for ``key``, once per process."""

    key: bytes
    messages: list[WireMessage]
    stale: str | None  # a context id known to be gone: do not return it again


@dataclass(slots=True)
class _Send:
    context_id: str | None  # None: plain /chat/completions
    messages: list[WireMessage]
    idempotent: bool


@dataclass(slots=True)
class _Sleep:
    seconds: float


_Op = _Get | _Claim | _Apply | _Create | _CreateShared | _Send | _Sleep
_Flow = Generator[_Op, Any, Any]


@dataclass(slots=True)
class _Pending:
    """A request that was sent and whose outcome decides what is recorded."""

    route: RouteInfo
    chain: Chain | None  # the whole conversation as sent (before the reply)
    claimed_key: bytes | None  # the session key we claimed, if any
    claimed_prev: bytes | None  # its predecessor, whose tombstone we can drop now
    shared_key: bytes | None  # common_prefix key, for touching last_used
    shared_entry: Entry | None
    started: float
    expect_cached: int = 0  # tokens the context should serve from cache (0: unknown)


# -- the router ----------------------------------------------------------------------


class ContextRouter:
    """Routes full conversations to Ark contexts. One per (key, endpoint, mode) setting.

    >>> r = ContextRouter(model="ep-x", api_key="k", base_url="http://127.0.0.1:1/api/v3",
    ...                   mode="common_prefix")
    >>> r.mode
    'common_prefix'
    """

    def __init__(
        self,
        *,
        model: str,
        api_key: str,
        base_url: str,
        mode: str = "session",
        ttl: int = 86400,
        truncation_strategy: Mapping[str, Any] | None = None,
        prefix_messages: int | None = None,
        store: ContextStore | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        default_headers: Mapping[str, str] | None = None,
        http_client: Any = None,
        http_async_client: Any = None,
        client: ArkContextClient | None = None,
        async_client: AsyncArkContextClient | None = None,
        clock: Callable[[], float] = time.time,
        expiry_margin: float = 120.0,
        route_retries: int = 1,
        sleep: Callable[[float], None] = time.sleep,
        async_sleep: Callable[[float], Any] | None = None,
    ) -> None:
        if mode not in ("session", "common_prefix"):
            raise ArkInputError(f"mode must be 'session' or 'common_prefix'; got {mode!r}.")
        self.model = model
        self.mode = mode
        self.ttl = check_ttl(ttl)
        self.truncation_strategy = check_truncation(
            mode, dict(truncation_strategy) if truncation_strategy else None
        )
        self.prefix_messages = prefix_messages
        self.store: ContextStore = store if store is not None else default_store()
        self.clock = clock
        self.expiry_margin = min(expiry_margin, self.ttl / 4)
        self.route_retries = route_retries
        self._sleep = sleep
        self._async_sleep = async_sleep or _asyncio_sleep
        self._namespace = namespace_digest(
            base_url=base_url,
            model=model,
            mode=mode,
            truncation=self.truncation_strategy,
            api_key=api_key,
        )
        client_kwargs: dict[str, Any] = {
            "api_key": api_key,
            "base_url": base_url,
            "timeout": timeout,
            "max_retries": max_retries,
            "default_headers": default_headers,
        }
        self._client_kwargs = client_kwargs
        self._http_client = http_client
        self._http_async_client = http_async_client
        self._client = client
        self._async_client = async_client
        self._shared_locks: dict[bytes, threading.Lock] = {}
        self._shared_locks_guard = threading.Lock()
        self._shared_tasks: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[bytes, asyncio.Task[tuple[Entry, int | None]]]
        ] = weakref.WeakKeyDictionary()

    @classmethod
    def from_settings(
        cls, settings: Any, *, api_key: str, model: str | None = None
    ) -> ContextRouter:
        """Build from an :class:`~ark_context.ArkContextParams` (what the adapters use)."""
        return cls(
            model=model or settings.model,
            api_key=api_key,
            base_url=settings.base_url,
            mode=settings.mode,
            ttl=settings.ttl,
            truncation_strategy=settings.truncation_strategy,
            prefix_messages=settings.prefix_messages,
            store=settings.store,
            timeout=settings.timeout,
            max_retries=settings.max_retries,
            default_headers=settings.default_headers,
            http_client=settings.http_client,
            http_async_client=settings.http_async_client,
            route_retries=min(1, settings.max_retries),
        )

    def __repr__(self) -> str:
        return f"ContextRouter(model={self.model!r}, mode={self.mode!r}, ttl={self.ttl})"

    def __deepcopy__(self, memo: dict[int, Any]) -> ContextRouter:
        return self  # shared, like its connection pools and store

    # -- clients (lazy) ----------------------------------------------------------------

    @property
    def client(self) -> ArkContextClient:
        if self._client is None:
            self._client = ArkContextClient(http_client=self._http_client, **self._client_kwargs)
        return self._client

    @property
    def async_client(self) -> AsyncArkContextClient:
        if self._async_client is None:
            self._async_client = AsyncArkContextClient(  # type: ignore[call-arg]
                http_client=self._http_async_client, **self._client_kwargs
            )
        return self._async_client

    # -- public API ----------------------------------------------------------------------

    def chat(
        self,
        messages: Sequence[WireMessage],
        params: Mapping[str, Any] | None = None,
        *,
        request_id: str | None = None,
    ) -> RoutedCompletion:
        """Route one completion (blocking)."""
        ctx = _CallCtx(dict(params or {}), request_id, stream=False, include_usage=False)
        pending, completion = self._drive(self._flow(messages, ctx), ctx)
        self._drive(self._finish(pending, completion.text, completion.usage, ok=True), ctx)
        ctx.stamp(pending.route)
        return RoutedCompletion(completion, pending.route)

    async def achat(
        self,
        messages: Sequence[WireMessage],
        params: Mapping[str, Any] | None = None,
        *,
        request_id: str | None = None,
    ) -> RoutedCompletion:
        """Route one completion (async, native)."""
        ctx = _CallCtx(dict(params or {}), request_id, stream=False, include_usage=False)
        pending, completion = await self._adrive(self._flow(messages, ctx), ctx)
        await self._adrive(self._finish(pending, completion.text, completion.usage, ok=True), ctx)
        ctx.stamp(pending.route)
        return RoutedCompletion(completion, pending.route)

    def stream(
        self,
        messages: Sequence[WireMessage],
        params: Mapping[str, Any] | None = None,
        *,
        include_usage: bool = True,
        request_id: str | None = None,
    ) -> RoutedStream:
        """Route one streamed completion. Iterate the result; close it if you stop early."""
        ctx = _CallCtx(dict(params or {}), request_id, stream=True, include_usage=include_usage)
        return RoutedStream(self, messages, ctx)

    def astream(
        self,
        messages: Sequence[WireMessage],
        params: Mapping[str, Any] | None = None,
        *,
        include_usage: bool = True,
        request_id: str | None = None,
    ) -> AsyncRoutedStream:
        """Async twin of :meth:`stream`."""
        ctx = _CallCtx(dict(params or {}), request_id, stream=True, include_usage=include_usage)
        return AsyncRoutedStream(self, messages, ctx)

    # -- the flows (shared by sync and async) ------------------------------------------

    def _check(self, messages: Sequence[WireMessage], ctx: _CallCtx) -> list[WireMessage]:
        validate_conversation(messages)
        for k in ctx.params:
            if k in _RESERVED:
                raise ArkInputError(f"{k!r} is set by the router; do not pass it as a parameter.")
            if k in _UNSUPPORTED:
                raise ArkInputError(f"{k!r} is not supported by the Ark Context API; remove it.")
        return list(messages)

    def _flow(self, messages: Sequence[WireMessage], ctx: _CallCtx) -> _Flow:
        """Yield operations until a request is sent; return (pending, sent result)."""
        msgs = self._check(messages, ctx)
        if self.mode == "common_prefix":
            return (yield from self._shared_flow(msgs, ctx))
        return (yield from self._session_flow(msgs, ctx))

    def _session_flow(self, msgs: list[WireMessage], ctx: _CallCtx) -> _Flow:
        now = self.clock()
        # Recorded transcripts always end with a reply, so only those prefixes can hit.
        positions = [i for i in range(len(msgs) - 1) if msgs[i]["role"] == "assistant"]
        chain = Chain(self._namespace)
        keys = chain.feed(msgs, positions)
        positions.reverse()  # longest first
        keys.reverse()
        reason: MissReason | None = None
        if positions:
            entries = yield _Get(keys)
            for i, key, entry in zip(positions, keys, entries, strict=True):
                if entry is None:
                    continue
                if entry.state == "live" and self._fresh(entry, now):
                    claimed = yield _Claim(key)
                    if claimed is not None:
                        result = yield from self._session_send(
                            msgs, chain, i, key, claimed, ctx, now
                        )
                        if result is not None:
                            return result
                        reason = ctx.retry_reason
                        break
                    entry = Entry(entry.context_id, "claimed")
                reason = reason or _STATE_REASON.get(entry.state, "new")
        return (yield from self._seed_and_send(msgs, chain, ctx, reason or "new", now))

    def _session_send(
        self,
        msgs: list[WireMessage],
        chain: Chain,
        i: int,
        key: bytes,
        claimed: Entry,
        ctx: _CallCtx,
        now: float,
    ) -> _Flow:
        """Send the tail on a claimed context. Returns None when it must be recreated."""
        tail = msgs[i + 1 :]
        route = RouteInfo("reused", None, claimed.context_id, "session", len(tail))
        try:
            result = yield _Send(claimed.context_id, tail, idempotent=False)
        except ArkContextGoneError:
            # Nothing was appended to a context that does not exist.
            yield _Apply(deletes=[key])
            ctx.retry_reason = "expired"
            return None
        except ArkContextBusyError:
            # Someone outside this store uses it; our request was refused, not applied.
            yield _Apply(puts=[(key, _marker(claimed, "failed"), now + claimed.ttl)])
            ctx.retry_reason = "busy"
            return None
        except ArkError as exc:
            yield _Apply(puts=[(key, _marker(claimed, "failed"), now + claimed.ttl)])
            if self._may_retry(exc, ctx):
                yield _Sleep(_backoff(exc, ctx.attempts))
                ctx.retry_reason = "failure"
                return None
            raise
        except BaseException:  # cancelled or interrupted mid-request: outcome unknown
            yield _Apply(puts=[(key, _marker(claimed, "failed"), now + claimed.ttl)])
            raise
        pending = _Pending(route, chain, key, claimed.prev, None, None, now, claimed.tokens)
        return pending, result

    def _seed_and_send(
        self,
        msgs: list[WireMessage],
        chain: Chain,
        ctx: _CallCtx,
        reason: MissReason,
        now: float,
    ) -> _Flow:
        recreated = ctx.retry_reason is not None
        split = trailing_turn_start(msgs)
        if split == 0 or split == len(msgs):
            return (yield from self._bypass(msgs, chain, ctx, reason))
        create_tokens = 0
        while True:
            info = yield _Create(msgs[:split])
            create_tokens += _billed(info)
            outcome: Outcome = "recreated" if recreated else "created"
            tail = msgs[split:]
            route = RouteInfo(outcome, reason, info.id, "session", len(tail))
            route.create_tokens = create_tokens
            try:
                result = yield _Send(info.id, tail, idempotent=False)
            except ArkError as exc:
                if self._may_retry(exc, ctx):
                    yield _Sleep(_backoff(exc, ctx.attempts))
                    recreated, reason = True, "failure"
                    continue
                raise
            return _Pending(route, chain, None, None, None, None, now, _billed(info)), result

    def _bypass(
        self, msgs: list[WireMessage], chain: Chain | None, ctx: _CallCtx, reason: MissReason
    ) -> _Flow:
        route = RouteInfo("bypassed", reason, None, self.mode, len(msgs))
        result = yield _Send(None, msgs, idempotent=True)
        return _Pending(route, chain, None, None, None, None, 0.0), result

    def _shared_flow(self, msgs: list[WireMessage], ctx: _CallCtx) -> _Flow:
        now = self.clock()
        k = self.prefix_messages
        if k is None:
            k = 0
            while k < len(msgs) and msgs[k]["role"] == "system":
                k += 1
        if k == 0 or k >= len(msgs):
            return (yield from self._bypass(msgs, None, ctx, "new"))
        key = digest_chain(self._namespace, msgs[:k])[-1]
        tail = msgs[k:]
        (entry,) = yield _Get([key])
        outcome: Outcome = "reused"
        reason: MissReason | None = None
        stale: str | None = None
        create_tokens = 0
        if entry is None or entry.state != "live" or not self._fresh(entry, now):
            reason = "expired" if entry is not None else "new"
            stale = entry.context_id if entry is not None else None
            entry, billed = yield _CreateShared(key, msgs[:k], stale)
            outcome = "created" if billed is not None else "reused"
            create_tokens += billed or 0
            if billed is None:
                reason = None
        for _ in range(2):
            route = RouteInfo(outcome, reason, entry.context_id, "common_prefix", len(tail))
            route.create_tokens = create_tokens
            try:
                result = yield _Send(entry.context_id, tail, idempotent=True)
            except ArkContextGoneError:
                if outcome != "reused":
                    raise  # a context we just made is gone too: say so, do not loop
                entry, billed = yield _CreateShared(key, msgs[:k], entry.context_id)
                outcome, reason = "recreated", "expired"
                create_tokens += billed or 0
                continue
            return _Pending(route, None, None, None, key, entry, now), result
        raise AssertionError("unreachable")  # pragma: no cover

    def _finish(self, pending: _Pending, reply: str, usage: Usage | None, *, ok: bool) -> _Flow:
        """Record what the server now holds (or drop it) after the request ended."""
        route = pending.route
        now = pending.started
        if route.context_id is None:
            return
        if ok and usage is not None and _truncated(pending.expect_cached, usage):
            # The server served less than the context held: it dropped history. Only a
            # truncation the user configured may do that; otherwise never reuse it.
            route.truncated = True
            ok = self.truncation_strategy is not None
        if pending.shared_key is not None:
            e = pending.shared_entry
            if ok and e is not None and now - e.last_used > _TOUCH_EVERY:
                ttl = e.ttl or self.ttl
                fresh = Entry(e.context_id, "live", now, ttl)
                yield _Apply(puts=[(pending.shared_key, fresh, now + ttl)])
            return
        ttl = self.ttl
        expire = now + ttl
        if not ok:
            if pending.claimed_key is not None:
                marker = Entry(route.context_id, "failed", now, ttl)
                yield _Apply(puts=[(pending.claimed_key, marker, expire)])
            return
        if pending.chain is None:  # pragma: no cover - only bypasses have no chain
            return
        new_key = pending.chain.extended({"role": "assistant", "content": reply})
        held = usage.prompt_tokens + usage.completion_tokens if usage is not None else 0
        live = Entry(route.context_id, "live", now, ttl, pending.claimed_key, held)
        puts = [(new_key, live, expire)]
        deletes: list[bytes] = []
        if pending.claimed_key is not None:
            puts.append((pending.claimed_key, Entry("", "superseded", now, ttl), expire))
            if pending.claimed_prev is not None:
                deletes.append(pending.claimed_prev)
        yield _Apply(puts=puts, deletes=deletes)

    # -- helpers -------------------------------------------------------------------------

    def _fresh(self, entry: Entry, now: float) -> bool:
        ttl = entry.ttl or self.ttl
        return now < entry.last_used + ttl - self.expiry_margin

    def _may_retry(self, exc: ArkError, ctx: _CallCtx) -> bool:
        if ctx.attempts > self.route_retries or ctx.started_stream:
            return False
        retryable = isinstance(exc, ArkConnectionError) or (
            isinstance(exc, ArkAPIError) and exc.retryable
        )
        if retryable:
            ctx.attempts += 1
        return retryable

    # -- drivers -------------------------------------------------------------------------

    def _drive(self, flow: _Flow, ctx: _CallCtx) -> Any:
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                op = flow.send(value) if error is None else flow.throw(error)
            except StopIteration as stop:
                return stop.value
            value, error = None, None
            try:
                value = self._do(op, ctx)
            except BaseException as exc:  # the flow decides; it re-raises what it can't handle
                error = exc

    def _do(self, op: _Op, ctx: _CallCtx) -> Any:
        store = self.store
        if isinstance(op, _Send):
            return self._send(op, ctx)
        if isinstance(op, _Get):
            return store.get_many(op.keys)
        if isinstance(op, _Claim):
            return store.claim(op.key)
        if isinstance(op, _Apply):
            return store.apply(op.puts, op.deletes)
        if isinstance(op, _Create):
            return self._create(op.messages, ctx)
        if isinstance(op, _CreateShared):
            return self._create_shared(op, ctx)
        if isinstance(op, _Sleep):
            return self._sleep(op.seconds)
        raise AssertionError(op)  # pragma: no cover

    def _create_call(self, messages: list[WireMessage], ctx: _CallCtx) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": messages,
            "mode": self.mode,
            "ttl": self.ttl,
            "truncation_strategy": self.truncation_strategy,
            "request_id": ctx.request_id,
        }

    def _send_call(self, op: _Send, ctx: _CallCtx) -> tuple[str, dict[str, Any]]:
        """Which client method a send uses, and its arguments (shared by both drivers)."""
        kw: dict[str, Any] = {"model": self.model, "messages": op.messages}
        kw["request_id"] = ctx.request_id
        if op.context_id is not None:
            kw["context_id"] = op.context_id
            kw["idempotent"] = op.idempotent
        if ctx.stream:
            kw["include_usage"] = ctx.include_usage
        kw.update(ctx.params)
        name = "chat" if op.context_id is not None else "chat_completions"
        return (name + "_stream" if ctx.stream else name), kw

    def _create(self, messages: list[WireMessage], ctx: _CallCtx) -> ContextInfo:
        return self.client.create_context(**self._create_call(messages, ctx))

    def _send(self, op: _Send, ctx: _CallCtx) -> Any:
        name, kw = self._send_call(op, ctx)
        result = getattr(self.client, name)(**kw)
        ctx.request_bytes = _request_bytes(result)
        return result

    def _create_shared(self, op: _CreateShared, ctx: _CallCtx) -> tuple[Entry, int | None]:
        with self._shared_locks_guard:
            if len(self._shared_locks) > 4096:  # bounded; holders keep their own reference
                self._shared_locks.clear()
            lock = self._shared_locks.setdefault(op.key, threading.Lock())
        with lock:
            (entry,) = self.store.get_many([op.key])
            now = self.clock()
            if (
                entry is not None
                and entry.state == "live"
                and entry.context_id != op.stale
                and self._fresh(entry, now)
            ):
                return entry, None
            info = self._create(op.messages, ctx)
            fresh = _entry_for(info, self.ttl, now)
            self.store.apply([(op.key, fresh, now + fresh.ttl)])
            return fresh, _billed(info)

    async def _adrive(self, flow: _Flow, ctx: _CallCtx) -> Any:
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                op = flow.send(value) if error is None else flow.throw(error)
            except StopIteration as stop:
                return stop.value
            value, error = None, None
            try:
                value = await self._ado(op, ctx)
            except BaseException as exc:  # the flow decides; it re-raises what it can't handle
                error = exc

    async def _ado(self, op: _Op, ctx: _CallCtx) -> Any:
        store = self.store
        if isinstance(op, _Send):
            return await self._asend(op, ctx)
        if isinstance(op, _Get):
            return await store.aget_many(op.keys)
        if isinstance(op, _Claim):
            return await store.aclaim(op.key)
        if isinstance(op, _Apply):
            return await store.aapply(op.puts, op.deletes)
        if isinstance(op, _Create):
            return await self._acreate(op.messages, ctx)
        if isinstance(op, _CreateShared):
            return await self._acreate_shared(op, ctx)
        if isinstance(op, _Sleep):
            return await self._async_sleep(op.seconds)
        raise AssertionError(op)  # pragma: no cover

    async def _acreate(self, messages: list[WireMessage], ctx: _CallCtx) -> ContextInfo:
        client: Any = self.async_client
        info = await client.create_context(**self._create_call(messages, ctx))
        return cast(ContextInfo, info)

    async def _asend(self, op: _Send, ctx: _CallCtx) -> Any:
        name, kw = self._send_call(op, ctx)
        result = await getattr(self.async_client, name)(**kw)
        ctx.request_bytes = _request_bytes(result)
        return result

    async def _acreate_shared(self, op: _CreateShared, ctx: _CallCtx) -> tuple[Entry, int | None]:
        """Get-or-create once per prefix and event loop. The create runs in its own task,
        so a cancelled caller never cancels the others waiting for the same context."""
        import asyncio

        loop = asyncio.get_running_loop()
        inflight = self._shared_tasks.setdefault(loop, {})
        task = inflight.get(op.key)
        if task is None:
            (found,) = await self.store.aget_many([op.key])
            now = self.clock()
            if (
                found is not None
                and found.state == "live"
                and found.context_id != op.stale
                and self._fresh(found, now)
            ):
                return found, None
            task = inflight.get(op.key)  # someone started while we read the store
            if task is None:
                task = loop.create_task(self._acreate_and_store(op, ctx, now))
                inflight[op.key] = task
                task.add_done_callback(lambda t: _forget_task(inflight, op.key, t))
                return await asyncio.shield(task)
        entry, _billed_elsewhere = await asyncio.shield(task)
        return entry, None

    async def _acreate_and_store(
        self, op: _CreateShared, ctx: _CallCtx, now: float
    ) -> tuple[Entry, int | None]:
        info = await self._acreate(op.messages, ctx)
        fresh = _entry_for(info, self.ttl, now)
        await self.store.aapply([(op.key, fresh, now + fresh.ttl)])
        return fresh, _billed(info)


# -- streams -------------------------------------------------------------------------


class _CallCtx:
    __slots__ = (
        "attempts",
        "include_usage",
        "params",
        "request_bytes",
        "request_id",
        "retry_reason",
        "started_stream",
        "stream",
    )

    def __init__(
        self, params: dict[str, Any], request_id: str | None, *, stream: bool, include_usage: bool
    ) -> None:
        self.params = params
        self.request_id = request_id
        self.stream = stream
        self.include_usage = include_usage
        self.attempts = 1
        self.retry_reason: MissReason | None = None
        self.request_bytes = 0
        self.started_stream = False

    def stamp(self, route: RouteInfo) -> None:
        """Copy what the call measured onto its route."""
        route.request_bytes = self.request_bytes
        route.attempts = self.attempts


class _StreamBase:
    route: RouteInfo | None
    usage: Usage | None

    def __init__(self, router: ContextRouter, messages: Sequence[WireMessage], ctx: _CallCtx):
        self._router = router
        self._messages = messages
        self._ctx = ctx
        self._pending: _Pending | None = None
        self._inner: Any = None
        self._parts: list[str] = []
        self._done = False
        self.route = None
        self.usage = None
        self.finish_reason: str | None = None

    def _absorb(self, chunk: ChatCompletionChunk) -> None:
        if chunk.usage is not None:
            self.usage = chunk.usage
        if chunk.choices:
            c = chunk.choices[0]
            if c.delta.content:
                self._parts.append(c.delta.content)
            if c.finish_reason:
                self.finish_reason = c.finish_reason

    @property
    def text(self) -> str:
        """The reply text received so far."""
        return "".join(self._parts)


class RoutedStream(_StreamBase, Iterator[ChatCompletionChunk]):
    """A routed, streamed completion: iterate chunks; ``route`` and ``usage`` fill in.

    The turn is recorded only when the stream ends with ``[DONE]``. Closing it early
    (or any error) drops the context: the next call starts from the caller's history.

    Example (``router`` is a :class:`ContextRouter`)::

        with router.stream([{"role": "user", "content": "hi"}]) as s:
            text = "".join(chunk.text for chunk in s)
    """

    def _open(self) -> None:
        r = self._router
        self._pending, self._inner = r._drive(r._flow(self._messages, self._ctx), self._ctx)
        self.route = self._pending.route
        self._ctx.stamp(self.route)
        self._ctx.started_stream = True

    def __enter__(self) -> RoutedStream:
        if self._pending is None:
            self._open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> RoutedStream:
        return self

    def __next__(self) -> ChatCompletionChunk:
        if self._done:
            raise StopIteration
        if self._pending is None:
            self._open()
        try:
            chunk = next(self._inner)
        except StopIteration:
            self._end(ok=True)
            raise
        except BaseException:
            self._end(ok=False)
            raise
        self._absorb(chunk)
        return cast(ChatCompletionChunk, chunk)

    def _end(self, *, ok: bool) -> None:
        if self._done:
            return
        self._done = True
        inner, pending = self._inner, self._pending
        if inner is not None:
            with contextlib.suppress(Exception):  # must not mask the cause
                inner.close()
        if pending is not None:
            r = self._router
            r._drive(r._finish(pending, self.text, self.usage, ok=ok), self._ctx)

    def close(self) -> None:
        """Stop early. An unfinished stream drops its context (never recorded)."""
        self._end(ok=False)

    def __del__(self) -> None:
        if not self._done and self._pending is not None:
            with contextlib.suppress(Exception):
                self.close()


class AsyncRoutedStream(_StreamBase, AsyncIterator[ChatCompletionChunk]):
    """Async twin of :class:`RoutedStream`.

    Example (``router`` is a :class:`ContextRouter`)::

        async with router.astream([{"role": "user", "content": "hi"}]) as s:
            text = "".join([chunk.text async for chunk in s])
    """

    async def _open(self) -> None:
        r = self._router
        self._pending, self._inner = await r._adrive(r._flow(self._messages, self._ctx), self._ctx)
        self.route = self._pending.route
        self._ctx.stamp(self.route)
        self._ctx.started_stream = True

    async def __aenter__(self) -> AsyncRoutedStream:
        if self._pending is None:
            await self._open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncRoutedStream:
        return self

    async def __anext__(self) -> ChatCompletionChunk:
        if self._done:
            raise StopAsyncIteration
        if self._pending is None:
            await self._open()
        try:
            chunk = await self._inner.__anext__()
        except StopAsyncIteration:
            await self._end(ok=True)
            raise
        except BaseException:
            await self._end(ok=False)
            raise
        self._absorb(chunk)
        return cast(ChatCompletionChunk, chunk)

    async def _end(self, *, ok: bool) -> None:
        if self._done:
            return
        self._done = True
        inner, pending = self._inner, self._pending
        if inner is not None:
            with contextlib.suppress(Exception):
                await inner.aclose()
        if pending is not None:
            r = self._router
            await r._adrive(r._finish(pending, self.text, self.usage, ok=ok), self._ctx)

    async def aclose(self) -> None:
        """Stop early. An unfinished stream drops its context (never recorded)."""
        await self._end(ok=False)

    def __del__(self) -> None:
        # Abandoned without aclose(): mark the context failed with the sync store API (a
        # finalizer cannot await), so it is never reused and not left "claimed".
        if not self._done and self._pending is not None:
            self._done = True
            r = self._router
            with contextlib.suppress(Exception):
                r._drive(r._finish(self._pending, self.text, None, ok=False), self._ctx)


# -- small helpers ---------------------------------------------------------------------


def _forget_task(inflight: dict[bytes, Any], key: bytes, task: Any) -> None:
    if inflight.get(key) is task:
        del inflight[key]
    if not task.cancelled():
        task.exception()  # retrieved: waiters got it, or nobody is left to care


def _marker(entry: Entry, state: str) -> Entry:
    return Entry(entry.context_id, state, entry.last_used, entry.ttl)  # type: ignore[arg-type]


def _entry_for(info: ContextInfo, ttl: int, now: float) -> Entry:
    return Entry(info.id, "live", now, info.ttl or ttl)


async def _asyncio_sleep(seconds: float) -> None:
    import asyncio  # imported on first use: sync-only programs never load asyncio

    await asyncio.sleep(seconds)


def _truncated(expected: int, usage: Usage) -> bool:
    """True when fewer tokens came from the cache than the context held (with a small
    tolerance for server-side accounting): the server dropped history."""
    return expected > 0 and usage.cached_tokens < expected * 0.98 - 8


def _billed(info: ContextInfo) -> int:
    """Prompt tokens Ark bills for creating a context."""
    return info.usage.prompt_tokens if info.usage is not None else 0


def _backoff(exc: ArkError, attempt: int) -> float:
    after = getattr(exc, "retry_after", None)
    if after is not None:
        return float(min(after, 60.0))
    return float(min(8.0, 0.5 * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0))


def _request_bytes(result: Any) -> int:
    """Body size the client sent (streams and completions expose it; see _client)."""
    return int(getattr(result, "request_bytes", 0) or 0)
